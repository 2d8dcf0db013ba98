"""GraphQL types of check-in reminders: the schedule's enums and `DueCheckIn`, one entry of the
`dueCheckIns` to-do list (projections.model.DueCheckInView)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api import _doc as doc
from api.context import Context, parse_uuid
from api.types import KeyResult
from okr.domain.reminder import ReminderFrequency as ReminderFrequency
from okr.domain.reminder import Weekday as Weekday
from projections import model as m

Info = strawberry.Info[Context, None]

strawberry.enum(Weekday, name="Weekday")
strawberry.enum(
    ReminderFrequency,
    name="ReminderFrequency",
    description="WEEKLY; TWICE_MONTHLY: the first and third weekday of the month; MONTHLY: the first.",
)


@strawberry.type(description="A key result due for a check-in now (the caller's to-do list).")
class DueCheckIn:
    key_result_id: strawberry.ID
    objective_id: strawberry.ID
    key_result_title: str
    objective_title: str
    owner: str = strawberry.field(description="The objective's owner.")
    team_id: strawberry.ID | None
    cadence_days: int
    last_check_in_at: datetime | None = strawberry.field(description="null: never checked in.")
    due_since: datetime = strawberry.field(description="The last check-in (or activation) plus the cadence.")
    period: datetime = strawberry.field(description="The reminder slot (org weekday and hour) it is due in.")
    overdue_at: datetime = strawberry.field(description="The period plus the org's grace days.")
    overdue: bool

    @doc.field("The key result itself, with its figures now.")
    async def key_result(self, info: Info) -> KeyResult | None:
        view = await info.context.reader(None).key_result(parse_uuid(str(self.key_result_id), "id"))
        return None if view is None else KeyResult.from_view(view, None)

    @classmethod
    def from_view(cls, v: m.DueCheckInView) -> DueCheckIn:
        return cls(
            key_result_id=strawberry.ID(str(v.key_result_id)),
            objective_id=strawberry.ID(str(v.objective_id)),
            key_result_title=v.key_result_title,
            objective_title=v.objective_title,
            owner=v.owner,
            team_id=None if v.team_id is None else strawberry.ID(str(v.team_id)),
            cadence_days=v.cadence_days,
            last_check_in_at=v.last_check_in_at,
            due_since=v.due_since,
            period=v.period,
            overdue_at=v.overdue_at,
            overdue=v.overdue,
        )
