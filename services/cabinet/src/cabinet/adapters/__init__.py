"""cabinet's adapters: tables, password hashing, signing keys."""
