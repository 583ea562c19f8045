"""revsearch: reverse image search over a persistent, incremental image collection."""

__version__ = "0.1.0"
