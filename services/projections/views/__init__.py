"""The four views (progress, check-ins, alignment, audit), one module each, and the registry
that makes them by name. The pieces every view is made of (`View`, `on`, `Rows`, `Table`, the
time and id conversions) live in `base`; this package re-exports what the runners, queries and
tests import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from projections.views.alignment import TASKS, alignment_view
from projections.views.audit import AUDIT, audit_view
from projections.views.base import (
    POSITIONS_SQL,
    Batch,
    Handler,
    Row,
    Rows,
    Table,
    View,
    add_missing_columns,
    from_micros,
    on,
    to_micros,
)
from projections.views.checkins import CHECK_INS, check_ins_view
from projections.views.comments import COMMENTS, OBJECTIVE_APPROVALS, comments_view
from projections.views.progress import CYCLES, KEY_RESULTS, KR_TASKS, OBJECTIVES, TEAMS, progress_view
from projections.views.reminders import REMINDER_SCHEDULES, reminders_view

__all__ = [
    "AUDIT",
    "CHECK_INS",
    "COMMENTS",
    "CYCLES",
    "KEY_RESULTS",
    "KR_TASKS",
    "OBJECTIVES",
    "OBJECTIVE_APPROVALS",
    "POSITIONS_SQL",
    "REMINDER_SCHEDULES",
    "TASKS",
    "TEAMS",
    "VIEW_NAMES",
    "Batch",
    "Handler",
    "Row",
    "Rows",
    "Table",
    "View",
    "add_missing_columns",
    "alignment_view",
    "all_tables",
    "audit_view",
    "check_ins_view",
    "comments_view",
    "from_micros",
    "make_views",
    "on",
    "progress_view",
    "reminders_view",
    "to_micros",
]

VIEW_NAMES = ("progress", "checkins", "alignment", "audit", "comments", "reminders")


def make_views(names: Iterable[str] | None = None) -> list[View]:
    """Views by name (all by default); unknown names raise ValueError."""
    factories = {
        "progress": progress_view,
        "checkins": check_ins_view,
        "alignment": alignment_view,
        "audit": audit_view,
        "reminders": reminders_view,
        "comments": comments_view,
    }
    wanted = list(VIEW_NAMES) if not names else list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in factories]
    if unknown:
        msg = f"unknown view(s) {', '.join(unknown)}; choose from {', '.join(VIEW_NAMES)}"
        raise ValueError(msg)
    return [factories[n]() for n in wanted]


def all_tables(views: Sequence[View]) -> list[Table]:
    return [t for v in views for t in v.tables]
