"""Vigie agent: workstation health, SMART and inventory, and the site poller."""

__version__ = "0.1.0"
