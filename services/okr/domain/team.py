"""Team: name, parent team, members with roles."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from okr.domain.base import OkrAggregate, check_choice, check_title
from okr.domain.errors import DuplicateError, NotFoundError, TeamHierarchyCycleError, ValidationError


class TeamRole(StrEnum):
    LEAD = "LEAD"
    MEMBER = "MEMBER"


class Team(OkrAggregate):
    @classmethod
    def create(cls, name: str, parent_team_id: UUID | None) -> Team:
        return cls(name=check_title(name, "name"), parent_team_id=parent_team_id)

    class Created(OkrAggregate.Created):
        name: str
        parent_team_id: UUID | None

    @event(Created)
    def __init__(self, name: str, parent_team_id: UUID | None) -> None:
        self.name = name
        self.parent_team_id = parent_team_id
        self.members: dict[str, str] = {}

    def add_member(self, user_id: str, role: str) -> None:
        user = check_title(user_id, "userId")
        role = check_choice(role, TeamRole, "role")
        if self.members.get(user) == role:
            raise DuplicateError(f"{user} is already a {role} of this team", field="userId")
        self._member_added(user_id=user, role=role)

    class MemberAdded(OkrAggregate.Event):
        user_id: str
        role: str

    @event(MemberAdded)
    def _member_added(self, user_id: str, role: str) -> None:
        self.members[user_id] = role

    def remove_member(self, user_id: str) -> None:
        if user_id not in self.members:
            raise NotFoundError(f"{user_id} is not a member of this team", field="userId")
        self._member_removed(user_id=user_id)

    class MemberRemoved(OkrAggregate.Event):
        user_id: str

    @event(MemberRemoved)
    def _member_removed(self, user_id: str) -> None:
        del self.members[user_id]

    def rename(self, name: str) -> None:
        name = check_title(name, "name")
        if name == self.name:
            raise ValidationError("the team already has that name", field="name")
        self._renamed(name=name)

    class Renamed(OkrAggregate.Event):
        name: str

    @event(Renamed)
    def _renamed(self, name: str) -> None:
        self.name = name

    def move(self, parent_team_id: UUID | None, parent_ancestors: Sequence[UUID] = ()) -> None:
        """Moves the team under `parent_team_id` (None: to the top level). `parent_ancestors` are
        the new parent's ancestors, nearest first (the caller reads them): a team may not end up
        under itself or under one of its own descendants."""
        if parent_team_id == self.parent_team_id:
            where = "at the top level" if parent_team_id is None else f"under team {parent_team_id}"
            raise ValidationError(f"the team is already {where}", field="parentTeamId")
        if parent_team_id is not None and (parent_team_id == self.id or self.id in parent_ancestors):
            raise TeamHierarchyCycleError(
                "a team cannot move under itself or under one of its own sub-teams", field="parentTeamId"
            )
        self._moved(parent_team_id=parent_team_id)

    class Moved(OkrAggregate.Event):
        """The team now sits under another parent team (None: at the top level)."""

        parent_team_id: UUID | None

    @event(Moved)
    def _moved(self, parent_team_id: UUID | None) -> None:
        self.parent_team_id = parent_team_id
