"""GraphiQL served from this package: our page and GraphiQL's assets vendored from npm
(`scripts/vendor_graphiql.sh`), so the IDE works with no network. Development only."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
#: where the assets are mounted (the page itself is answered at /graphql)
ASSETS_PATH = "/graphiql"
#: only this server's scripts and styles; fetches and the subscription WebSocket go to it alone.
#: Inline styles: React and CodeMirror set element styles, the CSS embeds its fonts as data:.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


@cache
def _template() -> str:
    return (STATIC / "graphiql.html").read_text(encoding="utf-8")


def ide_page(root_path: str = "") -> HTMLResponse:
    """The GraphiQL page, loading its assets from `root_path` + ASSETS_PATH on this server."""
    return HTMLResponse(
        _template().replace("{{assets}}", root_path.rstrip("/") + ASSETS_PATH),
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def ide_assets() -> StaticFiles:
    """The vendored GraphiQL, React and page files (with their licences and VERSIONS.json)."""
    return StaticFiles(directory=STATIC / "graphiql")
