"""notify's HTTP app: ``uvicorn notify.entrypoints.http:app``.

The app is built when uvicorn asks for ``app`` (a module ``__getattr__``), not when the module is
imported: importing it reads no settings and keeps nothing at module level.
"""

from __future__ import annotations

from fastapi import FastAPI
from servicekit.http.app import create_app
from servicekit.logging import configure_logging
from servicekit.tracing import configure_tracing

from notify.bootstrap import build_runtime
from notify.config import NotifySettings


def build_app() -> FastAPI:
    """notify's app on the settings the environment gives."""
    settings = NotifySettings()
    configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
    configure_tracing(settings.service_name)
    return create_app(build_runtime(settings))


def __getattr__(name: str) -> FastAPI:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
