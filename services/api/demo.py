"""`okr demo`: a realistic example org, so every query has data.

- a company objective with an ARR key result; under it, the support team's objective (first-
  response time 6 h → 1 h, CSAT 72% → 90%, 85% first-contact resolution) and the growth team's
  three objectives (one of them carried over from last quarter, where it was scored and closed);
- tasks linked to key results and unlinked ones, in every state;
- weekly check-ins over last quarter and the current one so far, written with backdated
  timestamps (`RequestContext(clock=...)`), so charts, outdated flags and `asOf` have history.

Running it again for the same org changes nothing (it says so). `--objectives/--key-results/
--tasks` add a synthetic platform team of that size (used by bench/api.py).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from eventsourcing.application import AggregateNotFoundError

from api.auth import mint, resolve_keys
from api.demo_discussion import demo_discussion
from api.demo_reminders import demo_reminders
from okr import commands as c
from okr.application import OkrApplication
from okr.domain import RequestContext, request_context
from okr.domain.organization import Organization
from okr.settings import load_settings
from okr.wiring import build_application

WEEK = timedelta(days=7)


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def quarter_name(start: date) -> str:
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


@dataclass(frozen=True)
class Scale:
    """A synthetic team: objectives x key results x tasks per key result."""

    objectives: int = 0
    key_results: int = 0
    tasks: int = 0


class Loader:
    """Runs commands as a given user at a given (backdated) instant."""

    def __init__(self, app: OkrApplication, org: str) -> None:
        self.app = app
        self.org = org
        self.now = datetime.now(tz=UTC)
        self.clock = self.now

    @contextmanager
    def at(self, when: datetime) -> Iterator[None]:
        self.clock = min(when, self.now)
        yield

    def do(self, user: str, role: str, command: c.Command) -> str:
        """Runs `command` as `user` with `role`; returns the result's id."""
        frozen = self.clock
        ctx = RequestContext(org_id=self.org, actor=user, roles=frozenset({role}), clock=lambda: frozen)
        with request_context(ctx):
            result = self.app.execute(command)
        return str(result.id)


def org_exists(app: OkrApplication, org: str) -> bool:
    try:
        app.repository.get(Organization.id_for(org))
    except AggregateNotFoundError:
        return False
    return True


def _series(start: float, target: float, reached: float, weeks: int, wobble: float) -> list[float]:
    """Weekly values from start towards `reached` (a fraction of the way to target), with a wobble."""
    values = []
    for week in range(1, weeks + 1):
        share = reached * week / weeks
        noise = wobble * math.sin(week * 1.7) * abs(target - start) * 0.03
        values.append(round(start + (target - start) * share + noise, 2))
    return values


