"""`okr serve` (the API with projections, and the relay when OKR_NATS_URL is set) and `okr token`."""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import timedelta

from api.auth import mint, resolve_keys
from okr.settings import Settings, load_settings

FIRST_ORG = "default"
FIRST_USER = "admin"
MAX_TOKENS = 3  # the banner prints a token for at most this many orgs
LOG_TAIL_SCAN = 50_000  # events of the log, newest first, read for orgs the audit view lacks


def _audit_orgs(settings: Settings, limit: int) -> tuple[list[str], int]:
    """Distinct orgs of the audit view (at most `limit`) and the audit view's position.

    A loose index scan on the (org, position) index: one index probe per org, whatever the
    number of events (a plain DISTINCT would read every row on PostgreSQL)."""
    from projections._db import Database

    db = Database(settings)
    try:
        with db.read() as tx:
            if tx.dialect == "postgres":
                found = tx.fetchone(
                    "SELECT to_regclass('proj_audit') IS NOT NULL"
                    " AND to_regclass('proj_positions') IS NOT NULL"
                )
                exists = bool(found and found[0])
            else:
                found = tx.fetchone(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
                    " AND name IN ('proj_audit', 'proj_positions')"
                )
                exists = bool(found and found[0] == 2)
            if not exists:
                return [], 0
            rows = tx.fetchall(
                "WITH RECURSIVE o(org) AS ("
                " SELECT MIN(org) FROM proj_audit"
                " UNION ALL SELECT (SELECT MIN(org) FROM proj_audit WHERE org > o.org) FROM o"
                " WHERE o.org IS NOT NULL"
                f") SELECT org FROM o WHERE org IS NOT NULL LIMIT {int(limit)}"
            )
            position = tx.fetchone("SELECT position FROM proj_positions WHERE view = 'audit'")
        return [str(r[0]) for r in rows], int(position[0]) if position else 0
    finally:
        db.close()


def orgs_in_store(settings: Settings, limit: int = MAX_TOKENS) -> tuple[list[str], bool]:
    """The orgs that have events in the store (at most `limit`; True when there are more).

    Cheap on both stores: the orgs of the newest events the audit view has not applied yet
    (right after `okr demo`, before any view ran, that is all of them; at most LOG_TAIL_SCAN
    events are read), most recently active first, then the audit view's orgs by name."""
    import orjson

    from okr.wiring import build_application

    indexed, audited = _audit_orgs(settings, limit + 1)
    app = build_application(settings)
    try:
        head = app.max_position()
        start = max(audited + 1, head - LOG_TAIL_SCAN + 1, 1)
        recent: dict[str, int] = {}
        plain = app.mapper.cipher is None and app.mapper.compressor is None
        while start <= head:
            page = app.recorder.select_notifications(start, 5000, stop=head)
            if not page:
                break
            for n in page:
                org = orjson.loads(n.state).get("org_id") if plain else None
                if org is None:
                    org = getattr(app.mapper.to_domain_event(n), "org_id", None)
                if isinstance(org, str):
                    recent[org] = n.id
            start = page[-1].id + 1
    finally:
        app.close()
    ordered = sorted(recent, key=recent.__getitem__, reverse=True)
    ordered += [org for org in indexed if org not in recent]
    return ordered[:limit], len(ordered) > limit


def _banner(
    settings: Settings,
    host: str,
    port: int,
    tokens: list[tuple[str, str]],
    created: bool,
    *,
    has_data: bool = False,
    more_orgs: bool = False,
) -> str:
    url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/graphql"  # noqa: S104
    lines = [f"okr-service: GraphQL at {url}"]
    store = (settings.database_url and "PostgreSQL") or f"SQLite {settings.sqlite_path}"
    lines.append(f"  store: {store}; NATS relay: {'on' if settings.nats_url else 'off'}")
    if created:
        lines.append(f"  generated a JWT secret in {settings.data_dir / 'jwt-secret'} (mode 0600)")
    for org, token in tokens:
        note = "no org holds data yet" if org == FIRST_ORG and not has_data else "it holds data"
        lines.append(f"  admin token for org '{org}' ({note}; 24 h; `okr token --org {org}` mints more):")
        lines.append(f"  Authorization: Bearer {token}")
    if more_orgs:
        lines.append(
            "  more orgs hold data: `okr token --org ORG --user admin --role admin` mints a token for one"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = load_settings()
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    keys = resolve_keys(settings)  # generates the secret on first start
    tokens: list[tuple[str, str]] = []
    orgs: list[str] = []
    more_orgs = False
    if keys.signing_key is not None and settings.environment != "production":
        # never an admin token in production logs; `okr token` mints one on purpose.
        # A token per org that holds data (after `okr demo`: 'demo'), else for 'default'.
        orgs, more_orgs = orgs_in_store(settings)
        tokens = [(org, mint(keys, org=org, user=FIRST_USER, roles=["admin"])) for org in orgs or [FIRST_ORG]]
    banner = _banner(
        settings, host, port, tokens, keys.generated_secret, has_data=bool(orgs), more_orgs=more_orgs
    )
    print(banner, flush=True)
    from okr.observability import configure_logging

    configure_logging(settings.log_level)  # JSON lines on stderr; uvicorn's loggers propagate
    app = create_app(
        settings,
        run_projections=not getattr(args, "no_projections", False),
        run_relay=False if getattr(args, "no_relay", False) else None,
    )
    # uvicorn shuts down gracefully on SIGTERM, restores the handler it found and raises the
    # signal again: with this handler in place the process then ends with 0, as a worker
    # stopped by its orchestrator should (SIG_DFL would end it by the signal, exit status 143)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=settings.log_level.lower(),
        ws="websockets-sansio",
        ws_max_size=settings.max_body_bytes,  # the HTTP body limit holds for WebSocket messages too
    )
    return 0


def mint_token(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        keys = resolve_keys(settings)
        token = mint(
            keys,
            org=args.org,
            user=args.user,
            roles=list(args.role),
            ttl=timedelta(hours=float(args.ttl_hours)),
        )
    except (RuntimeError, ValueError) as exc:
        print(f"okr token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
