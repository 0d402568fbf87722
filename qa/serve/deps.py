"""What every API route shares: the error responses it documents, the API key check (keys may be limited to
collections), the serving Retriever (of the path's collection) and the bounded worker pool (used by `qa.serve.api`,
`qa.serve.articles` and the MCP server)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.errors import Forbidden, Overloaded
from qa.search.retriever import Retriever
from qa.serve import errors as api_errors
from qa.serve.schemas import ErrorResponse
from qa.serve.serving import RetrieverHolder

if TYPE_CHECKING:
    from qa.serve.collections import Collection, Collections

T = TypeVar("T")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        s: {"model": ErrorResponse, "description": api_errors.HTTP_CODES.get(s, "error")} for s in statuses
    }


V1_ERRORS = error_responses(400, 401, 403, 404, 413, 422, 503)
bearer = HTTPBearer(auto_error=False, description="An API key of the server (QA_API_KEY or QA_API_KEYS).")
key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                          description="An API key of the server, instead of `Authorization: Bearer`.")


def _unauthorized() -> StarletteHTTPException:
    return StarletteHTTPException(
        401,
        "missing or wrong API key: send `Authorization: Bearer <key>` (or `X-API-Key: <key>`)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def allowed_for(keys: dict[str, frozenset[str] | None], given: str | None) -> frozenset[str] | None:
    """The collections key `given` may read (None: all); 401 for a missing or unknown key. Every configured
    key is compared, each in constant time, so the answer's timing tells nothing about which nearly matched."""
    if given is None:
        raise _unauthorized()
    found = False
    allowed: frozenset[str] | None = None
    for key, names in keys.items():
        if hmac.compare_digest(given.encode(), key.encode()):
            found, allowed = True, names
    if not found:
        raise _unauthorized()
    return allowed


async def identify(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    header_key: Annotated[str | None, Depends(key_header)],
) -> frozenset[str] | None:
    """The collections the request's key may read (None: every one, also when no key is configured)."""
    collections: Collections = request.app.state.collections
    if collections.catalog.open:
        return None
    given = credentials.credentials if credentials is not None else header_key
    return allowed_for(collections.catalog.keys, given)


async def remember_key(request: Request, allowed: Annotated[frozenset[str] | None, Depends(identify)]) -> None:
    """401 without a valid key; else keep the key's collections for the route (`request.state.collections`)."""
    request.state.collections = allowed


async def require_api_key(
    request: Request, allowed: Annotated[frozenset[str] | None, Depends(identify)]
) -> None:
    """401 without a valid key; 404 for an unknown collection; 403 when the key may not read this collection
    (`/v1/collections/{name}/...`, or the default collection for today's routes)."""
    collection = serving_collection(request)
    if allowed is not None and collection.name not in allowed:
        raise Forbidden(f"this API key may not read collection {collection.name!r}", code="forbidden_collection")


def serving_collection(request: Request) -> Collection:
    """The collection the path names (`/v1/collections/{name}/...`), or the default one; 404 for an unknown name."""
    collections: Collections = request.app.state.collections
    return collections.get(request.path_params.get("collection"))


def serving(request: Request) -> Retriever:
    """The Retriever for this request: the path's collection (or the default one), taken once, so a reload
    never mixes two indexes in one answer."""
    holder: RetrieverHolder = serving_collection(request).holder
    return holder.current


# FastAPI's Annotated form of `= Depends(serving)`: the same dependency, without a call in a default.
CurrentRetriever = Annotated[Retriever, Depends(serving)]


def refuse_when_full(limiter: anyio.CapacityLimiter, max_queue: int) -> None:
    """Every worker busy and `max_queue` requests already waiting: refuse now rather than queue without bound."""
    busy = limiter.statistics()
    if busy.borrowed_tokens >= busy.total_tokens and busy.tasks_waiting >= max_queue:
        raise Overloaded("the server is at capacity: too many requests are waiting; retry later")


async def off_loop(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run blocking work (encoding, search) in the bounded thread pool, within the request time limit."""
    state = request.app.state
    refuse_when_full(state.limiter, state.settings.max_queue)
    with anyio.move_on_after(state.settings.request_timeout_s):
        return await anyio.to_thread.run_sync(fn, *args, limiter=state.limiter, abandon_on_cancel=True)
    raise Overloaded("the server is busy: the request took too long; retry later", code="timeout")
