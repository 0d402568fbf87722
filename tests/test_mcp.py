"""`qa mcp` (stdio) and `/mcp` in `qa serve` (streamable HTTP), driven by the MCP SDK's real client.

Each server is a real process over a real index of seeds/; answers are compared with the HTTP API's JSON
for the same request (same fields, same error messages).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi.testclient import TestClient
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.types import CallToolResult

from tests.conftest import SEED_ARTICLE, SEEDS
from tests.live_server import serve

QA = Path(sys.executable).parent / "qa"  # the installed console script, as a host would run it
QUESTION = "How many soldiers did Russia say it withdrew across the Dnipro?"
KEY = "mcp-s3cret"

# (tool, arguments, the HTTP request with the same input): the MCP error must be the HTTP error body
BAD_ARGUMENTS: list[tuple[str, dict[str, Any], tuple[str, str, dict[str, Any] | None]]] = [
    ("search", {"query": ""}, ("POST", "/v1/search", {"query": ""})),
    ("search", {"query": " \n "}, ("POST", "/v1/search", {"query": " \n "})),
    ("search", {}, ("POST", "/v1/search", {})),
    ("search", {"query": 7}, ("POST", "/v1/search", {"query": 7})),
    ("search", {"query": "x" * 2001}, ("POST", "/v1/search", {"query": "x" * 2001})),
    ("search", {"query": "kherson", "k": 0}, ("POST", "/v1/search", {"query": "kherson", "k": 0})),
    ("search", {"query": "kherson", "k": "5"}, ("POST", "/v1/search", {"query": "kherson", "k": "5"})),
    ("search", {"query": "kherson", "mode": "fuzzy"}, ("POST", "/v1/search", {"query": "kherson", "mode": "fuzzy"})),
    ("search", {"query": "kherson", "articles": ["nope"]},
     ("POST", "/v1/search", {"query": "kherson", "articles": ["nope"]})),
    ("search", {"query": "kherson", "articles": SEED_ARTICLE},
     ("POST", "/v1/search", {"query": "kherson", "articles": SEED_ARTICLE})),
    ("search", {"query": "kherson", "colour": "red"}, ("POST", "/v1/search", {"query": "kherson", "colour": "red"})),
    ("context", {"query": "kherson", "max_tokens": 0}, ("POST", "/v1/context", {"query": "kherson", "max_tokens": 0})),
    ("context", {"query": ""}, ("POST", "/v1/context", {"query": ""})),
    ("get_passages", {"article": "nope"}, ("GET", "/v1/passages?article=nope", None)),
    ("get_passages", {}, ("GET", "/v1/passages", None)),
]


@dataclass
class Client:
    """A connected MCP ClientSession, driven from synchronous tests through an anyio portal."""

    portal: BlockingPortal
    session: ClientSession

    def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        return self.portal.call(lambda: self.session.call_tool(tool, arguments))

    def ok(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A successful call's structured content, after checking that its text says the same."""
        result = self.call(tool, arguments)
        assert not result.is_error, result.content
        assert isinstance(result.structured_content, dict)
        assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
        return result.structured_content

    def error(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A failed call's error body (the HTTP error shape)."""
        result = self.call(tool, arguments)
        assert result.is_error, result.structured_content
        body = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}
        return dict(body)


