"""The `okr` command line as a new user meets it (no I/O beyond the parser and rich's rendering)."""

from __future__ import annotations

import argparse
import io
import re

import pytest
from rich.console import Console
from rich.progress import Progress

from okr import cli
from projections.replay import _bar_columns


def test_bare_okr_prints_help_on_stderr_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """No sub-command is a usage error (exit 2), with the list of commands to pick from."""
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert "usage: okr" in err
    for name in ("serve", "demo", "token", "replay", "project", "relay", "export-schema"):
        assert name in err


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_option_of_every_command_says_what_it_does() -> None:
    """`okr token --help` (and every other command) describes each option."""
    for name, sub in _subparsers(cli.build_parser()).items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"okr {name} {'/'.join(action.option_strings) or action.dest} has no help"


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_the_replay_bar_fits_the_terminal(width: int) -> None:
    """The rebuild's progress line never wraps or gets cut, down to a 40-column terminal."""
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    with Progress(*_bar_columns(width), console=console, auto_refresh=False) as bar:
        task = bar.add_task("progress, checkins", total=123_456, rate="-")
        bar.update(task, completed=61_728, rate="51,234")
        bar.refresh()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # cursor and erase codes
    lines = [ln for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    assert lines
    assert all(len(ln.rstrip()) <= width for ln in lines), lines
