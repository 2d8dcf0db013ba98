"""The view database: the stdlib sqlite3 (embedded) or psycopg 3 with a pool (PostgreSQL).

All view SQL is written once with `?` placeholders and the common subset of both dialects
(`INSERT ... ON CONFLICT DO UPDATE`, plain types); `Database` converts placeholders for psycopg.
Write transactions are serialised per database file on SQLite (`BEGIN IMMEDIATE`) and per view
row on PostgreSQL (`SELECT ... FOR UPDATE` on the positions table), which is what keeps two
workers of one view from corrupting it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool

from okr.settings import Settings

Row = tuple[Any, ...]


class Tx(Protocol):
    """One open transaction (or autocommit read) on the view database."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def upsert_rows(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None: ...

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...


class _SqliteTx:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" for _ in columns)
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def upsert_rows(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self.executemany(upsert_sql(table, columns, key, 1, "?"), rows)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.executemany(sql, rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self.conn.execute(sql, params).fetchone()
        return row


_PG_SQL_CACHE: dict[str, str] = {}


def _pg(sql: str) -> str:
    converted = _PG_SQL_CACHE.get(sql)
    if converted is None:
        converted = sql.replace("?", "%s")
        _PG_SQL_CACHE[sql] = converted
    return converted


def upsert_sql(table: str, columns: Sequence[str], key: Sequence[str], n_rows: int, mark: str) -> str:
    row = "(" + ", ".join(mark for _ in columns) + ")"
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(row for _ in range(n_rows))} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


PG_UPSERT_CHUNK = 500
PG_SMALL_INSERT = 50


class _PgTx:
    dialect = "postgres"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """COPY: the fastest way into PostgreSQL for append-only rows; a few rows (the live
        tail) go in one multi-row INSERT instead (one round trip, COPY takes two)."""
        if not rows:
            return
        if len(rows) <= PG_SMALL_INSERT:
            marks = "(" + ", ".join("%s" for _ in columns) + ")"
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(marks for _ in rows)}"
            self.conn.execute(sql, [value for r in rows for value in r], prepare=False)
            return
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def upsert_rows(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Multi-row INSERT ... ON CONFLICT statements (one round trip per chunk)."""
        with self.conn.cursor() as cur:
            for i in range(0, len(rows), PG_UPSERT_CHUNK):
                chunk = rows[i : i + PG_UPSERT_CHUNK]
                params = [value for row in chunk for value in row]
                cur.execute(upsert_sql(table, columns, key, len(chunk), "%s"), params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(_pg(sql), params, prepare=False)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(_pg(sql), rows)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.conn.cursor() as cur:
            cur.execute(_pg(sql), params)
            return list(cur.fetchall())

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self.conn.cursor() as cur:
            cur.execute(_pg(sql), params)
            return cur.fetchone()


class Database:
    """Connections to the view database of `settings`: the event store's PostgreSQL database
    (its schema), or the embedded `views.sqlite3` beside the log's SQLite file."""

    def __init__(self, settings: Settings | None = None, *, sqlite_path: str | Path | None = None) -> None:
        self.settings = settings
        self._local = threading.local()
        self._pool: ConnectionPool[Any] | None = None
        self._lock = threading.Lock()
        self._closed = False
        if sqlite_path is not None:
            self.dialect = "sqlite"
            self.sqlite_path = str(sqlite_path)
        elif settings is not None and settings.uses_postgres:
            self.dialect = "postgres"
            self.sqlite_path = ""
        else:
            assert settings is not None
            self.dialect = "sqlite"
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.sqlite_path = str(settings.views_sqlite_path)
        self._memory_conn: sqlite3.Connection | None = None
        if self.sqlite_path == ":memory:":
            self._memory_conn = self._new_sqlite()

    # ------------------------------------------------------------------ connections
    def _new_sqlite(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.sqlite_path, isolation_level=None, check_same_thread=False, timeout=30)
        if self.sqlite_path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
            # Views are rebuildable from the log: NORMAL keeps WAL commits crash-safe for the
            # process (not for power loss) without an fsync per live-tail commit.
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _sqlite(self) -> sqlite3.Connection:
        if self._memory_conn is not None:
            return self._memory_conn
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._new_sqlite()
            self._local.conn = conn
            with self._lock:
                self._all_sqlite = [*getattr(self, "_all_sqlite", []), conn]
        return conn

    def _pg_pool(self) -> ConnectionPool[Any]:
        with self._lock:
            if self._pool is None:
                assert self.settings is not None
                assert self.settings.database_url is not None
                kwargs: dict[str, Any] = {"autocommit": True}
                if self.settings.database_schema:
                    kwargs["options"] = f"-c search_path={self.settings.database_schema}"
                self._pool = ConnectionPool(
                    self.settings.database_url,
                    min_size=1,
                    max_size=max(2, self.settings.pool_size),
                    kwargs=kwargs,
                    timeout=self.settings.pool_connect_timeout,
                    open=True,
                )
            return self._pool

    def pg_connect(self) -> psycopg.Connection[Any]:
        """A dedicated autocommit connection (LISTEN, long-running runners)."""
        assert self.settings is not None
        assert self.settings.database_url is not None
        kwargs: dict[str, Any] = {"autocommit": True}
        if self.settings.database_schema:
            kwargs["options"] = f"-c search_path={self.settings.database_schema}"
        return psycopg.connect(self.settings.database_url, **kwargs)

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: READ COMMITTED)."""
        if self.dialect == "sqlite":
            conn = self._sqlite()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        else:
            with self._pg_pool().connection() as pconn, pconn.transaction():
                yield _PgTx(pconn)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only snapshot (one transaction, so several SELECTs agree)."""
        if self.dialect == "sqlite":
            conn = self._sqlite()
            conn.execute("BEGIN")
            try:
                yield _SqliteTx(conn)
            finally:
                conn.execute("COMMIT")
        else:
            with self._pg_pool().connection() as pconn:
                pconn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield _PgTx(pconn)
                finally:
                    pconn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            for conn in getattr(self, "_all_sqlite", []):
                conn.close()
            self._all_sqlite = []
            if self._memory_conn is not None:
                self._memory_conn.close()
                self._memory_conn = None
