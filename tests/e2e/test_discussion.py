"""Discussion and approval through a real server: the README's example on the demo org, who may
edit and delete, another org seeing nothing, and a comment's event on the live subscription."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.demo import load_demo
from harness.apiserver import SECRET, Client, Subscription, ThreadedServer, server_process, token
from okr.settings import Settings
from okr.wiring import build_application

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Discussion and approval")
    ends = [i for i in (text.find("\n## ", start), text.find("\n### ", start + 1)) if i > 0]
    return text[start : min(ends)]


def test_readme_discussion_example_runs_against_the_demo_org(tmp_path: Path) -> None:
    """The demo's thread (mention, reply, reply to the reply, edited, deleted) and approved
    draft read as the README says; the reply mutation lands in the thread's root."""
    query, mutation = [
        body for lang, body in re.findall(r"```(\w+)\n(.*?)```", _section(), re.S) if lang == "graphql"
    ]
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, environment="test")
    app = build_application(settings)
    load_demo(app, "demo")
    loaded = app.max_position()
    app.close()
    with ThreadedServer(create_app(settings)) as server:
        client = Client(server.url, token("demo", user="gia", roles=("lead",)))
        objectives = client.q(query, None, **{"X-Consistent-With": str(loaded)})["objectives"]["nodes"]
        mqls = next(kr for o in objectives for kr in o["keyResults"] if kr["title"] == "MQLs")
        assert mqls["commentCount"] == 3  # root, reply, reply to the reply (the deleted one not)
        comments = mqls["comments"]
        assert comments["totalCount"] == 2  # the thread and the deleted stray comment
        root, stray = comments["nodes"]
        assert (root["author"], root["mentions"], root["deleted"]) == ("leo", ["gia"], False)
        assert (stray["body"], stray["mentions"], stray["deleted"]) == (None, [], True)
        replies = root["replies"]["nodes"]
        assert [r["author"] for r in replies] == ["gia", "mia"]
        assert replies[1]["replyToId"] != root["id"]  # it answered gia's reply, yet sits in the root's thread
        assert replies[1]["mentions"] == ["leo"] and "week 10" in replies[1]["body"]
        kb = next(o for o in objectives if o["title"] == "Publish a self-help knowledge base")
        assert kb["approval"] == {"state": "APPROVED", "proposedBy": "sam", "approvedBy": "admin"}
        assert kb["commentCount"] == 1
        result = client.q(mutation, {"kr": mqls["id"], "root": root["id"]})["addComment"]
        assert result["errors"] == []
        assert (result["comment"]["threadId"], result["comment"]["mentions"]) == (root["id"], ["leo"])
        history = client.q(
            "query($id: ID!) { history(aggregateId: $id) { eventType payload } }", {"id": stray["id"]}
        )["history"]
        assert [h["eventType"] for h in history] == ["Added", "Deleted"]
        assert "wrong thread" not in json.dumps(history)
        client.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server_process(tmp_path_factory.mktemp("discussion") / "data") as url:
        yield url


def _objective(admin: Client) -> dict[str, str]:
    cycle = admin.m("scheduleCycle", {"name": "2026-Q1", "start": "2026-01-01", "end": "2026-12-31"})
    admin.m("startCycle", {"cycleId": cycle["id"]})
    objective = admin.m("draftObjective", {"cycleId": cycle["id"], "title": "Grow pipeline"})
    kr = admin.m(
        "addKeyResult", {"objectiveId": objective["id"], "title": "MQLs", "kind": "NUMERIC", "target": 400}
    )
    return {"objective": objective["id"], "kr": kr["id"]}


def _code(client: Client, name: str, input: dict[str, object]) -> str:
    errors = client.m_raw(name, input)["data"][name]["errors"]
    assert len(errors) == 1, errors
    return str(errors[0]["code"])


def test_a_member_who_is_not_the_author_cannot_edit_or_delete_an_admin_can(server: str, org: str) -> None:
    """FORBIDDEN for another member; the author edits; an admin edits and deletes."""
    admin = Client(server, token(org))
    ids = _objective(admin)
    leo = Client(server, token(org, user="leo", roles=("member",)))
    mia = Client(server, token(org, user="mia", roles=("member",)))
    cid = leo.m("addComment", {"subjectId": ids["objective"], "body": "Is 400 enough, @alice?"})["id"]
    assert _code(mia, "editComment", {"commentId": cid, "body": "mine now"}) == "FORBIDDEN"
    assert _code(mia, "deleteComment", {"commentId": cid}) == "FORBIDDEN"
    leo.m("editComment", {"commentId": cid, "body": "Is 400 enough, @bob?"})
    admin.m("editComment", {"commentId": cid, "body": "Moderated."})
    deleted = admin.m("deleteComment", {"commentId": cid}, "comment { deleted body mentions deletedBy }")
    assert deleted["comment"] == {"deleted": True, "body": None, "mentions": [], "deletedBy": "alice"}
    assert _code(leo, "deleteComment", {"commentId": cid}) == "COMMENT_DELETED"
    for client in (admin, leo, mia):
        client.close()


