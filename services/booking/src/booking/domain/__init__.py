"""booking's domain rules (no framework imports)."""
