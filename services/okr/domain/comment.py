"""Comments: the discussion on an objective, a key result or a check-in (one aggregate each).

A comment belongs to one subject and, when it answers another comment, to that comment's
thread. Threads are one level deep: a reply to a reply joins the thread of the comment it
answers (its root), and remembers which comment it answered (`reply_to_id`). Bodies pass the
domain's text checks (no NUL or lone surrogates, no bidirectional controls, something visible,
at most MAX_BODY characters); `@user-id` mentions are parsed from the body and stored with it.
Deleting keeps the comment (its place in the thread) and drops its body from every read model.
"""

from __future__ import annotations

import re
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from okr.domain.base import OkrAggregate, check_display_text, check_text
from okr.domain.errors import NotFoundError, RuleViolation, ValidationError

MAX_BODY = 5_000
MAX_MENTIONS = 50
#: `@` + a user id (letters, digits, `_ . -`; at most 64), not preceded by a word character or
#: `@` (so `ana@example.com` mentions nobody). A trailing dot ends the sentence, not the id.
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_.-]{0,63})")
#: How a check-in is named as a subject: `checkin:<log position of its event>`.
CHECK_IN_PREFIX = "checkin:"


class SubjectType(StrEnum):
    OBJECTIVE = "OBJECTIVE"
    KEY_RESULT = "KEY_RESULT"
    CHECK_IN = "CHECK_IN"


class CommentNotFoundError(NotFoundError):
    code = "COMMENT_NOT_FOUND"


class SubjectNotFoundError(NotFoundError):
    """No objective, key result or check-in of the caller's org has that id."""

    code = "SUBJECT_NOT_FOUND"


class CommentDeletedError(RuleViolation):
    """A deleted comment is neither edited nor deleted again."""

    code = "COMMENT_DELETED"


def check_in_subject_id(position: int) -> str:
    return f"{CHECK_IN_PREFIX}{position}"


def parse_check_in_subject(value: str) -> int | None:
    """The log position a check-in subject id names (None: not a check-in id)."""
    if not value.startswith(CHECK_IN_PREFIX):
        return None
    number = value[len(CHECK_IN_PREFIX) :]
    if not number.isdigit() or len(number) > 18:
        return None
    return int(number)


def mentions_in(body: str) -> list[str]:
    """The user ids mentioned in `body`, each once, in order of appearance."""
    found: list[str] = []
    for match in MENTION.finditer(body):
        user = match.group(1).rstrip(".-")
        if user and user not in found:
            found.append(user)
    return found[:MAX_MENTIONS]


def check_body(value: object) -> str:
    """A comment body: a string of 1-MAX_BODY characters after trimming, storable, with visible
    characters and no bidirectional controls."""
    body = check_text(value, "body", MAX_BODY).strip()
    if not body:
        raise ValidationError("body must not be empty", field="body")
    return check_display_text(body, "body")


class Comment(OkrAggregate):
    """One comment on a subject; `thread_id` is its thread's root (None: it is a root)."""

    created_by: str  # set by OkrAggregate.Created.apply: the author

    @classmethod
    def add(
        cls,
        *,
        subject_type: str,
        subject_id: str,
        objective_id: UUID,
        key_result_id: UUID | None,
        body: object,
        replying_to: Comment | None = None,
    ) -> Comment:
        text = check_body(body)
        thread_id: UUID | None = None
        if replying_to is not None:
            if replying_to.subject_id != subject_id:
                raise ValidationError("a reply answers a comment on the same subject", field="replyToId")
            thread_id = replying_to.thread_id or replying_to.id
        return cls(
            subject_type=SubjectType(subject_type).value,
            subject_id=subject_id,
            objective_id=objective_id,
            key_result_id=key_result_id,
            thread_id=thread_id,
            reply_to_id=None if replying_to is None else replying_to.id,
            body=text,
            mentions=mentions_in(text),
        )

    class Added(OkrAggregate.Created):
        """`subject_id`: the objective's or key result's id, or `checkin:<position>`;
        `thread_id`: the thread's root comment (None: this one starts a thread);
        `reply_to_id`: the comment it answers (None: a root)."""

        subject_type: str
        subject_id: str
        objective_id: UUID
        key_result_id: UUID | None
        thread_id: UUID | None
        reply_to_id: UUID | None
        body: str
        mentions: list[str]

    @event(Added)
    def __init__(
        self,
        subject_type: str,
        subject_id: str,
        objective_id: UUID,
        key_result_id: UUID | None,
        thread_id: UUID | None,
        reply_to_id: UUID | None,
        body: str,
        mentions: list[str],
    ) -> None:
        self.subject_type = subject_type
        self.subject_id = subject_id
        self.objective_id = objective_id
        self.key_result_id = key_result_id
        self.thread_id = thread_id
        self.reply_to_id = reply_to_id
        self.body = body
        self.mentions = mentions
        self.deleted = False

    @property
    def author(self) -> str:
        """Who wrote it (the actor of its Added event)."""
        return self.created_by

    # ---------------------------------------------------------------- guards
    def check_not_deleted(self) -> None:
        if self.deleted:
            raise CommentDeletedError("the comment was deleted", field="commentId")

    # ---------------------------------------------------------------- changes
    def edit(self, body: object) -> None:
        self.check_not_deleted()
        text = check_body(body)
        if text == self.body:
            raise ValidationError("nothing to change", field="body")
        self._edited(body=text, mentions=mentions_in(text))

    class Edited(OkrAggregate.Event):
        body: str
        mentions: list[str]

    @event(Edited)
    def _edited(self, body: str, mentions: list[str]) -> None:
        self.body = body
        self.mentions = mentions

    def delete(self) -> None:
        self.check_not_deleted()
        self._deleted()

    class Deleted(OkrAggregate.Event):
        """The comment keeps its place in its thread; its body leaves every read model."""

    @event(Deleted)
    def _deleted(self) -> None:
        self.deleted = True
        self.body = ""
        self.mentions = []
