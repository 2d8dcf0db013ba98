"""Every command the README shows runs as written (issue 9), each exercised here.

The commands are read from README.md itself: every line of its shell blocks and every inline
`okr ...` in backticks. RUNNERS maps each one to how it is exercised; a README command without a
runner, or a runner for a command the README no longer shows, fails
`test_every_readme_command_has_a_runner`. A command is run from a scratch directory holding a
`.venv` symlink to this interpreter's virtualenv, so `.venv/bin/okr demo` runs literally, and
bare `okr ...` finds the venv's `okr` first on PATH. Isolation (port, NATS stream and subject
prefix, PostgreSQL schema) goes through the environment only, never into the command text.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
import pytest

from harness.apiserver import Client
from harness.servers import free_port
from harness.streams import delete_stream
from okr.settings import Settings
from okr.wiring import build_application
from projections.views import VIEW_NAMES
from relay.contracts import is_public_topic

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CI_SCRIPT = REPO / ".ci" / "run"
VENV = Path(sys.prefix)  # the virtualenv running these tests: what `.venv` means in the README
ALL_VIEWS = VIEW_NAMES  # every view of the registry (`okr replay` without --name)
DEMO = ".venv/bin/okr demo"
SHELL_FENCES = ("sh", "bash", "shell")
TIMEOUT = 60.0


# --- the README's commands ----------------------------------------------------------------


def readme_commands(text: str) -> set[str]:
    """Every line of the README's shell blocks (comments after `  #` dropped; a block inside a
    list item is indented) and every inline `okr ...` code span outside the blocks."""
    commands: set[str] = set()
    fence = re.compile(r"^([ \t]*)```(\w*)[ \t]*\n(.*?)^\1```[ \t]*$", re.M | re.S)
    for match in fence.finditer(text):
        if match.group(2) not in SHELL_FENCES:
            continue
        for line in match.group(3).splitlines():
            line = line.split("  #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.add(line)
    prose = fence.sub("", text)
    for span in re.findall(r"`([^`]+)`", prose):
        span = " ".join(span.split())  # a span may wrap across lines
        if re.fullmatch(r"okr \S.*", span):
            commands.add(span)
    return commands


def split_command(command: str) -> tuple[dict[str, str], list[str]]:
    """Leading NAME=value words (the shell's per-command environment) and the argv."""
    words = shlex.split(command)
    assignments: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        assignments[name] = value
    return assignments, words


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment without OKR_* and pytest's own variables, the venv's bin first
    on PATH (how bare `okr` resolves after the README's install), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "PYTEST_"))}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def argv_and_env(command: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    assignments, argv = split_command(command)
    return argv, {**env, **assignments}


def run(command: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv, full_env = argv_and_env(command, env or base_env())
    return subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=TIMEOUT)


@dataclass
class Running:
    """A long-running command with its output in files (no pipe can fill up and block it)."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def out(self) -> str:
        return self.stdout.read_text(errors="replace")

    def err(self) -> str:
        return self.stderr.read_text(errors="replace")

    def wait_for(self, done: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.process.poll() is not None:
                pytest.fail(f"exited {self.process.returncode} before {what}:\n{self.out()}\n{self.err()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {timeout}s:\n{self.out()}\n{self.err()[-3000:]}")
            time.sleep(0.05)

    def terminate(self) -> int:
        """SIGTERM, then the exit status (-15 when it died of the signal)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@contextlib.contextmanager
def started(command: str, cwd: Path, env: dict[str, str]) -> Iterator[Running]:
    argv, full_env = argv_and_env(command, env)
    tag = uuid.uuid4().hex[:6]
    stdout, stderr = cwd / f"stdout-{tag}.txt", cwd / f"stderr-{tag}.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=out, stderr=err)
    try:
        yield Running(process, stdout, stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def workdir(base: Path, data: Path | None = None) -> Path:
    """A scratch directory with `.venv` -> this virtualenv and optionally a copy of a data dir
    as ./okr-data (OKR_DATA_DIR's default)."""
    path = base / f"wd-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    (path / ".venv").symlink_to(VENV, target_is_directory=True)
    if data is not None:
        shutil.copytree(data, path / "okr-data")
    return path


def log_facts(settings: Settings) -> tuple[int, int]:
    """The log's head position and how many of its events are public (what the relay publishes)."""
    app = build_application(settings)
    try:
        notifications = app.recorder.select_notifications(start=1, limit=1_000_000)
        return app.max_position(), sum(1 for n in notifications if is_public_topic(n.topic))
    finally:
        app.close()


def sqlite_settings(wd: Path) -> Settings:
    return Settings(data_dir=wd / "okr-data", database_url=None, nats_url=None)


def view_names(argv: list[str]) -> tuple[str, ...]:
    """The views a `--name`-taking command addresses (all of them without --name)."""
    names = tuple(argv[i + 1] for i, word in enumerate(argv) if word == "--name")
    return names or ALL_VIEWS


# --- servers, streams, databases ------------------------------------------------------------


BANNER_TOKEN = re.compile(r"admin token for org '([^']+)'.*\n\s*Authorization: Bearer (\S+)")


@contextlib.contextmanager
def serving(command: str, wd: Path) -> Iterator[tuple[str, Running, int]]:
    """`okr serve` (as `command`) on a free port (OKR_PORT), until /readyz answers 200."""
    port = free_port()
    with started(command, wd, base_env(OKR_PORT=str(port))) as server:
        server.wait_for(lambda: BANNER_TOKEN.search(server.out()) is not None, "banner with a token")
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            return False

        server.wait_for(ready, "/readyz 200")
        yield url, server, port


def assert_graceful_stop(server: Running) -> None:
    """SIGTERM shuts uvicorn down cleanly and `okr serve` exits 0 (uvicorn re-raises the
    captured signal after shutting down; serve's own SIGTERM handler takes it)."""
    code = server.terminate()
    assert code == 0, server.err()[-3000:]
    assert "Application shutdown complete" in server.err()


def query_until(client: Client, query: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Polls a query until `done` (the views catch up in the background after start)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        data = client.q(query)
        if done(data) or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


async def _stream_state(url: str, stream: str) -> tuple[int, list[str]] | None:
    nc = await nats.connect(url)
    try:
        try:
            info = await nc.jetstream().stream_info(stream)
        except nats.js.errors.NotFoundError:
            return None
        return int(info.state.messages), list(info.config.subjects or [])
    finally:
        await nc.close()


def stream_state(url: str, stream: str) -> tuple[int, list[str]] | None:
    """(messages, subjects) of a stream, or None when it does not exist."""
    return asyncio.run(_stream_state(url, stream))


@contextlib.contextmanager
def nats_env(nats_url: str) -> Iterator[dict[str, str]]:
    """A unique stream and subject prefix (as relay_settings_for does); the stream is deleted after."""
    tag = uuid.uuid4().hex[:10]
    env = {
        "OKR_NATS_URL": nats_url,
        "OKR_NATS_STREAM": f"OKR_T_{tag}",
        "OKR_NATS_SUBJECT_PREFIX": f"okrt{tag}",
    }
    try:
        yield env
    finally:
        delete_stream(nats_url, env["OKR_NATS_STREAM"])


@contextlib.contextmanager
def pg_schema(database_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema (as tests/conftest.py pg_settings makes), dropped after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# --- fixtures -------------------------------------------------------------------------------


@dataclass
class Demo:
    """`.venv/bin/okr demo` run once for the module: its output and its pristine data dir."""

    result: subprocess.CompletedProcess[str]
    data: Path  # copied by every runner, never changed


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    wd = workdir(tmp_path_factory.mktemp("demo"))
    return Demo(run(DEMO, wd), wd / "okr-data")


@dataclass
class Ctx:
    request: pytest.FixtureRequest
    tmp_path: Path
    demo: Demo

    def fixture(self, name: str) -> str:
        value: str = self.request.getfixturevalue(name)  # skips (or fails in CI) without the server
        return value

    def demo_copy(self) -> Path:
        return workdir(self.tmp_path, self.demo.data)


# --- runners: one per kind of README command ------------------------------------------------


def demo_loaded(command: str, ctx: Ctx) -> None:
    """The module's demo ran exactly this line: the org 'demo', its log, an admin token."""
    assert command == DEMO
    result = ctx.demo.result
    assert result.returncode == 0, result.stderr
    assert "loaded the demo org 'demo'" in result.stdout
    assert "Authorization: Bearer " in result.stdout
    head, _ = log_facts(Settings(data_dir=ctx.demo.data, database_url=None))
    assert f"({head} events in the log)" in result.stdout


def demo_in_empty_dir(command: str, ctx: Ctx) -> None:
    """Bare `okr demo` (venv on PATH) in an empty directory makes ./okr-data with the demo org."""
    wd = workdir(ctx.tmp_path)
    result = run(command, wd)
    assert result.returncode == 0, result.stderr
    assert "loaded the demo org 'demo'" in result.stdout
    assert (wd / "okr-data" / "okr.sqlite3").is_file()


OBJECTIVES = "{ objectives(first: 100) { totalCount edges { node { title } } } }"


def serve_after_demo(command: str, ctx: Ctx) -> None:
    """After `okr demo`, serve prints the URL and an admin token for 'demo'; that printed token
    reads the demo's objectives over HTTP; SIGTERM stops it cleanly."""
    wd = ctx.demo_copy()
    count = re.search(r"(\d+) objectives", ctx.demo.result.stdout)
    assert count, ctx.demo.result.stdout
    expected = int(count.group(1))
    with serving(command, wd) as (url, server, port):
        banner = server.out()
        assert f"GraphQL at http://localhost:{port}/graphql" in banner
        found = BANNER_TOKEN.search(banner)
        assert found is not None and found.group(1) == "demo", banner
        client = Client(url, found.group(2))
        try:
            data = query_until(client, OBJECTIVES, lambda d: d["objectives"]["totalCount"] == expected)
        finally:
            client.close()
        objectives = data["objectives"]
        assert objectives["totalCount"] == expected
        titles = [edge["node"]["title"] for edge in objectives["edges"]]
        assert len(titles) == expected and all(titles)
        assert_graceful_stop(server)


def serve_first_start(command: str, ctx: Ctx) -> None:
    """Bare `okr serve` in an empty directory: writes okr-data/jwt-secret (0600), prints a token
    for the org 'default' that the server accepts; SIGTERM stops it cleanly."""
    wd = workdir(ctx.tmp_path)
    with serving(command, wd) as (url, server, _):
        banner = server.out()
        assert "generated a JWT secret in okr-data/jwt-secret (mode 0600)" in banner
        assert (wd / "okr-data" / "jwt-secret").stat().st_mode & 0o777 == 0o600
        found = BANNER_TOKEN.search(banner)
        assert found is not None and found.group(1) == "default", banner
        client = Client(url, found.group(2))
        try:
            assert client.q("{ me { orgId roles } }")["me"] == {"orgId": "default", "roles": ["ADMIN"]}
        finally:
            client.close()
        assert_graceful_stop(server)


def token_accepted(command: str, ctx: Ctx) -> None:
    """The token `okr token` prints (same data dir, so the same generated secret) is accepted by
    `okr serve`, and says who it names."""
    wd = ctx.demo_copy()
    result = run(command, wd)
    assert result.returncode == 0, result.stderr
    (minted,) = result.stdout.split()
    with serving("okr serve", wd) as (url, server, _):
        client = Client(url, minted)
        try:
            me = client.q("{ me { userId orgId roles } }")["me"]
        finally:
            client.close()
        assert me == {"userId": "gia", "orgId": "demo", "roles": ["LEAD"]}
        assert_graceful_stop(server)


def export_into_cwd(command: str, ctx: Ctx) -> None:
    """`okr export-schema` writes ./schema (run in a scratch dir, so the checkout is untouched);
    what it writes equals the committed files."""
    wd = workdir(ctx.tmp_path)
    result = run(command, wd)
    assert result.returncode == 0, result.stderr
    written = sorted(p.relative_to(wd) for p in (wd / "schema").rglob("*") if p.is_file())
    as_posix = {p.as_posix() for p in written}
    assert {"schema/okr.graphql", "schema/asyncapi.yaml"} <= as_posix
    assert any(name.startswith("schema/events/") and name.endswith(".json") for name in as_posix)
    for path in written:
        assert (wd / path).read_text() == (REPO / path).read_text(), f"{path} differs from the committed file"


def export_check_in_repo(command: str, ctx: Ctx) -> None:
    """`okr export-schema --check` from the checkout's root: the committed files match the code."""
    result = run(command, REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def help_lists_commands(command: str, ctx: Ctx) -> None:
    """`okr --help` exits 0 and lists every sub-command the README uses."""
    result = run(command, workdir(ctx.tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("serve", "demo", "token", "project", "replay", "relay", "export-schema"):
        assert name in result.stdout


def replay_rebuilds(command: str, ctx: Ctx) -> None:
    """`okr replay [--name VIEW]…` rebuilds exactly the named views (all without --name) up to
    the log's head."""
    wd = ctx.demo_copy()
    head, _ = log_facts(sqlite_settings(wd))
    result = run(command, wd)
    assert result.returncode == 0, result.stderr
    names = view_names(split_command(command)[1])
    assert f"rebuilt {len(names)} views" in result.stdout or (
        len(names) == 1 and "rebuilt 1 view" in result.stdout
    ), result.stdout
    rebuilt = dict(re.findall(r"^\s+(\w+) at position (\d+)$", result.stdout, re.M))
    assert rebuilt == {name: str(head) for name in names}


def replay_verifies(command: str, ctx: Ctx) -> None:
    """`okr replay --verify` after a rebuild: every view matches (exit 0); after one live row is
    changed behind its back, it prints the differing row and exits 1."""
    wd = ctx.demo_copy()
    rebuilt = run("okr replay", wd)
    assert rebuilt.returncode == 0, rebuilt.stderr
    result = run(command, wd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(ALL_VIEWS)} views match the log" in result.stdout
    with sqlite3.connect(wd / "okr-data" / "views.sqlite3") as conn:
        (title,) = conn.execute("SELECT title FROM proj_objectives ORDER BY id LIMIT 1").fetchone()
        conn.execute("UPDATE proj_objectives SET title = 'tampered' WHERE title = ?", (title,))
    tampered = run(command, wd)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert "tampered" in tampered.stdout


def project_until_sigterm(command: str, ctx: Ctx) -> None:
    """`okr project [--name VIEW]…` as a worker: the named views (all without --name) reach the
    log's head in views.sqlite3, no other view is made, and SIGTERM ends it with exit 0."""
    wd = ctx.demo_copy()
    head, _ = log_facts(sqlite_settings(wd))
    names = view_names(split_command(command)[1])
    views_db = wd / "okr-data" / "views.sqlite3"

    def positions() -> dict[str, int]:
        if not views_db.exists():
            return {}
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(views_db, timeout=5)) as c,
        ):
            return dict(c.execute("SELECT view, position FROM proj_positions").fetchall())
        return {}

    with started(command, wd, base_env()) as worker:
        worker.wait_for(lambda: positions() == dict.fromkeys(names, head), f"{names} at position {head}")
        assert worker.terminate() == 0, worker.err()
        assert f"stopped at {', '.join(f'{name} {head}' for name in names)}" in worker.out()


def relay_once(command: str, ctx: Ctx) -> None:
    """`okr relay --once` publishes the demo's log and exits 0; the stream holds every public event."""
    nats_url = ctx.fixture("nats_url")
    wd = ctx.demo_copy()
    _, public = log_facts(sqlite_settings(wd))
    with nats_env(nats_url) as env:
        result = run(command, wd, base_env(**env))
        assert result.returncode == 0, result.stderr
        assert stream_state(nats_url, env["OKR_NATS_STREAM"]) == (
            public,
            [f"{env['OKR_NATS_SUBJECT_PREFIX']}.>"],
        )


def relay_follow(command: str, ctx: Ctx, settings: Settings, env: dict[str, str], wd: Path) -> None:
    nats_url = env["OKR_NATS_URL"]
    _, public = log_facts(settings)
    assert public > 0
    with started(command, wd, base_env(**env)) as relay:
        stream = env["OKR_NATS_STREAM"]
        relay.wait_for(lambda: (stream_state(nats_url, stream) or (0,))[0] >= public, f"{public} messages")
        assert relay.terminate() == 0, relay.err()[-3000:]
    assert stream_state(nats_url, stream) == (public, [f"{env['OKR_NATS_SUBJECT_PREFIX']}.>"])


def relay_until_sigterm(command: str, ctx: Ctx) -> None:
    """`okr relay` (any flags) on the demo's SQLite log: the stream fills with every public event
    while it runs, SIGTERM ends it with exit 0, nothing is published twice."""
    nats_url = ctx.fixture("nats_url")
    wd = ctx.demo_copy()
    with nats_env(nats_url) as env:
        relay_follow(command, ctx, sqlite_settings(wd), env, wd)


PLACEHOLDERS = {"nats://nats:4222": "nats_url", "postgresql://...": "pg_database_url"}


def relay_on_postgres(command: str, ctx: Ctx) -> None:
    """The scale-out line on PostgreSQL: the README's placeholder URLs are replaced by the test
    NATS and PostgreSQL (the only change to the text); a fresh schema (OKR_DATABASE_SCHEMA) gets
    the demo org first; then the relay publishes it all and SIGTERM ends it with exit 0."""
    concrete = command
    for placeholder, fixture in PLACEHOLDERS.items():
        assert placeholder in concrete
        concrete = concrete.replace(placeholder, ctx.fixture(fixture))
    assignments, _ = split_command(concrete)
    database_url = assignments["OKR_DATABASE_URL"]
    wd = workdir(ctx.tmp_path)
    with pg_schema(database_url) as schema, nats_env(assignments["OKR_NATS_URL"]) as env:
        env["OKR_DATABASE_SCHEMA"] = schema
        loaded = run("okr demo", wd, base_env(OKR_DATABASE_URL=database_url, **env))
        assert loaded.returncode == 0, loaded.stderr
        settings = Settings(database_url=database_url, database_schema=schema, data_dir=wd / "okr-data")
        relay_follow(concrete, ctx, settings, env, wd)
    assert not (wd / "okr-data" / "okr.sqlite3").exists()  # it used PostgreSQL, not SQLite


CONSUMER_TEST = REPO / "tests" / "integration" / "relay" / "test_consumer_example.py"
CONSUMER_TEST_NAME = "test_the_readme_consumer_command_follows_the_demo_org_until_sigterm"


def consumer_has_its_test(command: str, ctx: Ctx) -> None:
    """The consumer line is run as written (a real NATS, SIGTERM) by its own integration test,
    which reads this line from the README."""
    assert command.startswith(".venv/bin/python examples/consumer.py ")
    tree = ast.parse(CONSUMER_TEST.read_text())
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert CONSUMER_TEST_NAME in names


def ci_parts() -> set[str]:
    """The commands .ci/run runs (each `&&`-separated part of each line)."""
    parts: set[str] = set()
    for line in CI_SCRIPT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            parts.update(part.strip() for part in line.split("&&"))
    return parts


def run_by_ci(command: str, ctx: Ctx) -> None:
    """Install, lint, types and the whole suite are what CI runs: each part of the line is a
    command of .ci/run, or another README command with a runner here (`.venv/bin/okr serve`).
    They are not run from a test (the suite would run itself; the install replaces the venv)."""
    known = ci_parts()
    for part in (p.strip() for p in command.split("&&")):
        assert part in known or part in RUNNERS, f"{part!r} is neither in .ci/run nor exercised here"


def ci_script(command: str, ctx: Ctx) -> None:
    """`bash .ci/run` is valid bash that installs into a fresh venv with the README's install
    line, then lint, types and the README's test command with the services required. (Running it
    from a test would delete the venv running the tests.)"""
    argv = shlex.split(command)
    assert argv[0] == "bash" and (REPO / argv[1]) == CI_SCRIPT
    syntax = subprocess.run(["bash", "-n", str(CI_SCRIPT)], capture_output=True, text=True, timeout=TIMEOUT)
    assert syntax.returncode == 0, syntax.stderr
    script = CI_SCRIPT.read_text()
    assert "rm -rf .venv" in script and "export OKR_TEST_REQUIRE_SERVICES=1" in script
    install = next(c for c in RUNNERS if c.startswith("python3 -m venv .venv"))
    assert install.removesuffix(" && .venv/bin/okr serve") in ci_parts() | set(script.splitlines())
    assert ".venv/bin/python -m pytest" in ci_parts()


def collects(command: str, ctx: Ctx) -> None:
    """The per-ring pytest lines, run from the checkout with `--collect-only -q` appended: the
    paths exist and collect without errors (running them here would run the suite recursively)."""
    result = run(f"{command} --collect-only -q", REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = re.search(r"^(\d+) tests? collected", result.stdout, re.M)
    assert found and int(found.group(1)) > 0, result.stdout[-2000:]


REPORT = "okr report --cycle NAME [--team NAME] --format markdown|csv|json"


def report_on_demo(command: str, ctx: Ctx) -> None:
    """`okr report` on a copy of the demo: last quarter (closed) in each format, for one team
    too; the CSV parses back with csv.reader; an unknown team exits 2."""
    from api.demo import add_months, quarter_name, quarter_start

    assert command == REPORT
    wd = ctx.demo_copy()
    closed = quarter_name(add_months(quarter_start(datetime.now(tz=UTC).date()), -3))
    outputs = {}
    for form in ("markdown", "csv", "json"):
        result = run(f"okr report --cycle {closed} --team Growth --format {form}", wd)
        assert result.returncode == 0, result.stderr
        outputs[form] = result.stdout
    assert outputs["markdown"].startswith(f"# Review of {closed}") and "\n## Growth\n" in outputs["markdown"]
    header, *rows = list(csv.reader(io.StringIO(outputs["csv"], newline="")))
    assert header[:2] == ["team", "objective"] and len(rows) == 2
    assert json.loads(outputs["json"])["cycleReview"]["cycle"]["name"] == closed
    unknown = run(f"okr report --cycle {closed} --team Nobody", wd)
    assert unknown.returncode == 2 and "no team named 'Nobody'" in unknown.stderr

def remind_on_demo(command: str, ctx: Ctx) -> None:
    """`okr remind --once` after `okr replay` (it reads the views): one pass at the current time,
    exit 0, and a second process's pass emits nothing again; `okr remind` runs passes until
    SIGTERM, then exits 0."""
    wd = ctx.demo_copy()
    assert run("okr replay", wd).returncode == 0
    if command == "okr remind --once":
        first = run(command, wd)
        assert first.returncode == 0, first.stderr
        assert re.search(r"reminders at \S+: 1 org\(s\)", first.stdout), first.stdout
        second = run(command, wd)
        assert second.returncode == 0, second.stderr
        assert "emitted 0 CheckInDue and 0 CheckInOverdue" in second.stdout, second.stdout
        return
    with started(command, wd, base_env()) as worker:
        worker.wait_for(lambda: "reminding every 60 s" in worker.out(), "the worker's start line")
        assert worker.terminate() == 0, worker.err()


# --- the table: README command -> how it is exercised ---------------------------------------

Runner = Callable[[str, Ctx], None]


@dataclass(frozen=True)
class Use:
    run: Runner
    instance: str | None = None  # a concrete command for a generic README form


INSTALL = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/okr serve"
RELAY_ON_PG = "OKR_NATS_URL=nats://nats:4222 OKR_DATABASE_URL=postgresql://... okr relay"
CONSUMER = (
    ".venv/bin/python examples/consumer.py --nats nats://127.0.0.1:4222 --org demo --durable kr-dashboard"
)

RUNNERS: dict[str, Use] = {
    INSTALL: Use(run_by_ci),
    ".venv/bin/python -m pytest": Use(run_by_ci),
    DEMO: Use(demo_loaded),
    ".venv/bin/okr serve": Use(serve_after_demo),
    "okr demo": Use(demo_in_empty_dir),
    "okr serve": Use(serve_first_start),
    "okr token --org demo --user gia --role lead": Use(token_accepted),
    "okr export-schema": Use(export_into_cwd),
    "okr export-schema --check": Use(export_check_in_repo),
    "okr --help": Use(help_lists_commands),
    "okr replay": Use(replay_rebuilds),
    "okr replay --name progress --name alignment": Use(replay_rebuilds),
    "okr replay [--name VIEW]…": Use(replay_rebuilds, "okr replay --name checkins"),
    "okr replay --verify": Use(replay_verifies),
    "okr project": Use(project_until_sigterm),
    "okr project [--name VIEW]…": Use(project_until_sigterm, "okr project --name progress --name audit"),
    "okr relay --once": Use(relay_once),
    "okr relay": Use(relay_until_sigterm),
    "okr relay --batch-size 500": Use(relay_until_sigterm),
    RELAY_ON_PG: Use(relay_on_postgres),
    CONSUMER: Use(consumer_has_its_test),
    ".venv/bin/ruff check services tests bench examples && .venv/bin/mypy --strict services": Use(run_by_ci),
    ".venv/bin/python -m pytest tests/unit": Use(collects),
    ".venv/bin/python -m pytest tests/unit tests/contract": Use(collects),
    "bash .ci/run": Use(ci_script),
    REPORT: Use(report_on_demo),
    "okr remind": Use(remind_on_demo),
    "okr remind --once": Use(remind_on_demo),
}


def test_every_readme_command_has_a_runner() -> None:
    """The README's commands and this table's keys are the same set (none untested, none stale)."""
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert sorted(commands - RUNNERS.keys()) == [], "README commands without a runner here"
    assert sorted(RUNNERS.keys() - commands) == [], "runners for commands the README no longer shows"


def test_the_collector_reads_indented_blocks_comments_and_inline_spans() -> None:
    """The collector takes indented blocks, drops trailing comments, joins wrapped spans and
    ignores non-shell blocks and non-command spans."""
    text = (
        "Run `okr replay\n--verify` or `okr`; `okr.acme.>` is a subject.\n"
        "```sh\nokr relay --once   # publish\n\n# a comment\n```\n"
        "- item:\n\n  ```sh\n  .venv/bin/okr demo\n  ```\n"
        "```graphql\nokr serve\n```\n"
    )
    assert readme_commands(text) == {"okr replay --verify", "okr relay --once", ".venv/bin/okr demo"}


@pytest.mark.parametrize("command", list(RUNNERS))
def test_readme_command_runs_as_written(
    command: str, request: pytest.FixtureRequest, tmp_path: Path, demo: Demo
) -> None:
    """Each README command, run by its runner (the concrete instance for a generic form)."""
    use = RUNNERS[command]
    use.run(use.instance or command, Ctx(request, tmp_path, demo))
