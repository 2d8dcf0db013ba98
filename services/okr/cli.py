"""The `okr` command line. Each sub-command imports what it needs when it runs (fast --help):
its target is a function that returns the handler, with a plain import inside."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]
Target = Callable[[], Handler]
Spec = tuple[str, Callable[[argparse.ArgumentParser], None], Target]
_COMMANDS: dict[str, Spec] = {}


def _serve_run() -> Handler:
    from api.serve import run

    return run


def _token_run() -> Handler:
    from api.serve import mint_token

    return mint_token


def _demo_run() -> Handler:
    from api.demo import run

    return run


def _project_run() -> Handler:
    from projections.worker import run

    return run


def _replay_run() -> Handler:
    from projections.replay import run

    return run


def _relay_run() -> Handler:
    from relay.service import run

    return run


def _remind_run() -> Handler:
    from bootstrap.reminders import run

    return run


def _export_run() -> Handler:
    from api.export import run

    return run


def _report_run() -> Handler:
    from api.report import run

    return run


def command(
    name: str, help_text: str, target: Target
) -> Callable[[Callable[[argparse.ArgumentParser], None]], None]:
    """Registers a sub-command; `target()` returns the function taking the parsed args."""

    def register(configure: Callable[[argparse.ArgumentParser], None]) -> None:
        _COMMANDS[name] = (help_text, configure, target)

    return register


@command("serve", "run the GraphQL API (projections and relay in-process)", _serve_run)
def _serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="bind address (default OKR_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default OKR_PORT, 8000)")
    p.add_argument(
        "--no-projections", action="store_true", help="do not run the view runners here (`okr project` does)"
    )
    p.add_argument(
        "--no-relay", action="store_true", help="do not run the NATS relay here (`okr relay` does)"
    )


@command("token", "mint a JWT for a user of an org", _token_run)
def _token(p: argparse.ArgumentParser) -> None:
    p.add_argument("--org", required=True, help="the org the token is for (claim `org`), e.g. demo")
    p.add_argument("--user", required=True, help="the user id (claim `sub`), e.g. gia")
    p.add_argument(
        "--role",
        action="append",
        choices=["admin", "lead", "member", "viewer"],
        required=True,
        help="a role of the user (repeatable: --role lead --role member)",
    )
    p.add_argument("--ttl-hours", type=float, default=24.0, help="hours until the token expires (default 24)")


@command("demo", "load a realistic example org (support + growth teams)", _demo_run)
def _demo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--org", default="demo", help="the org to load (default demo); an existing org is left alone"
    )
    p.add_argument("--objectives", type=int, default=0, help="add a synthetic team with N objectives")
    p.add_argument("--key-results", type=int, default=4, help="key results per synthetic objective")
    p.add_argument("--tasks", type=int, default=0, help="tasks per synthetic key result")


@command("project", "run projection runners as a worker process", _project_run)
def _project(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", action="append", help="view name (repeatable; default all)")


@command("replay", "rebuild views from the log (or --verify them)", _replay_run)
def _replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", action="append", help="view name (repeatable; default all)")
    p.add_argument("--verify", action="store_true", help="rebuild into scratch tables and compare")


@command("relay", "publish the log to NATS JetStream as CloudEvents", _relay_run)
def _relay(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="publish what is there, then exit")
    p.add_argument("--batch-size", type=int, default=None, help="events per acknowledged batch (1-4000)")


@command("remind", "emit check-in reminders (CheckInDue / CheckInOverdue) as a worker process", _remind_run)
def _remind(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="run one pass at the current time, then exit")


@command("export-schema", "write the GraphQL SDL, event JSON Schemas and AsyncAPI under schema/", _export_run)
def _export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="schema", help="schema directory")
    p.add_argument("--check", action="store_true", help="exit 1 if the files differ")


@command("report", "write a closed cycle's end-of-cycle review (markdown, csv or json)", _report_run)
def _report(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cycle", required=True, help="the cycle's name (e.g. 2026-Q1) or id; it must be closed")
    p.add_argument("--team", default=None, help="only this team (its name or id; default every team)")
    p.add_argument(
        "--format",
        choices=["markdown", "csv", "json"],
        default="markdown",
        help="markdown (a table per team, to paste into a doc), csv (a row per key result) or json"
        " (the GraphQL cycleReview data); default markdown",
    )
    p.add_argument("--org", default="demo", help="the org (default demo)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="okr", description="okr-service: an event-sourced OKR backend.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, configure, _) in _COMMANDS.items():
        configure(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:  # a command is required: help on stderr, the usage-error exit code
        parser.print_help(sys.stderr)
        return 2
    return _COMMANDS[args.command][2]()(args)


if __name__ == "__main__":
    sys.exit(main())
