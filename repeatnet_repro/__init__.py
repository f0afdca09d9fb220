"""repeatnet_repro: one framework for RepeatNet, ShardNet and soft parameter sharing experiments."""
__version__ = "0.1.0"
