"""Live CloudEvents for other processes: ``subscribe_live(nats_url, org, ...)``.

An ephemeral *ordered* JetStream consumer (no state on the server after it ends). The API's
GraphQL subscriptions use it in multi-process deployments, so a client on any API process sees
every change::

    async for event in subscribe_live(
        settings.nats_url, "acme", aggregate="objective",
        stream=settings.nats_stream, prefix=settings.nats_subject_prefix,
    ):
        print(event["type"], event["subject"], event["position"], event["data"])

Break out of the loop (or ``aclose()`` the iterator) to unsubscribe.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Literal

import nats
import orjson
from nats.js.api import DeliverPolicy

from relay.contracts import SUBJECT_PREFIX, sanitize_token
from relay.service import NATS_FAILURES

__all__ = ["subscribe_live"]


async def subscribe_live(
    nats_url: str,
    org: str,
    *,
    aggregate: str | None = None,
    event: str | None = None,
    stream: str = "OKR_EVENTS",
    prefix: str = SUBJECT_PREFIX,
    deliver: Literal["new", "all"] = "new",
) -> AsyncIterator[dict[str, Any]]:
    """CloudEvents of one org (optionally one aggregate type / event name), in stream order.

    An ephemeral ordered consumer: nothing stays on the server when the iterator is closed.
    `deliver="all"` starts at the beginning of the stream, "new" at the next published event.
    """
    aggregate_token = sanitize_token(aggregate) if aggregate else "*"
    event_token = sanitize_token(event) if event else "*"
    subject = f"{prefix}.{sanitize_token(org)}.{aggregate_token}.{event_token}"
    nc = await nats.connect(nats_url, name="okr-live")
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            subject,
            stream=stream,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL if deliver == "all" else DeliverPolicy.NEW,
        )
        try:
            async for msg in sub.messages:
                decoded: dict[str, Any] = orjson.loads(msg.data)
                yield decoded
        finally:
            with contextlib.suppress(*NATS_FAILURES):
                await sub.unsubscribe()
    finally:
        with contextlib.suppress(*NATS_FAILURES):
            await nc.close()
