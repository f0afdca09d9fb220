"""Analyses of built models: parameter / |W_conv| / FLOP counting, the papers' printed counts."""
