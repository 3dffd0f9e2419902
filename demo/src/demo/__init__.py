"""A demo package whose version poetry-dynamic-versioning stamps at build time."""

__version__ = "0.0.0"