@asynccontextmanager
async def stdio_session(index: Path, workdir: Path, errlog: Any) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=str(QA), args=["mcp", "--index", str(index)], cwd=workdir,
        env={"QA_CACHE_DIR": str(workdir / "cache"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
             "QA_READER": "off"},
    )
    async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(url + "/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@pytest.fixture(scope="module")
def stdio_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp-stdio") / "stderr.log"


@pytest.fixture(scope="module")
def stdio(seed_index: Path, stdio_log: Path) -> Iterator[Client]:
    """`qa mcp --index <seed index>` spawned by the SDK's stdio client, one process for the module."""
    with (
        stdio_log.open("w") as errlog,
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(stdio_session(seed_index, stdio_log.parent, errlog)) as session,
    ):
        yield Client(portal, session)


@pytest.fixture(scope="module")
def http_api(seed_index: Path, settings_factory, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """The HTTP API in-process, to compare answers and error messages with."""
    from qa.serve.api import create_app

    with TestClient(create_app(settings_factory(index=seed_index), embedder=embedder)) as client:
        yield client


@pytest.fixture(scope="module")
def keyed_server(seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(seed_index, tmp_path_factory.mktemp("mcp-http"), QA_API_KEY=KEY) as live:
        yield live.url


@pytest.fixture(scope="module")
def remote(keyed_server: str) -> Iterator[Client]:
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(http_session(keyed_server, KEY)) as s:
        yield Client(portal, s)


def http_json(client: TestClient | httpx.Client, request: tuple[str, str, dict[str, Any] | None]) -> Any:
    method, path, body = request
    r = client.request(method, path, json=body) if body is not None else client.request(method, path)
    return r.json()


def check_passage(p: dict[str, Any]) -> None:
    """Citation, section path and source offsets agree with each other and with the raw Markdown file."""
    raw = (SEEDS / p["source"]["file"]).read_text(encoding="utf-8")
    start, end = p["source"]["start"], p["source"]["end"]
    assert 0 <= start < end <= len(raw)
    span = raw[start:end]
    missing = [w for w in set(re.findall(r"[A-Za-z]{6,}", p["text"])) if w not in span]
    assert not missing, (missing, p["citation"])
    path = p["section"]["path"]
    title = p["article"]["title"] if "article" in p else "Liberation of Kherson"
    assert p["citation"] == (f"{title} § {' › '.join(path)}" if path else title)
    if path and path != ["Infobox"]:
        assert raw.rfind(path[-1], 0, start + len(path[-1]) + 10) >= 0  # the heading comes before the passage


# -- stdio ----------------------------------------------------------------------------------------------


def test_tools_are_listed_with_schemas_and_descriptions(stdio: Client) -> None:
    tools = {t.name: t for t in stdio.portal.call(stdio.session.list_tools).tools}
    assert set(tools) == {"search", "context", "get_passages"}
    for tool in tools.values():
        assert tool.description and len(tool.description) > 80
        assert tool.input_schema["type"] == "object" and tool.output_schema is not None
    search = tools["search"].input_schema
    assert {"query", "k", "articles", "read", "mode"} <= set(search["properties"])
    assert search["required"] == ["query"] and search["properties"]["k"]["maximum"] == 50
    assert tools["context"].input_schema["properties"]["max_tokens"]["minimum"] == 1
    assert tools["get_passages"].input_schema["required"] == ["article"]
    assert {"results", "answerable", "confidence"} <= set(tools["search"].output_schema["properties"])  # type: ignore[index]


def test_search_returns_the_http_fields_with_exact_citations(stdio: Client, http_api: TestClient) -> None:
    got = stdio.ok("search", {"query": QUESTION, "k": 4})
    want = http_api.post("/v1/search", json={"query": QUESTION, "k": 4}).json()
    assert set(got) == set(want)
    assert [r["passage_id"] for r in got["results"]] == [r["passage_id"] for r in want["results"]]
    assert [r | {"score": 0, "scores": 0} for r in got["results"]] == [
        r | {"score": 0, "scores": 0} for r in want["results"]
    ]
    assert got["answerable"] is True and 0 <= got["confidence"] <= 1
    top = got["results"][0]
    assert top["section"]["path"] == ["Withdrawal and liberation", "Russian withdrawal efforts"]
    assert "30,000" in (SEEDS / top["source"]["file"]).read_text()[top["source"]["start"] : top["source"]["end"]]
    for passage in got["results"]:
        check_passage(passage)


def test_search_takes_articles_and_read(stdio: Client) -> None:
    got = stdio.ok("search", {"query": QUESTION, "k": 2, "articles": [SEED_ARTICLE], "read": False})
    assert len(got["results"]) == 2 and {r["article"]["id"] for r in got["results"]} == {SEED_ARTICLE}
    assert stdio.ok("search", {"query": QUESTION, "k": 2, "read": None})["results"] == got["results"]
    assert stdio.error("search", {"query": QUESTION, "read": "yes"})["error"]["code"] == "invalid_read"


def test_context_is_numbered_cited_and_within_budget(stdio: Client, http_api: TestClient) -> None:
    from qa.ingest.tokens import count_tokens

    got = stdio.ok("context", {"query": "What happened to the Antonivskyi Bridge?", "max_tokens": 300})
    want = http_api.post("/v1/context", json={"query": "What happened to the Antonivskyi Bridge?", "max_tokens": 300})
    assert got["context"] == want.json()["context"]
    assert 0 < got["tokens"] == count_tokens(got["context"]) <= 300 and got["max_tokens"] == 300
    for n, passage in enumerate(got["passages"], 1):
        assert f"[{n}] {passage['citation']}\n{passage['text']}" in got["context"]
        check_passage(passage)


def test_get_passages_is_get_v1_passages(stdio: Client, http_api: TestClient) -> None:
    got = stdio.ok("get_passages", {"article": SEED_ARTICLE})
    assert got == http_api.get("/v1/passages", params={"article": SEED_ARTICLE}).json()
    assert got["count"] == len(got["passages"]) > 5
    starts = [p["source"]["start"] for p in got["passages"]]
    assert starts == sorted(starts)
    for passage in got["passages"]:
        check_passage(passage | {"article": got["article"]})


@pytest.mark.parametrize(
    ("tool", "arguments", "http_request"), BAD_ARGUMENTS, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(BAD_ARGUMENTS)]
)
def test_bad_arguments_get_the_http_api_error(
    stdio: Client, http_api: TestClient, tool: str, arguments: dict[str, Any], http_request: Any
) -> None:
    assert stdio.error(tool, arguments) == http_json(http_api, http_request)


def test_an_unknown_tool_is_an_error_result_and_the_server_keeps_serving(stdio: Client) -> None:
    assert stdio.error("delete_everything", {})["error"]["code"] == "unknown_tool"
    assert stdio.ok("search", {"query": QUESTION, "k": 1})["results"]


def test_articles_are_resources(stdio: Client, http_api: TestClient) -> None:
    listed = stdio.portal.call(stdio.session.list_resources).resources
    assert [str(r.uri) for r in listed] == [f"qa://articles/{SEED_ARTICLE}"]
    assert listed[0].title == "Liberation of Kherson"
    templates = stdio.portal.call(stdio.session.list_resource_templates).resource_templates
    assert [t.uri_template for t in templates] == ["qa://articles/{id}"]
    read = stdio.portal.call(stdio.session.read_resource, f"qa://articles/{SEED_ARTICLE}")
    assert json.loads(read.contents[0].text) == http_api.get(f"/v1/articles/{SEED_ARTICLE}").json()  # type: ignore[union-attr]
    with pytest.raises(MCPError, match="no article with id 'nope'"):
        stdio.portal.call(stdio.session.read_resource, "qa://articles/nope")


def test_the_index_loads_once_per_process(stdio: Client, stdio_log: Path) -> None:
    for _ in range(3):
        stdio.ok("search", {"query": QUESTION, "k": 1})
    stdio.ok("get_passages", {"article": SEED_ARTICLE})
    assert stdio_log.read_text().count("loaded index") == 1, stdio_log.read_text()[-2000:]


def test_a_missing_index_is_an_error_result_not_a_crash(tmp_path: Path) -> None:
    with (
        (tmp_path / "stderr.log").open("w") as errlog,
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(stdio_session(tmp_path / "none", tmp_path, errlog)) as session,
    ):
        client = Client(portal, session)
        for _ in range(2):  # the failed load is retried, and answered the same way
            err = client.error("search", {"query": QUESTION})["error"]
            assert err["status"] == 503 and "qa build" in err["message"], err


# -- streamable HTTP in `qa serve` ------------------------------------------------------------------------


def test_mcp_over_http_needs_the_api_key(keyed_server: str) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.post(keyed_server + "/mcp", json=hello, headers=headers, timeout=30)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "unauthorized"
    with (
        pytest.raises(ExceptionGroup) as refused,
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(http_session(keyed_server, None)),
    ):
        pass
    assert refused.group_contains(MCPError, match="error response")  # the SDK client is turned away too


def test_mcp_over_http_on_loopback_refuses_foreign_hosts_and_origins(keyed_server: str) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    auth = {"Authorization": f"Bearer {KEY}", "Accept": "application/json, text/event-stream"}
    for extra, status in (({"Host": "rebound.example"}, 421), ({"Origin": "http://rebound.example"}, 403)):
        assert httpx.post(keyed_server + "/mcp", json=hello, headers=auth | extra, timeout=30).status_code == status


def _embed_stage_count(c: httpx.Client) -> float:
    """How many searches /metrics has timed in the `embed` stage so far."""
    pattern = r'^qa_search_stage_duration_seconds_count\{stage="embed"\} (\S+)$'
    found = re.search(pattern, c.get("/metrics").text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_mcp_over_http_answers_like_the_http_api(remote: Client, keyed_server: str) -> None:
    tools = remote.portal.call(remote.session.list_tools).tools
    assert {t.name for t in tools} == {"search", "context", "get_passages"}
    with httpx.Client(base_url=keyed_server, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as c:
        timed = _embed_stage_count(c)
        got = remote.ok("search", {"query": QUESTION, "k": 3})
        assert _embed_stage_count(c) == timed + 1  # an MCP search is timed per stage in /metrics, as /v1/search
        want = c.post("/v1/search", json={"query": QUESTION, "k": 3}).json()
        assert got | {"took_ms": 0} == want | {"took_ms": 0}
        for passage in got["results"]:
            check_passage(passage)
        body = {"query": "When was Kherson liberated?", "max_tokens": 400}
        assert remote.ok("context", body) == c.post("/v1/context", json=body).json()
        passages = remote.ok("get_passages", {"article": SEED_ARTICLE})
        assert passages == c.get("/v1/passages", params={"article": SEED_ARTICLE}).json()
        for tool, arguments, http_request in BAD_ARGUMENTS[::3]:
            assert remote.error(tool, arguments) == http_json(c, http_request), (tool, arguments)
        read = remote.portal.call(remote.session.read_resource, f"qa://articles/{SEED_ARTICLE}")
        assert json.loads(read.contents[0].text) == c.get(f"/v1/articles/{SEED_ARTICLE}").json()  # type: ignore[union-attr]


def test_tools_refuse_when_every_worker_is_busy_and_the_queue_is_full(seed_index: Path, settings_factory,
                                                                       embedder) -> None:  # type: ignore[no-untyped-def]
    """`/mcp` shares the API's worker threads and `QA_MAX_QUEUE`: a full queue is a 503 `overloaded` tool
    error at once, as on /v1/*, not an unbounded wait; with a worker free the same call answers."""
    import anyio

    from qa.search.retriever import Retriever
    from qa.serve.mcp import Tools

    retriever = Retriever.load(seed_index, settings_factory(index=seed_index, reader="off"), embedder)

    async def scenario() -> tuple[Any, Any]:
        limiter = anyio.CapacityLimiter(1)
        tools = Tools(lambda: retriever, lambda: limiter, lambda: 30.0, lambda: 0)
        params = type("Params", (), {"name": "search", "arguments": {"query": QUESTION, "k": 2}})()
        holder = object()
        limiter.acquire_on_behalf_of_nowait(holder)  # the only worker is busy; no request may wait (max_queue 0)
        refused = await tools.call_tool(None, params)
        limiter.release_on_behalf_of(holder)
        answered = await tools.call_tool(None, params)
        return refused, answered

    refused, answered = anyio.run(scenario)
    assert refused.is_error
    body = json.loads(refused.content[0].text)
    assert body["error"]["code"] == "overloaded" and body["error"]["status"] == 503, body
    assert not answered.is_error and len(answered.structured_content["results"]) == 2
