"""Event contracts: the committed JSON Schemas match the code, and CloudEvents match the schemas."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import KeyResultIndex, Objective, Task, request_context
from relay.contracts import (
    cloudevent,
    contracts,
    diff_contracts,
    diff_event_schemas,
    event_schema,
    export_event_schemas,
    sanitize_token,
    subject_for,
)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
EVENTS_DIR = SCHEMA_DIR / "events"

EXPECTED_TYPES = {
    "okr.cycle.Scheduled.v1",
    "okr.cycle.Started.v1",
    "okr.cycle.Closed.v1",
    "okr.team.Created.v1",
    "okr.team.MemberAdded.v1",
    "okr.team.MemberRemoved.v1",
    "okr.team.Renamed.v1",
    "okr.team.Moved.v1",
    "okr.organization.Configured.v1",
    "okr.organization.Reconfigured.v1",
    "okr.comment.Added.v1",
    "okr.comment.Edited.v1",
    "okr.comment.Deleted.v1",
    "okr.approvalpolicy.Configured.v1",
    "okr.approvalpolicy.Reconfigured.v1",
    "okr.objective.ProposedForReview.v1",
    "okr.objective.Approved.v1",
    "okr.organization.RemindersConfigured.v1",
    "okr.reminder.CheckInDue.v1",
    "okr.reminder.CheckInOverdue.v1",
    *(
        f"okr.objective.{name}.v1"
        for name in (
            "Drafted",
            "Revised",
            "Aligned",
            "Activated",
            "Closed",
            "Abandoned",
            "CarriedOver",
            "KeyResultAdded",
            "KeyResultRevised",
            "KeyResultRemoved",
            "KeyResultCheckedIn",
            "KeyResultScored",
            "KeyResultTaskRecorded",
            "ObjectiveScored",
        )
    ),
    *(
        f"okr.task.{name}.v1"
        for name in (
            "Created",
            "Linked",
            "Unlinked",
            "Assigned",
            "Revised",
            "Started",
            "Completed",
            "Reopened",
            "Cancelled",
        )
    ),
}


def validator(type_: str) -> Draft202012Validator:
    schema = json.loads((EVENTS_DIR / f"{type_}.json").read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


def test_committed_files_match_the_code() -> None:
    """`schema/events/*.json` and `schema/asyncapi.yaml` are what the event classes generate."""
    assert diff_contracts(SCHEMA_DIR) == []


def test_every_public_event_type_has_a_contract_and_no_internal_one() -> None:
    """Exactly the public event types listed are published; internal bookkeeping never is."""
    assert {c.type for c in contracts()} == EXPECTED_TYPES
    assert not any(c.topic.startswith("okr.domain.internal:") for c in contracts())
    assert {p.name for p in EVENTS_DIR.glob("*.json")} == {f"{t}.json" for t in EXPECTED_TYPES}


def test_schemas_are_valid_draft_2020_12() -> None:
    """Each schema file is itself a valid JSON Schema 2020-12 document."""
    for contract in contracts():
        schema = event_schema(contract)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)


def test_type_hints_map_to_json_types() -> None:
    """UUID -> uuid string, float -> number, optional -> nullable, dict -> object, str -> string."""
    checked_in = event_schema(contract_for_by_type("okr.objective.KeyResultCheckedIn.v1"))["properties"][
        "data"
    ]
    props = checked_in["properties"]
    assert props["key_result_id"] == {"type": "string", "format": "uuid"}
    assert props["value"] == {"type": "number"}
    assert props["confidence"] == {"type": ["number", "null"]}
    assert props["task_id"] == {"type": ["string", "null"], "format": "uuid"}
    assert props["note"] == {"type": "string"}
    assert checked_in["required"] == [
        "key_result_id",
        "value_before",
        "value",
        "confidence",
        "note",
        "task_id",
    ]
    revised = event_schema(contract_for_by_type("okr.task.Revised.v1"))["properties"]["data"]["properties"]
    assert revised["changes"] == {"type": "object", "additionalProperties": {"type": "string"}}
    activated = event_schema(contract_for_by_type("okr.objective.Activated.v1"))["properties"]["data"]
    assert activated["properties"]["policy_warnings"] == {"type": "array", "items": {"type": "string"}}
    configured = event_schema(contract_for_by_type("okr.organization.Configured.v1"))["properties"]["data"]
    assert configured["properties"] == {
        "strict_policies": {"type": "boolean"},
        "cadence_days": {"type": "integer"},
        "check_ins_open_to_all": {"type": "boolean"},
    }


def contract_for_by_type(type_: str) -> Any:
    return next(c for c in contracts() if c.type == type_)


def test_diff_reports_changed_missing_and_stale_files(tmp_path: Path) -> None:
    """The check names a hand-edited file, a missing one and one no class publishes any more."""
    out = tmp_path / "events"
    written = export_event_schemas(out)
    assert len(written) == len(EXPECTED_TYPES)
    assert diff_event_schemas(out) == []
    edited = out / "okr.objective.KeyResultCheckedIn.v1.json"
    edited.write_text(edited.read_text().replace('"number"', '"string"', 1))
    (out / "okr.task.Started.v1.json").unlink()
    shutil.copy(out / "okr.task.Created.v1.json", out / "okr.task.Renamed.v1.json")
    problems = diff_event_schemas(out)
    assert len(problems) == 3
    assert any("KeyResultCheckedIn.v1.json: differs" in p for p in problems)
    assert any("okr.task.Started.v1.json: missing" in p for p in problems)
    assert any("okr.task.Renamed.v1.json: no event class" in p for p in problems)


def test_subjects_are_sanitised_tokens() -> None:
    """Subject tokens keep [A-Za-z0-9_-]; dots, spaces and wildcards cannot leak into a subject."""
    assert sanitize_token("acme-1_x") == "acme-1_x"
    assert sanitize_token("a.b *>") == "a_b___"
    assert sanitize_token("") == "_"
    assert (
        subject_for("okr", "ac.me", "objective", "KeyResultCheckedIn")
        == "okr.ac_me.objective.KeyResultCheckedIn"
    )


def test_cloudevents_of_real_events_validate(memory_app: OkrApplication, org: str) -> None:
    """CloudEvents built from real events carry the documented attributes and validate."""
    with request_context(system_context(org, "alice")):
        cycle = memory_app.execute(
            cmd.ScheduleCycle(name="Q1", start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31))
        ).id
        memory_app.execute(cmd.StartCycle(cycle_id=cycle))
        objective_id = memory_app.execute(cmd.DraftObjective(cycle_id=cycle, title="Grow")).id
        kr = memory_app.execute(
            cmd.AddKeyResult(objective_id=objective_id, title="MQLs", kind="NUMERIC", start=0, target=400)
        ).id
        memory_app.execute(cmd.ActivateObjective(objective_id=objective_id))
        memory_app.execute(cmd.CheckInKeyResult(key_result_id=kr, value=370, confidence=0.7, note="close"))
        task = memory_app.execute(cmd.CreateTask(title="Webinar", key_result_id=kr)).id
    objective = memory_app.repository.get(objective_id)
    assert isinstance(objective, Objective)
    seen: set[str] = set()
    for position, notification in enumerate(memory_app.recorder.select_notifications(start=1, limit=1000), 1):
        event = memory_app.mapper.to_domain_event(notification)
        message = cloudevent(event, position)
        if notification.topic.startswith("okr.domain.internal:"):
            assert message is None
            continue
        assert message is not None
        body = json.loads(message.body)
        validator(body["type"]).validate(body)
        assert message.id == body["id"] == f"{notification.originator_id}:{notification.originator_version}"
        assert body["position"] == position
        assert body["source"] == f"urn:okr:{org}"
        assert body["orgid"] == org
        assert body["actor"] == "alice"
        assert dt.datetime.fromisoformat(body["time"]).tzinfo is not None
        assert all(name.isalnum() and name.islower() for name in body if name != "data")
        seen.add(body["type"])
    assert "okr.objective.KeyResultCheckedIn.v1" in seen
    checked_in = next(
        json.loads(m.body)
        for n in memory_app.recorder.select_notifications(start=1, limit=1000)
        if (m := cloudevent(memory_app.mapper.to_domain_event(n), 1)) is not None
        and json.loads(m.body)["type"] == "okr.objective.KeyResultCheckedIn.v1"
    )
    assert checked_in["data"] == {
        "key_result_id": str(kr),
        "value_before": 0.0,
        "value": 370.0,
        "confidence": 0.7,
        "note": "close",
        "task_id": None,
    }
    assert checked_in["subject"] == f"objective/{objective_id}"
    assert isinstance(memory_app.repository.get(task), Task)


def test_schema_rejects_a_wrong_payload() -> None:
    """A CloudEvent with a missing data field or a wrong type does not validate."""
    good = {
        "specversion": "1.0",
        "id": f"{uuid.uuid4()}:3",
        "source": "urn:okr:acme",
        "type": "okr.objective.KeyResultCheckedIn.v1",
        "subject": f"objective/{uuid.uuid4()}",
        "time": "2026-01-05T10:00:00+00:00",
        "datacontenttype": "application/json",
        "position": 7,
        "orgid": "acme",
        "actor": "alice",
        "correlationid": "c",
        "causationid": "d",
        "aggregateid": str(uuid.uuid4()),
        "aggregateversion": 3,
        "data": {
            "key_result_id": str(uuid.uuid4()),
            "value_before": 1,
            "value": 2.5,
            "confidence": None,
            "note": "",
            "task_id": None,
        },
    }
    check = validator("okr.objective.KeyResultCheckedIn.v1")
    check.validate(good)
    for broken in (
        {**good, "data": {k: v for k, v in good["data"].items() if k != "value"}},
        {**good, "data": {**good["data"], "value": "2.5"}},
        {**good, "data": {**good["data"], "key_result_id": "not-a-uuid"}},
        {**good, "type": "okr.objective.KeyResultCheckedIn.v2"},
        {**good, "id": "no-version"},
    ):
        with pytest.raises(ValidationError):
            check.validate(broken)


def test_internal_events_are_not_published(memory_app: OkrApplication, org: str) -> None:
    """KeyResultIndex events (okr.domain.internal) produce no CloudEvent."""
    with request_context(system_context(org, "alice")):
        index = KeyResultIndex(key_result_id=uuid.uuid4(), objective_id=uuid.uuid4())
    assert cloudevent(index.collect_events()[0], 1) is None
