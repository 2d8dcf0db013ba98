"""A lean JetStream batch publisher for the relay (public nats-py API only).

nats-py's `js.publish_async` creates a Future, a NUID token and a semaphore slot per message
and parses every ack into a `PubAck` dataclass. The relay only needs "was every message of this
batch stored (or recognised as a duplicate)?", so it publishes each message with a reply subject
`<inbox>.<batch>.<index>` on one connection (JetStream processes them in order) and counts the
acks on one wildcard subscription (`send`, then `wait`: the relay reads the next batch
meanwhile). A batch completes when every message has an ack; an error ack, a "no responders"
status or the timeout fails it (the relay then republishes from its stored position, and
`Nats-Msg-Id` makes the repeats harmless).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

from relay.contracts import CloudEventMessage

__all__ = ["BatchPublisher", "PublishError"]


class PublishError(Exception):
    """JetStream refused a message of the batch (or nobody answered for the subject)."""


@dataclass
class _Batch:
    number: int
    size: int
    acked: int = 0
    duplicates: int = 0
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class BatchPublisher:
    """Publishes (subject, body, msg id) batches and waits for every JetStream ack."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._inbox = nc.new_inbox()
        self._numbers = itertools.count(1)
        self._current: _Batch | None = None
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(f"{self._inbox}.*.*", cb=self._on_ack)

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_ack(self, msg: Msg) -> None:
        batch = self._current
        if batch is None:
            return
        number = msg.subject[len(self._inbox) + 1 :].split(".", 1)[0]
        if number != str(batch.number):  # a late ack of an abandoned batch
            return
        if msg.headers and msg.headers.get("Status") == "503":
            batch.error = "no JetStream stream answers for this subject (503 no responders)"
            batch.done.set()
            return
        try:
            reply = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            batch.error = f"unreadable JetStream ack: {msg.data[:200]!r}"
            batch.done.set()
            return
        if "error" in reply:
            batch.error = f"JetStream refused a message: {reply['error']}"
            batch.done.set()
            return
        batch.acked += 1
        if reply.get("duplicate"):
            batch.duplicates += 1
        if batch.acked >= batch.size:
            batch.done.set()

    def fail(self, reason: str) -> None:
        """Fails the batch in flight at once (e.g. the connection dropped: its acks will not come)."""
        batch = self._current
        if batch is not None and not batch.done.is_set():
            batch.error = reason
            batch.done.set()

    async def send(self, messages: Sequence[CloudEventMessage]) -> _Batch:
        """Publishes the batch in order (header Nats-Msg-Id = CloudEvent id); acks arrive later."""
        batch = _Batch(number=next(self._numbers), size=len(messages))
        if not messages:
            batch.done.set()
            return batch
        self._current = batch
        prefix = f"{self._inbox}.{batch.number}."
        publish = self._nc.publish
        for index, message in enumerate(messages):
            await publish(
                message.subject, message.body, reply=f"{prefix}{index}", headers={"Nats-Msg-Id": message.id}
            )
        return batch

    async def wait(self, batch: _Batch, timeout: float) -> tuple[int, int]:
        """(acked, duplicates) once JetStream acknowledged every message; raises otherwise."""
        try:
            await asyncio.wait_for(batch.done.wait(), timeout)
        finally:
            if self._current is batch:
                self._current = None
        if batch.error is not None:
            raise PublishError(batch.error)
        return batch.acked, batch.duplicates
