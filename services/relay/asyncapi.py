"""The AsyncAPI 3.0 document of the published events, generated from the event contracts.

One channel per CloudEvent type (address ``okr.{org}.<aggregate>.<Event>``, parameter ``org``),
one message per channel whose payload is the type's JSON Schema file in ``schema/events/``,
and one ``send`` operation per channel (the service publishes; consumers receive).
``export_asyncapi(path)`` writes ``schema/asyncapi.yaml``; ``diff_asyncapi(path)`` reports a
difference from the code (``okr export-schema --check`` and the contract test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from relay.contracts import SUBJECT_PREFIX, EventContract, contracts, schema_filename

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document", "diff_asyncapi", "export_asyncapi", "render_asyncapi"]

ASYNCAPI_VERSION: Final = "3.0.0"
DOCUMENT_VERSION: Final = "1.0.0"
PAYLOAD_FORMAT: Final = "application/schema+json;version=draft-2020-12"

_DESCRIPTION = """\
Every change in okr-service is an event in its log. The relay publishes each public event, in
log order, as a CloudEvents 1.0 structured JSON message on the NATS JetStream stream
`OKR_EVENTS`, subject `okr.<org>.<aggregate>.<Event>`, with the header `Nats-Msg-Id` set to the
CloudEvent id (`<aggregate id>:<aggregate version>`).

- Filter per tenant (`okr.acme.>`), per aggregate (`okr.acme.objective.>`) or per event type
  (`okr.*.objective.KeyResultCheckedIn`).
- Ordering: the stream holds events in global log order (the `position` extension strictly
  increases); per aggregate, `aggregateversion` increases by one.
- Delivery is at least once across relay crashes beyond JetStream's duplicate window:
  de-duplicate by the CloudEvent `id`.
- Versioning: fields are only added within a version (ignore unknown fields); a breaking change
  gets a new type `...v2`, published alongside `...v1` during a transition.
"""


def _message_name(contract: EventContract) -> str:
    return contract.type


def _operation_id(contract: EventContract) -> str:
    return f"publish.{contract.type}"


def _channel(contract: EventContract) -> dict[str, Any]:
    return {
        "address": f"{SUBJECT_PREFIX}.{{org}}.{contract.aggregate}.{contract.name}",
        "title": f"{contract.aggregate}.{contract.name}",
        "description": f"{contract.event_class.__qualname__} events of one org.",
        "parameters": {"org": {"$ref": "#/components/parameters/org"}},
        "messages": {contract.name: {"$ref": f"#/components/messages/{_message_name(contract)}"}},
    }


def _message(contract: EventContract) -> dict[str, Any]:
    return {
        "name": _message_name(contract),
        "title": f"{contract.event_class.__qualname__} (v{contract.version})",
        "summary": (
            f"CloudEvent of type {contract.type}; data fields: {', '.join(contract.fields) or 'none'}."
        ),
        "contentType": "application/json",
        "headers": {"$ref": "#/components/schemas/natsHeaders"},
        "correlationId": {"$ref": "#/components/correlationIds/correlation"},
        "payload": {
            "schemaFormat": PAYLOAD_FORMAT,
            "schema": {"$ref": f"./events/{schema_filename(contract)}"},
        },
    }


def _operation(contract: EventContract) -> dict[str, Any]:
    channel = f"#/channels/{contract.type}"
    return {
        "action": "send",
        "channel": {"$ref": channel},
        "summary": f"The relay publishes {contract.type}.",
        "messages": [{"$ref": f"{channel}/messages/{contract.name}"}],
    }


def asyncapi_document() -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document as plain data (keys in a stable order)."""
    all_contracts = contracts()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "okr-service events",
            "version": DOCUMENT_VERSION,
            "description": _DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "jetstream": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "NATS JetStream (OKR_NATS_URL); stream OKR_EVENTS, subjects okr.>",
            }
        },
        "channels": {c.type: _channel(c) for c in all_contracts},
        "operations": {_operation_id(c): _operation(c) for c in all_contracts},
        "components": {
            "parameters": {
                "org": {"description": "The tenant (org id), sanitised to [A-Za-z0-9_-]."},
            },
            "correlationIds": {
                "correlation": {
                    "description": "The correlation id of the request that caused the event.",
                    "location": "$message.payload#/correlationid",
                }
            },
            "schemas": {
                "natsHeaders": {
                    "type": "object",
                    "required": ["Nats-Msg-Id"],
                    "properties": {
                        "Nats-Msg-Id": {
                            "type": "string",
                            "description": (
                                "The CloudEvent id; JetStream drops repeats within its duplicate window."
                            ),
                        }
                    },
                }
            },
            "messages": {_message_name(c): _message(c) for c in all_contracts},
        },
    }


def render_asyncapi() -> str:
    """The document as YAML (multi-line strings as literal blocks)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    header = "# Generated by `okr export-schema` from the event classes: do not edit by hand.\n"
    body = yaml.dump(asyncapi_document(), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def export_asyncapi(path: Path) -> Path:
    """Writes schema/asyncapi.yaml (only when its content changed)."""
    text = render_asyncapi()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def diff_asyncapi(path: Path) -> list[str]:
    """A one-line problem when the file differs from the code (empty when they match)."""
    if not path.exists():
        return [f"{path}: missing (run `okr export-schema`)"]
    if path.read_text(encoding="utf-8") != render_asyncapi():
        return [f"{path}: differs from the event classes (run `okr export-schema`)"]
    return []
