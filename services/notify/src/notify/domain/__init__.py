"""notify's domain rules (no framework imports)."""
