"""Write-side bookkeeping aggregates, saved atomically with the commands they serve.

They live in the log like everything else but are not OKR facts: projections and the
relay skip their topics (see INTERNAL_TOPIC_PREFIX).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from okr.domain.base import OkrAggregate
from okr.domain.context import current_context

INTERNAL_TOPIC_PREFIX = "okr.domain.internal:"


class KeyResultIndex(OkrAggregate):
    """key result id -> objective id, so a KR is addressable by its own id."""

    @staticmethod
    def id_for(key_result_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"okr:key-result:{key_result_id}")

    @staticmethod
    def create_id(key_result_id: UUID) -> UUID:
        return KeyResultIndex.id_for(key_result_id)

    @event("Indexed")
    def __init__(self, key_result_id: UUID, objective_id: UUID) -> None:
        self.key_result_id = key_result_id
        self.objective_id = objective_id


class IdempotencyRecord(OkrAggregate):
    """First result of a command sent with an idempotency key (per org)."""

    @staticmethod
    def id_for(org_id: str, key: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"okr:idempotency:{org_id}:{key}")

    @staticmethod
    def create_id(key: str) -> UUID:
        return IdempotencyRecord.id_for(current_context().org_id, key)

    @event("Recorded")
    def __init__(self, key: str, command: str, fingerprint: str, result: dict[str, Any]) -> None:
        self.key = key
        self.command = command
        self.fingerprint = fingerprint
        self.result = result
