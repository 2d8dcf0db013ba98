"""Teams and their members."""

from __future__ import annotations

from typing import TYPE_CHECKING

from okr.commands import AddTeamMember, CreateTeam, RemoveTeamMember
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
