"""The HTTP API, one router per resource: write (a bare ASGI handler), inventory, query,
alerts, silences, enroll, health and metrics; `auth` holds the token checks as dependencies
and `errors` the handlers that give every error one JSON shape."""
