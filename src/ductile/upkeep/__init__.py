"""Maintenance loops that run beside the dispatcher, one module each."""
