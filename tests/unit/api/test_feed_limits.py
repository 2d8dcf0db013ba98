"""Subscription caps and the audit-view replay's event shape (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from api.feed import FeedEvent, SubscriptionLimits, TooManySubscriptionsError, from_audit
from projections.model import AuditEntry


def test_per_key_cap_refuses_the_extra_slot_and_spares_other_keys() -> None:
    """The (cap+1)-th slot of one key is refused without taking anything; another key is admitted."""
    limits = SubscriptionLimits()
    with limits.admit("a", 2, 10), limits.admit("a", 2, 10):
        with pytest.raises(TooManySubscriptionsError, match="this token"), limits.admit("a", 2, 10):
            pass
        assert limits.count("a") == 2
        with limits.admit("b", 2, 10):
            assert limits.total == 3
    assert limits.total == 0 and limits.count("a") == 0


def test_process_cap_counts_every_key_and_frees_on_exit_even_after_errors() -> None:
    """The total counts all keys; a slot is given back when its block ends, also by an error."""
    limits = SubscriptionLimits()
    with (
        limits.admit("a", 5, 2),
        limits.admit("b", 5, 2),
        pytest.raises(TooManySubscriptionsError, match="the server"),
        limits.admit("c", 5, 2),
    ):
        pass
    with pytest.raises(RuntimeError), limits.admit("a", 5, 2):
        raise RuntimeError
    assert limits.total == 0
    with limits.admit("c", 5, 1):
        assert limits.count("c") == 1


def test_an_audit_row_becomes_the_feed_event_decode_gives() -> None:
    """Same fields as the log's decode: the org, the bare event name, the payload without the
    creation event's originator_topic (subscriptions never showed it)."""
    entry = AuditEntry(
        position=7,
        at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        aggregate_type="Cycle",
        aggregate_id=uuid.UUID(int=5),
        version=1,
        event_type="Scheduled",
        actor="alice",
        correlation_id="c",
        causation_id="k",
        payload={"originator_topic": "okr.domain.cycle:Cycle", "name": "2026-Q1"},
    )
    event = from_audit("acme", entry)
    assert event == FeedEvent(
        position=7,
        org_id="acme",
        aggregate_type="Cycle",
        aggregate_id=uuid.UUID(int=5),
        version=1,
        event_type="Scheduled",
        at=entry.at,
        actor="alice",
        correlation_id="c",
        causation_id="k",
        payload={"name": "2026-Q1"},
    )
    assert event.qualified_type == "Cycle.Scheduled"
