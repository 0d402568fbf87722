"""The HTTP API (FastAPI): `/v1/search`, `/v1/context`, `/v1/articles`, health, version and metrics.

`create_app(settings)` builds the app; the model and index are loaded once in its lifespan (never at
import) into `app.state.holder`, a swappable `RetrieverHolder`. Encoding and search run in worker
threads, at most `settings.workers` at a time, so the event loop stays free. Every error has one shape
(see `qa.serve.errors`).

Extension points: routes of other features go on their own `APIRouter` and are included in
`create_app`; a router of `/v1` routes is included with `include_v1`, which mounts it as it is (the default
collection) and a copy of its routes under `/v1/collections/{name}`. `app.state.collections` holds each collection's
swappable holder (`app.state.holder` is the default one's); a page at `GET /` is not defined here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response

from qa import __version__
from qa.serialize import context_to_dict, result_to_dict
from qa.serve import errors as api_errors
from qa.serve.articles import articles
from qa.serve.batcher import query_embedder
from qa.serve.catalog import load_catalog
from qa.serve.collections import Collections, include_v1, listing
from qa.serve.deps import (
    V1_ERRORS,
    CurrentRetriever,
    error_responses,
    off_loop,
    remember_key,
    require_api_key,
)
from qa.serve.fields import fields
from qa.serve.mcp import mount
from qa.serve.middleware import BodyLimitMiddleware, Metrics, MetricsMiddleware
from qa.serve.reload import IndexWatchMiddleware, admin
from qa.serve.schemas import (
    ContextRequest,
    ContextResponse,
    Health,
    Ready,
    SearchRequest,
    SearchResponse,
    VersionInfo,
)
from qa.serve.serving import RetrieverHolder
from qa.serve.web import page
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.embed.embedder import Embedder

T = TypeVar("T")

DESCRIPTION = """Question answering over Markdown articles: every answer is a ranked list of passages,
each with an exact citation (article, section path, anchor, character span in the source file).

Errors always have the shape `{"error": {"status": N, "code": "...", "message": "..."}}`.
Unknown article ids are **404** (`unknown_article`), both in `GET /v1/articles/{id}` and in the
`articles` filter of `POST /v1/search`. When the server has API keys, `/v1/*` needs
`Authorization: Bearer <key>` (or `X-API-Key: <key>`); health, version and metrics stay open.

**Collections.** One server may serve several indexes by name (`QA_COLLECTIONS`): `GET /v1/collections`
lists them, and every `/v1` route answers for one of them under `/v1/collections/{name}/…`
(`/v1/collections/{name}/search`, `…/context`, `…/articles`, `…/passages`, `…/admin/reload`); the routes
without a name answer from the default collection. A key may be limited to some collections
(`QA_API_KEYS`): **401** without a valid key, **403** `forbidden_collection` for a collection it may not
read, **404** `unknown_collection` for a name the server does not serve."""


v1 = APIRouter(prefix="/v1", tags=["answers"], responses=V1_ERRORS)
ops = APIRouter(tags=["operations"])


@v1.post("/search", response_model=SearchResponse, summary="Rank passages that answer a question")
async def search(
    body: SearchRequest, request: Request, retriever: CurrentRetriever
) -> dict[str, Any]:
    """The `k` best passages for `query`, each with scores, clean text, citation, source span and the
    best-answering sentence (`highlight`), plus a calibrated `confidence` that the top one answers it."""
    result = await off_loop(
        request, retriever.search, body.query, body.k, body.mode, body.articles, None, body.read, body.filter
    )
    request.app.state.metrics.observe_stages(result.timings)
    return result_to_dict(result, retriever.info())


@v1.post("/context", response_model=ContextResponse, summary="Pack cited passages into a token budget")
async def context(
    body: ContextRequest, request: Request, retriever: CurrentRetriever
) -> dict[str, Any]:
    """The best passages, numbered `[1]`, `[2]`, … with their citations, packed whole (never cut) into at
    most `max_tokens` `cl100k_base` tokens: `context` is ready to paste into an LLM prompt."""
    ctx = await off_loop(
        request, retriever.context, body.query, body.max_tokens, body.mode, 20, body.read, body.filter
    )
    request.app.state.metrics.observe_stages(ctx.search.timings)
    return context_to_dict(ctx, retriever.info())


@ops.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests, index or not."""
    return {"status": "ok"}


