"""`okr demo`'s discussion: a thread on the MQLs key result (a comment with a mention, a reply,
a reply to the reply that joins the thread's root, an edited one and a deleted one), a comment
on its latest check-in, and an objective of the support team proposed for review, discussed and
approved (still DRAFT: activation is its own step)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from eventsourcing.utils import get_topic

from okr import commands as c
from okr.domain.comment import check_in_subject_id
from okr.domain.objective import Objective

if TYPE_CHECKING:
    from api.demo import Loader


def _latest_check_in(d: Loader) -> int | None:
    """The log position of the org's latest check-in (the demo's newest events are at the end)."""
    topic = get_topic(Objective.KeyResultCheckedIn)
    head = d.app.max_position()
    page = d.app.recorder.select_notifications(max(1, head - 500), 500, topics=[topic])
    return page[-1].id if page else None


def demo_discussion(d: Loader, *, mqls: str, support_team: str, cycle: str) -> dict[str, str]:
    """Writes the discussion a few hours before the demo's "now"; returns the thread's root
    comment (`discussion`) and the approved draft (`approvedObjective`)."""
    at = d.now - timedelta(hours=6)
    with d.at(at):
        root = d.do(
            "leo",
            "member",
            c.AddComment(subject_id=mqls, body="MQLs run ahead of plan. Raise the target to 450, @gia?"),
        )
    with d.at(at + timedelta(minutes=20)):
        reply = d.do(
            "gia",
            "lead",
            c.AddComment(
                subject_id=mqls, body="Let's wait for two more check-ins first, @leo.", reply_to_id=root
            ),
        )
    with d.at(at + timedelta(minutes=35)):
        agreed = d.do(
            "mia",
            "member",
            c.AddComment(subject_id=mqls, body="Agreed, the webinar spike fades.", reply_to_id=reply),
        )
        d.do(
            "mia",
            "member",
            c.EditComment(comment_id=agreed, body="Agreed: the webinar spike fades by week 10, @leo."),
        )
    with d.at(at + timedelta(minutes=50)):
        stray = d.do("leo", "member", c.AddComment(subject_id=mqls, body="(wrong thread, sorry)"))
        d.do("leo", "member", c.DeleteComment(comment_id=stray))
        position = _latest_check_in(d)
        if position is not None:
            d.do(
                "gia",
                "lead",
                c.AddComment(subject_id=check_in_subject_id(position), body="Nice jump this week."),
            )

    with d.at(at + timedelta(hours=1)):
        kb = d.do(
            "sam",
            "lead",
            c.DraftObjective(
                cycle_id=cycle,
                team_id=support_team,
                title="Publish a self-help knowledge base",
                description="Deflect the ten most asked questions before they become tickets.",
            ),
        )
        d.do(
            "sam",
            "lead",
            c.AddKeyResult(objective_id=kb, title="Articles published", kind="NUMERIC", start=0, target=10),
        )
        d.do(
            "sam",
            "lead",
            c.AddKeyResult(
                objective_id=kb, title="Tickets deflected", kind="PERCENTAGE", start=0, target=15, unit="%"
            ),
        )
        d.do("sam", "lead", c.ProposeObjective(objective_id=kb))
        d.do(
            "ana",
            "member",
            c.AddComment(
                subject_id=kb, body="Can we start with the billing questions, @sam? They are half of it."
            ),
        )
        d.do("admin", "admin", c.ApproveObjective(objective_id=kb))
    return {"discussion": root, "approvedObjective": kb}
