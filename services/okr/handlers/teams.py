"""Teams and their members."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from okr.commands import AddTeamMember, CreateTeam, RemoveTeamMember, ReviseTeam
from okr.domain.context import current_context
from okr.domain.errors import ValidationError
from okr.domain.internal import TeamHierarchy
from okr.domain.team import Team
from okr.handlers import Outcome, handles

if TYPE_CHECKING:
    from okr.application import OkrApplication


@handles(CreateTeam)
def create_team(app: OkrApplication, c: CreateTeam) -> Outcome:
    parent = None if c.parent_team_id is None else app.get_team(c.parent_team_id).id
    team = Team.create(c.name, parent)
    return Outcome([team], team.id)


@handles(AddTeamMember)
def add_team_member(app: OkrApplication, c: AddTeamMember) -> Outcome:
    team = app.get_team(c.team_id)
    team.add_member(c.user_id, c.role)
    return Outcome([team], team.id)


@handles(RemoveTeamMember)
def remove_team_member(app: OkrApplication, c: RemoveTeamMember) -> Outcome:
    team = app.get_team(c.team_id)
    team.remove_member(c.user_id)
    return Outcome([team], team.id)


@handles(ReviseTeam)
def revise_team(app: OkrApplication, c: ReviseTeam) -> Outcome:
    """Renames (a name equal to the current one is left as it is) and/or moves the team; a
    revision that changes nothing is refused."""
    if not isinstance(c.top_level, bool):
        raise ValidationError("topLevel must be a boolean", field="topLevel")
    if c.top_level and c.parent_team_id is not None:
        raise ValidationError("give parentTeamId or topLevel, not both", field="topLevel")
    team = app.get_team(c.team_id)
    renamed = c.name is not None and (not isinstance(c.name, str) or c.name.strip() != team.name)
    if renamed:
        team.rename(c.name)  # type: ignore[arg-type]  # (validated there)
    if not c.top_level and c.parent_team_id is None:
        if not renamed:
            raise ValidationError(
                "nothing to change: give a new name, parentTeamId or topLevel", field="teamId"
            )
        return Outcome([team], team.id)
    hierarchy = _hierarchy(app)  # read before the chain: a concurrent move conflicts on it
    if c.top_level:
        team.move(None)
    else:
        parent = app.get_team(c.parent_team_id)  # type: ignore[arg-type]  # (not None here)
        team.move(parent.id, _ancestors(app, parent.parent_team_id))
    hierarchy.record_move(team.id)
    return Outcome([team, hierarchy], team.id)


def _hierarchy(app: OkrApplication) -> TeamHierarchy:
    """The org's team-hierarchy lock, read fresh (a new, unsaved one before the first move)."""
    hierarchy_id = TeamHierarchy.id_for(current_context().org_id)
    app.evict(hierarchy_id)
    try:
        found: object = app.repository.get(hierarchy_id)
    except AggregateNotFoundError:
        return TeamHierarchy(org_key=current_context().org_id)
    assert isinstance(found, TeamHierarchy)
    return found


def _ancestors(app: OkrApplication, team_id: UUID | None, limit: int = 1000) -> list[UUID]:
    """`team_id` and the teams above it, nearest first (a broken chain of an older log stops at
    the first repeat)."""
    chain: list[UUID] = []
    while team_id is not None and team_id not in chain and len(chain) < limit:
        chain.append(team_id)
        team_id = app.get_team(team_id).parent_team_id
    return chain
