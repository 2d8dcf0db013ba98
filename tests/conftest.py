"""Shared fixtures: request contexts, applications on every store, real servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from harness.servers import ServiceUnavailable, nats_server, postgres_server
from okr.application import OkrApplication, system_context
from okr.domain import RequestContext, request_context
from okr.settings import Settings

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REQUIRE = os.environ.get("OKR_TEST_REQUIRE_SERVICES") == "1"


def _unavailable(what: str, exc: Exception) -> None:
    if REQUIRE:
        pytest.fail(f"{what} is required here (OKR_TEST_REQUIRE_SERVICES=1): {exc}")
    pytest.skip(f"{what} unavailable: {exc}")


@pytest.fixture
def org() -> str:
    """A unique org per test: tenants never see each other's data."""
    return f"org-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def ctx(org: str) -> Iterator[RequestContext]:
    context = system_context(org, "alice")
    with request_context(context):
        yield context


@pytest.fixture
def memory_app() -> OkrApplication:
    return OkrApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh database for this test run on the configured or a throwaway server."""
    try:
        with postgres_server() as url:
            yield url
    except ServiceUnavailable as exc:
        _unavailable("PostgreSQL", exc)


@pytest.fixture
def pg_settings(pg_database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings for PostgreSQL with a fresh schema per test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield Settings(database_url=pg_database_url, database_schema=schema, data_dir=tmp_path)
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest) -> Settings:
    """Both stores: the embedded SQLite file and the real PostgreSQL."""
    name = "sqlite_settings" if request.param == "sqlite" else "pg_settings"
    value: Settings = request.getfixturevalue(name)
    return value


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    try:
        with nats_server() as url:
            yield url
    except ServiceUnavailable as exc:
        _unavailable("NATS", exc)
