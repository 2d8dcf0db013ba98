"""NATS JetStream helpers for relay tests: a private stream per test, reading a subject back,
deleting the stream, and what the relay must publish."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import nats
import nats.js.errors

from okr.application import OkrApplication
from okr.settings import Settings
from relay.contracts import is_public_topic


def relay_settings_for(base: Settings, nats_url: str) -> Settings:
    """A unique stream and subject prefix per test, so tests never see each other's messages."""
    tag = uuid.uuid4().hex[:10]
    return base.model_copy(
        update={"nats_url": nats_url, "nats_stream": f"OKR_T_{tag}", "nats_subject_prefix": f"okrt{tag}"}
    )


async def _delete_stream(nats_url: str, stream: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)
    finally:
        await nc.close()


def delete_stream(nats_url: str, stream: str) -> None:
    asyncio.run(_delete_stream(nats_url, stream))


async def _read_subject(nats_url: str, stream: str, subject: str, expect: int, timeout: float) -> list[Any]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(subject, stream=stream)
        messages: list[Any] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                batch = await sub.fetch(500, timeout=0.3)
            except TimeoutError:  # nats.errors.TimeoutError is one, and fetch raises both
                if len(messages) >= expect:
                    break
                continue
            for msg in batch:
                await msg.ack()
            messages.extend(batch)
        await sub.unsubscribe()
        return messages
    finally:
        await nc.close()


def read_subject(
    nats_url: str, stream: str, subject: str, expect: int = 0, timeout: float = 5.0
) -> list[Any]:
    """Every message of the stream on `subject` (waits until at least `expect` arrived)."""
    return asyncio.run(_read_subject(nats_url, stream, subject, expect, timeout))


def public_events(app: OkrApplication) -> list[Any]:
    """The log's public notifications in order (what the relay must publish)."""
    return [
        n for n in app.recorder.select_notifications(start=1, limit=1_000_000) if is_public_topic(n.topic)
    ]
