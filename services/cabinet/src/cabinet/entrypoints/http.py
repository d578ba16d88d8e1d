"""cabinet's HTTP app: ``uvicorn cabinet.entrypoints.http:app``."""

from __future__ import annotations

from servicekit.http.app import create_app
from servicekit.logging import configure_logging

from cabinet.bootstrap import build_runtime
from cabinet.config import CabinetSettings

settings = CabinetSettings()
configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
app = create_app(build_runtime(settings))
