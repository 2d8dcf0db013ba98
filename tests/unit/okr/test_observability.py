"""JSON logs carry the request context; metric helpers move the Prometheus series they own."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from prometheus_client import REGISTRY

from okr import commands as cmd
from okr import observability as obs
from okr.application import OkrApplication, system_context
from okr.domain import RequestContext, request_context


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The JSON handler pointed at a buffer; the root logger's level and handlers are restored after."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = obs.configure_logging("DEBUG", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _sample(name: str, labels: dict[str, str]) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_log_line_is_json_with_the_request_contexts_ids(log_stream: io.StringIO) -> None:
    """A record logged inside request_context carries its org, actor, correlation and causation ids."""
    ctx = RequestContext(org_id="acme", actor="alice", correlation_id="corr-1", causation_id="cmd-1")
    with request_context(ctx):
        logging.getLogger("okr.test").info("checked in %s", "kr-1", extra={"position": 42})
    (line,) = _lines(log_stream)
    assert line["message"] == "checked in kr-1"
    assert line["level"] == "INFO"
    assert line["logger"] == "okr.test"
    assert line["org_id"] == "acme"
    assert line["actor"] == "alice"
    assert line["correlation_id"] == "corr-1"
    assert line["causation_id"] == "cmd-1"
    assert line["position"] == 42
    assert "time" in line


def test_uvicorns_coloured_message_copy_is_dropped(log_stream: io.StringIO) -> None:
    """uvicorn's `color_message` (ANSI escapes) never reaches the JSON line."""
    coloured = "\x1b[32mGET /graphql\x1b[0m 200"
    # The record as uvicorn's access logger makes it, handed to the root logger's handlers (an
    # in-process uvicorn started by an earlier test stops propagation at the "uvicorn" logger;
    # `okr serve` runs uvicorn with log_config=None, where its records reach the root).
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        "GET /graphql 200",
        (),
        None,
        extra={"color_message": coloured},
    )
    logging.getLogger().handle(record)
    raw = log_stream.getvalue()
    (line,) = _lines(log_stream)
    assert line["message"] == "GET /graphql 200"
    assert "color_message" not in line
    assert "\x1b" not in raw and "\\u001b" not in raw


def test_log_line_outside_a_request_has_null_ids(log_stream: io.StringIO) -> None:
    """Outside any request the context fields are present and null (never another request's ids)."""
    with request_context(system_context("acme", "bob")):
        pass
    logging.getLogger("okr.test").warning("background")
    (line,) = _lines(log_stream)
    assert line["correlation_id"] is None
    assert line["org_id"] is None
    assert line["level"] == "WARNING"


def test_explicit_correlation_id_wins_over_the_context(log_stream: io.StringIO) -> None:
    """A caller's extra correlation_id (e.g. the relay logging an event's own) is not overwritten."""
    with request_context(RequestContext(org_id="acme", actor="alice", correlation_id="ctx-corr")):
        logging.getLogger("okr.test").info("relayed", extra={"correlation_id": "event-corr"})
    (line,) = _lines(log_stream)
    assert line["correlation_id"] == "event-corr"
    assert line["org_id"] == "acme"


def test_exceptions_are_logged_inside_the_json_line(log_stream: io.StringIO) -> None:
    """A logged exception stays in one JSON line (the traceback is a field, not extra lines)."""
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("okr.test").exception("failed")
    (line,) = _lines(log_stream)
    assert "RuntimeError: boom" in str(line["exc_info"])


def test_configure_logging_twice_keeps_one_handler(log_stream: io.StringIO) -> None:
    """Calling configure_logging again replaces its own handler instead of doubling every line."""
    second = io.StringIO()
    handler = obs.configure_logging("INFO", stream=second)
    try:
        logging.getLogger("okr.test").info("once")
        assert len(_lines(second)) == 1
        assert _lines(log_stream) == []
        ours = [h for h in logging.getLogger().handlers if h.get_name() == handler.get_name()]
        assert ours == [handler]
    finally:
        logging.getLogger().removeHandler(handler)


def test_configure_logging_refuses_an_unknown_level() -> None:
    """A typo in OKR_LOG_LEVEL is a clear error, not a silently different level."""
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        obs.configure_logging("LOUD")


