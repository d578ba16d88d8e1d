"""Bot API request parameters from any of the four encodings Telegram accepts, and their types.

A method's parameters may come as a query string, ``application/x-www-form-urlencoded``,
``application/json`` or ``multipart/form-data`` (integrations.md §3.1); body values override query
values. Form values are strings, and objects (``reply_markup``, ``allowed_updates``) arrive as JSON
text, so the readers below accept both the native JSON value and its text form.
"""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request


class BotApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": …, "description": …}``."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def envelope(self) -> dict[str, Any]:
        """The JSON body Telegram answers with."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> BotApiError:
    """A 400 with Telegram's ``Bad Request: …`` wording."""
    return BotApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (the fake keeps only its name and size)."""

    filename: str
    size: int


async def read_params(request: Request) -> dict[str, Any]:
    """Every parameter of a Bot API request: the query string, then the body on top of it."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body.strip():
        return params
    content_type = request.headers.get("content-type", "")
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise bad_request("can't parse JSON object") from exc
        if not isinstance(data, dict):
            raise bad_request("JSON object expected")
        params.update(data)
    elif mime == "application/x-www-form-urlencoded":
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif mime == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    return params


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    if not message.is_multipart():
        raise bad_request("can't parse multipart/form-data body")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            fields[str(name)] = UploadedFile(filename=filename, size=len(payload))
        else:
            charset = part.get_content_charset() or "utf-8"
            fields[str(name)] = payload.decode(charset, "replace")
    return fields


def get_str(params: dict[str, Any], name: str) -> str | None:
    """A parameter as text (numbers as their JSON text); ``None`` when absent."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def get_int(params: dict[str, Any], name: str, *, missing: str | None = None) -> int | None:
    """An integer parameter; ``missing`` is the ``Bad Request`` detail when it is required."""
    value = params.get(name)
    if value is None or value == "":
        if missing is not None:
            raise bad_request(missing)
        return None
    if isinstance(value, bool):
        raise bad_request(f'field "{name}" must be of type Integer')
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise bad_request(f'field "{name}" must be of type Integer') from exc


def get_bool(params: dict[str, Any], name: str) -> bool:
    """A boolean parameter (``true``/``1`` in forms); absent is ``False``."""
    value = params.get(name)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def get_json(params: dict[str, Any], name: str, *, error: str) -> Any:
    """A JSON-valued parameter: the native value, or its text decoded; ``error`` if undecodable."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise bad_request(error) from exc
    return value
