"""What an idle replay subscription costs the server: RSS per `events(afterPosition: 0)` whose
client never reads, against a real `okr serve` process (issue 9).

1. `okr demo` loads two orgs (the replayed one scaled to a few thousand events, and another);
2. `okr serve` starts on SQLite (or PostgreSQL with --store postgres) and catches up;
3. N WebSocket clients each subscribe to `events(afterPosition: 0)` and then stop reading (a
   1-message client queue and a small receive buffer: the server's sends back up);
4. while they sit there, one more client subscribes live and must get a fresh check-in, and a
   query must answer;
5. prints the server's VmRSS (from /proc/<pid>/status) before and after, MB per idle
   subscription, and the outcome of the live checks; the last line is one JSON object.

Run:  .venv/bin/python -m bench.subscriptions_memory [--subscriptions 90] [--store sqlite|postgres]
PostgreSQL: OKR_TEST_DATABASE_URL (else a throwaway cluster, tests/harness/servers.py). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.harness.servers import free_port, postgres_server, wait_port
from websockets.asyncio.client import ClientConnection, connect

from api.auth import JwtKeys, mint

SECRET = "bench-secret-" + "x" * 40
ORG, OTHER = "replayed", "other"
REPLAY = (
    "subscription { events(afterPosition: 0) { position at aggregateType aggregateId version eventType"
    " actor correlationId causationId payload } }"
)
LIVE = 'subscription { events(filter: {eventTypes: ["KeyResultCheckedIn"]}) { position } }'


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def tok(org: str, user: str = "bench") -> str:
    keys = JwtKeys("HS256", SECRET, SECRET)
    return mint(keys, org=org, user=user, roles=["admin"], ttl=timedelta(hours=1))


@contextlib.contextmanager
def serve(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    log = open(Path(env["OKR_DATA_DIR"]).parent / "server.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "okr.cli", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port("127.0.0.1", port, timeout=60)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def wait_caught_up(url: str) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(f"{url}/readyz")
            body = r.json()
            if r.status_code == 200 and body["checks"]["views"]["lag"] == 0:
                return int(body["checks"]["database"]["position"])
        time.sleep(0.2)
    raise RuntimeError("the views never caught up")


async def open_idle(url: str, bearer: str) -> ClientConnection:
    """Subscribes, then never reads: a 1-message queue and a 4 KiB receive buffer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    ws = await connect(
        url.replace("http://", "ws://") + "/graphql",
        sock=sock,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        max_queue=1,
        ping_interval=None,
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {bearer}"}}))
    ack = json.loads(await ws.recv())
    assert ack["type"] == "connection_ack", ack
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": REPLAY}}))
    return ws


async def live_check(url: str, kr: str) -> dict[str, Any]:
    """A live subscriber gets a fresh check-in; a query answers; both timed."""
    bearer = tok(ORG, "live")
    async with connect(
        url.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"]
    ) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {bearer}"}})
        )
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": LIVE}}))
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {bearer}"}) as http:
            started = time.monotonic()
            r = await http.post(
                "/graphql",
                json={
                    "query": "mutation($i: CheckInKeyResultInput!) { checkInKeyResult(input: $i)"
                    " { position errors { code } } }",
                    "variables": {"i": {"keyResultId": kr, "value": 42}},
                },
            )
            written = r.json()["data"]["checkInKeyResult"]["position"]
            message = json.loads(await asyncio.wait_for(ws.recv(), 20))
            live_ms = (time.monotonic() - started) * 1000
            started = time.monotonic()
            q = await http.post("/graphql", json={"query": "{ cycles { id } }"})
            query_ok = q.status_code == 200 and not q.json().get("errors")
            query_ms = (time.monotonic() - started) * 1000
    got = message.get("payload", {}).get("data", {}).get("events", {}).get("position")
    return {
        "live_ok": got == written,
        "live_message": message if got != written else None,
        "live_ms": round(live_ms, 1),
        "query_ok": query_ok,
        "query_ms": round(query_ms, 1),
    }


def a_key_result(url: str) -> str:
    """A numeric key result of an active objective of the replayed org."""
    r = httpx.post(
        f"{url}/graphql",
        headers={"Authorization": f"Bearer {tok(ORG)}"},
        json={
            "query": "{ objectives(filter: {states: [ACTIVE]}, first: 20)"
            " { edges { node { keyResults { id kind } } } } }"
        },
    )
    for edge in r.json()["data"]["objectives"]["edges"]:
        for kr in edge["node"]["keyResults"]:
            if kr["kind"] != "BOOLEAN":
                return str(kr["id"])
    raise RuntimeError(f"no numeric key result: {r.text[:300]}")


async def measure(url: str, pid: int, n: int, settle: float) -> dict[str, Any]:
    before = rss_mb(pid)
    clients: list[ClientConnection] = []
    refused = 0
    for i in range(n):
        # one token per 5 subscriptions: the per-token cap (default 10) must not refuse these
        ws = await open_idle(url, tok(ORG, f"idle-{i // 5}"))
        clients.append(ws)
    await asyncio.sleep(settle)
    after = rss_mb(pid)
    # a refused subscription answers at once (its message waits in the 1-message queue)
    for ws in clients:
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            first = json.loads(await asyncio.wait_for(ws.recv(), 0.05))
            if first.get("type") in ("error", "complete") or first.get("payload", {}).get("errors"):
                refused += 1
    checks = await live_check(url, a_key_result(url))
    peak = rss_mb(pid)
    for ws in clients:
        ws.transport.abort()  # a polite close would wait behind the backed-up replay
    return {
        "subscriptions": n,
        "refused": refused,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "rss_after_checks_mb": round(peak, 1),
        "mb_per_idle_subscription": round((after - before) / max(1, n), 3),
        **checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=90)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to let the replays back up")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="okr-bench-subs-"))
    env = {
        "OKR_DATA_DIR": str(tmp / "data"),
        "OKR_JWT_SECRET": SECRET,
        "OKR_ENVIRONMENT": "production",
        "OKR_LOG_LEVEL": "WARNING",
        "OKR_MAX_SUBSCRIPTIONS": str(max(1000, args.subscriptions + 10)),
    }
    with contextlib.ExitStack() as stack:
        if args.store == "postgres":
            url = os.environ.get("OKR_TEST_DATABASE_URL") or stack.enter_context(postgres_server())
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            stack.callback(_drop, url, schema)
            env.update(OKR_DATABASE_URL=url, OKR_DATABASE_SCHEMA=schema)
        for org, objectives, tasks in ((ORG, 5, 40), (OTHER, 2, 10)):
            subprocess.run(
                [sys.executable, "-m", "okr.cli", "demo", "--org", org, "--objectives", str(objectives),
                 "--key-results", "4", "--tasks", str(tasks)],
                env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        base, pid = stack.enter_context(serve(env))
        head = wait_caught_up(base)
        print(f"log head {head}; server pid {pid}; {args.subscriptions} idle replay subscriptions")
        result = asyncio.run(measure(base, pid, args.subscriptions, args.settle))
        result["log_events"] = head
        result["store"] = args.store
    for key, value in result.items():
        print(f"{key:>28}: {value}")
    print(json.dumps(result))


def _drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
