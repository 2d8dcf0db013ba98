"""Organization settings: the policies an org opts into (warnings by default, errors if strict)."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from okr.domain.base import OkrAggregate
from okr.domain.context import current_context
from okr.domain.errors import ValidationError

MIN_KEY_RESULTS = 2
MAX_KEY_RESULTS = 4
MIN_OBJECTIVES = 3
MAX_OBJECTIVES = 5


class Organization(OkrAggregate):
    @staticmethod
    def id_for(org_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"okr:org:{org_id}")

    @staticmethod
    def create_id() -> UUID:
        return Organization.id_for(current_context().org_id)

    @event("Configured")
    def __init__(self, strict_policies: bool, cadence_days: int) -> None:
        self.strict_policies = strict_policies
        self.cadence_days = cadence_days

    @staticmethod
    def check(strict_policies: object, cadence_days: object) -> tuple[bool, int]:
        if not isinstance(strict_policies, bool):
            raise ValidationError("strictPolicies must be a boolean", field="strictPolicies")
        if isinstance(cadence_days, bool) or not isinstance(cadence_days, int):
            raise ValidationError("cadenceDays must be an integer", field="cadenceDays")
        if not 1 <= cadence_days <= 366:
            raise ValidationError("cadenceDays must be 1-366", field="cadenceDays")
        return strict_policies, cadence_days

    def reconfigure(self, strict_policies: bool, cadence_days: int) -> None:
        strict, cadence = self.check(strict_policies, cadence_days)
        self._reconfigured(strict_policies=strict, cadence_days=cadence)

    @event("Reconfigured")
    def _reconfigured(self, strict_policies: bool, cadence_days: int) -> None:
        self.strict_policies = strict_policies
        self.cadence_days = cadence_days
