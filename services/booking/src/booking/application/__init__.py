"""booking's use cases: they run inside a unit of work given by an HTTP route, a consumer or a
timer, change rows, and emit the events that report the change."""
