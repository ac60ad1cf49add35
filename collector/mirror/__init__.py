"""The InfluxDB mirror: an outbox over accepted write requests, forwarded with v1 or v2 APIs."""
