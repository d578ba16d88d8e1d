"""The nginx gateway's configuration: one template, rendered for docker-compose and for a local
stack. Only what differs between the two is a placeholder: where the services are (Docker's DNS
names, re-resolved, or loopback ports), where logs and state go, and the listening port.
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path

from devstack.layout import LOOPBACK, ROOT, SERVICES, StackLayout

TEMPLATE = ROOT / "deploy" / "nginx" / "gateway.conf.template"
COMPOSE_CONFIG = ROOT / "deploy" / "nginx" / "nginx.conf"
_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")
_NOTE = "Generated from gateway.conf.template by `praktika-stack gateway`: edit the template."


def _render(values: dict[str, str]) -> str:
    text = TEMPLATE.read_text()
    names = set(_PLACEHOLDER.findall(text))
    if names != set(values):
        raise ValueError(f"template placeholders {sorted(names)} != values {sorted(values)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def compose_config() -> str:
    """deploy/nginx/nginx.conf: the official nginx image in docker-compose's network."""
    values = {
        "generated_note": _NOTE,
        "main_context": "",
        "worker_processes": "auto",
        "error_log": "/var/log/nginx/error.log",  # the official image links it to stderr
        "access_log": "/var/log/nginx/access.log",  # ... and this to stdout
        "http_context": "",
        # Docker's DNS, re-resolved every 10 s, so `docker compose up --scale booking=3` spreads
        # load over new replicas without a reload; nginx starts even if a service is not up.
        # (`resolve` on upstream servers needs nginx >= 1.27.3.)
        "resolver": (
            "    # Docker's DNS, re-resolved every 10 s (`--scale` needs no reload).\n"
            "    resolver 127.0.0.11 valid=10s ipv6=off;\n    resolver_timeout 5s;\n"
        ),
        "listen": "8080",
    }
    for name, port in SERVICES.items():
        values[f"server_{name}"] = f"server {name}:{port} resolve;"
    return _render(values)


def local_config(layout: StackLayout) -> str:
    """A local stack's gateway: Debian's nginx as a foreground process, state under
    ``layout.state / "nginx"``, the services on their loopback ports."""
    state = layout.state / "nginx"
    temp = "\n".join(
        f"    {kind}_temp_path {state / 'temp' / kind.split('_')[0]};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"pid {state / 'nginx.pid'};\ndaemon off;"
    if getpass.getuser() == "root":
        # Workers would otherwise run as nobody and could not write the temp paths above.
        main += "\nuser root;"
    values = {
        "generated_note": "Rendered for a local stack by `praktika-stack up`; not committed.",
        "main_context": main,
        "worker_processes": "2",
        "error_log": str(state / "error.log"),
        "access_log": str(state / "access.log"),
        "http_context": temp + "\n",
        "resolver": "",
        "listen": f"{LOOPBACK}:{layout.gateway_port}",
    }
    for name in SERVICES:
        values[f"server_{name}"] = f"server {LOOPBACK}:{layout.services[name]};"
    return _render(values)


def write_local_config(layout: StackLayout) -> Path:
    """Render the local gateway's configuration into the stack's state; returns its path."""
    state = layout.state / "nginx"
    for kind in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
        (state / "temp" / kind).mkdir(parents=True, exist_ok=True)
    path = state / "nginx.conf"
    path.write_text(local_config(layout))
    return path
