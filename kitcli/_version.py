"""The kit's own version (the templates are versioned by this repository's git tags)."""

__version__ = "0.1.0"
