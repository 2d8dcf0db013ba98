"""`okr serve` (the API with projections, and the relay when OKR_NATS_URL is set) and `okr token`."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from api.auth import mint, resolve_keys
from okr.settings import Settings, load_settings

FIRST_ORG = "default"
FIRST_USER = "admin"


def _banner(settings: Settings, host: str, port: int, token: str | None, created: bool) -> str:
    url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/graphql"  # noqa: S104
    lines = [f"okr-service: GraphQL at {url}"]
    store = (settings.database_url and "PostgreSQL") or f"SQLite {settings.sqlite_path}"
    lines.append(f"  store: {store}; NATS relay: {'on' if settings.nats_url else 'off'}")
    if created:
        lines.append(f"  generated a JWT secret in {settings.data_dir / 'jwt-secret'} (mode 0600)")
    if token:
        lines.append(f"  admin token for org '{FIRST_ORG}' (24 h; `okr token` mints more):")
        lines.append(f"  Authorization: Bearer {token}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = load_settings()
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    keys = resolve_keys(settings)  # generates the secret on first start
    token = None
    if keys.signing_key is not None and settings.environment != "production":
        # never an admin token in production logs; `okr token` mints one on purpose
        token = mint(keys, org=FIRST_ORG, user=FIRST_USER, roles=["admin"])
    print(_banner(settings, host, port, token, keys.generated_secret), flush=True)
    from okr.observability import configure_logging

    configure_logging(settings.log_level)  # JSON lines on stderr; uvicorn's loggers propagate
    app = create_app(
        settings,
        run_projections=not getattr(args, "no_projections", False),
        run_relay=False if getattr(args, "no_relay", False) else None,
    )
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
