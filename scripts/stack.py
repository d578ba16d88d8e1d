"""The local stack behind ``make run`` / ``make stop``: databases, migrations, processes, health.

Runs every service and the sandbox fakes against the PostgreSQL and RabbitMQ on this machine's
standard ports, each as a background process with its log in ``.local/logs`` and its pid in
``.local/run``. Nothing here is used by the tests (they make their own databases and vhost).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
LOGS, RUN = LOCAL / "logs", LOCAL / "run"
SERVICES = {"booking": 8001, "content": 8002, "cabinet": 8003, "notify": 8004}
PG_ADMIN = os.environ.get("PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def service_env(name: str) -> dict[str, str]:
    """The environment a service runs with locally."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"{PG_BASE}/praktika_{name}",
            "AMQP_URL": AMQP_URL,
            "JWKS_URL": f"http://127.0.0.1:{SERVICES['cabinet']}/.well-known/jwks.json",
            "JWT_SIGNING_KEYS_FILE": str(LOCAL / "cabinet-signing-keys.json"),
            "ENVIRONMENT": "development",
        }
    )
    return env


async def create_databases() -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in SERVICES:
            if f"praktika_{name}" not in existing:
                await conn.execute(f'CREATE DATABASE "praktika_{name}"')
                print(f"created database praktika_{name}")
    finally:
        await conn.close()


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _spawn(name: str, argv: list[str], env: dict[str, str]) -> None:
    pid_file = RUN / f"{name}.pid"
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        print(f"{name} already running (pid {pid_file.read_text().strip()})")
        return
    log = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    pid_file.write_text(str(proc.pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def up(timeout: float) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    asyncio.run(create_databases())
    for name in SERVICES:
        subprocess.run(
            [_bin(f"{name}-admin"), "migrate"], cwd=ROOT, env=service_env(name), check=True
        )
    sandbox_env = dict(os.environ)
    # YooKassa's notifications go to booking's webhook, as the real shop settings would say.
    sandbox_env.setdefault(
        "SANDBOX_YOOKASSA_WEBHOOK_URL",
        f"http://127.0.0.1:{SERVICES['booking']}/api/booking/payments/yookassa/webhook",
    )
    _spawn("sandbox", [_bin("praktika-sandbox")], sandbox_env)
    for name, port in SERVICES.items():
        _spawn(
            name,
            [
                _bin("uvicorn"),
                f"{name}.entrypoints.http:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            service_env(name),
        )
    deadline = time.monotonic() + timeout
    pending = {name: f"http://127.0.0.1:{port}/readyz" for name, port in SERVICES.items()}
    while pending and time.monotonic() < deadline:
        for name, url in list(pending.items()):
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    if pending:
        print(f"not ready after {timeout:.0f}s: {', '.join(pending)} (see .local/logs/)")
        return 1
    # The bot's updates (taps, /start) come to notify's webhook, as setWebhook does in production.
    subprocess.run(
        [_bin("notify-admin"), "telegram-webhook", "set"],
        cwd=ROOT,
        env=service_env("notify"),
        check=True,
        capture_output=True,
    )
    print("\nPraktika is running:")
    for name, port in SERVICES.items():
        print(f"  {name:8} http://127.0.0.1:{port}/api/{name}/   docs http://127.0.0.1:{port}/docs")
    print("  jwks     http://127.0.0.1:8003/.well-known/jwks.json")
    print("  sandbox  " + ", ".join(_sandbox_urls()))
    print("\nA token: make token ROLE=admin    Stop: make stop    Logs: .local/logs/")
    return 0


def _sandbox_urls() -> list[str]:
    from sandbox.registry import implemented_fakes

    return [f"{f.name} http://127.0.0.1:{f.http_port}/_sandbox/" for f in implemented_fakes()]


def down() -> int:
    for pid_file in sorted(RUN.glob("*.pid")) if RUN.exists() else []:
        pid = int(pid_file.read_text())
        if _alive(pid):
            os.killpg(pid, signal.SIGTERM)
            for _ in range(50):
                if not _alive(pid):
                    break
                time.sleep(0.1)
            else:
                os.killpg(pid, signal.SIGKILL)
            print(f"stopped {pid_file.stem}")
        pid_file.unlink()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args()
    return up(args.timeout) if args.command == "up" else down()


if __name__ == "__main__":
    raise SystemExit(main())
