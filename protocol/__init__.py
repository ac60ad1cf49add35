"""What the agent and the collector both speak: InfluxDB line protocol (points, escaping) and
the TOML configuration loader with its located errors. Neither side owns it, so a change here
is a change to both, made on purpose; it stays standard-library only, so the agent installs
alone and light."""
