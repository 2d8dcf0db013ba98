"""GraphiQL in a real headless Chromium (Debian's `chromium`, driven by Playwright over the DevTools
protocol) against a real `okr serve`, with no network beyond this machine: every host but
127.0.0.1 resolves to nothing and any proxied request goes to a closed port, so a CDN asset fails."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from harness.apiserver import Client, ThreadedServer, server_process, token
from okr.settings import Settings

pytestmark = pytest.mark.e2e

REQUIRED = os.environ.get("OKR_TEST_REQUIRE_SERVICES") == "1" or bool(os.environ.get("CI"))
#: Chromium may reach 127.0.0.1 only: names resolve to nothing, other traffic to a closed proxy port
OFFLINE_ARGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
]
TIMEOUT_MS = 20_000
#: the editor reads the headers tab; placeholder text is selected and replaced like a paste
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"


def _missing(what: str) -> None:
    if REQUIRED:
        pytest.fail(f"{what} is required here (CI / OKR_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(f"{what} unavailable (apt-get install chromium; pip install -e '.[dev]')")


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    _missing("Debian's chromium")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        _missing("the playwright package")
    with sync_playwright() as playwright:
        # never `playwright install`: the machine's own Chromium, launched with no network
        launched = playwright.chromium.launch(executable_path=executable, args=OFFLINE_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`okr serve` in development mode, where the IDE is on (the README's first step)."""
    with server_process(tmp_path_factory.mktemp("ide") / "data", OKR_ENVIRONMENT="development") as url:
        yield url


class Page:
    """One browser tab on the IDE that records every request, failure and CSP violation."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page()
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.sockets: list[str] = []
        self.page.on("websocket", lambda socket: self.sockets.append(socket.url))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("requestfailed", lambda request: self.failed.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console", lambda message: self.errors.append(message.text) if message.type == "error" else None
        )
        self.page.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        self.response = self.page.goto(url, wait_until="load")

    def editor_rendered(self) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=TIMEOUT_MS)
        except PlaywrightTimeout:
            body = self.page.inner_text("body")[:200]
            pytest.fail(f"GraphiQL never rendered; the page shows {body!r}; failed requests: {self.failed}")

    def paste_headers(self, headers: dict[str, str]) -> None:
        self.page.click(HEADERS_EDITOR)
        self.page.keyboard.press("Control+A")
        self.page.keyboard.insert_text(json.dumps(headers))

    def run_and_wait(self, expected: str) -> str:
        self.page.click(".graphiql-execute-button")
        self.page.wait_for_function(
            "s => (document.querySelector('.result-window') || {}).textContent?.includes(s)",
            arg=expected,
            timeout=TIMEOUT_MS,
        )
        text: str = self.page.inner_text(".result-window")
        return text.replace("\xa0", " ")  # CodeMirror renders indentation as no-break spaces

    def assert_offline_and_same_origin(self, base_url: str) -> None:
        origin = urlsplit(base_url).netloc
        elsewhere = [
            url
            for url in self.requests
            if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != origin
        ]
        assert not elsewhere, f"requests left this server: {elsewhere}"
        assert not self.failed, f"requests failed: {self.failed}"
        assets = self.page.eval_on_selector_all(
            "script[src], link[href]", "els => els.map(e => e.src || e.href)"
        )
        assert assets, "the page loads no assets"
        foreign = [url for url in assets if not url.startswith(("data:", f"http://{origin}/"))]
        assert not foreign, f"assets not served by this server: {foreign}"
        assert self.page.evaluate("window.__csp") == []
        assert self.errors == []


@pytest.fixture
def ide(browser: Any, dev_server: str) -> Iterator[Page]:
    page = Page(browser, f"{dev_server}/graphql?q={quote('{ me { userId orgId } }')}")
    yield page
    page.page.close()


def test_graphiql_renders_and_runs_a_query_with_no_network(ide: Page, dev_server: str, org: str) -> None:
    """The IDE renders offline from same-origin assets and runs `me` with a pasted bearer token."""
    ide.editor_rendered()
    ide.paste_headers({"Authorization": f"Bearer {token(org, user='gia')}"})
    text = ide.run_and_wait(org)
    result = json.loads(text)
    assert result == {"data": {"me": {"userId": "gia", "orgId": org}}}
    # the pasted token also introspected the schema: the Docs explorer lists the root types
    ide.page.click("button[aria-label='Show Documentation Explorer']")
    ide.page.wait_for_selector(".graphiql-doc-explorer >> text=subscription", timeout=TIMEOUT_MS)
    ide.assert_offline_and_same_origin(dev_server)


def test_graphiql_page_has_a_strict_content_security_policy(ide: Page) -> None:
    """The page may run only this server's scripts and talk only to this server."""
    ide.editor_rendered()
    assert ide.response is not None and ide.response.status == 200
    policy = ide.response.headers.get("content-security-policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives.get("default-src") == ["'none'"], policy
    assert directives.get("script-src") == ["'self'"], policy
    assert directives.get("connect-src") == ["'self'"], policy


def test_graphiql_without_a_token_explains_how_to_paste_one(ide: Page) -> None:
    """Run with the placeholder header: the 401 answer names the problem, the page says where."""
    ide.editor_rendered()
    assert "Authorization" in ide.page.inner_text(HEADERS_EDITOR)
    assert "Headers" in ide.page.inner_text(".graphiql-container")
    ide.page.click(".graphiql-execute-button")
    ide.page.wait_for_function(
        "() => (document.querySelector('.result-window') || {}).textContent?.includes('UNAUTHENTICATED')",
        timeout=TIMEOUT_MS,
    )
    ide.errors.clear()  # Chromium logs the 401 response itself as a console error


def test_graphiql_subscription_over_graphql_transport_ws(browser: Any, dev_server: str, org: str) -> None:
    """A subscription typed in the IDE streams over the WebSocket with the pasted token."""
    bearer = token(org)
    Client(dev_server, bearer).m("createTeam", {"name": "Growth"})
    query = "subscription { events(afterPosition: 0) { eventType payload } }"
    page = Page(browser, f"{dev_server}/graphql?q={quote(query)}")
    try:
        page.editor_rendered()
        page.paste_headers({"Authorization": f"Bearer {bearer}"})
        text = page.run_and_wait("Growth")
        assert json.loads(text)["data"]["events"]["payload"]["name"] == "Growth"
        assert page.sockets == [dev_server.replace("http://", "ws://") + "/graphql"]
        page.assert_offline_and_same_origin(dev_server)
    finally:
        page.page.close()


def test_ide_assets_are_served_only_in_development(tmp_path: Path) -> None:
    """Outside development neither the IDE page nor its assets are served."""
    from api.app import create_app
    from harness.apiserver import SECRET

    app = create_app(Settings(data_dir=tmp_path, jwt_secret=SECRET, environment="test"))
    with ThreadedServer(app) as server:
        assert httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"}).status_code == 404
        assert httpx.get(f"{server.url}/graphiql/graphiql.min.js").status_code == 404
