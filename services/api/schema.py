"""The strawberry schema and its limits (extensions are passed as factories, one per request)."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext

from api.errors import EXPOSED, ErrorCodes, mask_errors
from api.mutations import Mutation
from api.queries import Query
from api.subscriptions import Subscription
from okr.settings import Settings


def extensions(settings: Settings) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    """ErrorCodes first: extensions exit in reverse order, so it sees the masked errors."""
    return [
        ErrorCodes,
        mask_errors,
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
    ]


class OkrSchema(strawberry.Schema):
    """Logs only unexpected errors: typed ones (bad input, not found, ...) are the client's."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = [e for e in errors if not _expected(e)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def _expected(error: GraphQLError) -> bool:
    return error.path is None or isinstance(error.original_error, EXPOSED)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema; with settings, its limits too (the SDL does not depend on them)."""
    return OkrSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(settings) if settings is not None else [],
    )


def sdl() -> str:
    """The schema as SDL (what schema/okr.graphql holds)."""
    return build_schema().as_str() + "\n"
