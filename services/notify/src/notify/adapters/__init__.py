"""notify's adapters: tables and repositories."""
