"""OKR_REMINDERS: the in-process reminder scheduler is on in development, off elsewhere, unless set."""

from __future__ import annotations

import pytest

from okr.settings import Settings


@pytest.mark.parametrize(
    ("environment", "reminders", "enabled"),
    [
        ("development", None, True),
        ("test", None, False),
        ("production", None, False),
        ("production", True, True),
        ("development", False, False),
    ],
)
def test_reminders_default_to_development_only(
    environment: str, reminders: bool | None, enabled: bool
) -> None:
    """`okr serve` runs the scheduler by default in development; production runs `okr remind` or opts in."""
    settings = Settings(environment=environment, reminders=reminders)  # type: ignore[arg-type]
    assert settings.reminders_enabled is enabled


def test_the_reminder_interval_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """OKR_REMINDER_INTERVAL_S is read from the environment and refused below one second."""
    monkeypatch.setenv("OKR_REMINDER_INTERVAL_S", "5")
    monkeypatch.setenv("OKR_REMINDERS", "true")
    settings = Settings()
    assert (settings.reminder_interval_s, settings.reminders) == (5.0, True)
    monkeypatch.setenv("OKR_REMINDER_INTERVAL_S", "0")
    with pytest.raises(ValueError, match="reminder_interval_s"):
        Settings()
