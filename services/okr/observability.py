"""Operations: structured JSON logs with correlation ids, and the Prometheus metric objects.

- `configure_logging(level)` sends every log record as one JSON line to stderr. A
  `logging.Filter` stamps each record with the current request context (`okr.domain.maybe_context()`):
  `org_id`, `actor`, `correlation_id`, `causation_id` (null outside a request, unless the caller
  passed them in `extra=`, e.g. the relay logging an event's own correlation id).
- Metric objects live in prometheus-client's default registry, so whoever mounts `/metrics`
  (`prometheus_client.make_asgi_app()` or `render_metrics()`) exports them:
  `okr_graphql_request_duration_seconds{operation,type}`, `okr_commands_total{command,outcome}`,
  `okr_lag_positions{component}` and `okr_lag_seconds{component}` (a component is a view name
  or `relay`). `refresh_lag(app, positions)` computes them from the event store and the stored
  positions, so the API process that is scraped reports workers and relays running elsewhere.
- Label values are bounded: operation names come from clients, so they are sanitised and capped
  (`MAX_OPERATIONS` distinct names, then `other`).

Nothing here is created at import time except the metric objects themselves (which is how
prometheus-client is meant to be used: one module-level object per metric, per process).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, TextIO

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client.exposition import generate_latest
from pythonjsonlogger.json import JsonFormatter

from okr.domain import maybe_context

if TYPE_CHECKING:
    from okr.application import OkrApplication

__all__ = [
    "COMMANDS",
    "CONTEXT_FIELDS",
    "LAG_POSITIONS",
    "LAG_SECONDS",
    "OUTCOMES",
    "REQUEST_LATENCY",
    "ContextFilter",
    "configure_logging",
    "observe_command",
    "observe_request",
    "operation_label",
    "refresh_lag",
    "render_metrics",
    "set_lag",
]

# --- logging -------------------------------------------------------------------------------

CONTEXT_FIELDS: Final = ("org_id", "actor", "correlation_id", "causation_id")
_HANDLER_NAME: Final = "okr-json"


class ContextFilter(logging.Filter):
    """Stamps every record with the request context's org, actor, correlation and causation ids.

    It never drops a record. A field that the caller already set (`extra={"correlation_id": ...}`)
    is left as it is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = maybe_context()
        values = (
            (ctx.org_id, ctx.actor, ctx.correlation_id, ctx.causation_id)
            if ctx is not None
            else (None, None, None, None)
        )
        for name, value in zip(CONTEXT_FIELDS, values, strict=True):
            if not hasattr(record, name):
                setattr(record, name, value)
        # uvicorn adds a terminal-coloured copy of its message (ANSI escapes): JSON lines carry
        # the plain `message` only
        record.__dict__.pop("color_message", None)
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, message, context ids, then any extras."""
    return JsonFormatter(
        ["levelname", "name", "message", *CONTEXT_FIELDS],
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def _parse_level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelNamesMapping().get(level.strip().upper())
    if value is None:
        msg = f"unknown log level {level!r} (use DEBUG, INFO, WARNING, ERROR or CRITICAL)"
        raise ValueError(msg)
    return value


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Routes the root logger to one JSON-lines handler on `stream` (default stderr).

    Idempotent: calling it again replaces the handler it installed before (and keeps handlers
    that others installed, e.g. pytest's capture). uvicorn's own loggers propagate to the root
    when uvicorn is started with `log_config=None`.
    """
    numeric = _parse_level(level)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
            existing.close()
    handler: logging.StreamHandler[TextIO] = logging.StreamHandler(
        stream if stream is not None else sys.stderr
    )
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(json_formatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(numeric)
    return handler


# --- metrics -------------------------------------------------------------------------------

#: Outcomes of a command, as the API reports them.
#: ok: events appended; replayed: idempotency key seen, first result returned, nothing appended;
#: rejected: a domain error (rule, validation, not found, permission); conflict: optimistic
#: concurrency retries exhausted; error: anything unexpected.
OUTCOMES: Final = frozenset({"ok", "replayed", "rejected", "conflict", "error"})

MAX_OPERATIONS: Final = 200
_LABEL_SAFE = re.compile(r"[^A-Za-z0-9_]")
_operations: set[str] = set()
_operations_lock = threading.Lock()

REQUEST_LATENCY: Final = Histogram(
    "okr_graphql_request_duration_seconds",
    "GraphQL request latency by operation name and type (query, mutation, subscription).",
    ["operation", "type"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COMMANDS: Final = Counter(
    "okr_commands",
    "Write-side commands by command name and outcome (ok, replayed, rejected, conflict, error).",
    ["command", "outcome"],
)
LAG_POSITIONS: Final = Gauge(
    "okr_lag_positions",
    "How many log positions a consumer (a view, or the relay) is behind the event store.",
    ["component"],
)
LAG_SECONDS: Final = Gauge(
    "okr_lag_seconds",
    "Age in seconds of the oldest event a consumer (a view, or the relay) has not processed yet.",
    ["component"],
)


def _label(value: str, limit: int = 64) -> str:
    cleaned = _LABEL_SAFE.sub("_", value.strip())[:limit]
    return cleaned or "anonymous"


def operation_label(name: str | None) -> str:
    """A bounded label for a client-chosen operation name: sanitised, at most MAX_OPERATIONS distinct."""
    if not name:
        return "anonymous"
    label = _label(name)
    with _operations_lock:
        if label in _operations:
            return label
        if len(_operations) >= MAX_OPERATIONS:
            return "other"
        _operations.add(label)
        return label


def observe_request(operation: str | None, operation_type: str, seconds: float) -> None:
    """Records one GraphQL request's latency (`operation_type`: query, mutation or subscription)."""
    kind = operation_type if operation_type in ("query", "mutation", "subscription") else "unknown"
    REQUEST_LATENCY.labels(operation=operation_label(operation), type=kind).observe(max(seconds, 0.0))


def observe_command(name: str, outcome: str) -> None:
    """Counts one command (`name` like `check_in`) with its outcome (one of OUTCOMES)."""
    if outcome not in OUTCOMES:
        msg = f"unknown command outcome {outcome!r}; use one of {sorted(OUTCOMES)}"
        raise ValueError(msg)
    COMMANDS.labels(command=_label(name), outcome=outcome).inc()


def set_lag(component: str, positions: int, seconds: float) -> None:
    """Sets a consumer's lag: positions behind the log head, and the age of its oldest unprocessed event."""
    if positions < 0:
        msg = f"lag in positions cannot be negative: {positions}"
        raise ValueError(msg)
    label = _label(component)
    LAG_POSITIONS.labels(component=label).set(positions)
    LAG_SECONDS.labels(component=label).set(max(seconds, 0.0) if positions else 0.0)


def refresh_lag(app: OkrApplication, positions: Mapping[str, int], now: datetime | None = None) -> None:
    """Sets every consumer's lag from the event store: call it when /metrics is scraped.

    `positions` maps a component (a view name, or `relay`) to the last log position it has
    processed, as stored in the database (so any API process can report the lag of workers and
    relays running elsewhere). Seconds = age of the first event after that position.
    """
    head = app.max_position()
    moment = now or datetime.now(tz=UTC)
    for component, position in positions.items():
        behind = max(head - position, 0)
        seconds = 0.0
        if behind:
            notifications = app.recorder.select_notifications(position + 1, 1)
            if notifications:
                event = app.mapper.to_domain_event(notifications[0])
                timestamp = getattr(event, "timestamp", None)
                if isinstance(timestamp, datetime):
                    seconds = (moment - timestamp).total_seconds()
        set_lag(component, behind, seconds)


def render_metrics(registry: CollectorRegistry = DEFAULT_REGISTRY) -> tuple[bytes, str]:
    """The Prometheus text exposition of `registry` and its content type (for a /metrics route)."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
