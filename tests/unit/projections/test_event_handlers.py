"""Events are explicit classes, and every view's handler map names them: a handler keyed by
something that is not a public event class, or a public event class a view neither handles nor
ignores out loud, fails here (a renamed or new event cannot silently stop a view)."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from uuid import UUID

import pytest
from eventsourcing.domain import CommandMethodDecorator
from eventsourcing.utils import get_topic, resolve_topic

from okr.domain import (
    AGGREGATE_TYPES,
    INTERNAL_AGGREGATE_TYPES,
    INTERNAL_TOPIC_PREFIX,
    PUBLIC_EVENT_CLASSES,
    Objective,
    Task,
    event_classes,
)
from okr.domain.base import OkrAggregate, is_declared_event
from projections.views import CHECK_INS, VIEW_NAMES, View, make_views, on

ENVELOPE = {
    "originator_id",
    "originator_version",
    "originator_topic",
    "timestamp",
    "org_id",
    "actor",
    "correlation_id",
    "causation_id",
}


def handler_problems(view: View) -> list[str]:
    """What is wrong with a view's handler map (empty: nothing)."""
    public = set(PUBLIC_EVENT_CLASSES)
    problems = [
        f"{view.name}: handles {cls.__module__}:{cls.__qualname__}, not a public event class"
        for cls in view.by_class
        if cls not in public
    ]
    problems += [
        f"{view.name}: ignores {cls.__module__}:{cls.__qualname__}, not a public event class"
        for cls in view.ignored
        if cls not in public
    ]
    if view.all_events is None:
        problems += [
            f"{view.name}: neither handles nor ignores {cls.__qualname__}"
            for cls in PUBLIC_EVENT_CLASSES
            if cls not in view.by_class and cls not in view.ignored
        ]
    elif view.by_class or view.ignored:
        problems.append(f"{view.name}: takes every event and also names some")
    return problems


def _noop(e: OkrAggregate.Event, pos: int, r: object) -> None:
    return None


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_each_views_handlers_name_public_event_classes_and_cover_every_one(name: str) -> None:
    """Every handler key and every ignored class of each view is a public event class, and every
    public event class is handled or explicitly ignored by it."""
    (view,) = make_views([name])
    assert handler_problems(view) == []


def test_a_handler_for_an_unknown_or_internal_class_and_a_forgotten_event_are_reported() -> None:
    """The check fails for a handler keyed by a class no aggregate declares, for an internal
    event, and for a public event that a view forgot (what a rename or a new event looks like)."""

    class KeyResultGraded(OkrAggregate.Event):  # e.g. the old name of a renamed class
        pass

    internal = INTERNAL_AGGREGATE_TYPES[0]
    (internal_event,) = event_classes(internal)
    forgot = set(PUBLIC_EVENT_CLASSES) - {Objective.KeyResultCheckedIn, Task.Completed}
    view = View(
        "broken",
        (CHECK_INS,),
        [on(KeyResultGraded, _noop), on(internal_event, _noop), on(Objective.KeyResultCheckedIn, _noop)],
        ignored=forgot,
    )
    problems = handler_problems(view)
    assert any("KeyResultGraded, not a public event class" in p for p in problems)
    assert any(f"{internal_event.__qualname__}, not a public event class" in p for p in problems)
    assert "broken: neither handles nor ignores Task.Completed" in problems
    assert len(problems) == 3


def test_a_view_refuses_a_class_both_handled_and_ignored_or_handled_twice() -> None:
    """Two functions for one event, or a handled class also listed as ignored, are refused."""
    with pytest.raises(ValueError, match="both handled and ignored"):
        View("x", (CHECK_INS,), [on(Task.Completed, _noop)], ignored=[Task.Completed])
    with pytest.raises(ValueError, match="handled twice"):
        View("x", (CHECK_INS,), [on(Task.Completed, _noop), on(Task.Completed, _noop)])


def test_the_views_string_map_is_keyed_by_the_qualified_name_in_each_classes_topic() -> None:
    """Log followers pick handlers by the qualified name in the stored topic (before decoding):
    the name map is the class map resolved through the classes' own topics."""
    for view in make_views():
        by_topic = {get_topic(cls).partition(":")[2]: h for cls, h in view.by_class.items()}
        assert view.handlers == by_topic, view.name


def test_every_event_class_is_declared_explicitly_with_its_topic_unchanged() -> None:
    """Each public and internal event is a class declared in its aggregate (`@event(Class)`,
    no implicit `@event("Name")` left), its topic is `<module>:<Aggregate>.<Event>` as stored
    before, and the topic resolves back to the class the aggregate holds."""
    for aggregate in (*AGGREGATE_TYPES, *INTERNAL_AGGREGATE_TYPES):
        decorators = [v for v in vars(aggregate).values() if isinstance(v, CommandMethodDecorator)]
        assert decorators, aggregate
        for decorator in decorators:
            assert decorator.given_event_cls is not None, (aggregate, decorator.decorated_func.__name__)
        declared = event_classes(aggregate)
        assert {d.given_event_cls.__name__ for d in decorators if d.given_event_cls} == {
            c.__name__ for c in declared
        }
        for cls in declared:
            assert is_declared_event(cls)
            topic = get_topic(cls)
            assert topic == f"{aggregate.__module__}:{aggregate.__name__}.{cls.__name__}"
            assert resolve_topic(topic) is cls
            assert topic.startswith(INTERNAL_TOPIC_PREFIX) == (aggregate in INTERNAL_AGGREGATE_TYPES)


def test_each_decorated_method_takes_exactly_its_event_classes_fields() -> None:
    """The library passes only the method's parameters that are event fields (and applies only
    the fields that are parameters): a parameter named unlike its field would be dropped
    silently, so the two sets must be equal."""
    for aggregate in (*AGGREGATE_TYPES, *INTERNAL_AGGREGATE_TYPES):
        for decorator in (v for v in vars(aggregate).values() if isinstance(v, CommandMethodDecorator)):
            cls = decorator.given_event_cls
            assert cls is not None
            assert dataclasses.is_dataclass(cls)
            fields = {f.name for f in dataclasses.fields(cls) if f.init} - ENVELOPE
            params = set(inspect.signature(decorator.decorated_func).parameters) - {"self"}
            assert params == fields, f"{aggregate.__name__}.{cls.__name__}"


def test_an_event_class_is_typed_with_its_payload() -> None:
    """Event fields carry the stored types (what the contracts and the views read)."""
    hints = typing.get_type_hints(Objective.KeyResultCheckedIn)
    payload = {k: v for k, v in hints.items() if k not in ENVELOPE and not k.startswith("originator")}
    assert payload == {
        "key_result_id": UUID,
        "value_before": float,
        "value": float,
        "confidence": float | None,
        "note": str,
        "task_id": UUID | None,
    }
