"""Several collections in one server (qa/serve/catalog.py, qa/serve/collections.py), over two real indexes:
the seed (`kherson`) and a small second corpus (`moon`, tests/data/moon: two articles).

Routes per collection answer from that collection only, today's routes from the default one; API keys limited
to collections (401/403), unknown names 404; the MCP `collection` argument; a rebuild of one collection while
the other serves (slow: a real server under load); the page's collection picker in Chromium (slow).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from qa.errors import ConfigError
from qa.serve.catalog import load_catalog, parse_collections
from tests.conftest import ROOT, SEED_ARTICLE
from tests.test_api import assert_error

MOON_SEEDS = ROOT / "tests" / "data" / "moon"
MOON_ARTICLES = {"apollo_11", "great_barrier_reef"}
KHERSON_Q = "How many soldiers did Russia say it withdrew across the Dnipro?"
MOON_Q = "Who flew the command module in lunar orbit?"
KEYS = {"k-moon": ["moon"], "k-both": ["kherson", "moon"], "k-all": "*"}


@pytest.fixture(scope="session")
def moon_index(tmp_path_factory: pytest.TempPathFactory, settings_factory, embedder) -> Path:  # type: ignore[no-untyped-def]
    """A real index (FAISS + BM25) of the two articles in tests/data/moon."""
    from qa.build import build

    index_dir = tmp_path_factory.mktemp("moon") / "moon"
    build(settings_factory(index=index_dir), MOON_SEEDS, index_dir, embedder=embedder)
    return index_dir


def _app(settings_factory, embedder, **settings: Any) -> TestClient:  # type: ignore[no-untyped-def]
    from qa.serve.api import create_app

    return TestClient(create_app(settings_factory(reload_check_s=0, **settings), embedder=embedder))


@pytest.fixture(scope="module")
def two(seed_index: Path, moon_index: Path, settings_factory, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with _app(settings_factory, embedder, collections=f"kherson={seed_index},moon={moon_index}") as c:
        yield c


@pytest.fixture(scope="module")
def keyed(seed_index: Path, moon_index: Path, settings_factory, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with _app(settings_factory, embedder, collections=f"kherson={seed_index},moon={moon_index}",
              api_keys=KEYS, api_key="old-single-key") as c:
        yield c


def _articles(body: dict[str, Any]) -> set[str]:
    return {h["article"]["id"] for h in body["results"]}


# -- routes per collection ----------------------------------------------------------------------------------


def test_each_collection_answers_from_its_own_index(two: TestClient) -> None:
    moon = two.post("/v1/collections/moon/search", json={"query": MOON_Q, "k": 3})
    assert moon.status_code == 200, moon.text
    assert _articles(moon.json()) <= MOON_ARTICLES and moon.json()["results"][0]["article"]["id"] == "apollo_11"
    assert "Collins" in moon.json()["results"][0]["text"]
    kherson = two.post("/v1/collections/kherson/search", json={"query": MOON_Q, "k": 3})
    assert _articles(kherson.json()) == {SEED_ARTICLE}  # the same question, the other index
    assert moon.json()["index"]["id"] != kherson.json()["index"]["id"]
    ctx = two.post("/v1/collections/moon/context", json={"query": "coral bleaching years", "max_tokens": 300})
    assert ctx.status_code == 200 and "Great Barrier Reef" in ctx.json()["context"]
    assert {p["article"]["id"] for p in ctx.json()["passages"]} <= MOON_ARTICLES
    listing = two.get("/v1/collections/moon/articles").json()
    assert {a["id"] for a in listing["articles"]} == MOON_ARTICLES
    assert two.get("/v1/collections/moon/articles/apollo_11").json()["title"] == "Apollo 11"
    passages = two.get("/v1/collections/moon/passages", params={"article": "apollo_11"}).json()
    assert passages["article"]["id"] == "apollo_11" and passages["count"] >= 3
    assert all(p["citation"].startswith("Apollo 11") for p in passages["passages"])
    # an article of the other collection is unknown here
    assert_error(two.get(f"/v1/collections/moon/articles/{SEED_ARTICLE}"), 404, "unknown_article")
    assert_error(two.post("/v1/collections/moon/search", json={"query": "x", "articles": [SEED_ARTICLE]}),
                 404, "unknown_article")


def test_todays_routes_answer_from_the_default_collection(two: TestClient, seed_index: Path, moon_index: Path,
                                                          settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    first = two.post("/v1/search", json={"query": MOON_Q, "k": 3}).json()
    assert _articles(first) == {SEED_ARTICLE}  # the first listed is the default
    same = two.post("/v1/collections/kherson/search", json={"query": MOON_Q, "k": 3}).json()
    assert [h["passage_id"] for h in first["results"]] == [h["passage_id"] for h in same["results"]]
    assert two.get("/readyz").json()["index"]["id"] == first["index"]["id"]
    with _app(settings_factory, embedder, collections=f"kherson={seed_index},moon={moon_index}",
              default_collection="moon") as c:
        assert _articles(c.post("/v1/search", json={"query": MOON_Q, "k": 3}).json()) <= MOON_ARTICLES
        assert {a["id"] for a in c.get("/v1/articles").json()["articles"]} == MOON_ARTICLES
        assert c.get("/v1/collections").json()["default"] == "moon"


def test_collections_are_listed_with_their_sizes(two: TestClient) -> None:
    body = two.get("/v1/collections").json()
    assert body["count"] == 2 and body["default"] == "kherson"
    got = {c["name"]: c for c in body["collections"]}
    assert [c["name"] for c in body["collections"]] == ["kherson", "moon"]  # the configured order
    assert got["kherson"]["default"] is True and got["moon"]["default"] is False
    assert got["moon"]["articles"] == 2 and got["kherson"]["articles"] == 1
    moon_passages = two.get("/v1/collections/moon/passages", params={"article": "apollo_11"}).json()["count"] + \
        two.get("/v1/collections/moon/passages", params={"article": "great_barrier_reef"}).json()["count"]
    assert got["moon"]["passages"] == moon_passages
    assert all(c["ready"] and c["index"]["model"] == "all-MiniLM-L6-v2" for c in got.values())


def test_a_single_index_server_is_one_default_collection(seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    with _app(settings_factory, embedder, index=seed_index) as c:
        body = c.get("/v1/collections").json()
        assert body["default"] == "default" and [x["name"] for x in body["collections"]] == ["default"]
        a = c.post("/v1/search", json={"query": KHERSON_Q, "k": 2}).json()
        b = c.post("/v1/collections/default/search", json={"query": KHERSON_Q, "k": 2}).json()
        assert [h["passage_id"] for h in a["results"]] == [h["passage_id"] for h in b["results"]]
        assert_error(c.post("/v1/collections/moon/search", json={"query": "x"}), 404, "unknown_collection")


def test_unknown_collection_is_404_everywhere(two: TestClient) -> None:
    for method, path, body in [
        ("post", "/v1/collections/nope/search", {"query": "x"}),
        ("post", "/v1/collections/nope/context", {"query": "x"}),
        ("get", "/v1/collections/nope/articles", None),
        ("get", "/v1/collections/nope/articles/apollo_11", None),
        ("get", "/v1/collections/nope/passages?article=apollo_11", None),
        ("post", "/v1/collections/nope/admin/reload", None),
    ]:
        r = getattr(two, method)(path, **({"json": body} if body is not None else {}))
        err = assert_error(r, 404, "unknown_collection")
        assert "GET /v1/collections" in err["message"]


def test_each_collection_reloads_by_itself(two: TestClient) -> None:
    before = {c["name"]: c["index"]["id"] for c in two.get("/v1/collections").json()["collections"]}
    r = two.post("/v1/collections/moon/admin/reload")
    assert r.status_code == 200 and r.json()["status"] == "unchanged" and r.json()["index"]["id"] == before["moon"]
    moon = two.app.state.collections.items["moon"]  # type: ignore[attr-defined]
    kherson = two.app.state.collections.items["kherson"]  # type: ignore[attr-defined]
    assert moon.reloader is not kherson.reloader and moon.holder is not kherson.holder
    assert moon.holder.current.embedder is kherson.holder.current.embedder  # one model in memory
    assert two.app.state.holder is kherson.holder  # type: ignore[attr-defined]


def test_openapi_documents_the_collection_routes(two: TestClient) -> None:
    spec = two.get("/openapi.json").json()
    paths = spec["paths"]
    assert "/v1/collections" in paths
    for route in ("search", "context", "articles", "articles/{article_id}", "passages", "admin/reload"):
        assert f"/v1/collections/{{collection}}/{route}" in paths, route
    search = paths["/v1/collections/{collection}/search"]["post"]
    assert {p["name"] for p in search["parameters"]} == {"collection"}
    assert {"403", "404", "422"} <= set(search["responses"])
    assert search["requestBody"] == paths["/v1/search"]["post"]["requestBody"]
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))


# -- API keys limited to collections --------------------------------------------------------------------------


def test_keys_limited_to_collections(keyed: TestClient) -> None:
    search = {"query": MOON_Q, "k": 1}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "k-moo"}, {"Authorization": "Basic k-moon"}):
        for path in ("/v1/collections/moon/search", "/v1/search", "/v1/collections/nope/search"):
            r = keyed.post(path, json=search, headers=headers)
            assert_error(r, 401, "unauthorized")
            assert r.headers["www-authenticate"] == "Bearer"
        assert_error(keyed.get("/v1/collections", headers=headers), 401, "unauthorized")
    moon_only = {"Authorization": "Bearer k-moon"}
    assert keyed.post("/v1/collections/moon/search", json=search, headers=moon_only).status_code == 200
    assert keyed.post("/v1/collections/moon/search", json=search, headers={"X-API-Key": "k-moon"}).status_code == 200
    for method, path, body in [
        ("post", "/v1/collections/kherson/search", search),
        ("post", "/v1/search", search),  # the default collection is kherson
        ("post", "/v1/context", {"query": "x"}),
        ("get", "/v1/articles", None),
        ("get", f"/v1/collections/kherson/articles/{SEED_ARTICLE}", None),
        ("post", "/v1/collections/kherson/admin/reload", None),
        ("post", "/v1/admin/reload", None),
    ]:
        r = getattr(keyed, method)(path, headers=moon_only, **({"json": body} if body is not None else {}))
        err = assert_error(r, 403, "forbidden_collection")
        assert "kherson" in err["message"]
    assert_error(keyed.post("/v1/collections/nope/search", json=search, headers=moon_only), 404, "unknown_collection")
    listed = keyed.get("/v1/collections", headers=moon_only).json()
    assert [c["name"] for c in listed["collections"]] == ["moon"] and listed["count"] == 1
    for key in ("k-both", "k-all", "old-single-key"):
        h = {"Authorization": f"Bearer {key}"}
        assert keyed.post("/v1/search", json=search, headers=h).status_code == 200, key
        assert keyed.post("/v1/collections/moon/search", json=search, headers=h).status_code == 200, key
        assert keyed.get("/v1/collections", headers=h).json()["count"] == 2
    for path in ("/healthz", "/readyz", "/version", "/metrics", "/openapi.json", "/"):
        assert keyed.get(path).status_code == 200, path


def test_openapi_documents_both_key_headers(keyed: TestClient) -> None:
    schemes = keyed.get("/openapi.json").json()["components"]["securitySchemes"]
    kinds = {(s["type"], s.get("scheme"), s.get("name")) for s in schemes.values()}
    assert ("http", "bearer", None) in kinds and ("apiKey", None, "X-API-Key") in kinds


# -- the catalog: QA_COLLECTIONS, QA_DEFAULT_COLLECTION, QA_API_KEYS ---------------------------------------------


def test_collections_from_pairs_and_from_files(tmp_path: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    specs, default = parse_collections(" a=index/a , b.2=/abs/b ")
    assert [(c.name, str(c.index)) for c in specs] == [("a", "index/a"), ("b.2", "/abs/b")] and default is None
    (tmp_path / "c.toml").write_text('default = "b"\n[collections]\na = "idx/a"\nb = "/abs/b"\n')
    (tmp_path / "c.yaml").write_text("collections:\n  a: idx/a\n  b: /abs/b\ndefault: b\n")
    (tmp_path / "c.json").write_text(json.dumps({"collections": {"a": "idx/a", "b": "/abs/b"}, "default": "b"}))
    for name in ("c.toml", "c.yaml", "c.json"):
        catalog = load_catalog(settings_factory(collections=str(tmp_path / name)))
        assert catalog.names == ["a", "b"] and catalog.default == "b", name
        assert catalog.collections[0].index == tmp_path / "idx" / "a"  # relative to the file's folder
        assert catalog.collections[1].index == Path("/abs/b") and catalog.open
    chosen = load_catalog(settings_factory(collections=str(tmp_path / "c.toml"), default_collection="a"))
    assert chosen.default == "a"  # QA_DEFAULT_COLLECTION wins over the file
    keyed = load_catalog(settings_factory(collections="a=x,b=y", api_keys={"k1": ["b"], "k2": "*"}, api_key="k3"))
    assert keyed.keys == {"k1": frozenset({"b"}), "k2": None, "k3": None} and not keyed.open


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"collections": "a=x,a=y"}, "named twice"),
        ({"collections": "a=x,b"}, "not `name=path`"),
        ({"collections": "a/b=x"}, "not allowed"),
        ({"collections": ",,"}, "names no collection"),
        ({"collections": "a=x", "default_collection": "b"}, "not a served collection"),
        ({"collections": "a=x", "api_keys": {"k": ["b"]}}, "unknown collection(s) b"),
        ({"collections": "a=x", "api_keys": {"k": []}}, "list of collection names"),
        ({"collections": "missing.toml"}, "cannot read"),
    ],
)
def test_catalog_mistakes_stop_the_server_with_what_to_fix(settings: dict[str, Any], words: str,
                                                           settings_factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as caught:
        load_catalog(settings_factory(**settings))
    assert words in caught.value.message


def test_a_key_mapped_to_neither_a_list_nor_star_is_refused_by_the_settings(settings_factory) -> None:  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="api_keys"):
        settings_factory(collections="a=x", api_keys={"k": "a"})


def test_bad_catalog_files_are_reported(tmp_path: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    cases = {"bad.toml": "collections = [", "list.json": "[1, 2]", "none.yaml": "default: a\n",
             "extra.json": json.dumps({"collections": {"a": "x"}, "keys": {}}), "num.toml": "[collections]\na = 3\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError) as caught:
            load_catalog(settings_factory(collections=str(tmp_path / name)))
        assert name in caught.value.message, caught.value.message


def test_qa_serve_refuses_a_bad_catalog_in_one_line(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from qa.cli import main
    from qa.settings import get_settings

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(main, ["serve", "--collections", "a=x,a=y", "--port", "1"])
        assert r.exit_code == 1 and "named twice" in r.output and "Traceback" not in r.output
        r = CliRunner().invoke(main, ["serve", "--collections", "a=x", "--index", "y"])
        assert r.exit_code == 2 and "not both" in r.output
    finally:
        get_settings.cache_clear()


# -- MCP: the `collection` argument ---------------------------------------------------------------------------


def _mcp(client: TestClient, tool: str, arguments: dict[str, Any], headers: dict[str, str] | None = None
         ) -> httpx.Response:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    return client.post("/mcp", json=call, headers={"Accept": "application/json, text/event-stream"} | (headers or {}))


def _tool_result(r: httpx.Response) -> tuple[bool, dict[str, Any]]:
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    return bool(result.get("isError")), json.loads(result["content"][0]["text"])


@pytest.fixture(scope="module")
def mcp_apps(seed_index: Path, moon_index: Path, settings_factory, embedder) -> Iterator[tuple[TestClient, TestClient]]:  # type: ignore[no-untyped-def]
    spec = f"kherson={seed_index},moon={moon_index}"
    # host 0.0.0.0: the SDK's DNS-rebinding guard (loopback only) would refuse TestClient's `testserver` host
    with _app(settings_factory, embedder, collections=spec, host="0.0.0.0") as open_, \
            _app(settings_factory, embedder, collections=spec, host="0.0.0.0", api_keys=KEYS) as closed:
        yield open_, closed


def test_mcp_tools_take_a_collection(mcp_apps: tuple[TestClient, TestClient]) -> None:
    c, _ = mcp_apps
    listed = c.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers={"Accept": "application/json, text/event-stream"}).json()["result"]["tools"]
    for tool in listed:
        assert "collection" in tool["inputSchema"]["properties"], tool["name"]
    error, moon = _tool_result(_mcp(c, "search", {"query": MOON_Q, "k": 2, "collection": "moon"}))
    assert not error and _articles(moon) <= MOON_ARTICLES
    want = c.post("/v1/collections/moon/search", json={"query": MOON_Q, "k": 2}).json()
    assert [h["passage_id"] for h in moon["results"]] == [h["passage_id"] for h in want["results"]]
    _, default = _tool_result(_mcp(c, "search", {"query": MOON_Q, "k": 2}))
    assert _articles(default) == {SEED_ARTICLE}
    _, ctx = _tool_result(_mcp(c, "context", {"query": "coral bleaching", "max_tokens": 200, "collection": "moon"}))
    assert "Great Barrier Reef" in ctx["context"]
    _, passages = _tool_result(_mcp(c, "get_passages", {"article": "apollo_11", "collection": "moon"}))
    assert passages["article"]["id"] == "apollo_11"
    error, body = _tool_result(_mcp(c, "search", {"query": "x", "collection": "nope"}))
    assert error and body["error"]["status"] == 404 and body["error"]["code"] == "unknown_collection"
    error, body = _tool_result(_mcp(c, "search", {"query": "x", "collection": 3}))
    assert error and body["error"]["status"] == 422 and body["error"]["code"] == "invalid_collection"
    error, body = _tool_result(_mcp(c, "get_passages", {"article": "apollo_11"}))  # not in the default one
    assert error and body["error"]["code"] == "unknown_article"


def test_mcp_keys_limited_to_collections(mcp_apps: tuple[TestClient, TestClient]) -> None:
    _, c = mcp_apps
    assert_error(_mcp(c, "search", {"query": MOON_Q, "collection": "moon"}), 401, "unauthorized")
    moon_only = {"X-API-Key": "k-moon"}
    error, body = _tool_result(_mcp(c, "search", {"query": MOON_Q, "collection": "moon"}, moon_only))
    assert not error and _articles(body) <= MOON_ARTICLES
    for arguments in ({"query": MOON_Q, "collection": "kherson"}, {"query": MOON_Q}):
        error, body = _tool_result(_mcp(c, "search", arguments, moon_only))
        assert error and body["error"]["status"] == 403 and body["error"]["code"] == "forbidden_collection"
    error, body = _tool_result(_mcp(c, "search", {"query": MOON_Q}, {"Authorization": "Bearer k-all"}))
    assert not error and _articles(body) == {SEED_ARTICLE}


# -- a rebuild of one collection while the other serves (a real server under load) ----------------------------

RELOAD_CLIENTS = 6  # 4 on the collection that is not rebuilt, 2 on the one that is
MAX_REQUESTS = 400  # per client: bounded, whatever the machine's speed


@pytest.mark.slow
def test_a_rebuild_of_one_collection_never_interrupts_the_other(
    tmp_path: Path, moon_index: Path, settings_factory, embedder  # type: ignore[no-untyped-def]
) -> None:
    import threading
    import time

    from qa.build import build
    from qa.index import folder as ix
    from tests.conftest import seeded_index
    from tests.live_server import serve

    seeds, kherson_dir, kherson_settings = seeded_index(tmp_path, "kherson", settings_factory, embedder)
    old_kherson = ix.read_manifest(ix.resolve(kherson_dir)).id
    moon_id = ix.read_manifest(ix.resolve(moon_index)).id
    spec = f"kherson={kherson_dir},moon={moon_index}"
    with serve(None, tmp_path / "server", collections=spec, QA_RELOAD_CHECK_S="0.5") as live:
        expected = httpx.post(f"{live.url}/v1/collections/moon/search", json={"query": MOON_Q, "k": 3}, timeout=30)
        want = [h["passage_id"] for h in expected.json()["results"]]
        stop = threading.Event()
        failures: list[str] = []
        answers: dict[str, list[str]] = {"moon": [], "kherson": []}  # index ids answered, per collection
        lock = threading.Lock()

        def client(n: int) -> None:
            name = "moon" if n < 4 else "kherson"
            question = MOON_Q if name == "moon" else KHERSON_Q
            with httpx.Client(base_url=live.url, timeout=30) as c:
                for _ in range(MAX_REQUESTS):
                    if stop.is_set():
                        return
                    try:
                        r = c.post(f"/v1/collections/{name}/search", json={"query": question, "k": 3})
                    except httpx.HTTPError as exc:
                        failures.append(f"{name}: transport {exc!r}")
                        continue
                    if r.status_code != 200:
                        failures.append(f"{name}: {r.status_code} {r.text[:200]}")
                        continue
                    body = r.json()
                    with lock:
                        answers[name].append(body["index"]["id"])
                    if name == "moon" and [h["passage_id"] for h in body["results"]] != want:
                        failures.append("moon: other passages than before the rebuild")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(RELOAD_CLIENTS)]
        for t in threads:
            t.start()
        try:
            time.sleep(2)
            article = seeds / f"{SEED_ARTICLE}.md"
            article.write_text(article.read_text(encoding="utf-8") + "\n\n## Aftermath in 2023\n\nThe Kakhovka "
                               "dam was destroyed in June 2023, flooding parts of Kherson.\n", encoding="utf-8")
            time.sleep(1.05)  # index ids carry the build second
            build(kherson_settings, seeds, kherson_dir, embedder=embedder)
            new_kherson = ix.read_manifest(ix.resolve(kherson_dir)).id
            deadline = time.monotonic() + 60
            while True:  # the server's link watch notices the new build of kherson
                listed = {c["name"]: c for c in httpx.get(f"{live.url}/v1/collections", timeout=30).json()["collections"]}
                if listed["kherson"]["index"]["id"] == new_kherson:
                    break
                assert time.monotonic() < deadline, "the new kherson build was never picked up"
                time.sleep(0.2)
            time.sleep(2)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert listed["moon"]["index"]["id"] == moon_id and new_kherson != old_kherson
        log = live.log.read_text()
    total = sum(len(v) for v in answers.values()) + len(failures)
    print(f"{total} requests, {len(failures)} failed; moon {len(answers['moon'])}, kherson {len(answers['kherson'])}")
    assert failures == [], f"{len(failures)} failed of {total}: {failures[:5]}"
    assert set(answers["moon"]) == {moon_id}  # the other collection never changed index
    assert answers["kherson"][0] == old_kherson and answers["kherson"][-1] == new_kherson
    assert len(answers["moon"]) >= 4 * 5 and len(answers["kherson"]) >= 2 * 5  # counts, not speeds
    assert "Traceback" not in log


# -- the page's collection picker (real server, real Chromium) ---------------------------------------------------


@pytest.mark.slow
def test_the_page_picks_a_collection(seed_index: Path, moon_index: Path, tmp_path: Path) -> None:
    from tests.live_server import serve
    from tests.test_web import CHROMIUM, CHROMIUM_ARGS, open_tab, wait_for_results

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`)")
    from playwright.sync_api import sync_playwright

    def hits(page: Any) -> list[str]:
        return [str(x) for x in page.locator("#qa-results .hit .crumb.article").all_inner_texts()]

    spec = f"kherson={seed_index},moon={moon_index}"
    with sync_playwright() as pw, serve(None, tmp_path / "two", collections=spec) as two:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        t = open_tab(browser, two.url)
        page = t.page
        page.wait_for_selector("#qa-collection-box", state="visible")
        options = page.locator("#qa-collection option")
        assert options.all_inner_texts() == ["kherson (1 article)", "moon (2 articles)"]
        assert page.input_value("#qa-collection") == "kherson"  # the default
        t.ask(MOON_Q)
        wait_for_results(t)
        assert set(hits(page)) == {"Liberation of Kherson"}
        page.select_option("#qa-collection", "moon")  # asks again, in the other collection
        page.wait_for_function("() => document.querySelector('#qa-results .crumb.article').textContent === 'Apollo 11'")
        wait_for_results(t)
        assert set(hits(page)) <= {"Apollo 11", "Great Barrier Reef"}
        assert "c=moon" in page.url
        assert any("/v1/collections/moon/search" in u for u in t.requests)
        assert any("/v1/collections/moon/fields" in u for u in t.requests)  # the filter chips of moon
        page.locator("#qa-results .hit").first.locator("a.open").click()  # the article, from its collection
        page.wait_for_selector(".passage.target")
        assert page.inner_text("#qa-article h1") == "Apollo 11"
        assert any("/v1/collections/moon/passages?article=apollo_11" in u for u in t.requests)
        # a shared link opens in its collection
        t2 = open_tab(browser, two.url)
        t2.page.goto(two.url + "/?c=moon&q=" + MOON_Q.replace(" ", "+"))
        wait_for_results(t2)
        assert set(hits(t2.page)) <= {"Apollo 11", "Great Barrier Reef"}
        t2.page.wait_for_selector("#qa-collection-box", state="visible")
        assert t2.page.input_value("#qa-collection") == "moon"
        assert not t.errors and not t2.errors, t.errors + t2.errors
        with serve(seed_index, tmp_path / "one") as one:  # one index: no picker
            t3 = open_tab(browser, one.url)
            t3.ask(KHERSON_Q)
            wait_for_results(t3)
            t3.page.wait_for_function("() => document.querySelector('#qa-collection option') !== null")
            assert t3.page.locator("#qa-collection-box").is_hidden()
            assert not any("/v1/collections/" in u for u in t3.requests)
        with serve(None, tmp_path / "keyed", collections=spec, QA_API_KEYS='{"k-moon": ["moon"]}') as keyed:
            t4 = open_tab(browser, keyed.url)  # a key that may read moon only: the page asks moon
            page = t4.page
            page.locator("#qa-keybox summary").click()
            page.fill("#qa-key", "k-moon")
            with page.expect_response(lambda r: r.url.endswith("/v1/collections") and r.status == 200):
                page.press("#qa-key", "Tab")  # the key is committed: the page lists what it may read
            t4.ask(MOON_Q)
            wait_for_results(t4)
            assert set(hits(page)) <= {"Apollo 11", "Great Barrier Reef"}
            assert page.locator("#qa-collection-box").is_hidden()  # one collection visible to this key
            assert page.locator("#qa-error").is_hidden() and not t4.errors
        browser.close()


@pytest.mark.slow
def test_stdio_mcp_serves_collections(seed_index: Path, moon_index: Path, tmp_path: Path) -> None:
    """`qa mcp --collections` spawned by the SDK's stdio client: the tools answer from the named collection."""
    import sys

    from anyio.from_thread import start_blocking_portal
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=str(Path(sys.executable).parent / "qa"),
        args=["mcp", "--collections", f"kherson={seed_index},moon={moon_index}"], cwd=tmp_path,
        env={"QA_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
             "QA_READER": "off", "PYTHONPATH": str(ROOT)},  # this tree's qa, whatever the venv installed
    )

    async def calls() -> list[Any]:
        with (tmp_path / "stderr.log").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                return [await session.call_tool("search", args) for args in (
                    {"query": MOON_Q, "k": 2, "collection": "moon"}, {"query": MOON_Q, "k": 2},
                    {"query": MOON_Q, "collection": "nope"})]

    with start_blocking_portal() as portal:
        moon, default, unknown = portal.call(calls)
    assert not moon.is_error and _articles(moon.structured_content) <= MOON_ARTICLES
    assert not default.is_error and _articles(default.structured_content) == {SEED_ARTICLE}
    body = json.loads(unknown.content[0].text)
    assert unknown.is_error and body["error"]["code"] == "unknown_collection" and "kherson, moon" in body["error"]["message"]
