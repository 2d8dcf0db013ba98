"""The comments view on both stores (SQLite file and real PostgreSQL), through the runners:
threads and counts, the approval state, and a deleted body gone from every read model — the
comments view, the audit view's payloads (also when Added and Deleted land in one batch), the
events page the feed replays from, and time travel to before the deletion."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime
from uuid import UUID

import pytest

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import request_context
from okr.settings import Settings
from okr.wiring import build_application
from projections.model import AuditFilter
from projections.runtime import RunnerHandle, start_runners

pytestmark = pytest.mark.integration

SECRET_WORDS = "the launch slips to May"


@pytest.fixture
def app(store_settings: Settings) -> OkrApplication:
    return build_application(store_settings)


@pytest.fixture
def runners(store_settings: Settings, app: OkrApplication) -> Iterator[RunnerHandle]:
    handle = start_runners(store_settings, app)
    yield handle
    handle.stop()


def _objective(app: OkrApplication, org: str) -> tuple[UUID, UUID]:
    with request_context(system_context(org, "alice")):
        cycle = app.execute(cmd.ScheduleCycle(name="Q", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
        app.execute(cmd.StartCycle(cycle_id=cycle))
        objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Grow")).id
        kr = app.execute(cmd.AddKeyResult(objective_id=objective, title="MQLs", kind="NUMERIC", target=9)).id
    return objective, kr


def _everything_said(app: OkrApplication, runners: RunnerHandle, org: str) -> str:
    """Every read model's text for the org: comments, audit payloads, the events page."""
    rm = runners.read_model
    audit = rm.audit_log(org, AuditFilter(aggregate_types=("Comment",)), first=100)
    events, _ = rm.events_after(org, 0, 1000)
    return repr(audit.items) + repr(events)


def test_threads_counts_approval_and_a_deleted_body_gone_everywhere(
    app: OkrApplication, runners: RunnerHandle, org: str
) -> None:
    """Roots oldest first with their replies; counts leave deleted ones out; the deleted body
    is in no read model (comments, audit payloads, events page, time travel before it)."""
    objective, kr = _objective(app, org)
    rm = runners.read_model
    with request_context(system_context(org, "alice")):
        root = app.execute(cmd.AddComment(subject_id=objective, body="Plan looks good @bob")).id
        secret = app.execute(cmd.AddComment(subject_id=objective, body=SECRET_WORDS, reply_to_id=root)).id
        later = app.execute(cmd.AddComment(subject_id=objective, body="second thread")).id
        app.execute(cmd.AddComment(subject_id=kr, body="on the key result"))
        app.execute(cmd.EditComment(comment_id=secret, body=SECRET_WORDS + ", sadly"))
        app.execute(cmd.ProposeObjective(objective_id=objective))
        pos = app.execute(cmd.ApproveObjective(objective_id=objective)).position
    rm.wait_for(pos, 10)
    roots = rm.comments(org, str(objective))
    assert [c.id for c in roots.items] == [root, later] and roots.total_count == 2
    assert roots.items[0].mentions == ["bob"]
    replies = rm.replies(org, root)
    assert [c.body for c in replies.items] == [SECRET_WORDS + ", sadly"]
    assert rm.comment_counts(org, [str(objective), str(kr), "nothing"]) == [3, 1, 0]
    (approval,) = rm.approvals(org, [objective])
    assert approval is not None and (approval.state, approval.approved_by) == ("APPROVED", "alice")
    before_delete = datetime.now().astimezone()
    time.sleep(0.01)
    assert SECRET_WORDS in _everything_said(app, runners, org)

    with request_context(system_context(org, "alice")):
        pos = app.execute(cmd.DeleteComment(comment_id=secret)).position
    rm.wait_for(pos, 10)
    gone = rm.comment(org, secret)
    assert gone is not None and gone.deleted and gone.body is None and gone.mentions == []
    assert [c.id for c in rm.replies(org, root).items] == [secret]  # keeps its place
    assert rm.comment_counts(org, [str(objective)]) == [2]
    assert SECRET_WORDS not in _everything_said(app, runners, org)
    history = rm.history(org, secret)
    assert [e.event_type for e in history] == ["Added", "Edited", "Deleted"]
    assert history[0].payload["body"] is None and history[0].payload["subject_id"] == str(objective)
    with rm.snapshot(org, as_of=before_delete) as past:
        then = past.comment(secret)
        assert then is not None and then.body is None and then.deleted
        assert past.comment_counts([str(objective)]) == [2]
        assert [c.body for c in past.comments(str(objective), 20, None).items] == [
            "Plan looks good @bob",
            "second thread",
        ]


def test_a_comment_added_and_deleted_in_one_batch_leaves_no_body_in_the_audit(
    store_settings: Settings, app: OkrApplication, org: str
) -> None:
    """The runner applies both events in one batch: the audit row appended for Added is
    redacted before it is written."""
    objective, _ = _objective(app, org)
    with request_context(system_context(org, "alice")):
        cid = app.execute(cmd.AddComment(subject_id=objective, body=SECRET_WORDS)).id
        pos = app.execute(cmd.DeleteComment(comment_id=cid)).position
    with start_runners(store_settings, app) as handle:  # starts after both: one catch-up batch
        handle.read_model.wait_for(pos, 10)
        audit = handle.read_model.audit_log(org, AuditFilter(aggregate_id=cid), first=10)
        assert [e.event_type for e in audit.items] == ["Added", "Deleted"]
        assert SECRET_WORDS not in repr(audit.items)
