"""Builds the write-side application from Settings (the edge: settings -> eventsourcing env)."""

from __future__ import annotations

from okr.application import OkrApplication
from okr.settings import Settings


def build_application(settings: Settings) -> OkrApplication:
    env = settings.eventsourcing_env()
    env["OKR_SNAPSHOT_INTERVAL"] = str(settings.snapshot_interval)
    return OkrApplication(env, retries=settings.command_retries)