def load_demo(app: OkrApplication, org: str, scale: Scale = Scale()) -> dict[str, str]:
    """Writes the demo org; returns the main ids. Raises ValueError if the org exists."""
    if org_exists(app, org):
        msg = f"org {org!r} already exists"
        raise ValueError(msg)
    d = Loader(app, org)
    today = d.now.date()
    this_q = quarter_start(today)
    last_q = add_months(this_q, -3)
    q_start = datetime.combine(last_q, time(9), tzinfo=UTC)
    ids: dict[str, str] = {}

    # ------------------------------------------------------------ last quarter
    with d.at(q_start):
        d.do("admin", "admin", c.ConfigureOrg(strict_policies=False, cadence_days=7))
        last = d.do(
            "admin",
            "admin",
            c.ScheduleCycle(name=quarter_name(last_q), start=last_q, end=this_q - timedelta(days=1)),
        )
        d.do("admin", "admin", c.StartCycle(cycle_id=last))
        current = d.do(
            "admin",
            "admin",
            c.ScheduleCycle(
                name=quarter_name(this_q), start=this_q, end=add_months(this_q, 3) - timedelta(days=1)
            ),
        )
        support = d.do("admin", "admin", c.CreateTeam(name="Customer Support"))
        growth = d.do("admin", "admin", c.CreateTeam(name="Growth"))
        for team, user, role in [
            (support, "sam", "LEAD"),
            (support, "ana", "MEMBER"),
            (support, "raj", "MEMBER"),
            (growth, "gia", "LEAD"),
            (growth, "leo", "MEMBER"),
            (growth, "mia", "MEMBER"),
        ]:
            d.do("admin", "admin", c.AddTeamMember(team_id=team, user_id=user, role=role))
        onboarding = d.do(
            "gia",
            "lead",
            c.DraftObjective(
                cycle_id=last,
                team_id=growth,
                title="Launch self-serve onboarding",
                description="Let trial users reach value without a sales call.",
            ),
        )
        activation = d.do(
            "gia",
            "lead",
            c.AddKeyResult(
                objective_id=onboarding,
                title="Activation rate of new trials",
                kind="PERCENTAGE",
                start=30,
                target=45,
            ),
        )
        flows = d.do(
            "gia",
            "lead",
            c.AddKeyResult(
                objective_id=onboarding, title="Guided setup flows shipped", kind="NUMERIC", start=0, target=4
            ),
        )
        d.do("gia", "lead", c.ActivateObjective(objective_id=onboarding))
    weekly = zip(_series(30, 45, 0.7, 12, 1), _series(0, 4, 0.75, 12, 0), strict=True)
    for week, (rate, shipped) in enumerate(weekly, start=1):
        with d.at(q_start + week * WEEK):
            d.do("leo", "member", c.CheckInKeyResult(key_result_id=activation, value=rate, confidence=0.6))
            d.do(
                "mia",
                "member",
                c.CheckInKeyResult(key_result_id=flows, value=float(round(shipped)), confidence=0.7),
            )
    with d.at(datetime.combine(this_q, time(8), tzinfo=UTC) - timedelta(days=1)):
        d.do(
            "gia",
            "lead",
            c.CloseObjective(
                objective_id=onboarding,
                learnings="Guided flows worked; the data-import step still loses a third of trials.",
            ),
        )
        d.do("admin", "admin", c.CloseCycle(cycle_id=last))

    # ------------------------------------------------------------ this quarter: plan
    start = datetime.combine(this_q, time(9), tzinfo=UTC)
    with d.at(start):
        d.do("admin", "admin", c.StartCycle(cycle_id=current))
        company = d.do(
            "admin",
            "admin",
            c.DraftObjective(
                cycle_id=current, title="Become the go-to tool for mid-market teams", driver="BOTH"
            ),
        )
        arr = d.do(
            "admin",
            "admin",
            c.AddKeyResult(
                objective_id=company, title="ARR", kind="CURRENCY", unit="EUR m", start=2.0, target=3.0
            ),
        )
        d.do(
            "admin",
            "admin",
            c.AddKeyResult(
                objective_id=company,
                title="Net revenue retention",
                kind="THRESHOLD",
                unit="%",
                start=100,
                target=105,
            ),
        )
        d.do("admin", "admin", c.ActivateObjective(objective_id=company))

        csx = d.do(
            "sam",
            "lead",
            c.DraftObjective(
                cycle_id=current,
                team_id=support,
                title="Delight customers with fast, first-time-right support",
                description="Customers wait too long and often need a second contact.",
            ),
        )
        frt = d.do(
            "sam",
            "lead",
            c.AddKeyResult(
                objective_id=csx,
                title="Median first-response time",
                kind="NUMERIC",
                unit="h",
                start=6,
                target=1,
            ),
        )
        csat = d.do(
            "sam",
            "lead",
            c.AddKeyResult(objective_id=csx, title="CSAT", kind="PERCENTAGE", start=72, target=90),
        )
        fcr = d.do(
            "sam",
            "lead",
            c.AddKeyResult(
                objective_id=csx, title="First-contact resolution", kind="PERCENTAGE", start=68, target=85
            ),
        )
        d.do("admin", "admin", c.AlignObjective(objective_id=csx, parent_objective_id=company))
        d.do("sam", "lead", c.ActivateObjective(objective_id=csx))

        engine = d.do(
            "gia",
            "lead",
            c.DraftObjective(cycle_id=current, team_id=growth, title="Make marketing a growth engine"),
        )
        mqls = d.do(
            "gia",
            "lead",
            c.AddKeyResult(objective_id=engine, title="MQLs", kind="NUMERIC", start=0, target=400),
        )
        trial = d.do(
            "gia",
            "lead",
            c.AddKeyResult(
                objective_id=engine, title="Trial-to-paid conversion", kind="PERCENTAGE", start=0, target=22
            ),
        )
        hours = d.do(
            "gia",
            "lead",
            c.AddKeyResult(
                objective_id=engine,
                title="Hours spent on manual reporting per week",
                kind="NUMERIC",
                unit="h",
                start=9,
                target=1,
            ),
        )
        d.do("gia", "lead", c.AlignObjective(objective_id=engine, parent_key_result_id=arr))
        d.do("gia", "lead", c.ActivateObjective(objective_id=engine))

        carried = d.do("gia", "lead", c.CarryOverObjective(objective_id=onboarding, target_cycle_id=current))
        d.do("gia", "lead", c.AlignObjective(objective_id=carried, parent_key_result_id=arr))
        d.do("gia", "lead", c.ActivateObjective(objective_id=carried))

        dach = d.do(
            "gia", "lead", c.DraftObjective(cycle_id=current, team_id=growth, title="Open the DACH market")
        )
        dach_customers = d.do(
            "gia",
            "lead",
            c.AddKeyResult(
                objective_id=dach,
                title="German-speaking paying customers",
                kind="NUMERIC",
                start=0,
                target=50,
            ),
        )
        pages = d.do(
            "gia",
            "lead",
            c.AddKeyResult(
                objective_id=dach,
                title="Localized landing pages live",
                kind="NUMERIC",
                start=0,
                target=6,
                source="TASKS",
            ),
        )
        d.do(
            "gia",
            "lead",
            c.AddKeyResult(objective_id=dach, title="Reseller agreement signed", kind="BOOLEAN"),
        )
        d.do("gia", "lead", c.AlignObjective(objective_id=dach, parent_objective_id=company))
        d.do("gia", "lead", c.ActivateObjective(objective_id=dach))

        tasks: dict[str, str] = {}
        for key, user, title, kr, impact in [
            ("macros", "ana", "Macros for the 20 most common ticket types", frt, "HIGH"),
            ("weekend", "raj", "Staff a weekend shift", frt, "MEDIUM"),
            ("survey", "ana", "Redesign the post-ticket survey", csat, "LOW"),
            ("kb", "raj", "Tier-1 knowledge base", fcr, "HIGH"),
            ("tags", "raj", "Clean up ticket tags", None, "LOW"),
            ("webinar", "leo", "Monthly product webinar", mqls, "MEDIUM"),
            ("pricing", "mia", "Pricing page experiment", trial, "HIGH"),
            ("dashboard", "leo", "Automated weekly funnel dashboard", hours, "HIGH"),
            ("de-pages-1", "mia", "Landing page: Berlin", pages, "MEDIUM"),
            ("de-pages-2", "mia", "Landing page: Munich", pages, "MEDIUM"),
            ("de-pages-3", "mia", "Landing page: Vienna", pages, "LOW"),
            ("offsite", "gia", "Plan the team offsite", None, "LOW"),
            ("reseller", "gia", "Shortlist DACH resellers", dach_customers, "HIGH"),
        ]:
            team = support if user in ("ana", "raj") else growth
            tasks[key] = d.do(
                user,
                "member",
                c.CreateTask(
                    title=title,
                    key_result_id=kr,
                    impact=impact,
                    team_id=team,
                    assignee=user,
                    cycle_id=current if kr is None else None,
                ),
            )

    # ------------------------------------------------------------ this quarter: weekly rhythm
    elapsed = min(13, max(1, (d.now - start).days // 7))
    plan = [  # key result, start, target, share reached by week 13, wobble, confidence, who
        (frt, 6, 1, 0.55, 1, 0.7, "sam", "lead"),
        (csat, 72, 90, 0.5, 1, 0.6, "ana", "member"),
        (fcr, 68, 85, 0.45, 1, 0.35, "raj", "member"),
        (mqls, 0, 400, 0.925, 1, 0.8, "leo", "member"),
        (trial, 0, 22, 0.86, 0, 0.7, "mia", "member"),
        (hours, 9, 1, 0.75, 0, 0.9, "leo", "member"),
        (dach_customers, 0, 50, 0.3, 1, 0.3, "gia", "lead"),
        (arr, 2.0, 3.0, 0.5, 0, 0.6, "admin", "admin"),
    ]
    transitions: dict[int, list[tuple[str, type[c.StartTask | c.CompleteTask | c.CancelTask]]]] = {
        1: [("macros", c.StartTask)],
        2: [("kb", c.StartTask), ("webinar", c.StartTask)],
        3: [("macros", c.CompleteTask)],
        4: [("pricing", c.StartTask), ("de-pages-1", c.CompleteTask)],
        5: [("dashboard", c.StartTask), ("survey", c.CancelTask)],
        6: [("dashboard", c.CompleteTask), ("de-pages-2", c.StartTask)],
        7: [("weekend", c.StartTask)],
        8: [("de-pages-2", c.CompleteTask)],
        9: [("kb", c.CompleteTask)],
    }
    for week in range(1, elapsed + 1):
        with d.at(start + week * WEEK - timedelta(hours=2)):
            for kr_id, first, target, reached, wobble, confidence, user, role in plan:
                if kr_id == dach_customers and week % 2:
                    continue  # every other week: shows up as outdated now and then
                # spread over the weeks that have passed, so "now" shows the planned share
                value = _series(first, target, reached, elapsed, wobble)[week - 1]
                d.do(
                    user,
                    role,
                    c.CheckInKeyResult(
                        key_result_id=kr_id, value=value, confidence=confidence, note=f"week {week}"
                    ),
                )
            for key, transition in transitions.get(week, []):
                d.do("gia", "lead", transition(task_id=tasks[key]))

    # ------------------------------------------------------------ optional synthetic scale
    if scale.objectives:
        with d.at(start + timedelta(hours=1)):
            platform = d.do("admin", "admin", c.CreateTeam(name="Platform"))
            for o in range(scale.objectives):
                oid = d.do(
                    "admin",
                    "admin",
                    c.DraftObjective(cycle_id=current, team_id=platform, title=f"Platform objective {o + 1}"),
                )
                krs = [
                    d.do(
                        "admin",
                        "admin",
                        c.AddKeyResult(
                            objective_id=oid, title=f"Metric {k + 1}", kind="NUMERIC", start=0, target=100
                        ),
                    )
                    for k in range(scale.key_results)
                ]
                d.do("admin", "admin", c.ActivateObjective(objective_id=oid))
                for n, kr_id in enumerate(krs):
                    d.do(
                        "admin",
                        "admin",
                        c.CheckInKeyResult(key_result_id=kr_id, value=float(10 + 7 * n), confidence=0.7),
                    )
                    for t in range(scale.tasks):
                        d.do(
                            "admin",
                            "admin",
                            c.CreateTask(
                                title=f"Task {t + 1}",
                                key_result_id=kr_id,
                                impact=("HIGH", "MEDIUM", "LOW")[t % 3],
                            ),
                        )
                ids.setdefault("platformObjective", oid)

    ids.update(demo_reminders(d, start))  # check-in reminders: due and overdue ones (api.demo_reminders)
    ids.update(demo_discussion(d, mqls=mqls, support_team=support, cycle=current))  # api.demo_discussion
    ids.update(
        org=org, cycle=current, previousCycle=last, company=company, support=csx, growth=engine,
        carriedOver=carried, dach=dach, supportTeam=support, growthTeam=growth, mqls=mqls,
    )  # fmt: skip
    return ids


def plural(n: int, word: str) -> str:
    """`1 objective`, `2 objectives`, `1 check-in`, `3 check-ins`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_LOADED = (
    ("team", "okr.domain.team:Team.Created"),
    ("objective", "okr.domain.objective:Objective.Drafted"),
    ("key result", "okr.domain.objective:Objective.KeyResultAdded"),
    ("check-in", "okr.domain.objective:Objective.KeyResultCheckedIn"),
    ("task", "okr.domain.task:Task.Created"),
)


def loaded_summary(app: OkrApplication, after: int) -> str:
    """What the log gained after position `after`: '2 teams, 6 objectives, ...'."""
    counts: dict[str, int] = {}
    start = after + 1
    while True:
        page = app.recorder.select_notifications(start, 5000)
        for n in page:
            counts[n.topic] = counts.get(n.topic, 0) + 1
        if len(page) < 5000:
            break
        start = page[-1].id + 1
    return ", ".join(plural(counts.get(topic, 0), word) for word, topic in _LOADED)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    app = build_application(settings)
    org = args.org
    scale = Scale(
        objectives=getattr(args, "objectives", 0) or 0,
        key_results=getattr(args, "key_results", 4) or 4,
        tasks=getattr(args, "tasks", 0) or 0,
    )
    try:
        if org_exists(app, org):
            print(f"okr demo: org {org!r} already exists; nothing was loaded (use --org for a fresh one)")
            return 0
        before = app.max_position()
        ids = load_demo(app, org, scale)
        print(
            f"loaded the demo org {org!r}: {loaded_summary(app, before)}"
            f" ({plural(app.max_position(), 'event')} in the log)"
        )
        print(f"  current cycle: {ids['cycle']}")
        print(f"  check-in reminders emitted: {ids['reminders']} (okr.<org>.reminder.> on NATS)")
        print(f"  closed cycle (its review: cycleReview, okr report --cycle ID): {ids['previousCycle']}")
        try:
            keys = resolve_keys(settings)
        except RuntimeError as exc:  # e.g. production without a configured key
            print(f"  (no token printed: {exc})")
            return 0
        if keys.signing_key is not None:
            print(f"  admin token for org {org!r} (24 h; `okr token --org {org}` mints more):")
            print(f"  Authorization: Bearer {mint(keys, org=org, user='admin', roles=['admin'])}")
        else:
            print(f"  sign tokens for org {org!r} with your identity provider (RS256)")
        return 0
    except ValueError as exc:
        print(f"okr demo: {exc}", file=sys.stderr)
        return 1
    finally:
        app.close()
