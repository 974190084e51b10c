"""netsentry: a fast, honest network-traffic analyzer for the terminal."""

__version__ = "0.1.0"
