"""Who may do what (the README's role matrix), and the team policy of active objectives.

A command's class says which roles may send it at all (`Command.roles`, checked before anything
is read); the checks here then decide on the objective, team or key result the command touches.
"""

from __future__ import annotations

import contextlib
from uuid import UUID

from okr.domain import policies
from okr.domain.base import plural
from okr.domain.context import RequestContext, current_context
from okr.domain.errors import NotFoundError, PermissionDeniedError, TeamNotFoundError
from okr.domain.objective import Objective
from okr.domain.organization import MAX_OBJECTIVES
from okr.domain.team import Team, TeamRole
from okr.lookups import Lookups


def authorize_role(ctx: RequestContext, allowed: tuple[str, ...]) -> None:
    if not set(ctx.roles) & set(allowed):
        raise PermissionDeniedError(
            f"role {'/'.join(sorted(ctx.roles)) or 'none'} may not do this (needs {' or '.join(allowed)})"
        )


def authorize_objective(reads: Lookups, objective: Objective) -> None:
    """admin: any objective; lead: their teams' objectives and their own."""
    ctx = current_context()
    if "admin" in ctx.roles:
        return
    if "lead" in ctx.roles:
        if objective.owner == ctx.actor:
            return
        if objective.team_id is not None:
            team = reads.load(Team, objective.team_id, TeamNotFoundError, "team")
            if team.members.get(ctx.actor) == TeamRole.LEAD.value:
                return
    raise PermissionDeniedError("only an admin or a lead of the owning team may change this")


def authorize_check_in(reads: Lookups, objective: Objective) -> None:
    """admin: any key result; others: key results of objectives of their own teams (member or
    lead) or of objectives they own — or any, when the org opened check-ins to all."""
    ctx = current_context()
    if "admin" in ctx.roles or objective.owner == ctx.actor:
        return
    if objective.team_id is not None:
        with contextlib.suppress(NotFoundError):
            team = reads.load(Team, objective.team_id, TeamNotFoundError, "team")
            if ctx.actor in team.members:
                return
    org = reads.organization()
    if org is not None and org.check_ins_open_to_all:
        return
    raise PermissionDeniedError(
        "only members of the objective's team, its owner or an admin may check in here"
        " (the org has not opened check-ins to everyone: configureOrg checkInsOpenToAll)"
    )


def authorize_team(reads: Lookups, team_id: UUID | None) -> None:
    """admin: any team or none; lead: only a team they lead."""
    ctx = current_context()
    if "admin" in ctx.roles or team_id is None:
        if "admin" not in ctx.roles:
            raise PermissionDeniedError("only an admin may create objectives without a team")
        return
    team = reads.load(Team, team_id, TeamNotFoundError, "team")
    if team.members.get(ctx.actor) != TeamRole.LEAD.value:
        raise PermissionDeniedError("only an admin or a lead of that team may do this")


def team_policy(team: Team, active_after: int, strict: bool) -> tuple[list[str], list[str]]:
    """(warnings, violations) of a team's active-objective count in a cycle (3-5). Strict orgs
    refuse a 6th; fewer than 3 stays a warning (it is reached one activation at a time)."""
    warnings = policies.objective_count_warnings(f"team {team.name}", active_after)
    if warnings and strict and active_after > MAX_OBJECTIVES:
        return warnings, [
            f"OBJECTIVE_COUNT: team {team.name} would have {plural(active_after, 'active objective')}"
            f" in this cycle; the org's strict policies allow at most {MAX_OBJECTIVES}"
        ]
    return warnings, []
