"""notify's use cases: one function per thing a user or an event does, in a unit of work."""
