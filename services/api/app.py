"""The FastAPI app: `create_app(settings)`; the write side, read model, event feed, projection
runners and (with a NATS URL) the relay are built in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from cross_web import HTTPException
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.types.unset import UnsetType

import bootstrap
from api.auth import AuthenticationError, Principal, bearer_token, decode_token, resolve_keys
from api.context import CONSISTENCY_HEADER, Context, Services
from api.feed import EventFeed
from api.ide import ASSETS_PATH, ide_assets, ide_page
from api.middleware import BodySizeLimit
from api.schema import build_schema
from okr.observability import refresh_lag, render_metrics
from okr.settings import Settings

log = logging.getLogger(__name__)
WORKER_THREADS = 32


def _unauthorized(message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="okr"'},
    )


def _request_error(status: int, message: str) -> JSONResponse:
    """A refused HTTP request, shaped like a GraphQL response (strawberry answers plain text)."""
    code = _HTTP_CODES.get(status, "BAD_REQUEST")
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status)


NOT_AN_OBJECT = "request body must be a JSON object {query, variables, operationName}"
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


class OkrGraphQLRouter(GraphQLRouter[Context, None]):
    """Refuses unauthenticated HTTP operations with 401; WebSockets authenticate on connect.
    A request that is not a GraphQL request gets a 400 with a GraphQL-shaped error and code."""

    async def run(self, request: Any, context: Any = None, root_value: Any = None) -> Any:
        if request.scope["type"] == "http" and isinstance(context, Context) and not context.authenticated:
            adapter = self.request_adapter_class(request)
            if not self.should_render_graphql_ide(adapter):
                return _unauthorized(context.auth_error or "authentication required")
        try:
            return await super().run(request, context=context, root_value=root_value)
        except HTTPException as exc:
            if request.scope["type"] != "http":
                raise
            return _request_error(exc.status_code, exc.reason)

    def decode_json(self, data: str | bytes) -> object:
        """The body as a JSON object (or a list, which strawberry refuses as a batch): anything
        else is the client's error, never a 500 with a traceback."""
        try:
            value = json.loads(data)
        except UnicodeDecodeError:
            raise HTTPException(400, "request body is not valid UTF-8") from None
        except RecursionError:
            raise HTTPException(400, "request body is nested too deeply") from None
        except ValueError:
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if isinstance(value, list):
            if not value or not all(isinstance(item, dict) for item in value):
                raise HTTPException(400, NOT_AN_OBJECT)
        elif not isinstance(value, dict):
            raise HTTPException(400, NOT_AN_OBJECT)
        else:
            _check_request_object(value)
        return value

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        if context.authenticated:
            return await super().on_ws_connect(context)
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        value = params.get("Authorization") or params.get("authorization")
        token = params.get("token")
        if not value and isinstance(token, str):
            value = f"Bearer {token}"
        try:
            context.authenticate(value if isinstance(value, str) else None)
        except AuthenticationError:
            raise ConnectionRejectionError from None
        return await super().on_ws_connect(context)

    async def render_graphql_ide(self, request: Any) -> HTMLResponse:
        """Our GraphiQL page: its assets come from this server (ASSETS_PATH), never a CDN."""
        return ide_page(request.scope.get("root_path", ""))


def _check_request_object(value: dict[str, Any]) -> None:
    name = value.get("operationName")
    if name is not None and not isinstance(name, str):
        raise HTTPException(400, "operationName must be a string or null")


def _context_getter(services_of: Callable[[], Services]) -> Callable[..., Any]:
    async def get_context(connection: HTTPConnection) -> Context:
        services = services_of()
        principal: Principal | None = None
        error: str | None = None
        header = connection.headers.get("authorization")
        if header or connection.scope["type"] == "http":
            try:
                principal = decode_token(bearer_token(header), services.keys)
            except AuthenticationError as exc:
                error = str(exc)
        context = Context(services, principal, error)
        raw = connection.headers.get(CONSISTENCY_HEADER)
        if raw:
            try:
                position = int(raw) if len(raw) <= 20 else -1
            except ValueError:
                position = -1
            if position < 0:
                context.header_error = f"{CONSISTENCY_HEADER} must be a log position, got {raw[:40]!r}"
            else:
                context.header_position = position
        return context

    return get_context


