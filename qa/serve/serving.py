"""The serving side's hold on one loaded index: load, warm up, probe, swap.

A request takes `holder.current` once and uses that Retriever to the end, so swapping in a new index
(a reload) never mixes two index versions inside one answer; in-flight requests finish on the old one.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Literal

from qa.errors import QAError

if TYPE_CHECKING:
    from qa.embed.embedder import Embedder
    from qa.reader.model import Reader
    from qa.search.retriever import Retriever
    from qa.settings import Settings

log = logging.getLogger("qa.api")

PROBE_QUERY = "warm up"


class NotReady(QAError):
    status = 503
    code = "not_ready"


class RetrieverHolder:
    """The Retriever being served (or none yet), replaced as a whole under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._retriever: Retriever | None = None
        self.error: str | None = None  # why no index is loaded, for the server log and /readyz

    @property
    def current(self) -> Retriever:
        retriever = self._retriever
        if retriever is None:
            raise NotReady("no index is loaded yet: see /readyz and the server log (run `qa build` first)")
        return retriever

    @property
    def ready(self) -> bool:
        return self._retriever is not None

    def swap(self, retriever: Retriever) -> Retriever | None:
        """Serve `retriever` from now on; return the one it replaces."""
        with self._lock:
            old, self._retriever = self._retriever, retriever
            self.error = None
            return old


def load_checked(settings: Settings, embedder: Embedder | None = None, reader: Reader | None | Literal["load"] = "load"
                 ) -> Retriever:
    """Load the index named by settings, warm the model up and prove that a query works (blocking).
    `reader`: a loaded reader to share between collections; default: load the one the settings name."""
    from qa.search.retriever import Retriever

    retriever = Retriever.load(settings.index, settings, embedder=embedder, reader=reader)
    retriever.embedder.encode_query(PROBE_QUERY)  # first encode pays for lazy init; do it before traffic
    retriever.search(PROBE_QUERY, k=1, mode="hybrid")
    return retriever


def load_into(holder: RetrieverHolder, settings: Settings, embedder: Embedder | None = None,
              reader: Reader | None | Literal["load"] = "load") -> None:
    """Fill the holder at start-up. A missing or mismatched index is logged, not fatal: the server stays
    up with /readyz answering 503 so an orchestrator (or a later reload) can act on it."""
    try:
        holder.swap(load_checked(settings, embedder, reader))
        log.info("serving index %s", holder.current.manifest.id)
    except QAError as exc:
        holder.error = exc.message
        log.error("index not loaded: %s", exc.message)
