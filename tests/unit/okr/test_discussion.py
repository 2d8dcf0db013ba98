"""Discussion and approval through the application (in-memory store): subjects, threads,
who may edit and delete, and the draft -> propose -> approve -> activate flow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import pytest

from okr import commands as cmd
from okr.application import OkrApplication, system_context
from okr.domain import RequestContext, request_context
from okr.domain.comment import Comment, CommentNotFoundError
from okr.domain.errors import DomainError
from okr.domain.objective import ApprovalState


@dataclass
class Plan:
    app: OkrApplication
    org: str
    team: uuid.UUID
    objective: uuid.UUID
    kr: uuid.UUID


def code_of(app: OkrApplication, command: cmd.Command, user: str = "alice", role: str = "admin") -> str:
    """Runs a command as `user` that must fail; returns its code (and checks nothing was written)."""
    before = app.max_position()
    with request_context(_as(user, role)), pytest.raises(DomainError) as info:
        app.execute(command)
    assert app.max_position() == before
    return info.value.code


ORG = "discuss"


def _as(user: str, role: str, org: str = ORG) -> RequestContext:
    return RequestContext(org_id=org, actor=user, roles=frozenset({role}))


def run(app: OkrApplication, command: cmd.Command, user: str = "alice", role: str = "admin") -> uuid.UUID:
    with request_context(_as(user, role)):
        return app.execute(command).id


@pytest.fixture
def plan(memory_app: OkrApplication) -> Plan:
    app = memory_app
    with request_context(system_context(ORG, "alice")):
        cycle = app.execute(cmd.ScheduleCycle(name="Q", start=date(2026, 1, 1), end=date(2026, 3, 31))).id
        app.execute(cmd.StartCycle(cycle_id=cycle))
        team = app.execute(cmd.CreateTeam(name="Growth")).id
        app.execute(cmd.AddTeamMember(team_id=team, user_id="gia", role="LEAD"))
        app.execute(cmd.AddTeamMember(team_id=team, user_id="leo", role="MEMBER"))
        objective = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Grow", team_id=team)).id
        kr = app.execute(cmd.AddKeyResult(objective_id=objective, title="MQLs", kind="NUMERIC", target=10)).id
        app.execute(cmd.AddKeyResult(objective_id=objective, title="SQLs", kind="NUMERIC", target=5))
    return Plan(app, ORG, team, objective, kr)


def comment(app: OkrApplication, cid: uuid.UUID) -> Comment:
    with request_context(system_context(ORG)):
        return app.load(Comment, cid, CommentNotFoundError, "comment")


def test_comments_on_each_subject_with_a_thread_one_level_deep(plan: Plan) -> None:
    """Objective, key result and check-in (`checkin:<position>`) are subjects; a reply to a reply
    joins its root's thread; mentions are parsed."""
    app = plan.app
    on_objective = run(
        app, cmd.AddComment(subject_id=plan.objective, body="Is 10 enough, @gia?"), "leo", "member"
    )
    reply = run(
        app,
        cmd.AddComment(subject_id=str(plan.objective), body="yes", reply_to_id=on_objective),
        "gia",
        "lead",
    )
    nested = run(
        app, cmd.AddComment(subject_id=plan.objective, body="ok", reply_to_id=reply), "leo", "member"
    )
    first, second = comment(app, on_objective), comment(app, nested)
    assert (first.subject_type, first.mentions, first.author) == ("OBJECTIVE", ["gia"], "leo")
    assert (second.thread_id, second.reply_to_id) == (on_objective, reply)
    on_kr = comment(app, run(app, cmd.AddComment(subject_id=plan.kr, body="baseline?")))
    assert (on_kr.subject_type, on_kr.objective_id, on_kr.key_result_id) == (
        "KEY_RESULT",
        plan.objective,
        plan.kr,
    )
    run(app, cmd.ActivateObjective(objective_id=plan.objective))
    with request_context(system_context(ORG)):
        position = app.execute(cmd.CheckInKeyResult(key_result_id=plan.kr, value=3)).position
    on_check_in = comment(app, run(app, cmd.AddComment(subject_id=f"checkin:{position}", body="nice")))
    assert (on_check_in.subject_type, on_check_in.subject_id) == ("CHECK_IN", f"checkin:{position}")
    assert on_check_in.key_result_id == plan.kr
    # a reply on another subject, unknown subjects and positions that are no check-in
    assert (
        code_of(app, cmd.AddComment(subject_id=plan.kr, body="x", reply_to_id=on_objective))
        == "INVALID_INPUT"
    )
    for subject in (uuid.uuid4(), "nonsense", f"checkin:{position - 1}", "checkin:0", f"checkin:{10**9}"):
        assert code_of(app, cmd.AddComment(subject_id=subject, body="x")) == "SUBJECT_NOT_FOUND"
    assert (
        code_of(app, cmd.AddComment(subject_id=plan.kr, body="x", reply_to_id=uuid.uuid4()))
        == "COMMENT_NOT_FOUND"
    )
    assert code_of(app, cmd.AddComment(subject_id=plan.kr, body=" ")) == "INVALID_INPUT"
    assert code_of(app, cmd.AddComment(subject_id=plan.kr, body="x"), "val", "viewer") == "FORBIDDEN"


