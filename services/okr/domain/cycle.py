"""Cycle: a time box such as 2026-Q1. PLANNED -> ACTIVE -> CLOSED."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from eventsourcing.domain import event

from okr.domain import formulas as f
from okr.domain.base import OkrAggregate, check_title
from okr.domain.errors import CycleClosedError, InvalidCycleDatesError, InvalidTransitionError


class CycleState(StrEnum):
    PLANNED = "PLANNED"
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"


EARLIEST_YEAR = 1900
LATEST_YEAR = 2999


class Cycle(OkrAggregate):
    @classmethod
    def schedule(cls, name: str, start: date, end: date) -> Cycle:
        name = check_title(name, "name")
        if not isinstance(start, date) or not isinstance(end, date):
            raise InvalidCycleDatesError("start and end must be dates", field="start")
        if not start < end:
            raise InvalidCycleDatesError("a cycle must start before it ends", field="end")
        if start.year < EARLIEST_YEAR or end.year > LATEST_YEAR:
            # read models compute instants up to the day after the end: date.max would overflow
            raise InvalidCycleDatesError(
                f"cycle dates must lie in the years {EARLIEST_YEAR}-{LATEST_YEAR}",
                field="start" if start.year < EARLIEST_YEAR else "end",
            )
        return cls(name=name, start=start.isoformat(), end=end.isoformat())

    class Scheduled(OkrAggregate.Created):
        """A cycle was planned (dates as ISO strings, end inclusive)."""

        name: str
        start: str
        end: str

    @event(Scheduled)
    def __init__(self, name: str, start: str, end: str) -> None:
        self.name = name
        self.start = start
        self.end = end
        self.state = CycleState.PLANNED.value

    @property
    def start_date(self) -> date:
        return date.fromisoformat(self.start)

    @property
    def end_date(self) -> date:
        return date.fromisoformat(self.end)

    @property
    def starts_at(self) -> datetime:
        return f.cycle_window(self.start_date, self.end_date)[0]

    @property
    def ends_at(self) -> datetime:
        """Exclusive end: the cycle covers its end date entirely."""
        return f.cycle_window(self.start_date, self.end_date)[1]

    @property
    def is_closed(self) -> bool:
        return self.state == CycleState.CLOSED.value

    def check_open(self) -> None:
        if self.is_closed:
            raise CycleClosedError(f"cycle {self.name} is closed", field="cycleId")

    def start_cycle(self) -> None:
        if self.state != CycleState.PLANNED.value:
            raise InvalidTransitionError(f"cycle is {self.state}, only PLANNED cycles start")
        self._started()

    class Started(OkrAggregate.Event):
        """PLANNED -> ACTIVE."""

    @event(Started)
    def _started(self) -> None:
        self.state = CycleState.ACTIVE.value

    def close(self) -> None:
        self.check_open()
        self._closed()

    class Closed(OkrAggregate.Event):
        """-> CLOSED."""

    @event(Closed)
    def _closed(self) -> None:
        self.state = CycleState.CLOSED.value
