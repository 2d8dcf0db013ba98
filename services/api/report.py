"""`okr report --cycle NAME [--team NAME] --format markdown|csv|json`: the end-of-cycle review
(`cycleReview`) on stdout, read from the event store the settings name (no server needed).

- markdown: what a manager pastes into a doc — the cycle's figures, then one table per team
  (an objective per row, its key results listed in it), no sparklines;
- csv: one row per key result with its objective's and team's figures, a header row, RFC 4180
  quoting (the csv module), for a spreadsheet;
- json: the GraphQL review's data (`{"cycleReview": ...}` with every field).

A cycle or team is named by its name (or id); an unknown or ambiguous one, or a cycle that is not
closed yet, is a clear message on stderr and exit status 2. It lives in the API package because
its JSON is the GraphQL types' data (api.review).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar
from uuid import UUID

from api.review import CycleReview as CycleReviewType
from api.review import data
from api.types import fig, num
from bootstrap import runtime
from okr.domain.errors import DomainError
from okr.settings import load_settings
from projections.model import CycleReview, KeyResultReview, ObjectiveReview, ReviewSummary, TeamReview
from projections.runtime import SqlReadModel

FORMATS = ("markdown", "csv", "json")
CATCH_UP_S = 120.0
CSV_HEADER = (
    "team",
    "objective",
    "objective_state",
    "objective_score",
    "objective_grade",
    "key_result",
    "kind",
    "unit",
    "start",
    "target",
    "value_at_close",
    "progress",
    "score",
    "grade",
    "progress_change",
    "cadence_days",
    "check_ins",
    "periods",
    "periods_with_check_in",
    "discipline",
    "unfinished",
    "learnings",
)
T = TypeVar("T")


class ReportError(Exception):
    """A name that names nothing (or several things), or a cycle that cannot be reviewed yet."""


def _pick(
    kind: str, wanted: str, items: Sequence[T], name: Callable[[T], str], ident: Callable[[T], UUID]
) -> T:
    matches = [i for i in items if str(ident(i)) == wanted] or [i for i in items if name(i) == wanted]
    if not matches:
        matches = [i for i in items if name(i).casefold() == wanted.casefold()]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(sorted({name(i) for i in items})) or "none"
    if not matches:
        raise ReportError(f"no {kind} named {wanted!r} (known: {known})")
    raise ReportError(f"{len(matches)} {kind}s are named {wanted!r}: give its id instead")


def review_for(read_model: SqlReadModel, org: str, cycle: str, team: str | None) -> CycleReview:
    """The review of the cycle and team named (names as they are now, or ids)."""
    found = _pick("cycle", cycle, read_model.cycles(org), lambda c: c.name, lambda c: c.id)
    team_id = None
    if team is not None:
        team_id = _pick("team", team, read_model.teams(org), lambda t: t.name, lambda t: t.id).id
    try:
        return read_model.cycle_review(org, found.id, team_id)
    except DomainError as exc:
        raise ReportError(f"{exc.message} ({exc.code})") from None


# ---------------------------------------------------------------------------------- formats
def _pct(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _cell(text: str) -> str:
    """Markdown table cell: pipes escaped, line breaks as spaces."""
    return " ".join(text.replace("|", "\\|").split())


def _team_name(t: TeamReview) -> str:
    return t.team_name if t.team_name is not None else "(no team)"


def _summary_lines(s: ReviewSummary) -> list[str]:
    grades = ", ".join(f"{g} {n}" for g, n in s.grade_distribution.items())
    movers = "; ".join(
        f"{k.title} ({'+' if k.progress_change >= 0 else ''}{round(k.progress_change * 100)} pts)"
        for k in s.biggest_movers
    )
    return [
        f"- Objectives closed: {s.objectives}" + (f" (abandoned: {s.abandoned})" if s.abandoned else ""),
        f"- Grades: {grades}",
        f"- Mean score: {_num(s.mean_score)}",
        f"- Check-in discipline: {_pct(s.check_in_discipline)}"
        f" ({s.periods_with_check_in} of {s.periods} cadence periods with a check-in)",
        f"- Done tasks aligned to a key result: {_pct(s.aligned_done_share)}"
        f" ({s.aligned_done_tasks} of {s.done_tasks})",
        f"- Biggest movers: {movers or 'none'}",
    ]


def _key_results(o: ObjectiveReview) -> str:
    parts = [
        f"{k.title}: {_num(k.value)}/{_num(k.target)}{(' ' + k.unit) if k.unit else ''}"
        f" (score {_num(k.score, 1)}, check-ins {_pct(k.discipline)})"
        for k in o.key_results
    ]
    return "; ".join(parts) or "–"


def markdown(review: CycleReview) -> str:
    c = review.cycle
    lines = [
        f"# Review of {c.name} ({c.start.isoformat()} – {c.end.isoformat()})",
        "",
        f"As of the cycle's close, {review.closed_at.strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        *_summary_lines(review.summary),
    ]
    for team in review.teams:
        lines += ["", f"## {_cell(_team_name(team))}", "", *_summary_lines(team.summary), ""]
        lines += [
            "| Objective | Score | Grade | Key results (value/target, score, check-in discipline) "
            "| Unfinished (carry over) | Learnings |",
            "|---|---|---|---|---|---|",
        ]
        for o in team.objectives:
            title = o.title if o.state == "CLOSED" else f"{o.title} ({o.state.lower()})"
            unfinished = ", ".join(k.title for k in o.carried_over) or "–"
            lines.append(
                f"| {_cell(title)} | {_num(o.score, 2)} | {o.grade or '–'} | {_cell(_key_results(o))} "
                f"| {_cell(unfinished)} | {_cell(o.learnings) or '–'} |"
            )
    return "\n".join(lines) + "\n"


def _csv_number(value: float | None) -> str:
    """A value as entered, unrounded (empty: none)."""
    return "" if value is None else repr(num(float(value)))


def _csv_figure(value: float | None) -> str:
    """A figure (progress, score, share) rounded as the API rounds it (empty: none)."""
    return "" if value is None else repr(fig(float(value)))


def csv_text(review: CycleReview) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: CRLF, quotes where needed
    writer.writerow(CSV_HEADER)
    for team in review.teams:
        for o in team.objectives:
            k: KeyResultReview
            for k in o.key_results:
                writer.writerow(
                    (
                        _team_name(team),
                        o.title,
                        o.state,
                        _csv_figure(o.score),
                        o.grade or "",
                        k.title,
                        k.kind,
                        k.unit,
                        _csv_number(k.start),
                        _csv_number(k.target),
                        _csv_number(k.value),
                        _csv_figure(k.progress),
                        _csv_figure(k.score),
                        k.grade or "",
                        _csv_figure(k.progress_change),
                        k.cadence_days,
                        k.check_ins,
                        k.periods,
                        k.periods_with_check_in,
                        _csv_figure(k.discipline),
                        "yes" if k.unfinished else "no",
                        o.learnings,
                    )
                )
    return out.getvalue()


def json_text(review: CycleReview) -> str:
    return (
        json.dumps({"cycleReview": data(CycleReviewType.from_view(review))}, indent=2, ensure_ascii=False)
        + "\n"
    )


RENDER: dict[str, Callable[[CycleReview], str]] = {"markdown": markdown, "csv": csv_text, "json": json_text}


def run(args: argparse.Namespace) -> int:
    """Catches the views up with the log (the same runners as `okr project`, safe beside
    another process's), then writes the review."""
    settings = load_settings()
    try:
        with runtime(settings, run_projections=True, run_relay=False) as rt:
            rt.read_model.wait_for(rt.app.max_position(), CATCH_UP_S)
            review = review_for(rt.read_model, args.org, args.cycle, args.team)
    except ReportError as exc:
        print(f"okr report: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(RENDER[args.format](review))
    return 0
