"""Several named indexes in one server: one Retriever holder and one Reloader per collection, one embedder
and one reader model shared by all of them.

Each collection reloads on its own (its index link is watched, `POST /v1/collections/{name}/admin/reload`),
so a build of one never touches the others. Today's routes (`/v1/search`, …) answer from the default
collection; `include_v1` mounts each router's routes again under `/v1/collections/{name}` (same handlers),
so every route added to those routers appears in both places. `GET /v1/collections` lists what the caller's key may read.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from qa.errors import NotFound, QAError
from qa.serve.catalog import Catalog
from qa.serve.errors import HTTP_CODES
from qa.serve.reload import Reloader
from qa.serve.schemas import ErrorResponse, IndexInfo
from qa.serve.serving import RetrieverHolder, load_into

if TYPE_CHECKING:
    from fastapi.params import Depends as DependsParam

    from qa.embed.embedder import Embedder
    from qa.reader.model import Reader
    from qa.settings import Settings

log = logging.getLogger("qa.api")

SCOPED_PREFIX = "/v1/collections/{collection}"


@dataclass
class Collection:
    name: str
    settings: Settings  # the server's settings with `index` set to this collection's folder
    holder: RetrieverHolder
    reloader: Reloader | None = None  # made once the server has started


class Collections:
    """The served collections by name (in the catalog's order)."""

    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.items = {
            c.name: Collection(c.name, settings.model_copy(update={"index": c.index}), RetrieverHolder())
            for c in catalog.collections
        }

    @property
    def default(self) -> Collection:
        return self.items[self.catalog.default]

    def get(self, name: str | None) -> Collection:
        """The named collection (None: the default one); 404 `unknown_collection` for any other name."""
        if name is None:
            return self.default
        try:
            return self.items[name]
        except KeyError:
            raise NotFound(f"no collection {name[:100]!r}: GET /v1/collections lists them",
                           code="unknown_collection") from None

    def load(self, settings: Settings, embedder: Embedder | None) -> None:
        """Load every collection at start-up (blocking). One reader serves them all when there are several;
        a single collection loads as a single-index server always did. A collection that does not load is
        logged and answers 503 until a build of it is published; the others serve."""
        reader: Reader | None | Literal["load"] = "load"
        if len(self.items) > 1:
            from qa.search.reading import load_reader

            try:
                reader = load_reader(settings)
            except QAError as exc:  # each collection's load then reports it, as a single server would
                log.error("reader not loaded: %s", exc.message)
        for c in self.items.values():
            load_into(c.holder, c.settings, embedder, reader)
            if len(self.items) > 1 and c.holder.ready:
                log.info("collection %s: serving index %s", c.name, c.holder.current.manifest.id)
            c.reloader = Reloader(c.holder, c.settings, embedder, reader)

    def maybe_check(self) -> None:
        """Let each collection notice its own new build (cheap; see `Reloader.maybe_check`)."""
        for c in self.items.values():
            if c.reloader is not None:
                c.reloader.maybe_check()

    def not_ready(self) -> list[str]:
        return [name for name, c in self.items.items() if not c.holder.ready]


async def _collection_param(
    collection: Annotated[str, PathParam(description="Collection name (`GET /v1/collections` lists them).",
                                         examples=["default"])],
) -> None:
    """Declares the `{collection}` path parameter of the scoped routes (the retriever dependency reads it)."""


def scoped_copy(router: APIRouter) -> APIRouter:
    """The routes of `router` (paths under /v1) again under `/v1/collections/{collection}`: the same handlers
    and everything FastAPI knows of each route (models, responses, docs), only the path differs."""
    scoped = APIRouter(prefix=SCOPED_PREFIX, dependencies=[Depends(_collection_param)])
    options = [p for p in inspect.signature(scoped.add_api_route).parameters if p not in ("path", "endpoint")]
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/v1/"):
            continue
        kwargs = {name: getattr(route, name) for name in options if hasattr(route, name)}
        kwargs["dependencies"] = list(route.dependencies)
        scoped.add_api_route(route.path.removeprefix("/v1"), route.endpoint, **kwargs)
    return scoped


def include_v1(app: FastAPI, router: APIRouter, dependencies: list[DependsParam]) -> None:
    """Mount `router` (routes under /v1) as it is, for the default collection, and a copy of its routes
    under `/v1/collections/{collection}` (`scoped_copy`): a route added to the router appears in both."""
    app.include_router(router, dependencies=dependencies)
    app.include_router(scoped_copy(router), dependencies=dependencies)


# -- GET /v1/collections ---------------------------------------------------------------------------------


class CollectionInfo(BaseModel):
    name: str = Field(examples=["default"])
    default: bool = Field(description="Whether today's routes (`/v1/search`, …) answer from this collection.")
    ready: bool = Field(description="Whether its index is loaded (false: its routes answer 503 `not_ready`).")
    articles: int | None = Field(description="Articles in its index (null while not loaded).")
    passages: int | None = Field(description="Passages in its index (null while not loaded).")
    index: IndexInfo | None = Field(description="The index version serving it (null while not loaded).")


class CollectionList(BaseModel):
    count: int
    default: str = Field(description="Name of the default collection.")
    collections: list[CollectionInfo]


listing = APIRouter(prefix="/v1", tags=["collections"])  # behind deps.remember_key when there are keys


def _info(c: Collection, default: str) -> dict[str, Any]:
    if not c.holder.ready:
        return {"name": c.name, "default": c.name == default, "ready": False, "articles": None, "passages": None,
                "index": None}
    r = c.holder.current
    return {"name": c.name, "default": c.name == default, "ready": True, "articles": len(r.articles),
            "passages": len(r.chunks), "index": r.info()}


@listing.get("/collections", response_model=CollectionList,
             responses={401: {"model": ErrorResponse, "description": HTTP_CODES[401]}},
             summary="The collections this server serves (those the API key may read)")
async def list_collections(request: Request) -> dict[str, Any]:
    """Name, size and serving index of each collection, in the configured order. With API keys, only the
    collections the request's key may read (401 without a valid key). Search one with
    `POST /v1/collections/{name}/search`; `/v1/search` answers from the default one."""
    cs: Collections = request.app.state.collections
    allowed: frozenset[str] | None = getattr(request.state, "collections", None)  # deps.remember_key's
    shown = [_info(c, cs.catalog.default) for c in cs.items.values() if allowed is None or c.name in allowed]
    return {"count": len(shown), "default": cs.catalog.default, "collections": shown}
