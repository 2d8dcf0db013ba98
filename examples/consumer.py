"""A durable JetStream consumer of okr-service events that another team can copy.

It follows one org's key-result events, keeps a small derived figure per key result (latest
value, progress towards the target, number of check-ins) and the org's mean progress, and
acknowledges each message explicitly after applying it. Being a *durable* pull consumer, it
resumes where it stopped after a restart; de-duplication by CloudEvent id makes a redelivered
or republished event harmless.

    .venv/bin/python examples/consumer.py --nats nats://127.0.0.1:4222 --org demo --durable kr-dashboard

Run it with the project's virtualenv (it needs nats-py). Options: --stream (default
$OKR_NATS_STREAM or OKR_EVENTS), --prefix (default $OKR_NATS_SUBJECT_PREFIX or okr), --nats
(default $OKR_NATS_URL or nats://127.0.0.1:4222), --idle-exit SECONDS (stop after that long
without messages; without it the consumer follows the stream until Ctrl-C or SIGTERM, as a
consumer in production does). On exit it prints one JSON summary line on stdout; what it
applies is reported on stderr as it goes. Exit codes: 0 done, 2 the stream, the server or the
consumer is not usable (a message says why). In production keep `seen` and the figures in your
own database, updated in one transaction with the id of the last event applied.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import nats
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

KEY_RESULT_EVENTS = (
    "KeyResultAdded",
    "KeyResultRevised",
    "KeyResultRemoved",
    "KeyResultCheckedIn",
    "KeyResultScored",
)


class Unusable(Exception):
    """The server, the stream or the durable consumer cannot be used (exit code 2)."""


def _say(text: str) -> None:
    print(f"consumer: {text}", file=sys.stderr, flush=True)


@dataclass
class KeyResultFigure:
    title: str
    start: float
    target: float
    current: float
    check_ins: int = 0
    score: float | None = None

    @property
    def progress(self) -> float:
        if self.target == self.start:
            return 1.0 if self.current == self.target else 0.0
        return min(max((self.current - self.start) / (self.target - self.start), 0.0), 1.0)


@dataclass
class Figures:
    """The derived state: one figure per key result, plus bookkeeping for de-duplication."""

    key_results: dict[str, KeyResultFigure] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    applied: int = 0
    duplicates: int = 0
    last_position: int = 0

    def apply(self, event: dict[str, Any]) -> None:
        if event["id"] in self.seen:  # republished or redelivered: already applied
            self.duplicates += 1
            return
        self.seen.add(event["id"])
        self.applied += 1
        self.last_position = max(self.last_position, int(event["position"]))
        name = event["type"].split(".")[2]  # okr.objective.<Event>.v1
        data = event["data"]
        kr_id = str(data.get("key_result_id"))
        if name == "KeyResultAdded":
            self.key_results[kr_id] = KeyResultFigure(
                title=data["title"], start=data["start"], target=data["target"], current=data["current"]
            )
            return
        figure = self.key_results.get(kr_id)
        if figure is None:  # added before this consumer's stream window: skip
            return
        if name == "KeyResultRemoved":
            del self.key_results[kr_id]
        elif name == "KeyResultCheckedIn":
            figure.current = data["value"]
            figure.check_ins += 1
        elif name == "KeyResultRevised":
            for key in ("title", "start", "target"):
                if key in data["changes"]:
                    setattr(figure, key, data["changes"][key])
        elif name == "KeyResultScored":
            figure.score = data["score"]

    def summary(self) -> dict[str, Any]:
        progress = [kr.progress for kr in self.key_results.values()]
        return {
            "applied": self.applied,
            "duplicates": self.duplicates,
            "last_position": self.last_position,
            "mean_progress": round(sum(progress) / len(progress), 4) if progress else None,
            "key_results": {
                kr_id: {**asdict(kr), "progress": round(kr.progress, 4)}
                for kr_id, kr in self.key_results.items()
            },
        }


async def consume(
    nats_url: str,
    org: str,
    durable: str,
    *,
    stream: str = "OKR_EVENTS",
    prefix: str = "okr",
    idle_exit: float | None = None,
) -> dict[str, Any]:
    figures = Figures()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    failures: list[Exception] | None = []

    async def quiet(exc: Exception) -> None:  # nats-py's default logs each attempt with a traceback
        if failures is not None:
            failures.append(exc)  # while connecting: reported once, below
        else:
            _say(f"NATS error: {exc}")

    try:
        nc = await nats.connect(
            nats_url,
            name=f"consumer-{durable}",
            connect_timeout=5,
            allow_reconnect=False,
            max_reconnect_attempts=1,  # 0 would mean "forever" for the first connect
            error_cb=quiet,
        )
    except (OSError, TimeoutError, NatsError) as exc:
        reason = failures[-1] if failures else exc
        raise Unusable(f"cannot connect to NATS at {nats_url} ({reason}); is the server running?") from None
    failures = None
    try:
        js = nc.jetstream()
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=1000,
            ack_wait=30,
        )
        # One org's objective events; the key-result ones are picked below. (On NATS >= 2.10,
        # ConsumerConfig(filter_subjects=[...one subject per event type...]) filters on the server.)
        subject = f"{prefix}.{org}.objective.*"
        try:
            await js.stream_info(stream)
        except NotFoundError:
            raise Unusable(
                f"no stream {stream!r} on {nats_url}: the relay creates it on its first start "
                f"(`OKR_NATS_URL={nats_url} .venv/bin/okr relay --once`, or `okr serve` with "
                "OKR_NATS_URL set); pass --stream if yours has another name (OKR_NATS_STREAM)"
            ) from None
        try:
            sub = await js.pull_subscribe(subject, durable=durable, stream=stream, config=config)
        except APIError as exc:  # e.g. the durable exists with another org's subject
            raise Unusable(
                f"cannot use the durable consumer {durable!r} on stream {stream!r}: {exc.description}"
                " (a durable name follows one org: pick another --durable, or delete it)"
            ) from None
        where = f"{subject} on stream {stream!r} as durable {durable!r}"
        until = f"stops after {idle_exit:g} s without messages" if idle_exit is not None else "Ctrl-C stops"
        _say(f"following {where}; {until}")
        idle = 0.0
        while not stop.is_set():
            try:
                messages = await sub.fetch(100, timeout=1.0)
            except TimeoutError:  # nats.errors.TimeoutError; fetch() can also raise asyncio's own
                idle += 1.0
                if idle_exit is not None and idle >= idle_exit:
                    break
                continue
            idle = 0.0
            for msg in messages:
                event = json.loads(msg.data)
                if event["orgid"] != org:  # defence in depth: never mix tenants
                    await msg.term()
                    continue
                if event["type"].split(".")[2] in KEY_RESULT_EVENTS:
                    figures.apply(event)
                await msg.ack()  # explicit: only after the event was applied
            if messages:
                applied = _plural(figures.applied, "key-result event")
                _say(f"{applied} applied (position {figures.last_position})")
        if figures.applied == 0:
            _say(
                f"no new key-result events for org {org!r} (after `okr demo` the org is 'demo';"
                " is the relay publishing to this NATS, with the same stream and prefix?)"
            )
    finally:
        if nc.is_connected:
            await nc.flush()  # the last acks reach the server before we leave
        await nc.close()
    return figures.summary()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env = os.environ.get
    parser.add_argument(
        "--nats",
        default=env("OKR_NATS_URL", "nats://127.0.0.1:4222"),
        help="NATS server (default $OKR_NATS_URL or nats://127.0.0.1:4222)",
    )
    parser.add_argument(
        "--org", required=True, help="the org whose events to follow (`okr demo` loads 'demo')"
    )
    parser.add_argument("--durable", required=True, help="consumer name: resume point survives restarts")
    parser.add_argument(
        "--stream",
        default=env("OKR_NATS_STREAM", "OKR_EVENTS"),
        help="JetStream stream (default $OKR_NATS_STREAM or OKR_EVENTS)",
    )
    parser.add_argument(
        "--prefix",
        default=env("OKR_NATS_SUBJECT_PREFIX", "okr"),
        help="first subject token (default $OKR_NATS_SUBJECT_PREFIX or okr)",
    )
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after SECONDS without messages (default: follow until Ctrl-C or SIGTERM)",
    )
    args = parser.parse_args()
    try:
        summary = asyncio.run(
            consume(
                args.nats,
                args.org,
                args.durable,
                stream=args.stream,
                prefix=args.prefix,
                idle_exit=args.idle_exit,
            )
        )
    except Unusable as exc:
        _say(str(exc))
        return 2
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
