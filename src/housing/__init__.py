"""housing: a reproducible MLOps workflow for California district house values."""

__version__ = "0.1.0"
