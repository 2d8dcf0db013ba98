"""Comments: added on an objective, a key result or a check-in, edited and deleted by their
author (or an admin). Any member of the org may discuss any of its objectives; viewers read."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.utils import get_topic

from okr.commands import AddComment, DeleteComment, EditComment
from okr.domain.comment import (
    Comment,
    CommentNotFoundError,
    SubjectNotFoundError,
    SubjectType,
    check_in_subject_id,
    parse_check_in_subject,
)
from okr.domain.context import current_context
from okr.domain.errors import NotFoundError, ObjectiveNotFoundError, PermissionDeniedError
from okr.domain.objective import Objective
from okr.handlers import Outcome, handles
from okr.lookups import parse_id

if TYPE_CHECKING:
    from okr.application import OkrApplication

CHECK_IN_TOPIC = get_topic(Objective.KeyResultCheckedIn)


def _not_found(value: object) -> SubjectNotFoundError:
    return SubjectNotFoundError(
        f"subjectId {str(value)[:80]!r} is no objective, key result or check-in", field="subjectId"
    )


def resolve_subject(app: OkrApplication, subject_id: UUID | str) -> tuple[str, str, UUID, UUID | None]:
    """(subject type, subject id as stored, objective id, key result id) of a subject of the
    caller's org; SUBJECT_NOT_FOUND otherwise (also for another org's ids)."""
    text = str(subject_id).strip()
    position = parse_check_in_subject(text)
    if position is not None:
        return _check_in_subject(app, position, text)
    uid = parse_id(text, SubjectNotFoundError, "subjectId")
    try:
        objective = app.load(Objective, uid, ObjectiveNotFoundError, "objective")
        return SubjectType.OBJECTIVE.value, str(uid), objective.id, None
    except NotFoundError:
        pass
    try:
        objective = app.objective_of_key_result(uid, "subjectId")
    except NotFoundError:
        raise _not_found(text) from None
    return SubjectType.KEY_RESULT.value, str(uid), objective.id, uid


def _check_in_subject(app: OkrApplication, position: int, text: str) -> tuple[str, str, UUID, UUID | None]:
    """A check-in is the KeyResultCheckedIn event at that log position (of the caller's org)."""
    if position < 1:
        raise _not_found(text)
    found = app.recorder.select_notifications(position, 1, topics=[CHECK_IN_TOPIC])
    if not found or found[0].id != position:
        raise _not_found(text)
    checked_in = app.mapper.to_domain_event(found[0])
    if (
        not isinstance(checked_in, Objective.KeyResultCheckedIn)
        or checked_in.org_id != current_context().org_id
    ):
        raise _not_found(text)
    return (
        SubjectType.CHECK_IN.value,
        check_in_subject_id(position),
        checked_in.originator_id,
        checked_in.key_result_id,
    )


def get_comment(app: OkrApplication, comment_id: UUID | str, field_name: str = "commentId") -> Comment:
    cid = parse_id(comment_id, CommentNotFoundError, field_name)
    try:
        return app.load(Comment, cid, CommentNotFoundError, "comment")
    except NotFoundError:
        raise CommentNotFoundError(f"comment {cid} not found", field=field_name) from None


def authorize_comment(comment: Comment) -> None:
    """Its author, or an admin."""
    ctx = current_context()
    if "admin" not in ctx.roles and ctx.actor != comment.author:
        raise PermissionDeniedError("only the comment's author or an admin may change it")


@handles(AddComment)
def add_comment(app: OkrApplication, c: AddComment) -> Outcome:
    subject_type, subject_id, objective_id, key_result_id = resolve_subject(app, c.subject_id)
    parent = None if c.reply_to_id is None else get_comment(app, c.reply_to_id, "replyToId")
    comment = Comment.add(
        subject_type=subject_type,
        subject_id=subject_id,
        objective_id=objective_id,
        key_result_id=key_result_id,
        body=c.body,
        replying_to=parent,
    )
    return Outcome([comment], comment.id, extra={"subjectId": subject_id})


@handles(EditComment)
def edit_comment(app: OkrApplication, c: EditComment) -> Outcome:
    comment = get_comment(app, c.comment_id)
    authorize_comment(comment)
    comment.edit(c.body)
    return Outcome([comment], comment.id, extra={"subjectId": comment.subject_id})


@handles(DeleteComment)
def delete_comment(app: OkrApplication, c: DeleteComment) -> Outcome:
    comment = get_comment(app, c.comment_id)
    authorize_comment(comment)
    comment.delete()
    return Outcome([comment], comment.id, extra={"subjectId": comment.subject_id})
