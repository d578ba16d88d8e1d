"""cabinet's use cases: one function per thing a user, an admin or a timer does, in a unit of
work, refusing with domain errors (mapped to HTTP once, in ``cabinet.api.errors``).

A use case a route calls commits its own work, because most of cabinet's must commit in the
middle: throttle counts stand before a password is hashed (no connection is held while it is),
a revoked session family stands before the refusal is raised, and a unique violation is known
only at commit. A timer's use case runs in the transaction the timer worker commits.
"""