def test_another_org_sees_nothing(server: str, org: str) -> None:
    """Another org can neither comment on, nor read, nor change this org's discussion."""
    admin = Client(server, token(org))
    ids = _objective(admin)
    cid = admin.m("addComment", {"subjectId": ids["kr"], "body": "internal"})["id"]
    outsider = Client(server, token(f"org-{uuid.uuid4().hex[:8]}"))
    assert _code(outsider, "addComment", {"subjectId": ids["kr"], "body": "hi"}) == "SUBJECT_NOT_FOUND"
    assert _code(outsider, "editComment", {"commentId": cid, "body": "hi"}) == "COMMENT_NOT_FOUND"
    assert _code(outsider, "deleteComment", {"commentId": cid}) == "COMMENT_NOT_FOUND"
    seen = outsider.q(
        "query($id: ID!) { keyResult(id: $id) { id } history(aggregateId: $id) { eventType } }",
        {"id": ids["kr"]},
    )
    assert seen == {"keyResult": None, "history": []}
    admin.close()
    outsider.close()


def test_a_comment_arrives_on_the_events_subscription(server: str, org: str) -> None:
    """The events feed carries Comment.Added like every other event, with its payload."""
    admin = Client(server, token(org))
    ids = _objective(admin)
    start = admin.m("proposeObjective", {"objectiveId": ids["objective"]})["position"]
    query = (
        "subscription($after: Int) {"
        " events(afterPosition: $after) { position aggregateType eventType actor payload } }"
    )
    with Subscription(server, token(org), query, {"after": start}) as events:
        written = admin.m("addComment", {"subjectId": ids["objective"], "body": "Ready for review, @gia"})
        event = events.next()["events"]
        assert (event["aggregateType"], event["eventType"], event["position"]) == (
            "Comment",
            "Added",
            written["position"],
        )
        assert event["payload"]["mentions"] == ["gia"] and event["payload"]["subject_type"] == "OBJECTIVE"
        approved = admin.m("approveObjective", {"objectiveId": ids["objective"]})
        event = events.next()["events"]
        assert (event["aggregateType"], event["eventType"], event["position"]) == (
            "Objective",
            "Approved",
            approved["position"],
        )
    admin.close()


def test_a_check_ins_comments_answer_as_of_the_key_results_instant(tmp_path: Path) -> None:
    """Under an asOf root a check-in's comments are those that existed then (never live ones)."""
    import time
    from datetime import UTC, datetime

    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, environment="test")
    with ThreadedServer(create_app(settings)) as server:
        org = f"cmt-{uuid.uuid4().hex[:8]}"
        client = Client(server.url, token(org))
        cycle = client.m("scheduleCycle", {"name": "Q", "start": "2026-10-01", "end": "2026-12-31"})["id"]
        client.m("startCycle", {"cycleId": cycle})
        objective = client.m("draftObjective", {"cycleId": cycle, "title": "Grow"})["id"]
        kr = client.m(
            "addKeyResult", {"objectiveId": objective, "title": "MQLs", "kind": "NUMERIC", "target": 9}
        )
        client.m("activateObjective", {"objectiveId": objective})
        checked = client.m("checkInKeyResult", {"keyResultId": kr["id"], "value": 3})
        time.sleep(0.05)
        before = datetime.now(tz=UTC).isoformat()
        time.sleep(0.05)
        added = client.m("addComment", {"subjectId": f"checkin:{checked['position']}", "body": "why 3?"})
        query = (
            "query($kr: ID!, $at: DateTime) { keyResult(id: $kr, asOf: $at) {"
            " checkIns { nodes { id commentCount comments { totalCount } } } } }"
        )
        live = client.q(query, {"kr": kr["id"]}, **{"X-Consistent-With": str(added["position"])})
        then = client.q(query, {"kr": kr["id"], "at": before})
        (now_node,) = live["keyResult"]["checkIns"]["nodes"]
        (then_node,) = then["keyResult"]["checkIns"]["nodes"]
        assert (now_node["commentCount"], now_node["comments"]["totalCount"]) == (1, 1)
        assert (then_node["commentCount"], then_node["comments"]["totalCount"]) == (0, 0)
        client.close()


def test_a_deleted_comments_body_is_gone_from_replayed_subscription_events(tmp_path: Path) -> None:
    """Events still in the live feed's buffer lose a deleted comment's body too: a subscription
    resuming from before the comment sees its Added event without the body."""
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, environment="test")
    query = "subscription($after: Int) { events(afterPosition: $after) { position eventType payload } }"
    with ThreadedServer(create_app(settings)) as server:
        org = f"red-{uuid.uuid4().hex[:8]}"
        bearer = token(org)
        client = Client(server.url, bearer)
        cycle = client.m("scheduleCycle", {"name": "Q", "start": "2026-10-01", "end": "2026-12-31"})["id"]
        objective = client.m("draftObjective", {"cycleId": cycle, "title": "Grow"})["id"]
        start = objective_position = client.m("reviseObjective", {"objectiveId": objective, "weight": 2})[
            "position"
        ]
        with Subscription(server.url, bearer, query, {"after": start}) as live:  # keeps the buffer filled
            added = client.m("addComment", {"subjectId": objective, "body": "secret plan"})
            client.m("deleteComment", {"commentId": added["id"]})
            assert live.next()["events"]["eventType"] == "Added"
            with Subscription(server.url, bearer, query, {"after": objective_position}) as replay:
                first = replay.next()["events"]
                assert first["eventType"] == "Added" and first["payload"]["body"] is None, first
                assert "secret plan" not in json.dumps(first)
        client.close()