def create_app(
    settings: Settings,
    *,
    run_projections: bool = True,
    run_relay: bool | None = None,
) -> FastAPI:
    """The ASGI app. `run_projections`: run the view runners in this process (the embedded
    default); `run_relay`: run the NATS relay here (default: when settings.nats_url is set)."""
    holder: dict[str, Services] = {}

    def services() -> Services:
        try:
            return holder["services"]
        except KeyError:
            raise RuntimeError("the app's lifespan has not started") from None

    @contextlib.asynccontextmanager
    async def lifespan(asgi_app: FastAPI) -> AsyncIterator[None]:
        keys = resolve_keys(settings)
        # blocking calls (commands, read-model queries, read-your-writes waits) run in threads:
        # more than asyncio's default of cpu+4, so a few waiting requests cannot starve the rest
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="okr-api")
        )
        async with contextlib.AsyncExitStack() as stack:
            # everything started is stopped in reverse order, also when a later step fails
            parts = bootstrap.runtime(settings, run_projections=run_projections, run_relay=run_relay)
            rt = await asyncio.to_thread(parts.__enter__)
            stack.push_async_callback(asyncio.to_thread, parts.__exit__, None, None, None)
            # Appends are serialised by the store anyway (SQLite's single writer; PostgreSQL's
            # table lock): a few writer threads avoid optimistic-concurrency retries and lock
            # waits between commands that would otherwise all wait in parallel.
            writer = ThreadPoolExecutor(
                max_workers=1 if not settings.uses_postgres else min(4, settings.pool_size),
                thread_name_prefix="okr-writer",
            )
            stack.push_async_callback(_quietly, lambda: writer.shutdown(wait=True))
            feed = EventFeed(rt.app)
            await feed.start()
            stack.push_async_callback(feed.stop)
            holder["services"] = Services(
                settings=settings,
                app=rt.app,
                read_model=rt.read_model,
                keys=keys,
                feed=feed,
                writer=writer,
                runners=rt.runners,
                relay=rt.relay,
                relay_positions=rt.relay_positions,
            )
            asgi_app.state.services = holder["services"]
            stack.callback(holder.pop, "services", None)
            yield

    development = settings.environment == "development"
    fastapi_app = FastAPI(
        title="okr-service",
        lifespan=lifespan,
        docs_url="/docs" if development else None,
        redoc_url=None,
        openapi_url="/openapi.json" if development else None,
    )
    router = OkrGraphQLRouter(
        build_schema(settings),
        graphql_ide="graphiql" if development else None,
        context_getter=_context_getter(services),
        allowed_origins=settings.cors_origins,
        allow_queries_via_get=False,
    )
    fastapi_app.include_router(router, prefix="/graphql")
    if development:
        fastapi_app.mount(ASSETS_PATH, ide_assets(), name="graphiql-assets")
    if settings.cors_origins:
        fastapi_app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Consistent-With"],
            max_age=600,
        )
    fastapi_app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)

    @fastapi_app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics (request latency, command outcomes, view and relay lag)."""
        svc = holder.get("services")
        if svc is not None:
            with contextlib.suppress(Exception):  # a scrape never fails for a lag figure
                await asyncio.to_thread(_refresh_lag, svc)
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    @fastapi_app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @fastapi_app.get("/readyz")
    async def readyz() -> Response:
        """Ready: the database answers, the views run, NATS answers (when configured)."""
        checks: dict[str, Any] = {}
        ok = True
        svc = holder.get("services")
        if svc is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            head = await asyncio.to_thread(svc.app.max_position)
            checks["database"] = {"ok": True, "position": head}
        except Exception as exc:
            ok = False
            checks["database"] = {"ok": False, "error": type(exc).__name__}
            head = None
        try:
            views = await asyncio.to_thread(svc.read_model.position)
            runners = svc.runners
            alive = runners is None or runners.last_error is None  # out of process: only lag
            checks["views"] = {
                "ok": alive,
                "position": views,
                "lag": None if head is None else max(0, head - views),
                "inProcess": runners is not None,
                **({} if alive or runners is None else {"error": type(runners.last_error).__name__}),
            }
            ok = ok and alive
        except Exception as exc:
            ok = False
            checks["views"] = {"ok": False, "error": type(exc).__name__}
        if settings.nats_url:
            reachable = await asyncio.to_thread(_tcp_reachable, settings.nats_url)
            relay = svc.relay
            entry: dict[str, Any] = {"ok": reachable}
            if relay is not None:
                with contextlib.suppress(Exception):
                    lag = relay.lag()
                    entry.update(relayConnected=lag.connected, relayLag=lag.positions)
            checks["nats"] = entry
            ok = ok and reachable
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
        )

    return fastapi_app


async def _quietly(stop: Callable[[], Any]) -> None:
    """Runs a blocking stop/close in a thread; a failure is logged, the next one still runs."""
    try:
        await asyncio.to_thread(stop)
    except Exception:
        log.exception("stopping a background service failed")


def _tcp_reachable(url: str, timeout: float = 1.0) -> bool:
    parts = urlsplit(url.split(",")[0])
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=timeout):
            return True
    except OSError:
        return False


def _refresh_lag(svc: Services) -> None:
    """Every view's and the relay's lag, from the positions stored in the database."""
    positions_of = getattr(svc.read_model, "positions", None)
    positions: dict[str, int] = dict(positions_of()) if callable(positions_of) else {}
    store = svc.relay_positions
    if store is not None:
        positions["relay"] = int(store.load())
    refresh_lag(svc.app, positions)
