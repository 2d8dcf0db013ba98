"""The base aggregate: every event carries org, actor, correlation and causation ids."""

from __future__ import annotations

import copy
import math
import unicodedata
from dataclasses import field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from okr.domain.context import current_context, now
from okr.domain.errors import InvalidValueError, ValidationError

MAX_ABS_NUMBER = 1e15
MAX_TITLE = 200
MAX_TEXT = 10_000
MAX_UNIT = 32


def _org() -> str:
    return current_context().org_id


def _actor() -> str:
    return current_context().actor


def _correlation() -> str:
    return current_context().correlation_id


def _causation() -> str:
    return current_context().causation_id


class OkrAggregate(Aggregate):
    """Tenant-owned aggregate. Audit fields come from the request context, never from args."""

    org_id: str

    class Event(Aggregate.Event):
        org_id: str = field(default_factory=_org, init=False)
        actor: str = field(default_factory=_actor, init=False)
        correlation_id: str = field(default_factory=_correlation, init=False)
        causation_id: str = field(default_factory=_causation, init=False)

        @staticmethod
        def create_timestamp() -> datetime:
            return now()

        def apply(self, aggregate: Any) -> None:
            aggregate.modified_by = self.actor

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """A fast structural copy (the repository copies cached aggregates for every command).

        Aggregate state is JSON-like (scalars, UUIDs, datetimes, dicts, lists and small
        dataclasses with a `copy()`), so a targeted copy replaces copy.deepcopy's generic walk.
        """
        clone = object.__new__(type(self))
        clone.__dict__.update({k: _copy_value(v) for k, v in self.__dict__.items()})
        return clone

    class Created(Event, Aggregate.Created):
        def apply(self, aggregate: Any) -> None:
            aggregate.org_id = self.org_id
            aggregate.created_by = self.actor
            aggregate.modified_by = self.actor


def is_declared_event(cls: type) -> bool:
    """Whether an event class was declared in its aggregate's module. The library subclasses a
    declared class under the same name (adding the aggregate's base Event and, for `@event(C)`,
    the caller of the decorated method), so the class an aggregate holds has a base of its own
    name; an event class the library makes up (the unused generic `Created`) has none."""
    return any(
        base.__qualname__ == cls.__qualname__ and base.__module__ == cls.__module__
        for base in cls.__mro__[1:]
    )


def event_classes(aggregate: type[OkrAggregate]) -> tuple[type[OkrAggregate.Event], ...]:
    """The event classes an aggregate declares, as stored (`Objective.KeyResultCheckedIn`)."""
    base = aggregate.Event
    return tuple(
        value
        for value in vars(aggregate).values()
        if isinstance(value, type)
        and issubclass(value, base)
        and value is not base
        and is_declared_event(value)
    )


_IMMUTABLE = (str, int, float, bool, type(None), UUID, datetime, tuple, frozenset)


def _copy_value(value: Any) -> Any:
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_value(v) for v in value]
    copier = getattr(value, "copy_state", None)
    if copier is not None:
        return copier()
    return copy.deepcopy(value)


# --- input checks shared by the aggregates -------------------------------------------------


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 key result", "2 key results" (messages a person reads)."""
    return f"{n} {singular if n == 1 else (plural_form or singular + 's')}"


# Bidirectional embedding, override and isolate controls: they reorder how text is displayed
# (an audit line can be made to read differently from what it stores).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Visible as nothing, though not format characters (Cf) or whitespace.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u180e")


def _invisible(ch: str) -> bool:
    return ch.isspace() or ch in _BLANK_LOOKING or unicodedata.category(ch) in ("Cf", "Cc", "Zs")


def check_display_text(value: str, field_name: str) -> str:
    """Text shown to people as a name (titles, team names, owners, user ids, actors):

    - no bidirectional embedding/override/isolate characters (U+202A-U+202E, U+2066-U+2069)
      anywhere, so what is displayed is what is stored;
    - at least one visible character: a value made only of zero-width or other invisible
      characters (U+200B, U+200C, U+200D, U+2060, U+FEFF, ...) is refused.

    Ordinary emoji, ZWJ emoji sequences (e.g. a woman technologist) and accents are kept.
    Raises ValidationError naming `field_name`; returns the value unchanged.
    """
    bidi = sorted({f"U+{ord(ch):04X}" for ch in value if ch in BIDI_CONTROLS})
    if bidi:
        raise ValidationError(
            f"{field_name} must not contain bidirectional control characters ({', '.join(bidi)})",
            field=field_name,
        )
    if value and all(_invisible(ch) for ch in value):
        raise ValidationError(
            f"{field_name} must contain visible characters (got only invisible ones)",
            field=field_name,
        )
    return value


def check_title(value: object, field_name: str = "title") -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field_name} must be a string", field=field_name)
    title = value.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise ValidationError(
            f"{field_name} must be 1-{MAX_TITLE} characters (got {len(title)})", field=field_name
        )
    return check_display_text(check_storable(title, field_name), field_name)


def check_text(value: object, field_name: str, max_len: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{field_name} must be a string", field=field_name)
    if len(value) > max_len:
        raise ValidationError(
            f"{field_name} must be at most {max_len} characters (got {len(value)})",
            field=field_name,
        )
    return check_storable(value, field_name)


def check_storable(value: str, field_name: str) -> str:
    """Refuses what no store can hold: NUL (PostgreSQL text refuses it, so a view would fail on
    the event forever) and lone surrogates (not encodable as UTF-8)."""
    if "\x00" in value:
        raise ValidationError(f"{field_name} must not contain NUL characters", field=field_name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"{field_name} must be valid Unicode (no lone surrogates)", field=field_name
        ) from None
    return value


def check_number(value: object, field_name: str) -> float:
    """Finite and within +-1e15; bools and strings are refused; -0.0 becomes 0.0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValueError(f"{field_name} must be a number", field=field_name)
    try:
        number = float(value)
    except OverflowError:
        raise InvalidValueError(f"{field_name} is out of range", field=field_name) from None
    if not math.isfinite(number):
        raise InvalidValueError(f"{field_name} must be finite (got {value!r})", field=field_name)
    if abs(number) > MAX_ABS_NUMBER:
        raise InvalidValueError(
            f"{field_name} must be within +-{MAX_ABS_NUMBER:.0e} (got {number!r})", field=field_name
        )
    return 0.0 if number == 0 else number


def check_fraction(value: object, field_name: str) -> float:
    number = check_number(value, field_name)
    if not 0.0 <= number <= 1.0:
        raise InvalidValueError(f"{field_name} must be between 0.0 and 1.0", field=field_name)
    return number


def check_weight(value: object, field_name: str = "weight") -> float:
    number = check_number(value, field_name)
    if number <= 0 or number > 1e6:
        raise InvalidValueError(f"{field_name} must be > 0 and <= 1e6", field=field_name)
    return number


def check_choice(value: object, allowed: type[Any], field_name: str) -> str:
    """Enum membership by value; returns the canonical string."""
    raw = getattr(value, "value", value)
    names = [m.value for m in allowed]
    if raw not in names:
        raise ValidationError(
            f"{field_name} must be one of {', '.join(names)} (got {raw!r})", field=field_name
        )
    return str(raw)
