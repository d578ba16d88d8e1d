"""Running ASGI apps and other listeners inside the current event loop, on the loopback only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

LOOPBACK = "127.0.0.1"
"""The only host the sandbox binds to."""

log = logging.getLogger("sandbox")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), ready to hand to a server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it (Linux): without it every keep-alive request to a fake
        # stalls ~40 ms (Nagle on the split response meets the client's delayed ACK).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever owns the event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp, host: str = LOOPBACK, port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn in the running event loop; yield its base URL; stop at exit.

    ``port=0`` picks a free port. The server installs no signal handlers, so several can run in
    one loop (the runner) or inside a test's loop.
    """
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="auto",
        timeout_graceful_shutdown=2,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn:{bound_port}")
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped the server
                raise RuntimeError(f"server on port {bound_port} stopped while starting")
            await asyncio.sleep(0.005)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class ApiGateway:
    """The nginx gateway in miniature, for tests and benchmarks that run the services in one
    process: ``/api/<service>/…`` to that service's ASGI app (503 while it has none), so links
    built on ``PUBLIC_ORIGIN`` work over real HTTP. Serve it with :func:`serve_app`; set or
    remove ``apps[name]`` as services start and stop."""

    def __init__(self) -> None:
        self.apps: dict[str, ASGIApp] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        parts = scope["path"].split("/")
        app = self.apps.get(parts[2]) if len(parts) > 2 and parts[1] == "api" else None
        if app is None:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)
