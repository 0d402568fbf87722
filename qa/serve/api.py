"""The HTTP API (FastAPI): `/v1/search`, `/v1/context`, `/v1/articles`, health, version and metrics.

`create_app(settings)` builds the app; the model and index are loaded once in its lifespan (never at
import) into `app.state.holder`, a swappable `RetrieverHolder`. Encoding and search run in worker
threads, at most `settings.workers` at a time, so the event loop stays free. Every error has one shape
(see `qa.serve.errors`).

Extension points: routes of other features go on their own `APIRouter` and are included in
`create_app` (an index reload swaps `app.state.holder`; a page at `GET /` is not defined here).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa import __version__
from qa.errors import Overloaded
from qa.records import ArticleInfo
from qa.search.retriever import Retriever
from qa.serialize import chunk_to_dict, context_to_dict, result_to_dict
from qa.serve import errors as api_errors
from qa.serve.batcher import query_embedder
from qa.serve.middleware import BodyLimitMiddleware, Metrics, MetricsMiddleware
from qa.serve.reload import IndexWatchMiddleware, Reloader, admin
from qa.serve.schemas import (
    ArticleDetail,
    ArticleList,
    ArticlePassages,
    ContextRequest,
    ContextResponse,
    ErrorResponse,
    Health,
    Ready,
    SearchRequest,
    SearchResponse,
    VersionInfo,
)
from qa.serve.serving import RetrieverHolder, load_into
from qa.serve.web import page
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.embed.embedder import Embedder

T = TypeVar("T")

DESCRIPTION = """Question answering over Markdown articles: every answer is a ranked list of passages,
each with an exact citation (article, section path, anchor, character span in the source file).

