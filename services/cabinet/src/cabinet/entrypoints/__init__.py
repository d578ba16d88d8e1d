"""cabinet's entrypoints: the HTTP app, the timers and the admin command line."""