def test_another_org_sees_no_subject_and_no_comment(plan: Plan) -> None:
    """Another org's objective, key result, check-in and comment are simply not found."""
    app = plan.app
    cid = run(app, cmd.AddComment(subject_id=plan.objective, body="mine"))
    with request_context(system_context(ORG)):
        position = app.max_position()
    with request_context(_as("eve", "admin", "other-org")):
        for subject in (plan.objective, plan.kr, f"checkin:{position}"):
            with pytest.raises(DomainError) as info:
                app.execute(cmd.AddComment(subject_id=subject, body="peek"))
            assert info.value.code == "SUBJECT_NOT_FOUND"
        for command in (cmd.EditComment(comment_id=cid, body="mine now"), cmd.DeleteComment(comment_id=cid)):
            with pytest.raises(DomainError) as info:
                app.execute(command)
            assert info.value.code == "COMMENT_NOT_FOUND"


def test_only_the_author_or_an_admin_edits_and_deletes(plan: Plan) -> None:
    """A member who is not the author gets FORBIDDEN; the author and an admin may."""
    app = plan.app
    cid = run(app, cmd.AddComment(subject_id=plan.objective, body="draft @leo"), "leo", "member")
    assert code_of(app, cmd.EditComment(comment_id=cid, body="hijack"), "mia", "member") == "FORBIDDEN"
    assert code_of(app, cmd.DeleteComment(comment_id=cid), "gia", "lead") == "FORBIDDEN"
    run(app, cmd.EditComment(comment_id=cid, body="final @gia"), "leo", "member")
    assert comment(app, cid).mentions == ["gia"]
    run(app, cmd.EditComment(comment_id=cid, body="tidied by admin"), "alice", "admin")
    run(app, cmd.DeleteComment(comment_id=cid), "alice", "admin")
    assert comment(app, cid).deleted
    assert code_of(app, cmd.DeleteComment(comment_id=cid), "leo", "member") == "COMMENT_DELETED"
    assert code_of(app, cmd.EditComment(comment_id=cid, body="back"), "leo", "member") == "COMMENT_DELETED"


def test_propose_and_approve_by_a_lead_of_the_team(plan: Plan) -> None:
    """The owner proposes; only an admin or a LEAD of the team approves; only DRAFTs, in order."""
    app = plan.app
    assert code_of(app, cmd.ApproveObjective(objective_id=plan.objective), "gia", "lead") == "RULE_VIOLATION"
    run(app, cmd.ProposeObjective(objective_id=plan.objective), "gia", "lead")
    assert code_of(app, cmd.ProposeObjective(objective_id=plan.objective)) == "RULE_VIOLATION"
    assert code_of(app, cmd.ApproveObjective(objective_id=plan.objective), "leo", "member") == "FORBIDDEN"
    assert code_of(app, cmd.ApproveObjective(objective_id=plan.objective), "ola", "lead") == "FORBIDDEN"
    run(app, cmd.ApproveObjective(objective_id=plan.objective), "gia", "lead")
    with request_context(system_context(ORG)):
        objective = app.get_objective(plan.objective)
    assert objective.approval_state == ApprovalState.APPROVED.value
    assert [type(e).__name__ for e in app.events.get(plan.objective)][-2:] == [
        "ProposedForReview",
        "Approved",
    ]
    run(app, cmd.ActivateObjective(objective_id=plan.objective))
    assert code_of(app, cmd.ProposeObjective(objective_id=plan.objective)) == "OBJECTIVE_NOT_DRAFT"


