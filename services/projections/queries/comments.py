"""Comments on a subject (threads' roots, oldest first), a thread's replies, counts per subject,
and the approval state of proposed objectives (the comments view)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson

from projections.model import ApprovalView, CommentView, Page
from projections.queries.base import QueryBase, _as_dict, _chunks, _cols, _fields, _mapped, _marks
from projections.views import COMMENTS, OBJECTIVE_APPROVALS

CURSOR = ("cm", "position")


def comment_view(d: dict[str, Any]) -> CommentView:
    return CommentView(
        **_fields(
            d,
            same=("position", "subject_type", "subject_id", "author", "body", "deleted_by", "version"),
            ids=("id", "objective_id", "key_result_id", "thread_id", "reply_to_id"),
            times=("created_at", "edited_at", "deleted_at"),
        ),
        mentions=list(orjson.loads(d["mentions"] or "[]")),
    )


def approval_view(d: dict[str, Any]) -> ApprovalView:
    return ApprovalView(
        **_fields(
            d,
            same=("state", "proposed_by", "approved_by"),
            ids=("objective_id",),
            times=("proposed_at", "approved_at"),
        )
    )


class CommentQueries(QueryBase):
    def comments(self, subject_id: str, first: int, after: str | None) -> Page[CommentView]:
        page = self._keyset_page(
            COMMENTS, " AND subject_id = ? AND thread_id IS NULL", [subject_id], first, after, CURSOR
        )
        return _mapped(page, comment_view)

    def replies(self, thread_id: UUID, first: int, after: str | None) -> Page[CommentView]:
        page = self._keyset_page(COMMENTS, " AND thread_id = ?", [str(thread_id)], first, after, CURSOR)
        return _mapped(page, comment_view)

    def comment(self, comment_id: UUID) -> CommentView | None:
        row = self.tx.fetchone(
            f"SELECT {_cols(COMMENTS)} FROM {COMMENTS.physical()} WHERE org = ? AND id = ?",
            [self.org, str(comment_id)],
        )
        return None if row is None else comment_view(_as_dict(COMMENTS, row))

    def comment_counts(self, subject_ids: list[str]) -> list[int]:
        counts: dict[str, int] = {}
        for chunk in _chunks(list(dict.fromkeys(subject_ids))):
            for subject, n in self.tx.fetchall(
                f"SELECT subject_id, COUNT(*) FROM {COMMENTS.physical()} WHERE org = ?"
                f" AND subject_id IN ({_marks(len(chunk))}) AND deleted_at IS NULL GROUP BY subject_id",
                [self.org, *chunk],
            ):
                counts[str(subject)] = int(n)
        return [counts.get(s, 0) for s in subject_ids]

    def approvals(self, objective_ids: list[UUID]) -> list[ApprovalView | None]:
        found: dict[str, ApprovalView] = {}
        keys = [str(i) for i in objective_ids]
        for chunk in _chunks(list(dict.fromkeys(keys))):
            for row in self.tx.fetchall(
                f"SELECT {_cols(OBJECTIVE_APPROVALS)} FROM {OBJECTIVE_APPROVALS.physical()}"
                f" WHERE org = ? AND objective_id IN ({_marks(len(chunk))})",
                [self.org, *chunk],
            ):
                d = _as_dict(OBJECTIVE_APPROVALS, row)
                found[str(d["objective_id"])] = approval_view(d)
        return [found.get(k) for k in keys]

    def deleted_comments(self) -> list[tuple[str, int, str | None]]:
        """(id, deleted at, deleted by) of every deleted comment of the org."""
        return [
            (str(i), int(at), None if by is None else str(by))
            for i, at, by in self.tx.fetchall(
                f"SELECT id, deleted_at, deleted_by FROM {COMMENTS.physical()}"
                " WHERE org = ? AND deleted_at IS NOT NULL",
                [self.org],
            )
        ]

    def redact_deleted(self, deleted: list[tuple[str, int, str | None]]) -> None:
        """Time travel: comments deleted since (`deleted_comments` of the live view) lose their
        body and mentions in this copy too and show as deleted — a deletion reaches back."""
        self.tx.executemany(
            f"UPDATE {COMMENTS.physical()} SET body = NULL, mentions = '[]', deleted_at = ?,"
            " deleted_by = ? WHERE org = ? AND id = ?",
            [(at, by, self.org, comment_id) for comment_id, at, by in deleted],
        )
