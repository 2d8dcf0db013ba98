"""The org's approval policy: whether an objective needs a lead's approval before it activates.

Its own aggregate (one per org, `uuid5` of the org id) rather than a field of Organization:
the org settings' commands and events stay as they were, and an org that never configured it
keeps activating as before (approval not required). The approval itself — proposed for review,
approved — is a pair of Objective events (okr.domain.objective).
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from okr.domain.base import OkrAggregate
from okr.domain.context import current_context
from okr.domain.errors import PolicyViolation, ValidationError


class ApprovalRequiredError(PolicyViolation):
    """The org requires a lead's approval before activation and the objective has none."""

    code = "APPROVAL_REQUIRED"


class ApprovalPolicy(OkrAggregate):
    @staticmethod
    def id_for(org_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"okr:approval-policy:{org_id}")

    @staticmethod
    def create_id() -> UUID:
        return ApprovalPolicy.id_for(current_context().org_id)

    class Configured(OkrAggregate.Created):
        approval_required: bool

    @event(Configured)
    def __init__(self, approval_required: bool) -> None:
        self.approval_required = approval_required

    @staticmethod
    def check(value: object) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("approvalRequired must be a boolean", field="approvalRequired")
        return value

    def reconfigure(self, approval_required: object) -> None:
        value = self.check(approval_required)
        if value == self.approval_required:
            raise ValidationError("nothing to change", field="approvalRequired")
        self._reconfigured(approval_required=value)

    class Reconfigured(OkrAggregate.Event):
        approval_required: bool

    @event(Reconfigured)
    def _reconfigured(self, approval_required: bool) -> None:
        self.approval_required = approval_required
