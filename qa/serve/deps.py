"""What every API route shares: the error responses it documents, the API key check, the serving Retriever
and the bounded worker pool (used by `qa.serve.api`, `qa.serve.articles` and the MCP server)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.errors import Overloaded
from qa.search.retriever import Retriever
from qa.serve import errors as api_errors
from qa.serve.schemas import ErrorResponse
from qa.serve.serving import RetrieverHolder

T = TypeVar("T")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        s: {"model": ErrorResponse, "description": api_errors.HTTP_CODES.get(s, "error")} for s in statuses
    }


V1_ERRORS = error_responses(400, 401, 404, 413, 422, 503)
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
