"""The GraphQL API: strawberry on FastAPI, served by uvicorn (`okr serve`).

- `app.create_app(settings)`: the ASGI app; the write side, read model, projection runners,
  NATS relay (when configured), event feed and writer threads are built in its lifespan.
- `schema`: the schema and its limits; `queries`, `mutations`, `subscriptions`, `types`: the
  GraphQL surface (exported to schema/okr.graphql by `okr export-schema`, module `export`).
- `auth`: bearer JWTs; `context`: per-request context, DataLoaders, read-your-writes;
  `errors`, `extensions`, `middleware`: typed and masked errors, per-operation hooks, body limit;
  `feed`: the log tail behind subscriptions; `cache`: short-lived dashboard cache.
- `serve` (`okr serve`, `okr token`), `demo` (`okr demo`).
"""
