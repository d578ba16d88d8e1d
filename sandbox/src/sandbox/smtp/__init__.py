"""SMTP sink: accepts every message on the loopback, keeps it, and shows it over HTTP."""

from sandbox.smtp.fake import build_smtp_fake
from sandbox.smtp.inspection import create_inspection_app
from sandbox.smtp.server import SinkHandler, serve_smtp
from sandbox.smtp.store import (
    MessageStore,
    QueuedSmtpFault,
    SmtpFault,
    SmtpRejection,
    StoredAttachment,
    StoredMessage,
)

__all__ = [
    "MessageStore",
    "QueuedSmtpFault",
    "SinkHandler",
    "SmtpFault",
    "SmtpRejection",
    "StoredAttachment",
    "StoredMessage",
    "build_smtp_fake",
    "create_inspection_app",
    "serve_smtp",
]
