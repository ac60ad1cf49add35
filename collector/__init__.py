"""Vigie collector: authenticated ingest, embedded store, InfluxDB mirror, alerts and web UI."""

__version__ = "0.1.0"

# The collector's log lines, in every process it runs.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
