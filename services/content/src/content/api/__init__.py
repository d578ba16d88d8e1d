"""content's HTTP API."""
