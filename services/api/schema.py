"""The strawberry schema and its limits (extensions are passed as factories, one per request)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from api.errors import ErrorCodes, add_codes, mask_errors, mask_unexpected, should_mask
from api.extensions import (
    ConsistencyHeader,
    FreshLoaders,
    RequestMetrics,
    SingleOperation,
    TokenNotExpired,
)
from api.mutations import Mutation
from api.queries import Query
from api.subscriptions import Subscription
from okr.settings import Settings


def extensions(settings: Settings) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    """Per-request extension factories (never shared instances).

    ErrorCodes comes first: extensions exit in reverse order, so it sees the masked errors. The
    depth and alias limits are QueryDepthLimiter's and MaxAliasesLimiter's validation rules, built
    once here and added per request, so ValidationCache can reuse the result for a document it
    has validated before (a fresh limiter per request makes new rule classes and never hits)."""
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        *([] if settings.introspection_enabled else [NoSchemaIntrospectionCustomRule]),
    ]
    return [
        RequestMetrics,
        FreshLoaders,
        TokenNotExpired,
        ConsistencyHeader,
        ErrorCodes,
        mask_errors,
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        lambda: AddValidationRules(list(rules)),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        SingleOperation,  # after ParserCache: exits first, once the document is there
        lambda: ValidationCache(maxsize=CACHE_SIZE),
    ]


CACHE_SIZE = 512  # distinct documents kept parsed and validated (an LRU: random queries cannot grow it)


class PerEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Each subscription event gets its own memo of collected sub-fields: graphql-core 3.3
    shares one dict between a subscription and all its per-event executors, keyed by the id of
    each event's field lists, so it grew by an entry per field and event for as long as the
    subscription lived (about 600 bytes an event, never freed)."""

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


class OkrSchema(strawberry.Schema):
    """Logs only unexpected errors: typed ones (bad input, not found, ...) are the client's.
    With `hide_suggestions`, no error message carries graphql-core's "Did you mean ...?" (it
    would list the schema's field, argument and enum names that introspection hides)."""

    hide_suggestions = False

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = [e for e in errors if should_mask(e)]
        if unexpected:
            super().process_errors(unexpected, execution_context)

    async def _handle_execution_result(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Every result, also each subscription frame, carries codes on its errors."""
        result = await super()._handle_execution_result(*args, **kwargs)
        result.errors = mask_unexpected(result.errors)  # already logged by process_errors
        add_codes(result.errors)
        if self.hide_suggestions:
            strip_suggestions(result.errors)
        return result

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Errors raised before the extensions' hooks finish (cached parse failures) get codes too.

        Subscriptions never run here (WebSockets and multipart HTTP stream them through
        `subscribe`/`stream`): a plain POST of one is refused (HTTP 400) instead of failing
        inside graphql-core's executor."""
        allowed = kwargs.get("allowed_operation_types")
        if allowed is not None:
            kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        result = await super().execute(*args, **kwargs)
        add_codes(result.errors)
        if self.hide_suggestions:
            strip_suggestions(result.errors)
        return result


_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def strip_suggestions(errors: list[GraphQLError] | None) -> None:
    """Drops "Did you mean 'cycles'?" from every message (validation and variable coercion)."""
    for error in errors or ():
        if "Did you mean" in error.message:
            error.message = _SUGGESTION.sub("", error.message)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema; with settings, its limits too (the SDL does not depend on them)."""
    schema = OkrSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(settings) if settings is not None else [],
        execution_context_class=PerEventExecutionContext,
    )
    schema.hide_suggestions = settings is not None and not settings.introspection_enabled
    return schema


def sdl() -> str:
    """The schema as SDL (what schema/okr.graphql holds)."""
    return build_schema().as_str() + "\n"
