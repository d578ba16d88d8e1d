"""content's domain rules (no framework imports)."""
