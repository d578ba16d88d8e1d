"""content's adapters: tables and repositories."""
