"""Time travel: the views as they were at instant T, rebuilt from the log (never the live tables).

The audit view serves only as an index of the log — for an org, every (aggregate, version,
position) whose event time is at or before T. The events themselves come from the event store
(`app.events.get(id, lte=version)`), are replayed in log order through the same projection
functions into a private in-memory SQLite database, and the same `Queries` answer from it at T.
Live answers and as-of answers therefore share every line of read-time code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from okr.application import OkrApplication
from projections._db import Database
from projections.queries import Queries
from projections.runner import ensure_schema
from projections.views import Rows, alignment_view, progress_view, to_micros


def events_until(app: OkrApplication, db: Database, org: str, as_of: datetime) -> list[tuple[int, str, Any]]:
    """(position, qualname, event) of every event of `org` at or before `as_of`, in log order."""
    with db.read() as tx:
        rows = tx.fetchall(
            "SELECT aggregate_id, version, position FROM proj_audit "
            "WHERE org = ? AND at <= ? ORDER BY position",
            [org, to_micros(as_of)],
        )
    last_version: dict[str, int] = {}
    positions: dict[tuple[str, int], int] = {}
    for aggregate_id, version, position in rows:
        last_version[aggregate_id] = max(int(version), last_version.get(aggregate_id, 0))
        positions[(aggregate_id, int(version))] = int(position)
    out: list[tuple[int, str, Any]] = []
    for aggregate_id, version in last_version.items():
        for event in app.events.get(UUID(aggregate_id), lte=version):
            position = positions.get((aggregate_id, event.originator_version))
            if position is not None:
                out.append((position, type(event).__qualname__, event))
    out.sort(key=lambda item: item[0])
    return out


@contextmanager
def queries_as_of(app: OkrApplication, db: Database, org: str, as_of: datetime) -> Iterator[Queries]:
    events = events_until(app, db, org, as_of)
    memory = Database(sqlite_path=":memory:")
    try:
        views = [progress_view(), alignment_view()]
        ensure_schema(memory, views)
        with memory.write() as tx:
            for view in views:
                rows = {t.name: Rows(tx, t, t.physical()) for t in view.tables}
                for position, qualname, event in events:
                    if view.wants(qualname):
                        view.apply(event, qualname, position, rows)
                for r in rows.values():
                    r.flush()
        with memory.read() as tx:
            yield Queries(tx, org, as_of)
    finally:
        memory.close()