@ops.get("/readyz", response_model=Ready, responses=error_responses(503), summary="An index is loaded and answers")
async def readyz(request: Request) -> Any:
    """200 once the index (every collection's) is loaded and a probe query has worked; 503 `not_ready` before
    (or if it failed)."""
    holder: RetrieverHolder = request.app.state.holder
    if not holder.ready:
        return api_errors.error_response(
            503,
            "not_ready",
            "no index is loaded: see the server log (run `qa build`, then restart or reload)",
        )
    missing = request.app.state.collections.not_ready()
    if missing:
        return api_errors.error_response(
            503, "not_ready", f"collection(s) {', '.join(missing[:10])} have no index loaded: see the server log"
        )
    return {"status": "ready", "index": holder.current.info()}


@ops.get("/version", response_model=VersionInfo, summary="Package version and the serving index")
async def version(request: Request) -> dict[str, Any]:
    """The `qa` version and a summary of the serving index's manifest (null while none is loaded)."""
    holder: RetrieverHolder = request.app.state.holder
    index = None
    if holder.ready:
        r = holder.current
        m = r.manifest
        index = r.info() | {
            "format_version": m.format_version,
            "package_version": m.package_version,
            "corpus_hash": m.corpus_hash,
            "counts": m.counts,
            "store": str(m.store.get("kind", "faiss")),
            "records": "store" if r.on_demand else "memory",
            "disabled": r.disabled(),
        }
    return {"package": {"name": "qa", "version": __version__}, "index": index}


@ops.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}
    },
)
async def metrics(request: Request) -> Response:
    """Requests and errors by route and status; latency histograms per route and per search stage."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> FastAPI:
    """The API app for `settings`. `embedder` reuses an already loaded model (tests); default loads one.

    Nothing heavy happens here: the lifespan loads the index named by `app.state.settings` at start-up.
    """
    collections = Collections(load_catalog(settings), settings)  # a configuration mistake stops here

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.limiter = anyio.CapacityLimiter(app.state.settings.workers)
        app.state.embedder = query_embedder(app.state.settings, app.state.embedder)  # micro-batching (qa.serve.batcher)
        if app.state.settings is not settings:  # pointed elsewhere after create_app (tests do): read it now
            app.state.collections = Collections(load_catalog(app.state.settings), app.state.settings)
            app.state.holder = app.state.collections.default.holder
        await anyio.to_thread.run_sync(app.state.collections.load, app.state.settings, app.state.embedder)
        app.state.reloader = app.state.collections.default.reloader
        yield

    app = FastAPI(title="qa", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.embedder = embedder
    app.state.collections = collections
    app.state.holder = collections.default.holder  # the default collection's, as a single-index server's
    app.state.metrics = Metrics()
    api_errors.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )
    app.add_middleware(IndexWatchMiddleware)  # notices a newly published index (qa.serve.reload)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: sees every status
    keyed = [] if collections.catalog.open else [Depends(require_api_key)]
    include_v1(app, v1, keyed)  # at /v1 (the default collection) and /v1/collections/{name}
    include_v1(app, articles, keyed)
    include_v1(app, fields, keyed)
    include_v1(app, admin, keyed)
    app.include_router(listing, dependencies=[] if collections.catalog.open else [Depends(remember_key)])
    app.include_router(ops)
    app.include_router(page)  # the search page at `/` (qa.serve.web); it calls /v1 like any client
    mount(app)  # the same tools over MCP at /mcp (streamable HTTP), behind the same API key
    return app
