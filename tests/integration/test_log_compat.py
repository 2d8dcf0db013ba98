"""A log written by an earlier version (tests/fixtures/log_v1, see tests/log_fixture.py) loads and
answers identically: every event and snapshot still decodes, and every query root, with every
field below it, live and as of earlier instants, gives the answers recorded when it was written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from log_fixture import DB_NAME, FIXTURE, answers, recorded_answers

pytestmark = pytest.mark.integration


def test_the_v1_log_answers_as_it_did_when_it_was_written(tmp_path: Path) -> None:
    recorded = recorded_answers()
    now = answers(FIXTURE / DB_NAME, tmp_path / "served")
    assert now.keys() == recorded.keys()
    for org in recorded:
        assert now[org].keys() == recorded[org].keys(), org
        for key in recorded[org]:
            assert now[org][key] == recorded[org][key], f"{org} {key}"


def test_the_v1_log_holds_every_public_event_type() -> None:
    """The fixture covers every documented event contract (so "answers identically" covers them)."""
    with sqlite3.connect(FIXTURE / DB_NAME) as db:
        topics = {r[0] for r in db.execute("SELECT DISTINCT topic FROM stored_events")}
    stored = {t.split(":", 1)[1].lower() for t in topics}
    schemas = (FIXTURE.parents[2] / "schema" / "events").glob("*.json")
    contracts = {p.name.split(".v")[0].removeprefix("okr.").lower() for p in schemas}
    missing = sorted(c for c in contracts if c not in stored and c != "team.renamed")
    assert missing == []  # Team.Renamed has no command yet
