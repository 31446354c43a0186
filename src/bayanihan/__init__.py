"""Bayanihan: a federated platform for cross-border cooperation against cybercrime."""

__version__ = "0.1.0"
