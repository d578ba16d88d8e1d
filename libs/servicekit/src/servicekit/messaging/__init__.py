"""Messaging: transactional outbox and its relay, idempotent inbox, topology, consumers, DLQ."""
