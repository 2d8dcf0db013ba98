"""Read-time figures over the view tables: every query of the ReadModel protocol.

`Queries` works on one open read transaction (a live database or the in-memory database that
time travel fills from the log), so the live answers and the as-of answers run the same code.
Everything that depends on "now" is computed here for the instant `at`, never stored; the
formulas and policies are the domain's (`okr.domain.formulas`, `okr.domain.policies`).

One module per feature: `figures` (objectives with their key results and figures, the loading
they share), `objectives` (lists, key results, the tree, cycles, teams), `dashboard`, `tasks`,
`audit` (check-ins, audit log, history); `base` holds cursors, paging and row helpers.
"""

from __future__ import annotations

from projections.queries.audit import AuditQueries
from projections.queries.base import _as_dict, _cols, decode_cursor, encode_cursor, page_size
from projections.queries.comments import CommentQueries
from projections.queries.dashboard import DashboardQueries
from projections.queries.objectives import ObjectiveQueries
from projections.queries.tasks import TaskQueries

__all__ = ["Queries", "_as_dict", "_cols", "decode_cursor", "encode_cursor", "page_size"]


class Queries(ObjectiveQueries, DashboardQueries, TaskQueries, AuditQueries, CommentQueries):
    """Every read query, over one transaction, evaluated at `at`."""
