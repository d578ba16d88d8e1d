"""cabinet's HTTP API."""
