"""Hardening of the HTTP API through TestClient: index reload and refusal, limits, paths, CORS, errors.

The real-socket versions (a real `qa serve` hammered while the index is rebuilt, raw `../` paths that
an HTTP client would normalise away) are in tests/test_load.py.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa.build import build
from qa.index import folder as ix
from qa.serve.api import create_app
from qa.serve.deps import serving
from tests.conftest import ROOT, SEED_ARTICLE, SEEDS, seeded_index

QUESTION = "How many soldiers did Russia say it withdrew across the Dnipro?"
BRIDGES = (
    "# Bridges\n\nThe pontoon bridge over the Ingulets river carried supplies for the Bridges article.\n"
)


def assert_error(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape, and nothing of the server's insides in it."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}
    assert body["error"]["status"] == status
    if code is not None:
        assert body["error"]["code"] == code, body
    assert "Traceback" not in r.text and str(ROOT) not in r.text and "/tmp/" not in r.text
    return body["error"]


@pytest.fixture()
def live(tmp_path: Path, settings_factory, embedder):  # type: ignore[no-untyped-def]
    """A copy of seeds/ and an index built from it; yields a function making a started TestClient."""
    seeds, index_dir, settings = seeded_index(tmp_path, "live", settings_factory, embedder, reload_check_s=0)
    clients: list[TestClient] = []

    def start(**overrides: Any) -> TestClient:
        app = create_app(settings.model_copy(update=overrides), embedder=embedder)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    start.seeds = seeds  # type: ignore[attr-defined]
    start.index_dir = index_dir  # type: ignore[attr-defined]
    start.settings = settings  # type: ignore[attr-defined]
    yield start
    for c in clients:
        c.__exit__(None, None, None)


def rebuild(live: Any, embedder: Any, extra: str = BRIDGES) -> str:
    """Add an article to the live seeds, build, return the new index id."""
    (live.seeds / "bridges.md").write_text(extra)
    time.sleep(1.05)  # index ids carry the build second
    build(live.settings, live.seeds, live.index_dir, embedder=embedder)
    return ix.read_manifest(ix.resolve(live.index_dir)).id


def index_id(c: TestClient) -> str:
    return str(c.get("/version").json()["index"]["id"])


# -- reload ------------------------------------------------------------------------------------------------


def test_reload_route_swaps_in_a_new_build(live, embedder) -> None:  # type: ignore[no-untyped-def]
    c = live()
    old = index_id(c)
    r = c.post("/v1/admin/reload")
    assert r.status_code == 200 and r.json()["status"] == "unchanged" and r.json()["index"]["id"] == old
    new = rebuild(live, embedder)
    assert index_id(c) == old  # nothing changes until asked (the watch is off here)
    r = c.post("/v1/admin/reload")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reloaded"
    assert r.json()["index"]["id"] == new and r.json()["previous"]["id"] == old
    hit = c.post("/v1/search", json={"query": "pontoon bridge over the Ingulets", "k": 1}).json()
    assert hit["index"]["id"] == new and hit["results"][0]["article"]["id"] == "bridges"
    assert index_id(c) == new and c.get("/readyz").json()["index"]["id"] == new


def test_watch_notices_a_new_build_on_requests(live, embedder) -> None:  # type: ignore[no-untyped-def]
    c = live(reload_check_s=0.2)
    new = rebuild(live, embedder)
    deadline = time.monotonic() + 60
    while index_id(c) != new:  # each request may trigger the (background) check
        assert time.monotonic() < deadline, "the server never picked up the new build"
        time.sleep(0.1)
    assert (
        c.post("/v1/search", json={"query": "Ingulets", "k": 1}).json()["results"][0]["article"]["id"]
        == "bridges"
    )


def test_broken_new_version_is_refused_and_the_old_keeps_serving(live) -> None:  # type: ignore[no-untyped-def]
    c = live(reload_check_s=0.1)
    old = index_id(c)
    before = c.post("/v1/search", json={"query": QUESTION, "k": 3}).json()["results"]
    good = ix.resolve(live.index_dir)
    broken = good.parent / f".live.broken-{os.getpid()}"
    shutil.copytree(good, broken)
    (broken / "chunks.jsonl").write_text('{"id": "truncated mid-wri')
    link = good.parent / ".live.link.test"
    os.symlink(broken.name, link)
    os.replace(link, live.index_dir)  # as `qa build` publishes, but pointing at a damaged version

    err = assert_error(c.post("/v1/admin/reload"), 409, "reload_refused")
    assert "index_corrupt" in err["message"] and old in err["message"]
    time.sleep(0.2)
    for _ in range(3):  # the watch sees the same broken target and leaves it alone
        r = c.post("/v1/search", json={"query": QUESTION, "k": 3})
        assert r.status_code == 200 and r.json()["index"]["id"] == old
        assert r.json()["results"] == before
    assert c.get("/readyz").status_code == 200 and index_id(c) == old


def test_server_started_before_the_first_build_becomes_ready_by_itself(
    tmp_path: Path,
    settings_factory,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    index_dir = tmp_path / "index" / "later"
    settings = settings_factory(index=index_dir, reload_check_s=0.2)
    with TestClient(create_app(settings, embedder=embedder), raise_server_exceptions=False) as c:
        assert_error(c.get("/readyz"), 503, "not_ready")
        assert_error(c.post("/v1/search", json={"query": QUESTION}), 503, "not_ready")
        assert_error(c.post("/v1/admin/reload"), 409, "reload_refused")
        build(settings, SEEDS, index_dir, embedder=embedder)
        deadline = time.monotonic() + 60
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the first build was never picked up"
            time.sleep(0.1)
        r = c.post("/v1/search", json={"query": QUESTION, "k": 1})
        assert r.status_code == 200 and r.json()["results"][0]["article"]["id"] == SEED_ARTICLE


def test_reload_needs_the_api_key_when_one_is_set(live) -> None:  # type: ignore[no-untyped-def]
    c = live(api_key="s3cret")
    assert_error(c.post("/v1/admin/reload"), 401, "unauthorized")
    assert_error(c.post("/v1/admin/reload", headers={"Authorization": "Bearer wrong"}), 401)
    r = c.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200 and r.json()["status"] == "unchanged"


# -- limits ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_app(seed_index: Path, settings_factory, embedder):  # type: ignore[no-untyped-def]
    def start(**overrides: Any) -> TestClient:
        s = settings_factory(index=seed_index, reload_check_s=0, **overrides)
        return TestClient(create_app(s, embedder=embedder), raise_server_exceptions=False)

    return start


def test_request_over_the_time_limit_is_503_timeout(seed_app) -> None:  # type: ignore[no-untyped-def]
    with seed_app(request_timeout_s=0.0005) as c:
        assert_error(c.post("/v1/search", json={"query": QUESTION, "k": 50}), 503, "timeout")
        assert_error(c.post("/v1/context", json={"query": QUESTION, "max_tokens": 4000}), 503, "timeout")
        assert c.get("/healthz").status_code == 200  # cheap routes do not queue


def test_full_queue_is_refused_with_503_overloaded_not_queued(seed_app) -> None:  # type: ignore[no-untyped-def]
    query = " ".join([QUESTION] * 25)  # a long query: each search takes a while
    with seed_app(workers=1, max_queue=1) as c:

        def ask(_: int) -> tuple[int, str]:
            r = c.post("/v1/context", json={"query": query, "max_tokens": 4000})
            return r.status_code, (r.json().get("error") or {}).get("code", "")

        seen: list[tuple[int, str]] = []
        for _ in range(5):  # almost always the first round already overflows; retry to be sure
            with ThreadPoolExecutor(max_workers=12) as pool:
                seen += list(pool.map(ask, range(12)))
            if (503, "overloaded") in seen:
                break
    assert (503, "overloaded") in seen and (200, "") in seen
    assert set(seen) <= {(200, ""), (503, "overloaded")}, set(seen)


# -- paths, errors, CORS -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/articles/%2e%2e/%2e%2e/pyproject.toml",
        "/v1/articles/..%2f..%2fseeds%2fliberation_of_kherson.md",
        "/v1/articles/%2Fetc%2Fpasswd",
        "/v1/articles//etc/passwd",
        f"/v1/articles/{SEED_ARTICLE}%00",
        f"/v1/articles/{SEED_ARTICLE}.md",
        "/v1/articles/%00",
        "/v1/passages?article=..%2F..%2Fetc%2Fpasswd",
        "/v1/passages?article=%2Fetc%2Fpasswd",
        f"/v1/passages?article=seeds%2F{SEED_ARTICLE}",
        "/static/..%2fapi.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static/app.js%00.py",
    ],
)
def test_paths_from_requests_never_leave_the_index(seed_app, path: str) -> None:  # type: ignore[no-untyped-def]
    with seed_app() as c:
        r = c.get(path)
        assert_error(r, 404)
        assert "root:" not in r.text and "[project]" not in r.text and "import" not in r.text


def test_article_filter_with_paths_is_404_not_a_file_read(seed_app) -> None:  # type: ignore[no-untyped-def]
    with seed_app() as c:
        for bad in (
            ["../../etc/passwd"],
            ["/etc/passwd"],
            [f"{SEED_ARTICLE}\x00"],
            [f"../seeds/{SEED_ARTICLE}"],
        ):
            assert_error(
                c.post("/v1/search", json={"query": QUESTION, "articles": bad}), 404, "unknown_article"
            )


def test_internal_error_says_nothing_of_the_server_insides(seed_app) -> None:  # type: ignore[no-untyped-def]
    def broken() -> None:
        raise RuntimeError(f"secret detail at {ROOT}/qa/search/retriever.py line 42")

    with seed_app() as c:
        c.app.dependency_overrides[serving] = broken  # type: ignore[attr-defined]
        err = assert_error(c.get("/v1/articles"), 500, "internal_error")
        assert "secret" not in err["message"] and "retriever.py" not in err["message"]


def test_cors_is_closed_by_default(seed_app) -> None:  # type: ignore[no-untyped-def]
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    with seed_app() as c:
        r = c.options("/v1/search", headers=preflight)
        assert "access-control-allow-origin" not in r.headers and r.status_code >= 400
        r = c.post("/v1/search", json={"query": QUESTION}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_cors_allows_only_the_configured_origins(seed_app) -> None:  # type: ignore[no-untyped-def]
    with seed_app(cors_origins=["https://ok.example"]) as c:
        ok = {
            "Origin": "https://ok.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        }
        r = c.options("/v1/search", headers=ok)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://ok.example"
        r = c.post("/v1/search", json={"query": QUESTION}, headers={"Origin": "https://ok.example"})
        assert r.headers["access-control-allow-origin"] == "https://ok.example"
        r = c.options("/v1/search", headers=ok | {"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers and r.status_code >= 400
        r = c.post("/v1/search", json={"query": QUESTION}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
