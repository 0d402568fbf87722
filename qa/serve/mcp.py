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
from qa.errors import Forbidden, NotFound, Overloaded, QAError
from qa.serialize import context_to_dict, result_to_dict
from qa.serve import articles as article_routes
from qa.serve import deps, schemas
from qa.serve import errors as api_errors

if TYPE_CHECKING:
    from qa.embed.embedder import Embedder
    from qa.reader.model import Reader
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


COLLECTION_PROPERTY = {
    "anyOf": [{"type": "string"}, {"type": "null"}],
    "default": None,
    "description": "Which collection to answer from, on a server that serves several (`GET /v1/collections` "
    "lists them); default: the server's default collection.",
}


def _with_collection(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's input schema with the optional `collection` argument (taken off before the HTTP model checks
    the rest)."""
    return schema | {"properties": schema["properties"] | {"collection": COLLECTION_PROPERTY}}


def _search_schema() -> dict[str, Any]:
    return _with_collection(_schema(schemas.SearchRequest))


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
        input_schema=_with_collection(_schema(schemas.ContextRequest)),
        output_schema=_schema(schemas.ContextResponse),
    ),
    types.Tool(
        name="get_passages",
        description="Every indexed passage of one article in reading order (infobox, lead, then sections), "
        "each with citation, section path and source offsets. Use it to read a whole article found by `search`.",
        input_schema=_with_collection(_schema(PassagesRequest)),
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


def _unknown_collection(name: str) -> Retriever:
    raise NotFound(f"no collection {name[:100]!r}: this server serves one index (call without `collection`)",
                   code="unknown_collection")


def _collection_argument(arguments: dict[str, Any]) -> str | None:
    name = arguments.pop("collection", None)
    if name is not None and not isinstance(name, str):
        raise QAError("collection must be null or a collection name (a string)", code="invalid_collection",
                      status=422)
    return name


class Tools:
    """Tool, resource and error handling over one source of Retrievers (one index, or a server's holders).

    `retriever` gives the default collection's Retriever; `named(name, allowed)` a named collection's (404 for
    an unknown name, 403 when `allowed`, the caller's key's collections, leaves it out). `allowed(ctx)` reads
    those from the request context (None: every collection)."""

    def __init__(
        self,
        retriever: Callable[[], Retriever],
        limiter: Callable[[], anyio.CapacityLimiter | None] = lambda: None,
        timeout_s: Callable[[], float | None] = lambda: None,
        max_queue: Callable[[], int] = lambda: 0,
        observe_stages: Callable[[dict[str, float]], None] = lambda timings_ms: None,
        named: Callable[[str | None, frozenset[str] | None], Callable[[], Retriever]] | None = None,
        allowed: Callable[[Any], frozenset[str] | None] = lambda ctx: None,
    ) -> None:
        self.retriever = retriever  # may block (the first stdio call loads the index)
        self.limiter = limiter
        self.timeout_s = timeout_s
        self.max_queue = max_queue
        self.observe_stages = observe_stages  # HTTP: the per-stage histograms of /metrics, as for /v1/*
        self.named = named
        self.allowed = allowed

    def source(self, collection: str | None, allowed: frozenset[str] | None) -> Callable[[], Retriever]:
        """Where the Retriever of `collection` (None: the default one) comes from, after the key's check."""
        if self.named is not None:
            return self.named(collection, allowed)
        if collection is not None:
            return lambda: _unknown_collection(collection)
        return self.retriever

    async def _off_loop(self, work: Callable[[Retriever], Any], source: Callable[[], Retriever] | None = None) -> Any:
        """Blocking work in worker threads, within the time limit and the queue bound (HTTP: `QA_REQUEST_TIMEOUT_S`,
        `QA_MAX_QUEUE`, shared with /v1/*)."""
        limiter = self.limiter()
        if limiter is not None:
            deps.refuse_when_full(limiter, self.max_queue())
        get = source or self.retriever
        with anyio.move_on_after(self.timeout_s()):
            return await anyio.to_thread.run_sync(lambda: work(get()), limiter=limiter, abandon_on_cancel=True)
        raise Overloaded("the server is busy: the request took too long; retry later", code="timeout")

    async def call(self, name: str, arguments: dict[str, Any], allowed: frozenset[str] | None = None
                   ) -> dict[str, Any]:
        arguments = dict(arguments)
        if name in ("search", "context", "get_passages"):
            source = self.source(_collection_argument(arguments), allowed)
        if name == "search":
            body = _parse(schemas.SearchRequest, arguments, "body")

            def search(r: Retriever) -> dict[str, Any]:
                result = r.search(body.query, body.k, body.mode, body.articles, read=body.read, filter=body.filter)
                self.observe_stages(result.timings)
                return result_to_dict(result, r.info())

            return dict(await self._off_loop(search, source))
        if name == "context":
            ctx = _parse(schemas.ContextRequest, arguments, "body")

            def context(r: Retriever) -> dict[str, Any]:
                out = r.context(ctx.query, ctx.max_tokens, ctx.mode, read=ctx.read, filter=ctx.filter)
                self.observe_stages(out.search.timings)
                return context_to_dict(out, r.info())

            return dict(await self._off_loop(context, source))
        if name == "get_passages":
            article = _parse(PassagesRequest, arguments, "query").article
            return await article_routes.article_passages(article, await self._off_loop(lambda r: r, source))
        raise QAError(f"unknown tool {name[:50]!r}: use search, context or get_passages", code="unknown_tool",
                      status=404)

    async def call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            payload = await self.call(params.name, dict(params.arguments or {}), self.allowed(ctx))
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


class SharedModels:
    """One embedder and one reader for every collection of the stdio server, loaded on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._models: tuple[Embedder, Reader | None] | None = None

    def __call__(self) -> tuple[Embedder, Reader | None]:
        with self._lock:
            if self._models is None:
                from qa.embed.embedder import Embedder
                from qa.search.reading import load_reader

                embedder = Embedder.from_settings(self.settings)
                embedder.model  # noqa: B018 - load now, under the lock: two collections' first calls may race
                self._models = (embedder, load_reader(self.settings))
            return self._models


class LoadOnce:
    """The stdio server's index: loaded (and warmed up) on first use, then kept; a failed load is retried.
    With `models`, the collections' shared embedder and reader are used."""

    def __init__(self, settings: Settings, models: SharedModels | None = None) -> None:
        self.settings = settings
        self.models = models
        self._lock = threading.Lock()
        self._retriever: Retriever | None = None

    def __call__(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                from qa.serve.serving import load_checked

                if self.models is None:
                    self._retriever = load_checked(self.settings)
                else:
                    self._retriever = load_checked(self.settings, *self.models())
                log.info("loaded index %s from %s", self._retriever.manifest.id, self.settings.index)
            return self._retriever


def stdio_collections(settings: Settings) -> tuple[LoadOnce, Callable[[str | None, frozenset[str] | None],
                                                                       Callable[[], Retriever]]]:
    """`qa mcp --collections`: the default collection's loader and the lookup of the others (each loaded on
    first use; a local process, so no keys)."""
    from qa.serve.catalog import load_catalog

    catalog = load_catalog(settings)
    models = SharedModels(settings)
    loads = {c.name: LoadOnce(settings.model_copy(update={"index": c.index}), models) for c in catalog.collections}

    def named(name: str | None, allowed: frozenset[str] | None) -> Callable[[], Retriever]:
        if name is None:
            return loads[catalog.default]
        if name not in loads:
            raise NotFound(f"no collection {name[:100]!r}: served are {', '.join(loads)}", code="unknown_collection")
        return loads[name]

    return loads[catalog.default], named


async def run_stdio(settings: Settings) -> None:
    """Serve over stdin/stdout until the host closes them; the (default collection's) index starts loading
    at once."""
    from mcp.server.stdio import stdio_server

    if settings.collections:
        load, named = stdio_collections(settings)
        server = Tools(load, named=named).server()
    else:
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


ALLOWED = "qa_allowed_collections"


def _allowed_of(ctx: Any) -> frozenset[str] | None:
    """The collections the HTTP request's key may read, as `/mcp` found them (None: every one); none at all
    when the request context does not carry them (a closed server stays closed)."""
    request = getattr(ctx, "request", None)
    state = getattr(request, "scope", {}).get("state")
    if not isinstance(state, dict) or ALLOWED not in state:
        return frozenset()
    allowed: frozenset[str] | None = state[ALLOWED]
    return allowed


def mount(app: FastAPI, path: str = "/mcp") -> None:
    """Serve the tools at `path` of the API app (stateless streamable HTTP, JSON responses), from the app's
    index holder and worker threads, behind the same API key check as `/v1/*`."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.routing import Route

    state = app.state

    def named(name: str | None, allowed: frozenset[str] | None) -> Callable[[], Retriever]:
        collection = state.collections.get(name)  # 404 for an unknown name
        if allowed is not None and collection.name not in allowed:
            raise Forbidden(f"this API key may not read collection {collection.name!r}", code="forbidden_collection")
        return lambda: collection.holder.current

    server = Tools(lambda: state.holder.current, lambda: state.limiter, lambda: state.settings.request_timeout_s,
                   lambda: state.settings.max_queue, lambda timings_ms: state.metrics.observe_stages(timings_ms),
                   named=named, allowed=lambda ctx: None if state.collections.catalog.open else _allowed_of(ctx)
                   ).server()
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
                allowed = await deps.identify(request, await deps.bearer(request), await deps.key_header(request))
            except StarletteHTTPException as exc:
                code = api_errors.HTTP_CODES.get(exc.status_code, "error")
                response = api_errors.error_response(exc.status_code, code, str(exc.detail), exc.headers)
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})[ALLOWED] = allowed  # the tools read it from the request context
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

