"""runner: all fakes in one process on their ports, answering until SIGTERM; ports configurable."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time

import httpx
import pytest
from sandbox.registry import REGISTRY, get_fake, implemented_fakes, port_env_var
from sandbox.runner import resolve_ports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_runner(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox.runner", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_healthy(url: str, process: subprocess.Popen[str], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(f"{url}/_sandbox/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url} never became healthy")


@pytest.fixture
def ports() -> dict[str, int]:
    """A free port for every port of every implemented fake: never the local stack's."""
    return {name: free_port() for spec in implemented_fakes() for name in spec.ports}


def test_registry_reserves_the_port_plan() -> None:
    plan = {name: port for spec in REGISTRY for name, port in spec.ports.items()}
    assert plan == {
        "yookassa": 9001,
        "telegram": 9002,
        "google": 9003,
        "smtp-inspection": 9004,
        "smtp": 9025,
    }
    assert [spec.name for spec in implemented_fakes()] == ["yookassa", "telegram", "google", "smtp"]
    assert all(spec.host == "127.0.0.1" for spec in REGISTRY)
    with pytest.raises(KeyError, match="known: yookassa"):
        get_fake("paypal")


def test_ports_come_from_defaults_then_environment_then_flags() -> None:
    environ = {port_env_var("smtp-inspection"): "19004", port_env_var("smtp"): "12525"}
    assert port_env_var("smtp-inspection") == "SANDBOX_SMTP_INSPECTION_PORT"
    ports = resolve_ports(REGISTRY, environ=environ, overrides={"smtp": 2526})
    assert ports["yookassa"] == 9001
    assert ports["smtp-inspection"] == 19004
    assert ports["smtp"] == 2526
    with pytest.raises(ValueError, match="unknown port name"):
        resolve_ports(REGISTRY, environ={}, overrides={"smpt": 1})
    with pytest.raises(ValueError, match="is not a port"):
        resolve_ports(REGISTRY, environ={"SANDBOX_SMTP_PORT": "many"})


def test_runner_serves_every_fake_then_stops_on_sigterm(ports: dict[str, int]) -> None:
    others = [f"--port={name}={port}" for name, port in ports.items() if name != "smtp-inspection"]
    process = start_runner(
        *others,  # flags, and one port by environment: both ways are honoured
        env={"SANDBOX_SMTP_INSPECTION_PORT": str(ports["smtp-inspection"])},
    )
    try:
        for fake in ("yookassa", "telegram"):
            url = f"http://127.0.0.1:{ports[fake]}"
            wait_healthy(url, process)
            assert httpx.get(f"{url}/_sandbox/health").json()["fake"] == fake
        inspection = f"http://127.0.0.1:{ports['smtp-inspection']}"
        wait_healthy(inspection, process)
        assert httpx.get(f"{inspection}/_sandbox/health").json()["fake"] == "smtp"
        with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=5) as client:
            client.sendmail("a@example.org", ["b@example.org"], b"Subject: hi\r\n\r\nhello\r\n")
        (message,) = httpx.get(f"{inspection}/_sandbox/messages").json()
        assert message["subject"] == "hi"

        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert f"smtp: {inspection} smtp://127.0.0.1:{ports['smtp']}" in output
    assert "sandbox stopped" in output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{inspection}/_sandbox/health", timeout=1)


def test_runner_stops_on_sigint_too(ports: dict[str, int]) -> None:
    process = start_runner(*[f"--port={name}={port}" for name, port in ports.items()])
    try:
        wait_healthy(f"http://127.0.0.1:{ports['smtp-inspection']}", process)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output


def test_runner_names_the_busy_port(ports: dict[str, int]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        others = [
            f"--port={name}={port}" for name, port in ports.items() if name != "smtp-inspection"
        ]
        process = start_runner("--port", f"smtp-inspection={taken}", *others)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "cannot start" in output
    assert str(taken) in output


def test_runner_lists_fakes() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "sandbox.runner", "--list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "smtp       implemented" in listed.stdout
    assert "telegram   implemented" in listed.stdout
    assert "google     implemented" in listed.stdout
