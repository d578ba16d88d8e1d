"""The chaos test's own infrastructure, never the machine's shared one.

* :class:`PrivatePostgres`: a throwaway cluster (``initdb`` into a temporary directory with the
  installed binaries, ``pg_ctl`` on a free port, trust authentication) that may be stopped and
  started at will;
* :class:`PrivateRabbit`: a throwaway RabbitMQ node (its own node name, ports, Mnesia and log
  directories, no plugins, its own Erlang cookie in its own ``HOME``), stopped with
  ``rabbitmqctl -n`` and started again on the same data;
* :class:`TcpProxy`: an in-process asyncio TCP proxy between the services and that node, which can
  drop every connection and refuse new ones for a while (a cut network, not a stopped broker).

The shared PostgreSQL (5432) and RabbitMQ (5672) that other tests and ``make run`` use are never
touched: nothing here knows their addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((LOOPBACK, port)) == 0


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return path


class PrivatePostgres:
    """A PostgreSQL cluster of its own on a free port (trust auth, user ``postgres``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="praktika-chaos-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        # initdb refuses to run as root: the cluster belongs to the postgres account then.
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True)
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}{done.stderr}\n{tail}")

    def init(self) -> None:
        self._run(
            _pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses={LOOPBACK} -c unix_socket_directories={self.root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: every session is ended, in-flight transactions roll back."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


RABBIT_SBIN = "/usr/lib/rabbitmq/bin"


def _rabbit_bin(name: str) -> str:
    candidate = Path(RABBIT_SBIN) / name
    if candidate.exists():
        return str(candidate)
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"RabbitMQ's {name} is not installed")
    return path


class PrivateRabbit:
    """A RabbitMQ node of its own: ``chaos-<random>@localhost`` on free ports, no plugins."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"chaos-{secrets.token_hex(4)}@localhost"
        self.root = Path(tempfile.mkdtemp(prefix="praktika-chaos-rmq-"))
        (self.root / "enabled_plugins").write_text("[].\n")

    @property
    def url(self) -> str:
        """The node's own address (the services reach it through :class:`TcpProxy`)."""
        return f"amqp://guest:guest@{LOOPBACK}:{self.port}/"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "HOME": str(self.root),  # its own Erlang cookie, for it and rabbitmqctl -n
                "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.root / "log"),
                "RABBITMQ_PID_FILE": str(self.root / "rabbit.pid"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
                "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),  # none: the defaults
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            }
        )
        return env

    def _ctl(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_rabbit_bin("rabbitmqctl"), "-n", self.node, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, timeout: float = 90) -> None:
        subprocess.run(
            [_rabbit_bin("rabbitmq-server"), "-detached"], env=self.env(), check=True, timeout=30
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _port_open(self.port) and self._ctl("await_startup", timeout=30).returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError(f"RabbitMQ node {self.node} did not start (logs in {self.root}/log)")

    def stop(self) -> None:
        done = self._ctl("stop", str(self.root / "rabbit.pid"))
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl stop failed: {done.stdout}{done.stderr}")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self._ctl("stop", str(self.root / "rabbit.pid"), timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to an upstream port; :meth:`cut` drops every connection and
    refuses new ones (accepted and reset at once) until :meth:`restore`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.refusing = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in (writer, up_writer):
                w.transport.abort()
                self._writers.discard(w)
            for task in pumps:
                task.cancel()
                self._tasks.discard(task)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    def cut(self) -> int:
        """Drop every open connection (both sides reset) and refuse new ones; returns how many
        connections were cut."""
        self.refusing = True
        cut = len(self._writers) // 2
        for writer in list(self._writers):
            writer.transport.abort()
        return cut

    def restore(self) -> None:
        self.refusing = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