def test_observe_command_counts_by_command_and_outcome() -> None:
    """observe_command increments exactly the (command, outcome) series it names."""
    labels_ok = {"command": "check_in", "outcome": "ok"}
    labels_rejected = {"command": "check_in", "outcome": "rejected"}
    before_ok = _sample("okr_commands_total", labels_ok)
    before_rejected = _sample("okr_commands_total", labels_rejected)
    obs.observe_command("check_in", "ok")
    obs.observe_command("check_in", "ok")
    obs.observe_command("check_in", "rejected")
    assert _sample("okr_commands_total", labels_ok) == before_ok + 2
    assert _sample("okr_commands_total", labels_rejected) == before_rejected + 1


def test_observe_command_refuses_an_unknown_outcome() -> None:
    """An outcome outside OUTCOMES is refused, so the series stay a small fixed set."""
    with pytest.raises(ValueError, match="unknown command outcome"):
        obs.observe_command("check_in", "maybe")


def test_set_lag_sets_both_gauges_per_component() -> None:
    """set_lag sets positions and seconds for one component and leaves other components alone."""
    obs.set_lag("relay", 0, 0.0)
    obs.set_lag("progress", 17, 2.5)
    assert _sample("okr_lag_positions", {"component": "progress"}) == 17
    assert _sample("okr_lag_seconds", {"component": "progress"}) == 2.5
    assert _sample("okr_lag_positions", {"component": "relay"}) == 0
    obs.set_lag("progress", 0, 9.0)
    assert _sample("okr_lag_seconds", {"component": "progress"}) == 0.0
    with pytest.raises(ValueError, match="cannot be negative"):
        obs.set_lag("progress", -1, 0.0)


def test_observe_request_records_latency_by_operation() -> None:
    """observe_request adds one observation to the operation's histogram, in the right bucket."""
    labels = {"operation": "CheckIn", "type": "mutation"}
    count = _sample("okr_graphql_request_duration_seconds_count", labels)
    fast = _sample("okr_graphql_request_duration_seconds_bucket", {**labels, "le": "0.01"})
    obs.observe_request("CheckIn", "mutation", 0.004)
    obs.observe_request("CheckIn", "mutation", 0.3)
    assert _sample("okr_graphql_request_duration_seconds_count", labels) == count + 2
    assert _sample("okr_graphql_request_duration_seconds_bucket", {**labels, "le": "0.01"}) == fast + 1


def test_operation_labels_are_sanitised_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Client-chosen operation names cannot explode the series: sanitised, then capped as 'other'."""
    monkeypatch.setattr(obs, "_operations", set())
    assert obs.operation_label(None) == "anonymous"
    assert obs.operation_label('evil"} 1\nx') == "evil___1_x"
    for i in range(obs.MAX_OPERATIONS - 1):
        obs.operation_label(f"op{i}")
    assert obs.operation_label(f"new{uuid.uuid4().hex}") == "other"
    assert obs.operation_label("op3") == "op3"


def test_render_metrics_exports_the_series() -> None:
    """render_metrics gives the Prometheus text format with our metric families in it."""
    obs.observe_command("draft_objective", "ok")
    body, content_type = obs.render_metrics()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert 'okr_commands_total{command="draft_objective",outcome="ok"}' in text
    assert "# TYPE okr_graphql_request_duration_seconds histogram" in text
    assert "# TYPE okr_lag_positions gauge" in text


def test_refresh_lag_reports_positions_and_age_from_the_store(memory_app: OkrApplication) -> None:
    """refresh_lag: positions behind the head, seconds since the first unprocessed event; 0 at the head."""
    with request_context(system_context("acme", "alice")):
        first = memory_app.execute(
            cmd.ScheduleCycle(name="Q1", start=date(2026, 1, 1), end=date(2026, 3, 31))
        )
        memory_app.execute(cmd.StartCycle(cycle_id=first.id))
        memory_app.execute(cmd.ScheduleCycle(name="Q2", start=date(2026, 4, 1), end=date(2026, 6, 30)))
    head = memory_app.max_position()
    (second,) = memory_app.recorder.select_notifications(2, 1)
    written = memory_app.mapper.to_domain_event(second).timestamp
    obs.refresh_lag(memory_app, {"progress": 1, "relay": head}, now=written + timedelta(seconds=7))
    assert _sample("okr_lag_positions", {"component": "progress"}) == head - 1
    assert _sample("okr_lag_seconds", {"component": "progress"}) == pytest.approx(7.0)
    assert _sample("okr_lag_positions", {"component": "relay"}) == 0
    assert _sample("okr_lag_seconds", {"component": "relay"}) == 0.0
