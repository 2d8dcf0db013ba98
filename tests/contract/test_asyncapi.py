"""schema/asyncapi.yaml: valid AsyncAPI 3.0, one channel + message + send operation per event type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from relay.asyncapi import asyncapi_document, diff_asyncapi
from relay.contracts import contracts

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
ASYNCAPI = SCHEMA_DIR / "asyncapi.yaml"
#: The official AsyncAPI 3.0.0 JSON Schema (npm @asyncapi/specs 6.11.1, schemas/3.0.0-without-$id.json).
OFFICIAL_SCHEMA = SCHEMA_DIR / "vendor" / "asyncapi-3.0.0.schema.json"


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text())
    return loaded


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def test_document_validates_against_the_official_asyncapi_3_schema() -> None:
    """The committed document is valid per the official AsyncAPI 3.0.0 JSON Schema."""
    official = json.loads(OFFICIAL_SCHEMA.read_text())
    assert official["properties"]["asyncapi"]["const"] == "3.0.0"
    errors = sorted(Draft7Validator(official).iter_errors(document()), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_official_schema_rejects_a_broken_document() -> None:
    """The validation can fail: an operation with an unknown action is refused."""
    broken = document()
    first = next(iter(broken["operations"].values()))
    first["action"] = "publish"  # AsyncAPI 2 wording, invalid in 3.0
    official = json.loads(OFFICIAL_SCHEMA.read_text())
    assert not Draft7Validator(official).is_valid(broken)


def test_committed_document_matches_the_code() -> None:
    """schema/asyncapi.yaml is what the event classes generate."""
    assert diff_asyncapi(ASYNCAPI) == []
    assert document() == json.loads(json.dumps(asyncapi_document()))


def test_one_channel_message_and_operation_per_event_type() -> None:
    """Every event type has a channel (address okr.{org}.<aggregate>.<Event>), a message and a send."""
    doc = document()
    types = {c.type for c in contracts()}
    assert set(doc["channels"]) == types
    assert set(doc["components"]["messages"]) == types
    sent = {op["channel"]["$ref"].removeprefix("#/channels/") for op in doc["operations"].values()}
    assert sent == types
    assert {op["action"] for op in doc["operations"].values()} == {"send"}
    for contract in contracts():
        channel = doc["channels"][contract.type]
        assert channel["address"] == f"okr.{{org}}.{contract.aggregate}.{contract.name}"
        assert set(channel["parameters"]) == {"org"}
        (message_ref,) = channel["messages"].values()
        message = resolve(doc, message_ref["$ref"])
        assert message["name"] == contract.type
        payload_ref = message["payload"]["schema"]["$ref"]
        payload = json.loads((SCHEMA_DIR / payload_ref).read_text())
        assert payload["properties"]["type"]["const"] == contract.type


def test_every_internal_reference_resolves() -> None:
    """No dangling $ref inside the document."""
    doc = document()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                resolve(doc, ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
