"""The GraphQL API: strawberry on FastAPI (schema, auth, context, subscriptions, `okr serve`).

`api.app.create_app(settings)` builds the ASGI app; everything stateful is created in its lifespan.
"""
