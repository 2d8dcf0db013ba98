"""The draft -> discuss -> finalise flow: a DRAFT objective proposed for review and approved by a
lead of its team; the org's approval policy (approval required before activation, or not)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventsourcing.application import AggregateNotFoundError

from okr.commands import ApproveObjective, ConfigureApproval, ProposeObjective
from okr.domain.approval import ApprovalPolicy
from okr.domain.context import current_context
from okr.domain.errors import PermissionDeniedError, TeamNotFoundError
from okr.domain.objective import Objective
from okr.domain.team import Team, TeamRole
from okr.handlers import Outcome, handles
from okr.handlers.objectives import on_objective

if TYPE_CHECKING:
    from okr.application import OkrApplication


def approval_policy(app: OkrApplication) -> ApprovalPolicy | None:
    policy_id = ApprovalPolicy.id_for(current_context().org_id)
    app.evict(policy_id)
    try:
        policy: object = app.repository.get(policy_id)
    except AggregateNotFoundError:
        return None
    assert isinstance(policy, ApprovalPolicy)
    return policy


def approval_required(app: OkrApplication) -> bool:
    """Whether the caller's org requires an approval before activation: what configureApproval
    set, else the org's strict policies (a strict org approves before it activates)."""
    policy = approval_policy(app)
    if policy is not None:
        return policy.approval_required
    strict, _ = app.org_settings()
    return strict


def authorize_approval(app: OkrApplication, objective: Objective) -> None:
    """An admin, or a LEAD of the objective's team (owning it is not enough: the owner proposes,
    the team's lead approves; a team-less objective is approved by an admin)."""
    ctx = current_context()
    if "admin" in ctx.roles:
        return
    if objective.team_id is not None:
        team = app.load(Team, objective.team_id, TeamNotFoundError, "team")
        if team.members.get(ctx.actor) == TeamRole.LEAD.value:
            return
    raise PermissionDeniedError("only an admin or a lead of the objective's team may approve it")


@handles(ProposeObjective)
def propose_objective(app: OkrApplication, c: ProposeObjective) -> Outcome:
    """Whoever may change the objective (an admin, its owner, a lead of its team) proposes it."""

    def change(objective: Objective) -> None:
        objective.propose()

    return on_objective(app, c.objective_id, change)


@handles(ApproveObjective)
def approve_objective(app: OkrApplication, c: ApproveObjective) -> Outcome:
    def change(objective: Objective) -> None:
        authorize_approval(app, objective)
        objective.approve()

    return on_objective(app, c.objective_id, change)


@handles(ConfigureApproval)
def configure_approval(app: OkrApplication, c: ConfigureApproval) -> Outcome:
    policy = approval_policy(app)
    if policy is None:
        policy = ApprovalPolicy(approval_required=ApprovalPolicy.check(c.approval_required))
    else:
        policy.reconfigure(c.approval_required)
    return Outcome([policy], policy.id)
