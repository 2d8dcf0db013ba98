"""Helpers for API tests: a real uvicorn server (thread or subprocess), a small GraphQL client,
and tokens. No mocks: requests go over real HTTP and WebSocket connections."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn

from .servers import free_port, wait_port

SECRET = "test-secret-0123456789-0123456789-0123456789"


def token(
    org: str,
    user: str = "alice",
    roles: tuple[str, ...] = ("admin",),
    *,
    secret: str = SECRET,
    ttl: timedelta = timedelta(hours=1),
    **claims: Any,
) -> str:
    now = datetime.now(tz=UTC)
    body: dict[str, Any] = {"sub": user, "org": org, "roles": list(roles), "iat": now, "exp": now + ttl}
    body.update(claims)
    return jwt.encode(body, secret, algorithm="HS256")


class GraphQLError(AssertionError):
    """The response carried top-level errors."""


class Client:
    """A synchronous GraphQL-over-HTTP client for one token."""

    def __init__(self, base_url: str, bearer: str | None) -> None:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)
        self.base_url = base_url
        self.bearer = bearer

    def close(self) -> None:
        self.http.close()

    def post(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        return self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    def raw(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
        response = self.post(query, variables, **headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def q(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
        """The data of a query that must succeed without errors."""
        result = self.raw(query, variables, **headers)
        if result.get("errors"):
            raise GraphQLError(json.dumps(result["errors"], indent=1))
        data: dict[str, Any] = result["data"]
        return data

    def m(self, name: str, input: dict[str, Any], select: str = "") -> dict[str, Any]:
        """Runs mutation `name` and returns its payload; fails on payload errors."""
        query = (
            f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
            f"{{ id position warnings errors {{ code message field }} {select} }} }}"
        )
        payload: dict[str, Any] = self.q(query, {"input": input})[name]
        if payload["errors"]:
            raise GraphQLError(json.dumps(payload["errors"]))
        return payload

    def m_raw(self, name: str, input: dict[str, Any]) -> dict[str, Any]:
        query = (
            f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
            "{ id position errors { code message field } } }"
        )
        return self.raw(query, {"input": input})


class ThreadedServer:
    """uvicorn serving an ASGI app from a background thread of this process."""

    def __init__(self, app: Any) -> None:
        # port 0: the kernel picks a free port at bind time (free_port() then binding later raced
        # with every other process on the machine); the real port is read once it listens
        self.port = 0
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@contextlib.contextmanager
def server_process(data_dir: Path, **env: str) -> Iterator[str]:
    """`okr serve` as a subprocess on a free port; yields its base URL."""
    port = free_port()
    full_env = {
        **os.environ,
        "OKR_DATA_DIR": str(data_dir),
        "OKR_JWT_SECRET": SECRET,
        "OKR_ENVIRONMENT": "test",
        "OKR_LOG_LEVEL": "WARNING",
        **env,
    }
    log_path = data_dir.parent / f"server-{port}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "okr.cli", "serve", "--port", str(port)],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        try:
            wait_port("127.0.0.1", port, timeout=60)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while httpx.get(f"{url}/readyz").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("server never became ready")
                time.sleep(0.05)
        except Exception as exc:
            log.flush()
            tail = log_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"okr serve did not start ({exc}); its output:\n{tail}") from exc
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


class Subscription:
    """One graphql-transport-ws subscription over a real WebSocket."""

    def __init__(
        self, base_url: str, bearer: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        from websockets.sync.client import connect

        ws_url = base_url.replace("http://", "ws://") + "/graphql"
        self.ws = connect(ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        self.ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {bearer}"}})
        )
        ack = json.loads(self.ws.recv(timeout=10))
        assert ack["type"] == "connection_ack", ack
        self.ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
            )
        )

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next result's data (answers pings; fails on errors)."""
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if message["type"] == "ping":
                self.ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    raise GraphQLError(json.dumps(payload["errors"]))
                data: dict[str, Any] = payload["data"]
                return data
            raise GraphQLError(json.dumps(message))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.send(json.dumps({"id": "1", "type": "complete"}))
        self.ws.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
