"""CI runs exactly the README's install and test commands (so the README cannot drift from CI)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Two commands") : text.index("\n## ", text.index("## Two commands") + 1)]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_has_the_two_commands() -> None:
    """The README's set-up section holds exactly two commands: install+serve, and the tests."""
    install, tests = _readme_commands()
    assert install.endswith("&& .venv/bin/okr serve")
    assert "pytest" in tests


def test_ci_runs_the_readme_commands() -> None:
    """.ci/run runs the README's install command (without serving) and its test command verbatim."""
    install, tests = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert install.removesuffix(" && .venv/bin/okr serve") in ci
    assert tests in ci


def test_every_setting_is_in_the_readme_table() -> None:
    """Each Settings field has its OKR_* row in the README's settings table."""
    from okr.settings import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [f"OKR_{name.upper()}" for name in Settings.model_fields if f"OKR_{name.upper()}" not in readme]
    assert missing == []
