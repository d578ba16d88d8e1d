"""HTTP building blocks of every service: problem+json, app factory, health, metrics."""
