"""Vigie collector: authenticated ingest, embedded store, InfluxDB mirror, alerts and web UI."""

__version__ = "0.1.0"
