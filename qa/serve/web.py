"""The search page at `GET /`: one HTML file, one script, one stylesheet, shipped in `qa/serve/static/`.

The page is a plain client of the public `/v1` API (it needs nothing else), so it is open even when
the API needs a key: the key is typed into the page and sent by the browser with each API call.
A strict Content-Security-Policy keeps it from loading or sending anything anywhere but this server.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

from qa.errors import NotFound

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate: a new `qa` version brings a new page
}

page = APIRouter(include_in_schema=False)


@lru_cache(maxsize=len(ASSETS))
def _asset(name: str) -> bytes:
    return files("qa.serve").joinpath("static", name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS)


@page.api_route("/", methods=["GET", "HEAD"])
async def index() -> Response:
    """The search page."""
    return _serve("index.html")


@page.api_route("/static/{name}", methods=["GET", "HEAD"])
async def static(name: str) -> Response:
    """The page's script and stylesheet (only the files listed in ASSETS)."""
    if name not in ASSETS or name == "index.html":
        raise NotFound(f"no static file {name[:100]!r}", code="not_found")
    return _serve(name)
