"""Hydra launchers of repeatnet_repro (Hydra loads launcher classes only from the hydra_plugins package)."""
