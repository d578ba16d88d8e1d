"""The SMTP sink's HTTP inspection API, built on :mod:`sandbox.kit`.

- ``GET    /_sandbox/``                           HTML page: the mailbox, newest first
- ``GET    /_sandbox/mail/{id}``                  HTML page: one mail, its parts and attachments
- ``GET    /_sandbox/messages?to=&count=&wait=``  accepted messages, newest last
- ``GET    /_sandbox/messages/{id}``              one message (``/raw``: its exact bytes)
- ``DELETE /_sandbox/messages``                   forget messages and rejections
- ``GET    /_sandbox/rejections``                 replies given because of faults
- ``POST   /_sandbox/faults`` ``{"smtp_code": 451, "times": 1, "stage": "data", "rcpt": null}``
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from sandbox.kit import MAX_WAIT_SECONDS, FaultExtension, create_sandbox_app, poll_until
from sandbox.pages import PAGE_PATH, newest_first, render_page
from sandbox.smtp.store import MessageStore, SmtpFault, SmtpRejection, StoredMessage


def create_inspection_app(store: MessageStore) -> FastAPI:
    """The HTTP app over ``store``; ``POST /_sandbox/reset`` also empties the store."""

    def add_fault(payload: dict[str, Any]) -> Any:
        return store.add_fault(SmtpFault.model_validate(payload))

    app = create_sandbox_app(
        "smtp",
        description="SMTP sink: what was sent, and faults for the next messages",
        reset_hooks=[store.reset],
        fault_extensions=[
            FaultExtension(
                kind="smtp",
                key="smtp_code",
                add=add_fault,
                pending=store.pending_faults,
                clear=store.clear_faults,
            )
        ],
    )

    @app.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def mailbox_page(request: Request) -> HTMLResponse:
        """The mailbox as a person reads it: newest first, then the refused ones."""
        return render_page(
            request,
            "smtp.html",
            title="Mail sandbox: mailbox",
            messages=newest_first(store.messages()),
            rejections=newest_first(store.rejections()),
        )

    @app.get("/_sandbox/mail/{message_id}", response_class=HTMLResponse, include_in_schema=False)
    async def mail_page(request: Request, message_id: int) -> HTMLResponse:
        """One mail: headers, attachments, its text part, its HTML part in a sandboxed frame."""
        message = store.get(message_id)
        if message is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no message {message_id}")
        return render_page(
            request,
            "smtp_mail.html",
            title=f"Mail sandbox: {message.subject or '(no subject)'}",
            refresh=False,
            m=message,
        )

    @app.get("/_sandbox/messages")
    async def list_messages(
        to: str | None = None,
        count: int = Query(default=1, ge=1, description="With wait: how many to wait for"),
        wait: float = Query(default=0.0, ge=0.0, le=MAX_WAIT_SECONDS),
    ) -> list[StoredMessage]:
        """Accepted messages (to an envelope recipient), newest last; ``wait`` long-polls."""
        return await poll_until(lambda: store.messages(to=to), lambda m: len(m) >= count, wait)

    @app.get("/_sandbox/messages/{message_id}")
    async def get_message(message_id: int) -> StoredMessage:
        message = store.get(message_id)
        if message is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no message {message_id}")
        return message

    @app.get("/_sandbox/messages/{message_id}/raw")
    async def get_raw(message_id: int) -> Response:
        raw = store.raw(message_id)
        if raw is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no message {message_id}")
        return Response(raw, media_type="message/rfc822")

    @app.delete("/_sandbox/messages", status_code=status.HTTP_204_NO_CONTENT)
    async def clear_messages() -> Response:
        store.clear_messages()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @app.get("/_sandbox/rejections")
    async def list_rejections() -> list[SmtpRejection]:
        return store.rejections()

    return app
