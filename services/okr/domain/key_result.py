"""Key results as the Objective aggregate holds them: the entity, its validated input (also what
carry-over copies) and its snapshot transcoding. Their events and rules live on Objective (one
consistency boundary); what a key result's figures are is okr.domain.formulas."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Transcoding

from okr.domain import formulas as f
from okr.domain.base import MAX_UNIT, check_choice, check_number, check_text, check_title, check_weight
from okr.domain.errors import InvalidValueError, ValidationError


class ProgressSource(StrEnum):
    CHECK_INS = "CHECK_INS"
    TASKS = "TASKS"


DEFAULT_CADENCE_DAYS = 7
MAX_CADENCE_DAYS = 366
MAX_NOTE = 5_000
MAX_LEARNINGS = 20_000


@dataclass
class KeyResult:
    """An entity inside the objective. `tasks` maps linked task ids to [impact weight, done]."""

    id: UUID
    title: str
    kind: str
    direction: str
    unit: str
    start: float
    target: float
    current: float
    weight: float
    source: str
    cadence_days: int
    added_at: datetime
    confidence: float | None = None
    last_check_in_at: datetime | None = None
    check_in_count: int = 0
    score: float | None = None
    score_reason: str | None = None
    tasks: dict[str, list[Any]] = field(default_factory=dict)

    def copy_state(self) -> KeyResult:
        clone = object.__new__(KeyResult)
        clone.__dict__.update(self.__dict__)
        clone.tasks = {k: list(v) for k, v in self.tasks.items()}
        return clone

    @property
    def kind_enum(self) -> f.KeyResultKind:
        return f.KeyResultKind(self.kind)

    @property
    def direction_enum(self) -> f.Direction:
        return f.Direction(self.direction)

    @property
    def task_weights(self) -> tuple[float, float]:
        done = sum(float(w) for w, is_done in self.tasks.values() if is_done)
        total = sum(float(w) for w, _ in self.tasks.values())
        return done, total

    @property
    def figures(self) -> tuple[float, float]:
        """(progress, attainment): `formulas.key_result_figures`."""
        return f.key_result_figures(
            self.kind_enum,
            self.start,
            self.target,
            self.current,
            self.direction_enum,
            check_in_count=self.check_in_count,
            task_weights=self.task_weights if self.source == ProgressSource.TASKS.value else None,
        )

    @property
    def progress(self) -> float:
        return self.figures[0]

    @property
    def attainment(self) -> float:
        return self.figures[1]

    @property
    def default_score(self) -> float:
        return f.default_score(self.progress)


class KeyResultAsDict(Transcoding):
    """Snapshots store key results as plain JSON objects."""

    type = KeyResult
    name = "okr_key_result"

    def encode(self, obj: KeyResult) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> KeyResult:
        return KeyResult(**data)


@dataclass(frozen=True)
class KeyResultSpec:
    """Validated key-result input (also what carry-over copies)."""

    title: str
    kind: str
    direction: str
    unit: str
    start: float
    target: float
    weight: float
    source: str
    cadence_days: int

    @classmethod
    def build(
        cls,
        *,
        title: object,
        kind: object,
        start: object = 0.0,
        target: object = 1.0,
        unit: object = "",
        weight: object = 1.0,
        source: object = ProgressSource.CHECK_INS.value,
        cadence_days: object = DEFAULT_CADENCE_DAYS,
        direction: object = None,
    ) -> KeyResultSpec:
        title_s = check_title(title)
        kind_s = check_choice(kind, f.KeyResultKind, "kind")
        unit_s = check_text(unit, "unit", MAX_UNIT)
        start_f = check_number(start, "start")
        target_f = check_number(target, "target")
        weight_f = check_weight(weight)
        source_s = check_choice(source, ProgressSource, "source")
        if isinstance(cadence_days, bool) or not isinstance(cadence_days, int):
            raise ValidationError("cadenceDays must be an integer", field="cadenceDays")
        if not 1 <= cadence_days <= MAX_CADENCE_DAYS:
            raise ValidationError(f"cadenceDays must be 1-{MAX_CADENCE_DAYS}", field="cadenceDays")
        kind_e = f.KeyResultKind(kind_s)
        if kind_e in f.NUMERIC_KINDS:
            if start_f == target_f:
                raise InvalidValueError(
                    "start and target must differ for a numeric key result", field="target"
                )
            derived = f.Direction.INCREASE if target_f > start_f else f.Direction.DECREASE
            if direction is not None and check_choice(direction, f.Direction, "direction") != derived.value:
                raise InvalidValueError(
                    f"direction {getattr(direction, 'value', direction)} contradicts start {start_f}"
                    f" and target {target_f}",
                    field="direction",
                )
            direction_s = derived.value
        elif kind_e is f.KeyResultKind.THRESHOLD:
            direction_s = (
                f.Direction.STAY_ABOVE.value
                if direction is None
                else check_choice(direction, f.Direction, "direction")
            )
            if direction_s not in (f.Direction.STAY_ABOVE.value, f.Direction.STAY_BELOW.value):
                raise InvalidValueError(
                    "a threshold key result stays above or below its target", field="direction"
                )
        else:  # BOOLEAN milestone
            start_f, target_f = 0.0, 1.0
            direction_s = f.Direction.INCREASE.value
        if kind_e is f.KeyResultKind.PERCENTAGE and not unit_s:
            unit_s = "%"
        return cls(
            title=title_s,
            kind=kind_s,
            direction=direction_s,
            unit=unit_s,
            start=start_f,
            target=target_f,
            weight=weight_f,
            source=source_s,
            cadence_days=cadence_days,
        )
