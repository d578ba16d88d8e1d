"""``praktika-stack``: ``up`` / ``down`` the local stack (``make run`` / ``make stop``), ``replica``
(one more replica of a service beside it, as ``docker compose --scale`` runs one), ``demo``
(``make demo``: a new client's journey on it, as a timeline), and ``gateway`` to write (or
``--check``) docker-compose's nginx.conf from the one template."""

from __future__ import annotations

import argparse
import sys

from devstack.gateway import COMPOSE_CONFIG, compose_config
from devstack.layout import StackLayout
from devstack.processes import StackFailed, down, start_service, up, wait_ready


def _print_running(layout: StackLayout) -> None:
    print("\nPraktika is running. Everything a front end or a person uses:")
    print(f"  gateway  {layout.origin}/api/<service>/   (links in mail and Telegram start here)")
    print("  services, for debugging:")
    for name in layout.services:
        print(f"    {name:8} {layout.service_url(name)}/docs")
    fakes = ", ".join(
        f"{name} {layout.sandbox_url(name)}/_sandbox/"
        for name in ("yookassa", "telegram", "google", "smtp-inspection")
    )
    print(f"  sandbox  {fakes}   (pages to open in a browser)")
    print("\nA token: make token ROLE=admin    Stop: make stop    Logs: .local/logs/")


def _replica(layout: StackLayout, name: str, number: int) -> int:
    """Start replica ``number`` of ``name`` beside the running stack on the next free port and
    wait until it is ready; ``make stop`` stops it with the rest."""
    import socket

    if number < 2:
        print("replica 1 is the stack's own: start it with `make run`", file=sys.stderr)
        return 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    start_service(layout, name, replica=number, port=port)
    url = f"http://127.0.0.1:{port}"
    if wait_ready({name: f"{url}/readyz"}, 90):
        print(f"{name} replica {number} is not ready (see .local/logs/{name}-{number}.log)")
        return 1
    print(f"{name} replica {number} is running at {url} (metrics: {url}/metrics)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="praktika-stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the local stack and wait until it is healthy")
    start.add_argument("--timeout", type=float, default=90)
    commands.add_parser("down", help="stop what `up` started")
    demo = commands.add_parser("demo", help="walk a new client's journey on the running stack")
    demo.add_argument(
        "--state",
        default=None,
        help="the running stack's state directory (default: this checkout's .local; another "
        "checkout's when its `make run` is the one up)",
    )
    replica = commands.add_parser(
        "replica",
        help="start one more replica of a service on the running stack (as compose --scale)",
    )
    replica.add_argument("service", choices=["booking", "content", "cabinet", "notify"])
    replica.add_argument("--number", type=int, default=2, help="its number (2, 3, ...)")
    gateway = commands.add_parser("gateway", help="write deploy/nginx/nginx.conf")
    gateway.add_argument("--check", action="store_true", help="fail if it is not current")
    catalogue = commands.add_parser("catalogue", help="the event table of docs/architecture.md")
    catalogue.add_argument("--check", action="store_true", help="fail if it is not current")
    args = parser.parse_args(argv)
    if args.command == "catalogue":
        from devstack.catalogue import ARCHITECTURE
        from devstack.catalogue import rendered as catalogue_document

        current, wanted = catalogue_document()
        if args.check:
            if current != wanted:
                print(f"{ARCHITECTURE}: the event table is stale: run `make docs`")
                return 1
            return 0
        ARCHITECTURE.write_text(wanted)
        return 0
    layout = StackLayout.local()
    if args.command == "demo":
        import asyncio
        from dataclasses import replace
        from pathlib import Path

        from devstack.demo import run_demo

        if args.state:
            layout = replace(layout, state=Path(args.state).resolve())
        return asyncio.run(run_demo(layout))
    if args.command == "up":
        try:
            up(layout, timeout=args.timeout)
        except StackFailed as exc:
            print(exc, file=sys.stderr)
            return 1
        _print_running(layout)
        return 0
    if args.command == "replica":
        return _replica(layout, args.service, args.number)
    if args.command == "down":
        for name in down(layout):
            print(f"stopped {name}")
        return 0
    rendered = compose_config()
    if args.check:
        if COMPOSE_CONFIG.read_text() != rendered:
            print(f"{COMPOSE_CONFIG} is not what the template renders: run `make gateway`")
            return 1
        return 0
    COMPOSE_CONFIG.write_text(rendered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
