"""Index swap without downtime: serve a newly built index without a restart.

`qa build` publishes a new version by pointing the `index/<name>` link at it. The server notices in
two ways: an operator calls `POST /v1/admin/reload` (behind the API key when one is set), or, on
requests, at most every `settings.reload_check_s` seconds the link's target is compared with the
serving folder (one `realpath`) and a reload starts in a background thread. A reload loads the new
version completely (records, vectors, BM25, a probe query) before it swaps the holder's reference;
requests in flight finish on the Retriever they took. A new version that fails to load is refused,
logged, and not retried until the link changes again: the old index keeps serving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from qa.serve.errors import HTTP_CODES, error_response
from qa.serve.schemas import ErrorResponse
from qa.serve.serving import RetrieverHolder, load_checked

if TYPE_CHECKING:
    from qa.embed.embedder import Embedder
    from qa.reader.model import Reader
    from qa.settings import Settings

log = logging.getLogger("qa.api")


@dataclass(frozen=True)
class ReloadOutcome:
    status: Literal["reloaded", "unchanged", "refused"]
    index: dict[str, Any] | None  # the index serving after the reload
    previous: dict[str, Any] | None
    reason: str = ""  # why a new version was refused: an error code and message, never a local path


class Reloader:
    """Loads the version the index link points at and swaps it in; one reload at a time."""

    def __init__(self, holder: RetrieverHolder, settings: Settings, embedder: Embedder | None = None,
                 reader: Reader | None | Literal["load"] = "load") -> None:
        self.holder = holder
        self.settings = settings
        self.embedder = embedder
        self.reader = reader  # a reader shared between collections, or "load" (the settings' own, at each load)
        self._lock = threading.Lock()
        self._last_check = time.monotonic()
        self._refused: str | None = None  # a version folder that failed to load (not retried)

    def _serving_folder(self) -> str | None:
        return str(self.holder.current.folder) if self.holder.ready else None

    def target(self) -> str:
        """The version folder the index link points at now."""
        return os.path.realpath(self.settings.index)

    def reload(self, force: bool = False) -> ReloadOutcome:
        """Load the linked version fully, then swap it in; a failure leaves the old index serving."""
        with self._lock:
            previous = self.holder.current.info() if self.holder.ready else None
            target = self.target()
            if not force and target == self._serving_folder():
                return ReloadOutcome("unchanged", previous, previous)
            embedder = self.holder.current.embedder if self.holder.ready else self.embedder
            name = Path(target).name
            try:
                fresh = load_checked(self.settings.model_copy(update={"index": Path(target)}), embedder, self.reader)
            except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the old index keeps serving
                self._refused = target
                code = getattr(exc, "code", type(exc).__name__)
                log.error("reload refused %s: %s", target, getattr(exc, "message", exc))
                return ReloadOutcome("refused", previous, previous, f"{code}: version {name} does not load")
            old = self.holder.swap(fresh)
            self._refused = None
            was = previous["id"] if previous else None
            log.info("reloaded: now serving index %s (was %s)", fresh.manifest.id, was)
            if old is not None:
                # requests in flight finish on `old`; they end within the request time limit
                timer = threading.Timer(self.settings.request_timeout_s + 1, old.close)
                timer.daemon = True
                timer.start()
            return ReloadOutcome("reloaded", fresh.info(), previous)

    def maybe_check(self) -> None:
        """Cheap, called on requests: at most every `reload_check_s` seconds, compare the link target with
        the serving folder and, when a new version appeared, reload it in a background thread."""
        every = self.settings.reload_check_s
        now = time.monotonic()
        if every <= 0 or now - self._last_check < every:
            return
        self._last_check = now
        target = self.target()
        if target in (self._serving_folder(), self._refused) or self._lock.locked():
            return
        if not os.path.isdir(target):  # no index yet, or a link mid-swap: look again next time
            return
        threading.Thread(target=self.reload, name="qa-index-reload", daemon=True).start()


class IndexWatchMiddleware:
    """Lets the app's Reloader (once the lifespan made one) notice a new build, on each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            collections = getattr(scope["app"].state, "collections", None)
            if collections is not None:
                collections.maybe_check()  # each collection's Reloader, once the lifespan made them
        await self.app(scope, receive, send)


class IndexSummary(BaseModel):
    id: str
    model: str | None
    built_at: str


class ReloadResponse(BaseModel):
    status: Literal["reloaded", "unchanged"] = Field(
        description="`unchanged`: the link still names the serving version."
    )
    index: IndexSummary | None = Field(description="The index serving now.")
    previous: IndexSummary | None = Field(description="The index that served before the call.")


admin = APIRouter(prefix="/v1/admin", tags=["operations"])


@admin.post(
    "/reload",
    response_model=ReloadResponse,
    summary="Swap in the index version `qa build` published last",
    responses={
        s: {"model": ErrorResponse, "description": HTTP_CODES.get(s, "error")} for s in (401, 403, 404, 409, 503)
    },
)
async def reload_index(request: Request) -> Any:
    """Load the version the index folder's link points at now, completely (records, vectors, BM25 and a
    probe query), then serve it; requests in flight finish on the old one. `unchanged` when the link
    still names the serving version. Under `/v1/collections/{name}/admin/reload`, that collection's index
    (the others keep serving untouched); `/v1/admin/reload` reloads the default one. **409** `reload_refused`
    when the new version does not load: the old index keeps serving and the reason is in the message and the
    server log."""
    reloader = request.app.state.collections.get(request.path_params.get("collection")).reloader  # 404: unknown
    if reloader is None:
        return error_response(503, "not_ready", "the server is still starting; retry in a moment")
    outcome = await anyio.to_thread.run_sync(reloader.reload)
    if outcome.status == "refused":
        serving = outcome.index["id"] if outcome.index else "none"
        message = f"the new index was refused ({outcome.reason}); still serving index {serving}"
        return error_response(409, "reload_refused", message)
    return {"status": outcome.status, "index": outcome.index, "previous": outcome.previous}
