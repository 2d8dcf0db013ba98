"""Team.move: under another team or to the top level, never under itself or a sub-team."""

from __future__ import annotations

from uuid import uuid4

import pytest

from okr.domain import RequestContext, Team
from okr.domain.errors import TeamHierarchyCycleError, ValidationError


def test_a_team_moves_under_another_and_back_to_the_top(ctx: RequestContext) -> None:
    """Moved events set the parent; a move to where it already is is refused."""
    parent = uuid4()
    team = Team.create("Growth", None)
    team.move(parent, [uuid4()])
    assert team.parent_team_id == parent
    team.move(None)
    assert team.parent_team_id is None
    assert [type(e).__name__ for e in team.collect_events()] == ["Created", "Moved", "Moved"]
    with pytest.raises(ValidationError):
        team.move(None)


def test_a_team_never_moves_under_itself_or_one_of_its_sub_teams(ctx: RequestContext) -> None:
    """Under itself, or under a team whose ancestors include it: TEAM_HIERARCHY_CYCLE, no event."""
    team = Team.create("Growth", None)
    team.collect_events()
    with pytest.raises(TeamHierarchyCycleError) as itself:
        team.move(team.id)
    assert itself.value.code == "TEAM_HIERARCHY_CYCLE"
    with pytest.raises(TeamHierarchyCycleError):
        team.move(uuid4(), [uuid4(), team.id])  # the new parent sits (two levels) below it
    assert team.collect_events() == []
