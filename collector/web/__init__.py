"""The technicians' web UI served by the collector: login, fleet, sites, devices, alerts,
inventory search. Server-rendered, no front-end build, no CDN."""
