"""cabinet's HTTP app: ``uvicorn cabinet.entrypoints.http:app``."""

from __future__ import annotations

from fastapi import FastAPI
from servicekit.http.app import create_app
from servicekit.logging import configure_logging
from servicekit.runtime import ServiceRuntime

from cabinet.api.jwks import router as jwks_router
from cabinet.bootstrap import build_runtime
from cabinet.config import CabinetSettings


def make_app(runtime: ServiceRuntime) -> FastAPI:
    """cabinet's app: the common one plus the JWKS at the root."""
    app = create_app(runtime)
    app.include_router(jwks_router)
    return app


settings = CabinetSettings()
configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
app = make_app(build_runtime(settings))
