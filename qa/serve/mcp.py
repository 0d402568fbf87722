"""The retriever as a Model Context Protocol server: `qa mcp` (stdio) and `/mcp` in `qa serve` (HTTP).

Tools `search`, `context` and `get_passages` return the HTTP API's JSON (the `qa.serialize` shapes, built by
the same functions), as structured content and as JSON text. Arguments go through the HTTP request models
(`qa.serve.schemas`) and `qa.serve.errors.validation_message`, so a bad one gets the HTTP API's message, in an
error result (`isError`) whose text is the HTTP error body. Articles are resources `qa://articles/{id}`.
The SDK's low-level `Server` is used (not `MCPServer`) because it leaves argument checking to us.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import mcp_types as types
from fastapi import FastAPI
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from qa import __version__
from qa.errors import Overloaded, QAError
from qa.serialize import context_to_dict, result_to_dict
from qa.serve import articles as article_routes
from qa.serve import deps, schemas
from qa.serve import errors as api_errors

if TYPE_CHECKING:
    from qa.search.retriever import Retriever
    from qa.settings import Settings

log = logging.getLogger("qa.mcp")

URI_PREFIX = "qa://articles/"
RESOURCE_NOT_FOUND = -32002  # the MCP specification's code for an unknown resource
INTERNAL_ERROR = -32603


class PassagesRequest(BaseModel):
    """`get_passages` arguments; the HTTP API takes `article` as a query parameter of `GET /v1/passages`."""

    model_config = ConfigDict(strict=True, extra="forbid")
    article: str = Field(description="Article id, e.g. `article.id` of a search result.")


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("examples", None)
    return schema


def _search_schema() -> dict[str, Any]:
    return _schema(schemas.SearchRequest)


TOOLS = [
    types.Tool(
        name="search",
        description="Find the passages of the indexed articles that answer a question, best first. Each result "
        "has the passage `text`, a `citation` (article § section path) to quote, `section.path`, and `source` "
        "(file and character offsets of the passage in the raw Markdown file). `answerability` says whether "
        "the articles answer it: `answered` (answer from the passages, citing them), `unsure` (say the articles may "
        "not answer it; offer what the passages say, hedged), `not_answered` (say the articles do not answer it "
        "rather than guessing); `confidence` is the calibrated chance behind it. Narrow with `articles` (ids from the qa://articles resources) or `filter` "
        '(article metadata: {"tags": "x"}, {"date": {"gte": "2022-01-01"}}, {"path": {"prefix": "news/"}}).',
        input_schema=_search_schema(),
        output_schema=_schema(schemas.SearchResponse),
    ),
    types.Tool(
        name="context",
        description="Pack the best passages for a question into ready-to-paste prompt context within a token "
        "budget: `context` is `[1] <citation>\\n<passage>` blocks, numbered in order, never over `max_tokens` "
        "(cl100k_base). Cite a fact with its number; `passages` lists each numbered passage with its source; "
        "`answerability` (`answered` / `unsure` / `not_answered`) says whether to answer, hedge or decline.",
        input_schema=_schema(schemas.ContextRequest),
        output_schema=_schema(schemas.ContextResponse),
    ),
    types.Tool(
        name="get_passages",
        description="Every indexed passage of one article in reading order (infobox, lead, then sections), "
        "each with citation, section path and source offsets. Use it to read a whole article found by `search`.",
        input_schema=_schema(PassagesRequest),
        output_schema=_schema(schemas.ArticlePassages),
    ),
]


def _error_result(status: int, code: str, message: str) -> types.CallToolResult:
    body = {"error": {"status": status, "code": code, "message": message}}
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(body, ensure_ascii=False))], is_error=True)


def _parse(model: type[BaseModel], arguments: dict[str, Any], where: str) -> Any:
    """Validate as the HTTP API does; its errors carry locations under `body` (or `query` for GET)."""
    try:
        return model.model_validate(arguments)
    except ValidationError as exc:
        errors = [dict(e) | {"loc": (where, *e["loc"])} for e in exc.errors()]
        status, code, message = api_errors.validation_message(errors)
        raise QAError(message, code=code, status=status) from None


class Tools:
    """Tool, resource and error handling over one source of Retrievers (one index, or a server's holder)."""

    def __init__(
        self,
        retriever: Callable[[], Retriever],
        limiter: Callable[[], anyio.CapacityLimiter | None] = lambda: None,
        timeout_s: Callable[[], float | None] = lambda: None,
        max_queue: Callable[[], int] = lambda: 0,
        observe_stages: Callable[[dict[str, float]], None] = lambda timings_ms: None,
    ) -> None:
        self.retriever = retriever  # may block (the first stdio call loads the index)
        self.limiter = limiter
        self.timeout_s = timeout_s
        self.max_queue = max_queue
        self.observe_stages = observe_stages  # HTTP: the per-stage histograms of /metrics, as for /v1/*

    async def _off_loop(self, work: Callable[[Retriever], Any]) -> Any:
        """Blocking work in worker threads, within the time limit and the queue bound (HTTP: `QA_REQUEST_TIMEOUT_S`,
        `QA_MAX_QUEUE`, shared with /v1/*)."""
        limiter = self.limiter()
        if limiter is not None:
            deps.refuse_when_full(limiter, self.max_queue())
        with anyio.move_on_after(self.timeout_s()):
            return await anyio.to_thread.run_sync(
                lambda: work(self.retriever()), limiter=limiter, abandon_on_cancel=True
            )
        raise Overloaded("the server is busy: the request took too long; retry later", code="timeout")

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if name == "search":
            body = _parse(schemas.SearchRequest, arguments, "body")

            def search(r: Retriever) -> dict[str, Any]:
                result = r.search(body.query, body.k, body.mode, body.articles, read=body.read, filter=body.filter)
                self.observe_stages(result.timings)
                return result_to_dict(result, r.info())

            return dict(await self._off_loop(search))
        if name == "context":
            ctx = _parse(schemas.ContextRequest, arguments, "body")

            def context(r: Retriever) -> dict[str, Any]:
                out = r.context(ctx.query, ctx.max_tokens, ctx.mode, read=ctx.read, filter=ctx.filter)
                self.observe_stages(out.search.timings)
                return context_to_dict(out, r.info())

            return dict(await self._off_loop(context))
        if name == "get_passages":
            article = _parse(PassagesRequest, arguments, "query").article
            return await article_routes.article_passages(article, await self._off_loop(lambda r: r))
        raise QAError(f"unknown tool {name[:50]!r}: use search, context or get_passages", code="unknown_tool",
                      status=404)

    async def call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            payload = await self.call(params.name, dict(params.arguments or {}))
        except QAError as exc:
            return _error_result(exc.status, exc.code, exc.message)
        except Exception:  # the server stays up; the traceback goes to the log, as in the HTTP API
            log.exception("tool %s failed", params.name)
            return _error_result(500, "internal_error", "internal error; see the server log")
        text = json.dumps(payload, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=payload)

    async def list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=TOOLS)

    async def _for_resources(self) -> Retriever:
        try:
            return await self._off_loop(lambda r: r)
        except QAError as exc:  # no index: a JSON-RPC error, as resources have no error results
            raise MCPError(INTERNAL_ERROR, exc.message, {"status": exc.status, "code": exc.code}) from None

    async def list_resources(self, ctx: Any, params: Any) -> types.ListResourcesResult:
        listing = await article_routes.list_articles(await self._for_resources())
        return types.ListResourcesResult(resources=[
            types.Resource(uri=URI_PREFIX + a["id"], name=a["id"], title=a["title"],
                           description=a["short_description"] or None, mime_type="application/json")
            for a in listing["articles"]
        ])

    async def list_templates(self, ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            uri_template=URI_PREFIX + "{id}", name="article", mime_type="application/json",
            description="One article's outline, descriptions and passage count (GET /v1/articles/{id}); "
            "read its text with the get_passages tool.",
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(self, ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        if not uri.startswith(URI_PREFIX):
            raise MCPError(RESOURCE_NOT_FOUND, f"no resource {uri[:200]!r}: articles are {URI_PREFIX}<id>")
        retriever = await self._for_resources()
        try:
            detail = await article_routes.get_article(uri[len(URI_PREFIX):], retriever)
        except QAError as exc:
            raise MCPError(RESOURCE_NOT_FOUND, exc.message, {"status": exc.status, "code": exc.code}) from None
        text = schemas.ArticleDetail.model_validate(detail).model_dump_json()
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )

    def server(self) -> Server[Any]:
        return Server(
            "qa", version=__version__,
            instructions="Question answering over Markdown articles with exact citations. Call `search` (or "
            "`context` for prompt-ready text) and cite each fact with the result's `citation`.",
            on_list_tools=self.list_tools, on_call_tool=self.call_tool,
            on_list_resources=self.list_resources, on_list_resource_templates=self.list_templates,
            on_read_resource=self.read_resource,
        )


class LoadOnce:
    """The stdio server's index: loaded (and warmed up) on first use, then kept; a failed load is retried."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._retriever: Retriever | None = None

    def __call__(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                from qa.serve.serving import load_checked

                self._retriever = load_checked(self.settings)
                log.info("loaded index %s from %s", self._retriever.manifest.id, self.settings.index)
            return self._retriever


async def run_stdio(settings: Settings) -> None:
    """Serve over stdin/stdout until the host closes them; the index starts loading at once."""
    from mcp.server.stdio import stdio_server

    load = LoadOnce(settings)
    server = Tools(load).server()

    def preload() -> None:
        try:
            load()
        except QAError as exc:  # tool calls will answer with it (and retry the load)
            log.error("index not loaded: %s", exc.message)

    async with stdio_server() as (read, write), anyio.create_task_group() as tg:
        tg.start_soon(lambda: anyio.to_thread.run_sync(preload, abandon_on_cancel=True))
        await server.run(read, write, server.create_initialization_options())
        tg.cancel_scope.cancel()


def mount(app: FastAPI, path: str = "/mcp") -> None:
    """Serve the tools at `path` of the API app (stateless streamable HTTP, JSON responses), from the app's
    index holder and worker threads, behind the same API key check as `/v1/*`."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.routing import Route

    state = app.state
    server = Tools(lambda: state.holder.current, lambda: state.limiter, lambda: state.settings.request_timeout_s,
                   lambda: state.settings.max_queue, lambda timings_ms: state.metrics.observe_stages(timings_ms)).server()
    managers: list[StreamableHTTPSessionManager] = []
    security = None
    if state.settings.host in ("127.0.0.1", "localhost", "::1"):  # the SDK's DNS-rebinding guard
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )

    class Endpoint:  # an ASGI app, not a function: Starlette's Route then passes scope, receive, send through
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive)
            try:
                await deps.require_api_key(request, await deps.bearer(request))
            except StarletteHTTPException as exc:
                code = api_errors.HTTP_CODES.get(exc.status_code, "error")
                response = api_errors.error_response(exc.status_code, code, str(exc.detail), exc.headers)
                await response(scope, receive, send)
                return
            await managers[-1].handle_request(scope, receive, send)

    inner: Callable[[Any], Any] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        # a session manager runs once, so each start of the app (tests start one app many times) gets its own
        managers.append(StreamableHTTPSessionManager(server, json_response=True, stateless=True,
                                                     security_settings=security))
        async with inner(a) as state, managers[-1].run():
            yield state

    app.router.lifespan_context = lifespan
    app.router.routes.append(Route(path, endpoint=Endpoint(), methods=["GET", "POST", "DELETE"]))

