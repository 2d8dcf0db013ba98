"""What every query module shares: cursors, page size, row helpers and the one keyset page."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from projections._db import Row, Tx
from projections.model import MAX_PAGE, InvalidCursorError, Page
from projections.views import Table, from_micros

T = TypeVar("T")
CHUNK = 500


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    """The sort key inside an opaque cursor; anything else is an InvalidCursorError."""
    try:
        if not isinstance(cursor, str) or len(cursor) > 64:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != kind or not number.isdigit() or int(number) >= 2**63:
            raise ValueError  # beyond a 64-bit column: the store would fail (a 500, not a typed error)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursorError(f"invalid cursor {str(cursor)[:80]!r}") from None


def page_size(first: int) -> int:
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        msg = f"first must be an integer 0-{MAX_PAGE}"
        raise ValueError(msg)
    return min(first, MAX_PAGE)


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def _dt(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def _cols(table: Table, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + c for c in table.column_names)


def _as_dict(table: Table, row: Row) -> dict[str, Any]:
    return dict(zip(table.column_names, row, strict=True))


def _filter_where(equal: Iterable[tuple[str, object]], states: Sequence[str] = ()) -> tuple[str, list[Any]]:
    """` AND column = ?` for every (column, value) given (not None), and ` AND state IN (…)`
    when states are asked for; with their parameters."""
    where, params = "", list[Any]()
    for column, value in equal:
        if value is not None:
            where += f" AND {column} = ?"
            params.append(str(value))
    if states:
        where += f" AND state IN ({_marks(len(states))})"
        params.extend(states)
    return where, params


def _fields(
    d: dict[str, Any], same: Iterable[str] = (), ids: Iterable[str] = (), times: Iterable[str] = ()
) -> dict[str, Any]:
    """A view's fields from its row: columns copied as they are (`same`), optional UUIDs (`ids`)
    and optional instants stored as microseconds (`times`)."""
    out = {c: d[c] for c in same}
    out.update({c: _uuid(d[c]) for c in ids})
    out.update({c: _dt(d[c]) for c in times})
    return out


def _mapped(page: Page[Any], convert: Callable[[Any], T]) -> Page[T]:
    return Page(
        items=[convert(item) for item in page.items],
        cursors=page.cursors,
        total_count=page.total_count,
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
    )


class QueryBase:
    """One read transaction, one org, one instant `at`."""

    def __init__(self, tx: Tx, org: str, at: datetime) -> None:
        self.tx = tx
        self.org = org
        self.at = at

    def _keyset_page(
        self,
        table: Table,
        where: str,
        params: Sequence[Any],
        first: int,
        after: str | None,
        cursor: tuple[str, str],
        descending: bool = False,
    ) -> Page[dict[str, Any]]:
        """One page of the org's rows matching `where`, ordered by the key column of
        `cursor` (kind, column), after the row an opaque cursor names; with the total count."""
        n = page_size(first)
        kind, key = cursor
        physical = table.physical()
        total = self.tx.fetchone(f"SELECT COUNT(*) FROM {physical} WHERE org = ?{where}", [self.org, *params])
        params = list(params)
        if after is not None:
            where += f" AND {key} {'<' if descending else '>'} ?"
            params.append(decode_cursor(kind, after))
        rows = [
            _as_dict(table, r)
            for r in self.tx.fetchall(
                f"SELECT {_cols(table)} FROM {physical} WHERE org = ?{where} "
                f"ORDER BY {key}{' DESC' if descending else ''} LIMIT {n + 1}",
                [self.org, *params],
            )
        ]
        return Page(
            items=rows[:n],
            cursors=[encode_cursor(kind, d[key]) for d in rows[:n]],
            total_count=int(total[0]) if total else 0,
            has_next_page=len(rows) > n,
            has_previous_page=after is not None,
        )
