"""Workstation collectors: one module per source, each a class with one `collect` method."""
