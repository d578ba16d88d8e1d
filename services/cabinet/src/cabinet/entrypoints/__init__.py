"""cabinet's entrypoints: HTTP app and admin command line."""
