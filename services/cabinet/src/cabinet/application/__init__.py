"""cabinet's use cases: one function per thing a user, an admin or a timer does, in a unit of
work, refusing with domain errors (mapped to HTTP once, in ``cabinet.api.errors``)."""
