"""Objective with its key results (one consistency boundary: counts, weights, scoring).

Public methods check every rule and compute what must not be replayed; the private
`@event` methods only mutate, so replay never re-checks or re-computes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import event

from okr.domain import formulas as f
from okr.domain import policies
from okr.domain.approval import ApprovalRequiredError
from okr.domain.base import (
    MAX_TEXT,
    OkrAggregate,
    check_choice,
    check_fraction,
    check_number,
    check_text,
    check_title,
    check_weight,
    plural,
)
from okr.domain.errors import (
    InvalidValueError,
    KeyResultNotFoundError,
    ObjectiveFinishedError,
    ObjectiveNotActiveError,
    ObjectiveNotDraftError,
    PolicyViolation,
    RuleViolation,
    ScoreReasonRequiredError,
    ValidationError,
)
from okr.domain.key_result import (
    MAX_LEARNINGS,
    MAX_NOTE,
    KeyResult,
    KeyResultSpec,
)
from okr.domain.organization import MAX_KEY_RESULTS, MIN_KEY_RESULTS


class ObjectiveState(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"
    ABANDONED = "ABANDONED"


class ProgressDriver(StrEnum):
    KEY_RESULTS = "KEY_RESULTS"
    ALIGNED_OBJECTIVES = "ALIGNED_OBJECTIVES"
    BOTH = "BOTH"


class ApprovalState(StrEnum):
    """Where a DRAFT objective is in the draft -> discuss -> finalise flow."""

    NOT_PROPOSED = "NOT_PROPOSED"
    PROPOSED = "PROPOSED"
    APPROVED = "APPROVED"


class Objective(OkrAggregate):
    """An objective per cycle, measured by its key results."""

    # ---------------------------------------------------------------- creation
    @classmethod
    def draft(
        cls,
        *,
        cycle_id: UUID,
        team_id: UUID | None,
        owner: str,
        title: str,
        description: str = "",
        driver: str = ProgressDriver.KEY_RESULTS.value,
        weight: float = 1.0,
        carried_over_from: UUID | None = None,
    ) -> Objective:
        return cls(
            cycle_id=cycle_id,
            team_id=team_id,
            owner=check_title(owner, "owner"),
            title=check_title(title),
            description=check_text(description, "description", MAX_TEXT),
            driver=check_choice(driver, ProgressDriver, "driver"),
            weight=check_weight(weight),
            carried_over_from=carried_over_from,
        )

    class Drafted(OkrAggregate.Created):
        cycle_id: UUID
        team_id: UUID | None
        owner: str
        title: str
        description: str
        driver: str
        weight: float
        carried_over_from: UUID | None

    @event(Drafted)
    def __init__(
        self,
        cycle_id: UUID,
        team_id: UUID | None,
        owner: str,
        title: str,
        description: str,
        driver: str,
        weight: float,
        carried_over_from: UUID | None,
    ) -> None:
        self.cycle_id = cycle_id
        self.team_id = team_id
        self.owner = owner
        self.title = title
        self.description = description
        self.driver = driver
        self.weight = weight
        self.carried_over_from = carried_over_from
        self.carried_over_to: UUID | None = None
        self.parent_objective_id: UUID | None = None
        self.parent_key_result_id: UUID | None = None
        self.state = ObjectiveState.DRAFT.value
        self.key_results: dict[str, KeyResult] = {}
        self.activated_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.learnings = ""
        self.closing_score: float | None = None
        self.score_overridden = False
        self.abandon_reason = ""

    # ---------------------------------------------------------------- guards
    @property
    def is_finished(self) -> bool:
        return self.state in (ObjectiveState.CLOSED.value, ObjectiveState.ABANDONED.value)

    def check_open(self) -> None:
        if self.is_finished:
            raise ObjectiveFinishedError(f"objective is {self.state} and accepts no changes")

    def check_active(self) -> None:
        if self.state != ObjectiveState.ACTIVE.value:
            raise ObjectiveNotActiveError(f"objective is {self.state}, not ACTIVE")

    def key_result(self, key_result_id: UUID, field_name: str = "keyResultId") -> KeyResult:
        try:
            return self.key_results[str(key_result_id)]
        except KeyError:
            raise KeyResultNotFoundError(f"key result {key_result_id} not found", field=field_name) from None

    # ---------------------------------------------------------------- derived figures
    @property
    def total_weight(self) -> float:
        return sum(kr.weight for kr in self.key_results.values())

    def weight_share(self, key_result_id: UUID) -> float:
        return f.weight_share(self.key_result(key_result_id).weight, self.total_weight)

    @property
    def progress(self) -> float:
        """Key-result roll-up (aligned children live in the read side)."""
        return f.objective_progress(
            [(kr.progress, kr.weight) for kr in self.key_results.values()], [], "KEY_RESULTS"
        )

    @property
    def score(self) -> float | None:
        """Weighted mean of the key results' scores (defaults for unscored ones)."""
        scored = [
            (kr.score if kr.score is not None else kr.default_score, kr.weight)
            for kr in self.key_results.values()
        ]
        return f.weighted_mean(scored)

    @property
    def counts_key_results(self) -> bool:
        return self.driver != ProgressDriver.ALIGNED_OBJECTIVES.value

    def computed_score(self, child_scores: list[tuple[float, float]]) -> float | None:
        """The score per driver, from the key results' scores and the counted children's
        (score, weight) pairs (`formulas.objective_score`)."""
        scored = [
            (kr.score if kr.score is not None else kr.default_score, kr.weight)
            for kr in self.key_results.values()
        ]
        return f.objective_score(scored, child_scores, self.driver)

    def rollup_progress(self, child_progress: list[tuple[float, float]]) -> float:
        """Progress per driver, with the counted children's (progress, weight) pairs."""
        return f.objective_progress(
            [(kr.progress, kr.weight) for kr in self.key_results.values()], child_progress, self.driver
        )

    # ---------------------------------------------------------------- revise / align
    def revise(
        self,
        *,
        title: str | None = None,
        description: str | None = None,
        owner: str | None = None,
        team_id: UUID | None = None,
        driver: str | None = None,
        weight: float | None = None,
        strict_policies: bool = False,
    ) -> None:
        self.check_open()
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = check_title(title)
        if description is not None:
            changes["description"] = check_text(description, "description", MAX_TEXT)
        if owner is not None:
            changes["owner"] = check_title(owner, "owner")
        if team_id is not None:
            changes["team_id"] = team_id
        if driver is not None:
            changes["driver"] = check_choice(driver, ProgressDriver, "driver")
        if weight is not None:
            changes["weight"] = check_weight(weight)
        changes = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not changes:
            raise ValidationError("nothing to change")
        if (
            strict_policies
            and self.state == ObjectiveState.ACTIVE.value
            and "driver" in changes
            and changes["driver"] != ProgressDriver.ALIGNED_OBJECTIVES.value
            and not policies.key_results_in_range(len(self.key_results))
        ):
            raise PolicyViolation(
                f"KEY_RESULT_COUNT: driven by key results, this active objective would count"
                f" {plural(len(self.key_results), 'key result')}; the org's strict policies"
                f" require {MIN_KEY_RESULTS}-{MAX_KEY_RESULTS}",
                field="driver",
            )
        self._revised(changes=changes)

    class Revised(OkrAggregate.Event):
        """Only the fields that changed: title, description, owner, team_id (a UUID), driver,
        weight (a float)."""

        changes: dict[str, Any]

    @event(Revised)
    def _revised(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        self._withdraw_approval()

    def align(self, parent_objective_id: UUID | None, parent_key_result_id: UUID | None) -> None:
        """Parents are checked by the application (same org, no cycle); this records it."""
        self.check_open()
        if (parent_objective_id, parent_key_result_id) == (
            self.parent_objective_id,
            self.parent_key_result_id,
        ):
            raise ValidationError("the objective is already aligned there", field="parentId")
        self._aligned(parent_objective_id=parent_objective_id, parent_key_result_id=parent_key_result_id)

    class Aligned(OkrAggregate.Event):
        """Under a parent objective, or under one of its key results (None, None: unaligned)."""

        parent_objective_id: UUID | None
        parent_key_result_id: UUID | None

    @event(Aligned)
    def _aligned(self, parent_objective_id: UUID | None, parent_key_result_id: UUID | None) -> None:
        self.parent_objective_id = parent_objective_id
        self.parent_key_result_id = parent_key_result_id

    # ---------------------------------------------------------------- lifecycle
    def activate(
        self,
        *,
        strict_policies: bool,
        team_warnings: list[str] | None = None,
        team_violations: list[str] | None = None,
        approval_required: bool = False,
    ) -> list[str]:
        """DRAFT -> ACTIVE. Returns every policy warning (its key-result count and, from the
        application, its team's active-objective count), or raises the breaches when the org is
        strict (`team_violations`: what the team count breaks under strict policies)."""
        if self.state != ObjectiveState.DRAFT.value:
            raise ObjectiveNotDraftError(f"objective is {self.state}, only DRAFT activates")
        kr_warnings = self.policy_warnings()
        warnings = [*kr_warnings, *(team_warnings or [])]
        violations = [*(kr_warnings if strict_policies else []), *(team_violations or [])]
        if violations:
            raise PolicyViolation(
                "; ".join(violations), field="keyResults" if kr_warnings and strict_policies else "teamId"
            )
        if not self.key_results and self.driver == ProgressDriver.KEY_RESULTS.value:
            raise RuleViolation("an objective driven by key results needs at least one", field="keyResults")
        if approval_required and self.approval_state != ApprovalState.APPROVED.value:
            raise ApprovalRequiredError(
                f"the org requires a lead's approval before activation; this objective is"
                f" {self.approval_state} (proposeObjective, then approveObjective)",
                field="objectiveId",
            )
        self._activated(policy_warnings=warnings)
        return warnings

    def policy_warnings(self) -> list[str]:
        return policies.key_result_count_warnings(self.driver, len(self.key_results))

    def _check_key_result_count(self, after: int, strict_policies: bool) -> None:
        """After activation, strict orgs keep 2-4 key results: adding a 5th or removing down
        to 1 is refused (a change that moves towards the range is allowed)."""
        if not strict_policies or self.state != ObjectiveState.ACTIVE.value or not self.counts_key_results:
            return
        before = len(self.key_results)
        if (after > MAX_KEY_RESULTS and after > before) or (after < MIN_KEY_RESULTS and after < before):
            raise PolicyViolation(
                f"KEY_RESULT_COUNT: this active objective would have {plural(after, 'key result')};"
                f" the org's strict policies require {MIN_KEY_RESULTS}-{MAX_KEY_RESULTS}",
                field="keyResults",
            )

    class Activated(OkrAggregate.Event):
        """DRAFT -> ACTIVE, with the policy warnings shown at the time."""

        policy_warnings: list[str]

    @event(Activated)
    def _activated(self, policy_warnings: list[str]) -> None:
        self.state = ObjectiveState.ACTIVE.value
        self.activated_at = self.modified_on
        for kr in self.key_results.values():
            kr.added_at = self.modified_on

    def close(self, learnings: str = "", child_scores: list[tuple[float, float]] | None = None) -> None:
        """Scores every key result not scored yet with its default, then closes with the score
        per driver (`child_scores`: the counted aligned children's (score, weight) pairs,
        loaded by the application)."""
        self.check_active()
        text = check_text(learnings, "learnings", MAX_LEARNINGS)
        for kr in list(self.key_results.values()):
            if kr.score is None:
                self._key_result_scored(
                    key_result_id=kr.id,
                    score=kr.default_score,
                    default_score=kr.default_score,
                    reason="",
                )
        score = self.computed_score(child_scores or [])
        self._closed(
            learnings=text,
            score=score,
            grade=None if score is None else f.grade(score).value,
        )

    class Closed(OkrAggregate.Event):
        learnings: str
        score: float | None
        grade: str | None

    @event(Closed)
    def _closed(self, learnings: str, score: float | None, grade: str | None) -> None:
        self.state = ObjectiveState.CLOSED.value
        self.learnings = learnings
        self.closing_score = score
        self.closed_at = self.modified_on

    def score_objective(
        self, score: object, reason: object = "", child_scores: list[tuple[float, float]] | None = None
    ) -> None:
        """Overrides a CLOSED objective's score (0.0-1.0); a reason is required when it differs
        from the computed score (per driver, from today's key-result and children's scores).
        Scoring the computed value again clears an earlier override."""
        if self.state != ObjectiveState.CLOSED.value:
            raise ObjectiveNotActiveError(
                f"objective is {self.state}; only CLOSED objectives are scored", field="objectiveId"
            )
        value = check_fraction(score, "score")
        why = check_text(reason, "reason", MAX_NOTE).strip()
        default = self.computed_score(child_scores or [])
        if (default is None or abs(value - default) > 1e-9) and not why:
            shown = "nothing to compute from" if default is None else f"the computed {default:.4g}"
            raise ScoreReasonRequiredError(
                f"score {value} differs from {shown}: give a reason", field="reason"
            )
        self._objective_scored(score=value, default_score=default, reason=why)

    class ObjectiveScored(OkrAggregate.Event):
        """The closing score set (or re-computed); `default_score` is the computed one."""

        score: float
        default_score: float | None
        reason: str

    @event(ObjectiveScored)
    def _objective_scored(self, score: float, default_score: float | None, reason: str) -> None:
        self.closing_score = score
        self.score_overridden = default_score is None or abs(score - default_score) > 1e-9

    def abandon(self, reason: str = "") -> None:
        self.check_open()
        self._abandoned(reason=check_text(reason, "reason", MAX_NOTE))

    class Abandoned(OkrAggregate.Event):
        reason: str

    @event(Abandoned)
    def _abandoned(self, reason: str) -> None:
        self.state = ObjectiveState.ABANDONED.value
        self.abandon_reason = reason

    def mark_carried_over(self, target_objective_id: UUID, target_cycle_id: UUID) -> None:
        if self.carried_over_to is not None:
            raise RuleViolation(
                f"objective was already carried over to {self.carried_over_to}", field="objectiveId"
            )
        if self.state not in (ObjectiveState.ACTIVE.value, ObjectiveState.CLOSED.value):
            raise RuleViolation(
                f"objective is {self.state}; only ACTIVE or CLOSED objectives carry over",
                field="objectiveId",
            )
        self._carried_over(target_objective_id=target_objective_id, target_cycle_id=target_cycle_id)

    class CarriedOver(OkrAggregate.Event):
        target_objective_id: UUID
        target_cycle_id: UUID

    @event(CarriedOver)
    def _carried_over(self, target_objective_id: UUID, target_cycle_id: UUID) -> None:
        self.carried_over_to = target_objective_id

    def unfinished_key_results(self) -> list[KeyResult]:
        return [kr for kr in self.key_results.values() if f.is_unfinished(kr.progress)]

    # ---------------------------------------------------------------- key results
    def add_key_result(
        self, spec: KeyResultSpec, current: float | None = None, *, strict_policies: bool = False
    ) -> UUID:
        self.check_open()
        if len(self.key_results) >= 50:
            raise RuleViolation("an objective holds at most 50 key results", field="keyResults")
        self._check_key_result_count(len(self.key_results) + 1, strict_policies)
        kr_id = uuid4()
        self._key_result_added(
            key_result_id=kr_id,
            title=spec.title,
            kind=spec.kind,
            direction=spec.direction,
            unit=spec.unit,
            start=spec.start,
            target=spec.target,
            current=spec.start if current is None else check_number(current, "current"),
            weight=spec.weight,
            source=spec.source,
            cadence_days=spec.cadence_days,
        )
        return kr_id

    class KeyResultAdded(OkrAggregate.Event):
        key_result_id: UUID
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

    @event(KeyResultAdded)
    def _key_result_added(
        self,
        key_result_id: UUID,
        title: str,
        kind: str,
        direction: str,
        unit: str,
        start: float,
        target: float,
        current: float,
        weight: float,
        source: str,
        cadence_days: int,
    ) -> None:
        self.key_results[str(key_result_id)] = KeyResult(
            id=key_result_id,
            title=title,
            kind=kind,
            direction=direction,
            unit=unit,
            start=start,
            target=target,
            current=current,
            weight=weight,
            source=source,
            cadence_days=cadence_days,
            added_at=self.modified_on,
        )
        self._withdraw_approval()

    def revise_key_result(self, key_result_id: UUID, **changes: Any) -> None:
        """Revises title, unit, start, target, weight, source, cadence (and kind/direction)."""
        self.check_open()
        kr = self.key_result(key_result_id)
        merged = {
            "title": kr.title,
            "kind": kr.kind,
            "start": kr.start,
            "target": kr.target,
            "unit": kr.unit,
            "weight": kr.weight,
            "source": kr.source,
            "cadence_days": kr.cadence_days,
            "direction": None if f.KeyResultKind(kr.kind) in f.NUMERIC_KINDS else kr.direction,
        }
        given = {k: v for k, v in changes.items() if v is not None}
        unknown = set(given) - set(merged)
        if unknown:
            raise ValidationError(f"unknown fields {sorted(unknown)}")
        if "kind" in given and "direction" not in given:
            merged["direction"] = None
        merged.update(given)
        spec = KeyResultSpec.build(**merged)
        new = {
            "title": spec.title,
            "kind": spec.kind,
            "direction": spec.direction,
            "unit": spec.unit,
            "start": spec.start,
            "target": spec.target,
            "weight": spec.weight,
            "source": spec.source,
            "cadence_days": spec.cadence_days,
        }
        diff = {k: v for k, v in new.items() if getattr(kr, k) != v}
        if not diff:
            raise ValidationError("nothing to change", field="keyResultId")
        self._key_result_revised(key_result_id=key_result_id, changes=diff)

    class KeyResultRevised(OkrAggregate.Event):
        """Only the fields that changed (KeyResult attribute names: title, kind, direction,
        unit, start, target, weight, source, cadence_days)."""

        key_result_id: UUID
        changes: dict[str, Any]

    @event(KeyResultRevised)
    def _key_result_revised(self, key_result_id: UUID, changes: dict[str, Any]) -> None:
        kr = self.key_results[str(key_result_id)]
        for key, value in changes.items():
            setattr(kr, key, value)
        self._withdraw_approval()

    def remove_key_result(self, key_result_id: UUID, *, strict_policies: bool = False) -> None:
        self.check_open()
        self.key_result(key_result_id)
        self._check_key_result_count(len(self.key_results) - 1, strict_policies)
        self._key_result_removed(key_result_id=key_result_id)

    def active_policy_warnings(self) -> list[str]:
        """The key-result-count warning of an ACTIVE objective (after a key result was added or
        removed by an org without strict policies)."""
        return self.policy_warnings() if self.state == ObjectiveState.ACTIVE.value else []

    class KeyResultRemoved(OkrAggregate.Event):
        key_result_id: UUID

    @event(KeyResultRemoved)
    def _key_result_removed(self, key_result_id: UUID) -> None:
        del self.key_results[str(key_result_id)]
        self._withdraw_approval()

    def check_in(
        self,
        key_result_id: UUID,
        value: object,
        confidence: object = None,
        note: object = "",
        task_id: UUID | None = None,
    ) -> None:
        self.check_active()
        kr = self.key_result(key_result_id)
        number = check_number(value, "value")
        if kr.kind == f.KeyResultKind.BOOLEAN.value and number not in (0.0, 1.0):
            raise InvalidValueError("a milestone checks in 0 (not yet) or 1 (done)", field="value")
        conf = None if confidence is None else check_fraction(confidence, "confidence")
        self._checked_in(
            key_result_id=key_result_id,
            value_before=kr.current,
            value=number,
            confidence=conf,
            note=check_text(note, "note", MAX_NOTE),
            task_id=task_id,
        )

    class KeyResultCheckedIn(OkrAggregate.Event):
        key_result_id: UUID
        value_before: float
        value: float
        confidence: float | None
        note: str
        task_id: UUID | None

    @event(KeyResultCheckedIn)
    def _checked_in(
        self,
        key_result_id: UUID,
        value_before: float,
        value: float,
        confidence: float | None,
        note: str,
        task_id: UUID | None,
    ) -> None:
        kr = self.key_results[str(key_result_id)]
        kr.current = value
        if confidence is not None:
            kr.confidence = confidence
        kr.last_check_in_at = self.modified_on
        kr.check_in_count += 1

    def score_key_result(
        self,
        key_result_id: UUID,
        score: object,
        reason: object = "",
        child_scores: list[tuple[float, float]] | None = None,
    ) -> None:
        """Scores a key result of an ACTIVE or CLOSED objective. On a CLOSED objective whose
        score was not overridden, the objective's score follows (an ObjectiveScored event with
        the recomputed score, `child_scores` as for `close`)."""
        if self.state not in (ObjectiveState.ACTIVE.value, ObjectiveState.CLOSED.value):
            raise ObjectiveNotActiveError(f"objective is {self.state}; score ACTIVE or CLOSED ones")
        kr = self.key_result(key_result_id)
        value = check_fraction(score, "score")
        why = check_text(reason, "reason", MAX_NOTE).strip()
        default = kr.default_score
        if abs(value - default) > 1e-9 and not why:
            raise ScoreReasonRequiredError(
                f"score {value} differs from the computed {default}: give a reason", field="reason"
            )
        self._key_result_scored(key_result_id=key_result_id, score=value, default_score=default, reason=why)
        if self.state == ObjectiveState.CLOSED.value and not getattr(self, "score_overridden", False):
            recomputed = self.computed_score(child_scores or [])
            if recomputed is not None:
                self._objective_scored(score=recomputed, default_score=recomputed, reason="")

    class KeyResultScored(OkrAggregate.Event):
        key_result_id: UUID
        score: float
        default_score: float
        reason: str

    @event(KeyResultScored)
    def _key_result_scored(
        self, key_result_id: UUID, score: float, default_score: float, reason: str
    ) -> None:
        kr = self.key_results[str(key_result_id)]
        kr.score = score
        kr.score_reason = reason or None
        if self.state == ObjectiveState.CLOSED.value and not getattr(self, "score_overridden", False):
            # events written before ObjectiveScored existed: the objective's score followed its
            # key results here (newer writes follow with an ObjectiveScored event)
            self.closing_score = self.score

    # ---------------------------------------------------------------- linked tasks
    def record_task(self, key_result_id: UUID, task_id: UUID, weight: float | None, done: bool) -> None:
        """Keeps the KR's tally of linked tasks (weight None: the task left this KR). A CLOSED or
        ABANDONED objective's key results are final: their tallies no longer change."""
        if self.is_finished:
            return
        kr = self.key_result(key_result_id)
        current = kr.tasks.get(str(task_id))
        if weight is None and current is None:
            return
        if current is not None and weight is not None and current == [weight, done]:
            return
        self._task_recorded(key_result_id=key_result_id, task_id=task_id, weight=weight, done=done)

    class KeyResultTaskRecorded(OkrAggregate.Event):
        """A linked task's impact weight and done flag (weight None: it left this KR)."""

        key_result_id: UUID
        task_id: UUID
        weight: float | None
        done: bool

    @event(KeyResultTaskRecorded)
    def _task_recorded(self, key_result_id: UUID, task_id: UUID, weight: float | None, done: bool) -> None:
        kr = self.key_results[str(key_result_id)]
        if weight is None:
            kr.tasks.pop(str(task_id), None)
        else:
            kr.tasks[str(task_id)] = [weight, done]

    # ---------------------------------------------------------------- approval (draft -> discuss -> finalise)
    @property
    def approval_state(self) -> str:
        """NOT_PROPOSED, PROPOSED or APPROVED (objectives and snapshots older than the approval
        events have none recorded: NOT_PROPOSED)."""
        return str(self.__dict__.get("_approval_state", ApprovalState.NOT_PROPOSED.value))

    def _withdraw_approval(self) -> None:
        """A revision of an approved DRAFT (its title, description, owner, team, driver, weight
        or key results) sends it back to PROPOSED: what was approved is no longer what it says."""
        if self.state == ObjectiveState.DRAFT.value and self.approval_state == ApprovalState.APPROVED.value:
            self._approval_state = ApprovalState.PROPOSED.value

    def propose(self) -> None:
        """DRAFT, not proposed yet (or sent back by a revision) -> PROPOSED."""
        if self.state != ObjectiveState.DRAFT.value:
            raise ObjectiveNotDraftError(
                f"objective is {self.state}; only DRAFT objectives are proposed", field="objectiveId"
            )
        if self.approval_state != ApprovalState.NOT_PROPOSED.value:
            raise RuleViolation(f"objective is already {self.approval_state}", field="objectiveId")
        self._proposed_for_review()

    class ProposedForReview(OkrAggregate.Event):
        """A DRAFT put up for discussion; a lead of its team approves it (Approved)."""

    @event(ProposedForReview)
    def _proposed_for_review(self) -> None:
        self._approval_state = ApprovalState.PROPOSED.value

    def approve(self) -> None:
        """PROPOSED -> APPROVED (still DRAFT: activation is its own step)."""
        if self.state != ObjectiveState.DRAFT.value:
            raise ObjectiveNotDraftError(
                f"objective is {self.state}; only DRAFT objectives are approved", field="objectiveId"
            )
        if self.approval_state != ApprovalState.PROPOSED.value:
            raise RuleViolation(
                f"objective is {self.approval_state}; only a PROPOSED objective is approved",
                field="objectiveId",
            )
        self._approved()

    class Approved(OkrAggregate.Event):
        """A lead of the objective's team (or an admin) approved the proposed DRAFT."""

    @event(Approved)
    def _approved(self) -> None:
        self._approval_state = ApprovalState.APPROVED.value
