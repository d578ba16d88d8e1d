"""content's entrypoints: HTTP app, admin command line."""
