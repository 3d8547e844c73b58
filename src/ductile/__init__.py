"""ductile: an automation runtime."""

__version__ = "0.1.0"
