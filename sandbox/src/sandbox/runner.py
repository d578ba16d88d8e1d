"""``praktika-sandbox``: every implemented fake in one process on the loopback until SIGTERM.

Ports come from the registry, then ``SANDBOX_<NAME>_PORT``, then ``--port NAME=PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence

from sandbox.registry import REGISTRY, FakeSpec, get_fake, implemented_fakes, port_env_var
from sandbox.serving import serve_app

log = logging.getLogger("sandbox")


def resolve_ports(
    specs: Sequence[FakeSpec],
    *,
    environ: Mapping[str, str],
    overrides: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Port name → port for these fakes: defaults, then the environment, then ``overrides``."""
    ports: dict[str, int] = {}
    for spec in specs:
        for name, default in spec.ports.items():
            env_value = environ.get(port_env_var(name))
            try:
                ports[name] = int(env_value) if env_value else default
            except ValueError as exc:
                raise ValueError(f"{port_env_var(name)}={env_value!r} is not a port") from exc
    for name, port in (overrides or {}).items():
        if name not in ports:
            raise ValueError(f"unknown port name {name!r}; known: {', '.join(ports)}")
        ports[name] = port
    return ports


@contextlib.asynccontextmanager
async def start_fake(spec: FakeSpec, ports: Mapping[str, int]) -> AsyncIterator[list[str]]:
    """Build and start one fake (companions first, then its HTTP app); yield its URLs."""
    if spec.factory is None:
        raise ValueError(f"fake {spec.name!r} is not implemented yet")
    own_ports = {name: ports.get(name, default) for name, default in spec.ports.items()}
    build = spec.factory(spec.host, own_ports)
    async with contextlib.AsyncExitStack() as stack:
        http_port = own_ports[spec.http_port_name or spec.name]
        urls = [await stack.enter_async_context(serve_app(build.app, spec.host, http_port))]
        for companion in build.companions:
            urls.append(await stack.enter_async_context(companion))
        yield urls


async def run(
    specs: Sequence[FakeSpec], ports: Mapping[str, int], stop: asyncio.Event | None = None
) -> None:
    """Start ``specs`` in the running loop, log one line per fake, serve until ``stop`` is set.

    Without ``stop``, SIGTERM and SIGINT stop it.
    """
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        for spec in specs:
            urls = await stack.enter_async_context(start_fake(spec, ports))
            log.info("%s: %s (page: %s/_sandbox/)", spec.name, " ".join(urls), urls[0])
        log.info("sandbox ready: %d fake(s); stop with SIGTERM or Ctrl+C", len(specs))
        await stop.wait()
        log.info("sandbox stopping")
    log.info("sandbox stopped")


def _port_override(text: str) -> tuple[str, int]:
    name, sep, port = text.partition("=")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=PORT, got {text!r}")
    return name.strip(), int(port)


def _parser() -> argparse.ArgumentParser:
    names = [n for spec in REGISTRY for n in spec.ports]
    parser = argparse.ArgumentParser(
        prog="praktika-sandbox",
        description="Run Praktika's fakes of YooKassa, Telegram, Google and SMTP on 127.0.0.1.",
    )
    parser.add_argument(
        "--port",
        action="append",
        type=_port_override,
        default=[],
        metavar="NAME=PORT",
        help=f"override a port (0: any free one); names: {', '.join(names)}",
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="FAKE", help="start only this fake"
    )
    parser.add_argument("--list", action="store_true", help="list fakes and ports, then exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``praktika-sandbox``; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # aiosmtpd logs every SMTP command at INFO, uvicorn every start-up step: keep the log readable
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)

    try:
        specs = [get_fake(name) for name in args.only] if args.only else implemented_fakes()
        ports = resolve_ports(REGISTRY, environ=os.environ, overrides=dict(args.port))
    except (KeyError, ValueError) as exc:
        log.error("%s", exc.args[0] if exc.args else exc)
        return 2
    if args.list:
        for spec in REGISTRY:
            state = "implemented" if spec.implemented else "reserved"
            listed = ", ".join(f"{n}={ports[n]}" for n in spec.ports)
            print(f"{spec.name:10} {state:12} {listed:36} {spec.description}")
        return 0
    missing = [spec.name for spec in specs if not spec.implemented]
    if missing:
        log.error("not implemented yet: %s", ", ".join(missing))
        return 2

    try:
        asyncio.run(run(specs, ports))
    except OSError as exc:
        log.error(
            "cannot start: %s; change ports with SANDBOX_<NAME>_PORT or --port NAME=PORT", exc
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
