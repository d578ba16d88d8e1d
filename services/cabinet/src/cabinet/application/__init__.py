"""cabinet's use cases shared by routes and timers: sessions, one-time links."""
