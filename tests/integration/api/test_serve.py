"""`okr serve`, `okr token` and `okr export-schema` as processes, and the in-process relay:
first start writes a 0600 secret and prints a working token; with NATS the relay publishes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from api.app import create_app
from api.auth import resolve_keys
from harness.apiserver import Client, ThreadedServer, token
from harness.servers import free_port, wait_port
from harness.streams import delete_stream, read_subject, relay_settings_for
from okr.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def first_start(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """`okr serve` on an empty data dir without OKR_JWT_SECRET; yields (data dir, url, banner)."""
    data = tmp_path / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKR_")}
    env.update(OKR_DATA_DIR=str(data), OKR_LOG_LEVEL="WARNING")
    process = subprocess.Popen(
        [sys.executable, "-m", "okr.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = []
        while not any(line.startswith("  Authorization: Bearer ") for line in banner):
            line = process.stdout.readline()
            assert line, "okr serve exited before printing a token: " + "".join(banner)
            banner.append(line)
        wait_port("127.0.0.1", port, timeout=60)
        url = f"http://127.0.0.1:{port}"
        while httpx.get(f"{url}/readyz").status_code != 200:
            time.sleep(0.05)
        yield data, url, banner
    finally:
        process.terminate()
        process.wait(20)
        if process.stdout is not None:
            process.stdout.close()


def test_first_start_generates_a_secret_and_prints_a_working_token(
    first_start: tuple[Path, str, list[str]],
) -> None:
    """The secret file is 0600, the printed admin token works, `okr token` mints more."""
    data, url, banner = first_start
    assert any("/graphql" in line for line in banner)
    secret = data / "jwt-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    printed = next(line for line in banner if "Authorization: Bearer " in line).split("Bearer ")[1].strip()
    admin = Client(url, printed)
    assert admin.q("{ me { userId orgId roles } }")["me"] == {
        "userId": "admin",
        "orgId": "default",
        "roles": ["ADMIN"],
    }
    admin.close()
    minted = subprocess.run(
        [sys.executable, "-m", "okr.cli", "token", "--org", "acme", "--user", "vic", "--role", "viewer"],
        env={**os.environ, "OKR_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    viewer = Client(url, minted)
    assert viewer.q("{ me { orgId roles } }")["me"] == {"orgId": "acme", "roles": ["VIEWER"]}
    refused = viewer.m_raw("createTeam", {"name": "x"})["data"]["createTeam"]["errors"]
    assert refused[0]["code"] == "FORBIDDEN"
    viewer.close()


def test_token_command_refuses_unknown_orgs_format(tmp_path: Path) -> None:
    """`okr token` with an invalid org id exits 2 with a message and prints no token."""
    result = subprocess.run(
        [sys.executable, "-m", "okr.cli", "token", "--org", "bad org", "--user", "u", "--role", "admin"],
        env={**os.environ, "OKR_DATA_DIR": str(tmp_path), "OKR_JWT_SECRET": "y" * 40},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "org id" in result.stderr
    assert result.stdout == ""


def test_export_schema_writes_and_checks(tmp_path: Path) -> None:
    """`okr export-schema` writes okr.graphql and event schemas; --check passes, then fails on an edit."""

    def export(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "okr.cli", "export-schema", "--out", str(tmp_path), *extra],
            capture_output=True,
            text=True,
            check=False,
        )

    assert export().returncode == 0
    assert (tmp_path / "okr.graphql").read_text() == (ROOT / "schema" / "okr.graphql").read_text()
    assert list((tmp_path / "events").glob("*.json"))
    assert export("--check").returncode == 0
    (tmp_path / "okr.graphql").write_text("type Query { stale: Int }\n")
    assert export("--check").returncode == 1


def test_serve_runs_the_relay_when_nats_is_configured(
    sqlite_settings: Settings, nats_url: str, org: str
) -> None:
    """With a NATS URL the app runs the relay in-process: a mutation's event reaches JetStream."""
    settings = relay_settings_for(
        sqlite_settings.model_copy(update={"jwt_secret": SecretStr("z" * 40), "environment": "test"}),
        nats_url,
    )
    try:
        app = create_app(settings)
        with ThreadedServer(app) as server:
            client = Client(server.url, token(org, secret="z" * 40))
            client.m("createTeam", {"name": "Support"})
            client.close()
            ready = httpx.get(f"{server.url}/readyz").json()
            assert ready["checks"]["nats"]["ok"] is True
            messages = read_subject(
                nats_url, settings.nats_stream, f"{settings.nats_subject_prefix}.>", expect=1, timeout=10
            )
            assert len(messages) == 1
            assert b"Support" in messages[0].data
    finally:
        delete_stream(nats_url, settings.nats_stream)


def test_readyz_reports_unreachable_nats(sqlite_settings: Settings) -> None:
    """A configured but unreachable NATS makes /readyz answer 503 (the API still serves)."""
    settings = sqlite_settings.model_copy(
        update={
            "jwt_secret": SecretStr("z" * 40),
            "environment": "test",
            "nats_url": f"nats://127.0.0.1:{free_port()}",
        }
    )
    with ThreadedServer(create_app(settings, run_relay=False)) as server:
        response = httpx.get(f"{server.url}/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["nats"]["ok"] is False
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_production_never_generates_a_secret(tmp_path: Path) -> None:
    """In production a missing JWT secret stops start-up instead of generating one per replica."""
    with pytest.raises(RuntimeError, match="OKR_JWT_SECRET"):
        resolve_keys(Settings(environment="production", data_dir=tmp_path))
    assert not (tmp_path / "jwt-secret").exists()
    keys = resolve_keys(Settings(environment="development", data_dir=tmp_path))
    assert keys.generated_secret
    assert resolve_keys(Settings(environment="development", data_dir=tmp_path)).verify_key == keys.verify_key
