"""notify's HTTP app: ``uvicorn notify.entrypoints.http:app``."""

from __future__ import annotations

from servicekit.http.app import create_app
from servicekit.logging import configure_logging

from notify.bootstrap import build_runtime
from notify.config import NotifySettings

settings = NotifySettings()
configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
app = create_app(build_runtime(settings))
