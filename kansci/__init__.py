"""kansci: symbolic regression with Kolmogorov-Arnold Networks."""
__version__ = "0.1.0"
