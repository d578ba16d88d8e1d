"""booking's HTTP API."""