def test_an_org_requiring_approval_refuses_unapproved_activation_and_revisions_reset_it(plan: Plan) -> None:
    """APPROVAL_REQUIRED until approved; a revision after approval sends it back to PROPOSED;
    orgs that never configured it and are not strict activate as before."""
    app = plan.app
    run(app, cmd.ConfigureApproval(approval_required=True))
    assert code_of(app, cmd.ConfigureApproval(approval_required=True)) == "INVALID_INPUT"
    assert code_of(app, cmd.ActivateObjective(objective_id=plan.objective)) == "APPROVAL_REQUIRED"
    run(app, cmd.ProposeObjective(objective_id=plan.objective))
    assert code_of(app, cmd.ActivateObjective(objective_id=plan.objective)) == "APPROVAL_REQUIRED"
    run(app, cmd.ApproveObjective(objective_id=plan.objective))
    run(app, cmd.ReviseObjective(objective_id=plan.objective, title="Grow faster"))
    with request_context(system_context(ORG)):
        assert app.get_objective(plan.objective).approval_state == ApprovalState.PROPOSED.value
    assert code_of(app, cmd.ActivateObjective(objective_id=plan.objective)) == "APPROVAL_REQUIRED"
    run(app, cmd.ApproveObjective(objective_id=plan.objective))
    run(app, cmd.ActivateObjective(objective_id=plan.objective))
    with request_context(system_context(ORG)):
        objective = app.get_objective(plan.objective)
    assert objective.state == "ACTIVE" and objective.approval_state == ApprovalState.APPROVED.value
    # a key-result change after approval sends it back too (as the objective loads from the log)
    run(app, cmd.ConfigureApproval(approval_required=False))
    with request_context(system_context(ORG)):
        cycle = objective.cycle_id
        other = app.execute(cmd.DraftObjective(cycle_id=cycle, title="Other", team_id=plan.team)).id
        app.execute(cmd.ProposeObjective(objective_id=other))
        app.execute(cmd.ApproveObjective(objective_id=other))
        app.execute(cmd.AddKeyResult(objective_id=other, title="New", kind="BOOLEAN"))
        assert app.repository.get(other).approval_state == ApprovalState.PROPOSED.value
        app.execute(cmd.ActivateObjective(objective_id=other))  # not required any more


def test_strict_orgs_require_approval_unless_they_opt_out(plan: Plan) -> None:
    """The issue's rule: a strict org approves before it activates (APPROVAL_REQUIRED, after the
    key-result policy); configureApproval overrides it either way."""
    app = plan.app
    run(app, cmd.ConfigureOrg(strict_policies=True))
    assert code_of(app, cmd.ActivateObjective(objective_id=plan.objective)) == "APPROVAL_REQUIRED"
    run(app, cmd.ConfigureApproval(approval_required=False))
    run(app, cmd.ActivateObjective(objective_id=plan.objective))
    with request_context(system_context(ORG)):
        assert app.get_objective(plan.objective).state == "ACTIVE"


def test_a_policy_breach_is_reported_before_a_missing_approval(plan: Plan) -> None:
    """A strict org's draft with one key result: POLICY_VIOLATION (fix the objective first)."""
    app = plan.app
    run(app, cmd.ConfigureOrg(strict_policies=True))
    with request_context(system_context(ORG, "alice")):
        cycle = app.get_objective(plan.objective).cycle_id
    lonely = run(app, cmd.DraftObjective(cycle_id=cycle, title="Lonely", team_id=plan.team))
    run(app, cmd.AddKeyResult(objective_id=lonely, title="One", kind="BOOLEAN"))
    assert code_of(app, cmd.ActivateObjective(objective_id=lonely)) == "POLICY_VIOLATION"
