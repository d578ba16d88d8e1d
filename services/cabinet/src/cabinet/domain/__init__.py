"""cabinet's domain rules (no framework imports)."""
