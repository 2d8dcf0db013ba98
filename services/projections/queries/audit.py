"""Check-ins of a key result, the audit log and an aggregate's history (values before and after)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson

from projections._db import Row
from projections.model import AuditEntry, AuditFilter, CheckInView, Page
from projections.queries.base import QueryBase, _as_dict, _cols, _fields, _mapped, _marks
from projections.views import AUDIT, CHECK_INS, to_micros

AGGREGATE_TYPES = {t.lower(): t for t in ("Cycle", "Team", "Objective", "Task", "Organization")}
# Events that overwrite fields set at creation: history shows the values they replaced.
SETTER_EVENTS = frozenset({"Aligned", "Assigned", "Linked", "Renamed", "Reconfigured", "Moved"})


def _check_in_view(d: dict[str, Any]) -> CheckInView:
    return CheckInView(
        **_fields(
            d,
            same=("position", "value_before", "value", "confidence", "note", "author"),
            ids=("key_result_id", "objective_id", "task_id"),
            times=("at",),
        )
    )


class AuditQueries(QueryBase):
    def check_ins(self, key_result_id: UUID, first: int, after: str | None) -> Page[CheckInView]:
        page = self._keyset_page(
            CHECK_INS, " AND key_result_id = ?", [str(key_result_id)], first, after, ("c", "position"), True
        )
        return _mapped(page, _check_in_view)

    @staticmethod
    def _audit_entry(d: dict[str, Any]) -> AuditEntry:
        return AuditEntry(
            **_fields(
                d,
                same=("position", "aggregate_type", "version", "actor", "correlation_id", "causation_id"),
                ids=("aggregate_id",),
                times=("at",),
            ),
            event_type=d["event_name"],
            payload=orjson.loads(d["payload"]),
        )

    def audit_log(self, flt: AuditFilter, first: int, after: str | None) -> Page[AuditEntry]:
        where, params = "", list[Any]()
        if flt.aggregate_id is not None:
            where += " AND aggregate_id = ?"
            params.append(str(flt.aggregate_id))
        if flt.aggregate_types:  # any case: objective, OBJECTIVE and Objective are the same
            types = list(dict.fromkeys(AGGREGATE_TYPES.get(t.lower(), t) for t in flt.aggregate_types))
            where += f" AND aggregate_type IN ({_marks(len(types))})"
            params.extend(types)
        if flt.actor is not None:
            where += " AND actor = ?"
            params.append(flt.actor)
        if flt.event_types:
            marks = _marks(len(flt.event_types))
            where += f" AND (event_type IN ({marks}) OR event_name IN ({marks}))"
            params.extend([*flt.event_types, *flt.event_types])
        if flt.since is not None:
            where += " AND at >= ?"
            params.append(to_micros(flt.since))
        if flt.until is not None:
            where += " AND at <= ?"
            params.append(to_micros(flt.until))
        page = self._keyset_page(AUDIT, where, params, first, after, ("a", "position"))
        return _mapped(page, self._audit_entry)

    def _aggregate_rows(self, aggregate_id: str) -> list[Row]:
        return self.tx.fetchall(
            f"SELECT {_cols(AUDIT)} FROM proj_audit WHERE org = ? AND aggregate_id = ? ORDER BY version",
            [self.org, aggregate_id],
        )

    def _objective_of_key_result(self, key_result_id: str) -> str | None:
        """The objective a key result belongs (or, removed, belonged) to, within this org."""
        row = self.tx.fetchone(
            "SELECT objective_id FROM proj_key_results WHERE org = ? AND id = ?", [self.org, key_result_id]
        )
        if row is not None:
            return str(row[0])
        row = self.tx.fetchone(  # removed since: its KeyResultAdded names it
            "SELECT aggregate_id FROM proj_audit WHERE org = ? AND event_name = 'KeyResultAdded' "
            "AND aggregate_type = 'Objective' AND payload LIKE ? ORDER BY position LIMIT 1",
            [self.org, f'%"key_result_id":"{key_result_id}"%'],
        )
        return None if row is None else str(row[0])

    def history(self, aggregate_id: UUID) -> list[AuditEntry]:
        """Oldest first; Revised-style events get `before` with the values they replaced. A key
        result's id answers the events of its objective that concern that key result."""
        rows = self._aggregate_rows(str(aggregate_id))
        if rows:
            return self._history(rows)
        objective_id = self._objective_of_key_result(str(aggregate_id))
        if objective_id is None:
            return []
        kr_id = str(aggregate_id)
        return [
            e
            for e in self._history(self._aggregate_rows(objective_id))
            if str(e.payload.get("key_result_id")) == kr_id
        ]

    def _history(self, rows: Sequence[Row]) -> list[AuditEntry]:
        entries = []
        state: dict[str, Any] = {}
        krs: dict[str, dict[str, Any]] = {}
        for r in rows:
            entry = self._audit_entry(_as_dict(AUDIT, r))
            payload = entry.payload
            name = entry.event_type.rpartition(".")[2]
            kr_id = str(payload.get("key_result_id"))
            changes = payload.get("changes")
            if entry.version == 1:
                state.update(payload)
            elif isinstance(changes, dict):
                target = krs.setdefault(kr_id, {}) if name == "KeyResultRevised" else state
                payload["before"] = {k: target.get(k) for k in changes}
                target.update(changes)
            elif name == "KeyResultAdded":
                krs[kr_id] = dict(payload)
            elif name == "KeyResultCheckedIn":
                krs.setdefault(kr_id, {})["current"] = payload.get("value")
            elif name in SETTER_EVENTS:
                payload["before"] = {k: state.get(k) for k in payload}
                state.update(payload)
            entries.append(entry)
        return entries
