"""notify's entrypoints: HTTP app, event consumers, admin command line."""
