"""The client side of deploy/smoke.sh: waits for /readyz, reads through the API, derives the smoke
compose file from deploy/compose.yaml, and runs the cross-replica read. Needs httpx, PyYAML and
nats-py (the project's dev virtualenv has them). Each sub-command prints one line of figures
on stdout and exits 1 (with the reason on stderr) when the check fails.

    python deploy/smoke.py wait URL --since EPOCH [--timeout S]
    python deploy/smoke.py demo API TOKEN
    python deploy/smoke.py compose SRC DEST --port1 P --port2 P --nats-url U --image I
    python deploy/smoke.py cross API1 API2 TOKEN --nats-url U --stream S --prefix P
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml


def die(message: str) -> int:
    print(f"smoke.py: {message}", file=sys.stderr)
    return 1


def wait(args: argparse.Namespace) -> int:
    """Polls URL until it answers 200; prints the seconds since --since (the container's start)."""
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(args.url, timeout=2)
            if response.status_code == 200:
                print(f"{time.time() - args.since:.2f}")
                return 0
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    return die(f"{args.url} not ready after {args.timeout} s ({last})")


def graphql(
    api: str,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = httpx.post(
        f"{api}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        timeout=30,
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{api}: HTTP {response.status_code} {json.dumps(body)[:500]}")
    data: dict[str, Any] = body["data"]
    return data


def mutate(api: str, token: str, name: str, input: dict[str, Any]) -> dict[str, Any]:
    type_name = name[0].upper() + name[1:] + "Input"
    query = (
        f"mutation($input: {type_name}!) {{ {name}(input: $input)"
        " { id position errors { code message } } }"
    )
    payload: dict[str, Any] = graphql(api, token, query, {"input": input})[name]
    if payload["errors"]:
        raise RuntimeError(f"{name}: {payload['errors']}")
    return payload


def demo(args: argparse.Namespace) -> int:
    """The org `okr demo` loaded (through podman exec) is served by the running API."""
    data = graphql(
        args.api, args.token, "{ me { orgId } cycles { name } objectives(first: 1) { totalCount } }"
    )
    count = data["objectives"]["totalCount"]
    if not data["cycles"] or not count:
        return die(f"the demo org is empty: {data}")
    print(f"org {data['me']['orgId']}: {len(data['cycles'])} cycles, {count} objectives")
    return 0


def derive_compose(args: argparse.Namespace) -> int:
    """deploy/compose.yaml for this machine: the host's PostgreSQL and NATS, the host network.

    Changed, because host networking forces it: every service gets network_mode host; `ports`
    go (nothing to publish); the one `api` service with two replicas becomes `api` and `api-2`,
    identical but for OKR_PORT (two processes cannot bind one port on one network); `postgres`
    and `nats` become waits on the machine's servers (okr's own image, a TCP check as their
    health check), so the okr roles' depends_on still name them; the relay's OKR_NATS_URL
    points at the machine's server. OKR_DATABASE_URL, the JWT secret and the per-run schema,
    stream and subject prefix come from the okr.env next to DEST, as a user fills it in.
    Everything else of the okr roles is the file's own.
    """
    spec: dict[str, Any] = yaml.safe_load(Path(args.src).read_text())
    services: dict[str, dict[str, Any]] = spec["services"]
    for name, port in (("postgres", 5432), ("nats", 4222)):
        host = "127.0.0.1"
        probe = f"import socket; socket.create_connection(('{host}', {port}), timeout=2).close()"
        services[name] = {
            "image": args.image,
            "network_mode": "host",
            "read_only": True,
            "entrypoint": ["tini", "--", "python", "-c", "import time\nwhile True: time.sleep(3600)"],
            "healthcheck": {
                "test": ["CMD", "python", "-c", probe],
                "interval": "2s",
                "timeout": "3s",
                "retries": 10,
            },
        }
    for name in ("schema", "api", "projector", "relay"):
        service = services[name]
        service["image"] = args.image
        service["network_mode"] = "host"
        service.pop("ports", None)
        environment = dict(service.get("environment") or {})
        if "OKR_NATS_URL" in environment:
            environment["OKR_NATS_URL"] = args.nats_url
        service["environment"] = environment
    api = services.pop("api")
    replicas = api.get("deploy", {}).pop("replicas", 1)
    if replicas != 2:
        return die(f"deploy/compose.yaml runs {replicas} API replicas; the smoke expects 2")
    for name, port in (("api", args.port1), ("api-2", args.port2)):
        replica = json.loads(json.dumps(api))
        replica["environment"]["OKR_PORT"] = str(port)
        test = replica["healthcheck"]["test"]
        replica["healthcheck"]["test"] = [
            part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in test
        ]
        services[name] = replica
    spec.pop("volumes", None)
    Path(args.dest).write_text(yaml.safe_dump(spec, sort_keys=False))
    for stage in start_order(services):
        print(" ".join(stage))
    return 0


def start_order(services: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The services in stages by depends_on, each as `name:condition`, the condition being the
    strongest one a dependent asks of it (service_started when none does)."""
    strength = ["service_started", "service_healthy", "service_completed_successfully"]
    wanted = dict.fromkeys(services, "service_started")
    for service in services.values():
        for dep, spec in (service.get("depends_on") or {}).items():
            condition = (
                spec.get("condition", "service_started") if isinstance(spec, dict) else "service_started"
            )
            wanted[dep] = max(wanted[dep], condition, key=strength.index)
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in level:
            deps = services[name].get("depends_on") or {}
            level[name] = 1 + max((depth(dep) for dep in deps), default=-1)
        return level[name]

    stages: list[list[str]] = [[] for _ in range(1 + max(depth(name) for name in services))]
    for name in services:
        stages[level[name]].append(f"{name}:{wanted[name]}")
    return stages


def cross(args: argparse.Namespace) -> int:
    """A check-in through API 1, read through API 2 with X-Consistent-With, then from NATS."""
    token, api1, api2 = args.token, args.api1, args.api2
    today = date.today()
    cycle = mutate(
        api1,
        token,
        "scheduleCycle",
        {"name": "Smoke", "start": str(today - timedelta(days=5)), "end": str(today + timedelta(days=60))},
    )
    mutate(api1, token, "startCycle", {"cycleId": cycle["id"]})
    objective = mutate(api1, token, "draftObjective", {"cycleId": cycle["id"], "title": "Smoke objective"})
    kr = mutate(
        api1,
        token,
        "addKeyResult",
        {
            "objectiveId": objective["id"],
            "title": "Smoke metric",
            "kind": "NUMERIC",
            "start": 0,
            "target": 100,
        },
    )
    mutate(api1, token, "activateObjective", {"objectiveId": objective["id"]})
    check_in = graphql(
        api1,
        token,
        "mutation($input: CheckInKeyResultInput!) { checkInKeyResult(input: $input)"
        " { position errors { code message } } }",
        {"input": {"keyResultId": kr["id"], "value": 42.0, "confidence": 0.8, "note": "smoke check-in"}},
    )["checkInKeyResult"]
    if check_in["errors"]:
        return die(f"checkInKeyResult: {check_in['errors']}")
    position = int(check_in["position"])
    started = time.perf_counter()
    read = graphql(
        api2,
        token,
        "query($id: ID!) { keyResult(id: $id) { current checkIns(first: 5)"
        " { edges { node { position value note } } } } }",
        {"id": kr["id"]},
        headers={"X-Consistent-With": str(position)},
    )["keyResult"]
    read_ms = (time.perf_counter() - started) * 1000
    notes = [edge["node"] for edge in read["checkIns"]["edges"]]
    if read["current"] != 42.0 or not any(n["position"] == position for n in notes):
        return die(f"API 2 did not show the check-in at position {position}: {read}")
    # The same check-in from NATS, through the consumer another team would copy.
    consumer = Path(__file__).resolve().parents[1] / "examples" / "consumer.py"
    deadline = time.monotonic() + 60
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        result = subprocess.run(  # noqa: S603 (this interpreter and this repository's example)
            [
                *(sys.executable, str(consumer), "--nats", args.nats_url, "--org", args.org),
                *("--durable", f"smoke-{args.prefix}", "--stream", args.stream, "--prefix", args.prefix),
                *("--idle-exit", "3"),
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        if result.returncode != 0:
            return die(f"examples/consumer.py exited {result.returncode}: {result.stderr[-800:]}")
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        seen = summary["key_results"].get(kr["id"]) or seen
        if seen.get("check_ins") and summary["last_position"] >= position:
            break
        time.sleep(1)
    else:
        return die(f"the check-in at position {position} did not reach NATS within 60 s: {seen}")
    print(
        f"check-in at position {position} via API 1; API 2 read it with X-Consistent-With"
        f" in {read_ms:.0f} ms (current {read['current']}); NATS consumer (examples/consumer.py):"
        f" current {seen['current']}, {seen['check_ins']} check-in"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("wait")
    p.add_argument("url")
    p.add_argument("--since", type=float, required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(run=wait)
    p = sub.add_parser("demo")
    p.add_argument("api")
    p.add_argument("token")
    p.set_defaults(run=demo)
    p = sub.add_parser("compose")
    p.add_argument("src")
    p.add_argument("dest")
    for option in ("--nats-url", "--image"):
        p.add_argument(option, required=True)
    p.add_argument("--port1", type=int, required=True)
    p.add_argument("--port2", type=int, required=True)
    p.set_defaults(run=derive_compose)
    p = sub.add_parser("cross")
    p.add_argument("api1")
    p.add_argument("api2")
    p.add_argument("token")
    p.add_argument("--org", required=True)
    for option in ("--nats-url", "--stream", "--prefix"):
        p.add_argument(option, required=True)
    p.set_defaults(run=cross)
    args = parser.parse_args()
    try:
        code: int = args.run(args)
    except (RuntimeError, httpx.HTTPError, KeyError, subprocess.TimeoutExpired) as exc:
        return die(f"{type(exc).__name__}: {exc}")
    return code


if __name__ == "__main__":
    sys.exit(main())
