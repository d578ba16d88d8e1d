"""Start and stop a stack's processes: databases, migrations, the sandbox, services, gateway.

Each process runs in the background with its log in ``<state>/logs`` and its pid in
``<state>/run``; :func:`down` ends them all.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from devstack.environment import sandbox_env, service_env
from devstack.gateway import write_local_config
from devstack.layout import ROOT, SERVICES, StackLayout

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class StackFailed(RuntimeError):
    """A step of starting the stack failed; the message says which, and where its log is."""


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _dirs(layout: StackLayout) -> tuple[Path, Path]:
    logs, run = layout.state / "logs", layout.state / "run"
    logs.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    return logs, run


async def create_databases(layout: StackLayout) -> None:
    """Create each service's database in this stack if it does not exist yet."""
    conn = await asyncpg.connect(layout.pg_admin_dsn)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in SERVICES:
            database = layout.database_name(name)
            if database not in existing:
                await conn.execute(f'CREATE DATABASE "{database}"')
                print(f"created database {database}")
    finally:
        await conn.close()


async def drop_databases(layout: StackLayout) -> None:
    """Drop this stack's databases (a test's stack, after :func:`down`)."""
    conn = await asyncpg.connect(layout.pg_admin_dsn)
    try:
        for name in SERVICES:
            await conn.execute(
                f'DROP DATABASE IF EXISTS "{layout.database_name(name)}" WITH (FORCE)'
            )
    finally:
        await conn.close()


def _alive(pid: int) -> bool:
    try:  # our own child (a test's stack) lingers as a zombie until reaped
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # started by another process (`make run`, then `make stop`)
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _spawn(layout: StackLayout, name: str, argv: list[str], env: dict[str, str]) -> None:
    logs, run = _dirs(layout)
    pid_file = run / f"{name}.pid"
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        print(f"{name} already running (pid {pid_file.read_text().strip()})")
        return
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    pid_file.write_text(str(proc.pid))


def wait_ready(urls: dict[str, str], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending and time.monotonic() < deadline:
        for name, url in list(pending.items()):
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if pending:
            time.sleep(0.3)
    return sorted(pending)


def migrate(layout: StackLayout) -> None:
    """Run every service's migrations (what deployments run as one-shot jobs)."""
    for name in SERVICES:
        done = subprocess.run(
            [_bin(f"{name}-admin"), "migrate"],
            cwd=ROOT,
            env=service_env(layout, name),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise StackFailed(f"{name} migrations failed:\n{done.stdout}{done.stderr}")


def _process_name(name: str, replica: int) -> str:
    return name if replica == 1 else f"{name}-{replica}"


def start_service(
    layout: StackLayout, name: str, *, replica: int = 1, port: int | None = None
) -> None:
    """Start service ``name``'s HTTP process (its consumers, relay and timers run in it) unless it
    runs already; it is ready once its ``/readyz`` answers 200.

    ``replica`` > 1 starts one more replica of it (on ``port``, the same databases and broker),
    as ``docker compose up --scale <name>=N`` does: the gateway keeps calling the first, and the
    replicas share the consumers' partitions, the relay and the timers (docs/operations.md)."""
    if replica > 1 and port is None:
        raise ValueError("a further replica needs a port of its own")
    argv = [_bin("uvicorn"), f"{name}.entrypoints.http:app", "--host", "127.0.0.1"]
    # As in the image (deploy/service.Dockerfile): who is calling is servicekit's decision
    # (TRUSTED_PROXIES), never uvicorn's; no `server` banner; servicekit writes the access
    # log (no query strings, no capability tokens).
    argv += ["--port", str(port or layout.services[name]), "--no-access-log", "--no-proxy-headers"]
    argv += ["--no-server-header"]
    _spawn(layout, _process_name(name, replica), argv, service_env(layout, name))


def kill_service(layout: StackLayout, name: str, *, replica: int = 1) -> None:
    """SIGKILL service ``name``'s process group (a crash: no shutdown, nothing flushed) and wait
    until it is gone; :func:`start_service` starts it again (the chaos tests do)."""
    pid_file = layout.state / "run" / f"{_process_name(name, replica)}.pid"
    pid = int(pid_file.read_text())
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    while _alive(pid):
        time.sleep(0.05)


def up(layout: StackLayout, *, timeout: float = 90) -> None:
    """Start the whole stack and return once every service, the sandbox and the gateway answer.

    Raises :class:`StackFailed` (what is not ready, where its log is) otherwise.
    """
    _dirs(layout)
    asyncio.run(create_databases(layout))
    migrate(layout)
    _spawn(layout, "sandbox", [_bin("praktika-sandbox")], sandbox_env(layout))
    for name in layout.services:
        start_service(layout, name)
    config = write_local_config(layout)
    nginx_argv = [NGINX, "-p", str(config.parent), "-c", str(config)]
    nginx_argv += ["-e", str(config.parent / "error.log")]
    checked = subprocess.run([*nginx_argv, "-t", "-q"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise StackFailed(f"the gateway's configuration is refused:\n{checked.stderr}")
    _spawn(layout, "gateway", nginx_argv, dict(os.environ))
    ready = {name: f"{layout.service_url(name)}/readyz" for name in layout.services}
    ready["sandbox"] = f"{layout.sandbox_url('yookassa')}/_sandbox/webhook"
    ready["gateway"] = f"{layout.origin}/healthz"
    pending = wait_ready(ready, timeout)
    if pending:
        raise StackFailed(
            f"not ready after {timeout:.0f}s: {', '.join(pending)} (see {layout.state / 'logs'})"
        )
    # The bot's updates (taps, /start) come to notify's webhook, as setWebhook does in production.
    done = subprocess.run(
        [_bin("notify-admin"), "telegram-webhook", "set"],
        cwd=ROOT,
        env=service_env(layout, "notify"),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise StackFailed(f"setting the Telegram webhook failed:\n{done.stdout}{done.stderr}")


def down(layout: StackLayout, *, grace: float = 5.0) -> list[str]:
    """Stop every process of the stack (all asked at once, killed after ``grace`` seconds);
    returns the names stopped."""
    run = layout.state / "run"
    running: dict[str, int] = {}
    for pid_file in sorted(run.glob("*.pid")) if run.exists() else []:
        pid = int(pid_file.read_text())
        pid_file.unlink()
        if _alive(pid):
            os.killpg(pid, signal.SIGTERM)
            running[pid_file.stem] = pid
    deadline = time.monotonic() + grace
    while any(_alive(pid) for pid in running.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in running.values():
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    return sorted(running)
