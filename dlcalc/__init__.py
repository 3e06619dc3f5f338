"""dlcalc: the mathematics of deep learning on the command line."""

__version__ = "0.1.0"