Errors always have the shape `{"error": {"status": N, "code": "...", "message": "..."}}`.
Unknown article ids are **404** (`unknown_article`), both in `GET /v1/articles/{id}` and in the
`articles` filter of `POST /v1/search`. When the server has an API key, `/v1/*` needs
`Authorization: Bearer <key>`; health, version and metrics stay open."""


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        s: {"model": ErrorResponse, "description": api_errors.HTTP_CODES.get(s, "error")} for s in statuses
    }


V1_ERRORS = _errors(400, 401, 404, 413, 422, 503)
bearer = HTTPBearer(auto_error=False, description="The server's API key (QA_API_KEY).")


async def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """401 unless the request carries the server's API key; the comparison takes constant time."""
    key: str | None = request.app.state.settings.api_key
    if key is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if credentials is None or not hmac.compare_digest(given.encode(), key.encode()):
        raise StarletteHTTPException(
            401,
            "missing or wrong API key: send `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


def serving(request: Request) -> Retriever:
    """The Retriever for this request (taken once, so a reload never mixes two indexes in one answer)."""
    holder: RetrieverHolder = request.app.state.holder
    return holder.current


# FastAPI's Annotated form of `= Depends(serving)`: the same dependency, without a call in a default.
CurrentRetriever = Annotated[Retriever, Depends(serving)]


async def off_loop(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run blocking work (encoding, search) in the bounded thread pool, within the request time limit."""
    state = request.app.state
    busy = state.limiter.statistics()
    if busy.borrowed_tokens >= busy.total_tokens and busy.tasks_waiting >= state.settings.max_queue:
        # every worker busy and the queue full: refuse now rather than queue without bound
        raise Overloaded("the server is at capacity: too many requests are waiting; retry later")
    with anyio.move_on_after(state.settings.request_timeout_s):
        return await anyio.to_thread.run_sync(fn, *args, limiter=state.limiter, abandon_on_cancel=True)
    raise Overloaded("the server is busy: the request took too long; retry later", code="timeout")


v1 = APIRouter(prefix="/v1", tags=["answers"], responses=V1_ERRORS)
ops = APIRouter(tags=["operations"])


@v1.post("/search", response_model=SearchResponse, summary="Rank passages that answer a question")
async def search(
    body: SearchRequest, request: Request, retriever: CurrentRetriever
) -> dict[str, Any]:
    """The `k` best passages for `query`, each with scores, clean text, citation, source span and the
    best-answering sentence (`highlight`), plus a calibrated `confidence` that the top one answers it."""
    result = await off_loop(request, retriever.search, body.query, body.k, body.mode, body.articles)
    request.app.state.metrics.observe_stages(result.timings)
    return result_to_dict(result, retriever.info())


@v1.post("/context", response_model=ContextResponse, summary="Pack cited passages into a token budget")
async def context(
    body: ContextRequest, request: Request, retriever: CurrentRetriever
) -> dict[str, Any]:
    """The best passages, numbered `[1]`, `[2]`, … with their citations, packed whole (never cut) into at
    most `max_tokens` `cl100k_base` tokens: `context` is ready to paste into an LLM prompt."""
    ctx = await off_loop(request, retriever.context, body.query, body.max_tokens, body.mode)
    request.app.state.metrics.observe_stages(ctx.search.timings)
    return context_to_dict(ctx, retriever.info())


def _summary(a: ArticleInfo) -> dict[str, Any]:
    d = a.to_dict()
    return {k: d[k] for k in ("id", "title", "short_description", "description", "sections")}


@v1.get("/articles", response_model=ArticleList, summary="List the indexed articles")
async def list_articles(retriever: CurrentRetriever) -> dict[str, Any]:
    """Every article in the index: id, title, descriptions and section outline, sorted by id."""
    articles = [_summary(retriever.articles[i]) for i in sorted(retriever.articles)]
    return {"count": len(articles), "articles": articles}


@v1.get("/articles/{article_id:path}", response_model=ArticleDetail, summary="One article's outline")
async def get_article(
    article_id: Annotated[
        str,
        Path(
            description="Article id; may contain `/` for nested folders.", examples=["liberation_of_kherson"]
        ),
    ],
    retriever: CurrentRetriever,
) -> dict[str, Any]:
    """One article by id (looked up in the index only; unknown ids are 404 `unknown_article`)."""
    info = retriever.article(article_id)
    passages = sum(1 for c in retriever.chunks if c.article_id == info.id)
    return _summary(info) | {"file": info.file, "content_hash": info.content_hash, "passages": passages}


@v1.get("/passages", response_model=ArticlePassages, summary="Every passage of one article, in order")
async def article_passages(
    article: Annotated[str, Query(description="Article id.", examples=["liberation_of_kherson"])],
    retriever: CurrentRetriever,
) -> dict[str, Any]:
    """The article's indexed passages in reading order (by source offset): infobox, lead, then sections.
    Split sections repeat a short sentence at the start of the next part. Unknown ids are 404."""
    info = retriever.article(article)
    chunks = sorted(
        (c for c in retriever.chunks if c.article_id == info.id), key=lambda c: (c.start, c.ordinal)
    )
    return {
        "article": {"id": info.id, "title": info.title},
        "count": len(chunks),
        "passages": [chunk_to_dict(c) for c in chunks],
    }


@ops.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests, index or not."""
    return {"status": "ok"}


@ops.get("/readyz", response_model=Ready, responses=_errors(503), summary="An index is loaded and answers")
async def readyz(request: Request) -> Any:
    """200 once the index is loaded and a probe query has worked; 503 `not_ready` before (or if it failed)."""
    holder: RetrieverHolder = request.app.state.holder
    if not holder.ready:
        return api_errors.error_response(
            503,
            "not_ready",
            "no index is loaded: see the server log (run `qa build`, then restart or reload)",
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
    holder = RetrieverHolder()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.limiter = anyio.CapacityLimiter(app.state.settings.workers)
        app.state.embedder = query_embedder(app.state.settings, app.state.embedder)  # micro-batching (qa.serve.batcher)
        await anyio.to_thread.run_sync(load_into, holder, app.state.settings, app.state.embedder)
        app.state.reloader = Reloader(holder, app.state.settings, app.state.embedder)
        yield

    app = FastAPI(title="qa", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.embedder = embedder
    app.state.holder = holder
    app.state.metrics = Metrics()
    api_errors.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(IndexWatchMiddleware)  # notices a newly published index (qa.serve.reload)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: sees every status
    app.include_router(v1, dependencies=[Depends(require_api_key)] if settings.api_key else [])
    app.include_router(admin, dependencies=[Depends(require_api_key)] if settings.api_key else [])
    app.include_router(ops)
    app.include_router(page)  # the search page at `/` (qa.serve.web); it calls /v1 like any client
    return app
