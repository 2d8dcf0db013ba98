"""The PostgreSQL recorder of okr.idempotency (its own module: psycopg loads only when used)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Identifier

from okr.idempotency import KWARG, TABLE, IdempotencyEntry


class PostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        table = Identifier(self.datastore.schema), Identifier(TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (record_id uuid PRIMARY KEY, command text NOT NULL,"
                " fingerprint text NOT NULL, result text NOT NULL, position bigint NOT NULL)"
            ).format(*table)
        )
        self._insert_entry = SQL("INSERT INTO {}.{} VALUES (%s, %s, %s, %s, %s)").format(*table)
        self._select_entry = SQL(
            "SELECT command, fingerprint, result, position FROM {}.{} WHERE record_id = %s"
        ).format(*table)

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> Any:
        """After the events' INSERT ... RETURNING: the entry, in the same transaction (a
        duplicate key raises IntegrityError when the transaction commits, writing nothing)."""
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        entry = kwargs.get(KWARG)
        if isinstance(entry, IdempotencyEntry) and ids:
            curs.execute(
                self._insert_entry,
                (entry.record_id, entry.command, entry.fingerprint, json.dumps(entry.result), max(ids)),
            )
        return ids

    def idempotency_entry(self, record_id: UUID) -> IdempotencyEntry | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_entry, [record_id])
            row = curs.fetchone()
        if row is None:
            return None
        return IdempotencyEntry(
            record_id, row["command"], row["fingerprint"], json.loads(row["result"]), int(row["position"])
        )
