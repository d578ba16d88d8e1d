"""content's HTTP app: ``uvicorn content.entrypoints.http:app``."""

from __future__ import annotations

from servicekit.http.app import create_app
from servicekit.logging import configure_logging
from servicekit.tracing import configure_tracing

from content.bootstrap import build_runtime
from content.config import ContentSettings

settings = ContentSettings()
configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
configure_tracing(settings.service_name)
app = create_app(build_runtime(settings))
