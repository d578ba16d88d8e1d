"""notify's HTTP API."""
