"""Comment rules in the domain alone: bodies, mentions, threads one level deep, edit and delete."""

from __future__ import annotations

import uuid

import pytest

from okr.domain import RequestContext
from okr.domain.comment import (
    MAX_BODY,
    Comment,
    CommentDeletedError,
    SubjectType,
    check_body,
    check_in_subject_id,
    mentions_in,
    parse_check_in_subject,
)
from okr.domain.errors import ValidationError


def _comment(body: str = "hello", replying_to: Comment | None = None, subject: str = "s") -> Comment:
    return Comment.add(
        subject_type=SubjectType.OBJECTIVE.value,
        subject_id=subject,
        objective_id=uuid.uuid4(),
        key_result_id=None,
        body=body,
        replying_to=replying_to,
    )


def test_mentions_are_user_ids_after_an_at_sign_each_once_in_order() -> None:
    """`@ana` and `@raj.k` mention; an e-mail address, a trailing full stop and repeats do not."""
    body = "Thanks @ana, and @raj.k. Ping ana@example.com or @ana again; @leo-."
    assert mentions_in(body) == ["ana", "raj.k", "leo"]
    assert mentions_in("no mentions @ here") == []


@pytest.mark.parametrize(
    "body",
    ["", "   ", "\u200b\u200b", "bad\x00nul", "x" * (MAX_BODY + 1), "evil \u202e txt", 42, None],
)
def test_bodies_pass_the_domain_text_checks(body: object) -> None:
    """Empty, invisible, NUL, too long, bidi controls and non-strings are INVALID_INPUT."""
    with pytest.raises(ValidationError) as info:
        check_body(body)
    assert info.value.field == "body"


def test_a_body_is_trimmed_and_keeps_emoji() -> None:
    """Whitespace around a body goes; emoji and accents stay."""
    assert check_body("  Great work 👩\u200d💻, José!  ") == "Great work 👩\u200d💻, José!"


def test_a_reply_to_a_reply_joins_the_root_thread(ctx: RequestContext) -> None:
    """Threads are one level deep: the reply's thread is the root; it remembers what it answered."""
    root = _comment("root")
    reply = _comment("reply", replying_to=root)
    nested = _comment("reply to the reply", replying_to=reply)
    assert (reply.thread_id, reply.reply_to_id) == (root.id, root.id)
    assert (nested.thread_id, nested.reply_to_id) == (root.id, reply.id)
    assert root.thread_id is None


def test_a_reply_answers_a_comment_on_the_same_subject(ctx: RequestContext) -> None:
    """Replying across subjects is INVALID_INPUT on replyToId."""
    root = _comment("root", subject="a")
    with pytest.raises(ValidationError) as info:
        _comment("elsewhere", replying_to=root, subject="b")
    assert info.value.field == "replyToId"


def test_edit_reparses_mentions_and_delete_drops_the_body(ctx: RequestContext) -> None:
    """Edit changes body and mentions; an unchanged body is refused; deleted is final."""
    comment = _comment("hi @ana")
    assert comment.mentions == ["ana"] and comment.author == ctx.actor
    comment.edit("hi @raj")
    assert (comment.body, comment.mentions) == ("hi @raj", ["raj"])
    with pytest.raises(ValidationError):
        comment.edit("hi @raj")
    comment.delete()
    assert (comment.deleted, comment.body, comment.mentions) == (True, "", [])
    for change in (lambda: comment.edit("again"), comment.delete):
        with pytest.raises(CommentDeletedError) as info:
            change()
        assert info.value.code == "COMMENT_DELETED"
    assert [type(e).__name__ for e in comment.collect_events()] == ["Added", "Edited", "Deleted"]


def test_check_in_subject_ids_round_trip() -> None:
    """`checkin:<position>` names a check-in; anything else is not one."""
    assert parse_check_in_subject(check_in_subject_id(42)) == 42
    for other in ("42", "checkin:", "checkin:-1", "checkin:4x", "checkin:" + "9" * 30):
        assert parse_check_in_subject(other) is None
