"""Domain errors: one small hierarchy, each with a stable machine-readable code."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every expected failure. `code` is stable; `field` names the offending input."""

    code = "DOMAIN_ERROR"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.message})"


class ValidationError(DomainError):
    """Input that can never be valid (bad number, empty title, unknown kind)."""

    code = "INVALID_INPUT"


class InvalidValueError(ValidationError):
    code = "INVALID_VALUE"


class NotFoundError(DomainError):
    """Unknown id — also the answer for an id that belongs to another org."""

    code = "NOT_FOUND"


class CycleNotFoundError(NotFoundError):
    code = "CYCLE_NOT_FOUND"


class TeamNotFoundError(NotFoundError):
    code = "TEAM_NOT_FOUND"


class ObjectiveNotFoundError(NotFoundError):
    code = "OBJECTIVE_NOT_FOUND"


class KeyResultNotFoundError(NotFoundError):
    code = "KEY_RESULT_NOT_FOUND"


class TaskNotFoundError(NotFoundError):
    code = "TASK_NOT_FOUND"


class RuleViolation(DomainError):
    """A valid request that the current state does not allow."""

    code = "RULE_VIOLATION"


class CycleClosedError(RuleViolation):
    code = "CYCLE_CLOSED"


class CycleNotActiveError(RuleViolation):
    """Check-ins go into ACTIVE cycles only (a PLANNED cycle has not started)."""

    code = "CYCLE_NOT_ACTIVE"


class CycleHasActiveObjectivesError(RuleViolation):
    """closeCycle while objectives are ACTIVE, without closeActiveObjectives."""

    code = "CYCLE_HAS_ACTIVE_OBJECTIVES"


class InvalidCycleDatesError(ValidationError):
    code = "INVALID_CYCLE_DATES"


class ObjectiveNotActiveError(RuleViolation):
    code = "OBJECTIVE_NOT_ACTIVE"


class ObjectiveNotDraftError(RuleViolation):
    code = "OBJECTIVE_NOT_DRAFT"


class ObjectiveFinishedError(RuleViolation):
    """Closed or abandoned objectives accept no more changes."""

    code = "OBJECTIVE_FINISHED"


class AlignmentCycleError(RuleViolation):
    code = "ALIGNMENT_CYCLE"


class AlignmentAcrossCyclesError(RuleViolation):
    """A child objective aligns only under a parent of the same cycle."""

    code = "ALIGNMENT_ACROSS_CYCLES"

class TeamHierarchyCycleError(RuleViolation):
    """A team moved under itself or under one of its own sub-teams."""

    code = "TEAM_HIERARCHY_CYCLE"


class PolicyViolation(RuleViolation):
    code = "POLICY_VIOLATION"


class ScoreReasonRequiredError(ValidationError):
    code = "SCORE_REASON_REQUIRED"


class TaskCancelledError(RuleViolation):
    code = "TASK_CANCELLED"


class InvalidTransitionError(RuleViolation):
    code = "INVALID_TRANSITION"


class DuplicateError(RuleViolation):
    code = "ALREADY_EXISTS"


class ConcurrencyConflictError(DomainError):
    """Still conflicting after the bounded retries; nothing was written."""

    code = "CONCURRENT_MODIFICATION"


class IdempotencyKeyReusedError(DomainError):
    """The idempotency key was first used for a different command or different input."""

    code = "IDEMPOTENCY_KEY_REUSED"


class PermissionDeniedError(DomainError):
    code = "FORBIDDEN"
