"""Micro-batching of query embeddings for the server.

Queries that arrive from several request threads within `window_ms` of each other are encoded in one call
(one forward pass), and each caller gets its own row back. On 2 cores one batch of 8 short queries costs
little more than one query, so throughput under concurrency rises and tail latency falls.

`BatchingEmbedder` has the `Embedder` interface the `Retriever` uses (`encode_query`, `encode`, `backend`),
so it drops in wherever an `Embedder` goes. With PyTorch and ONNX fp32 a query's vector does not depend on
its batch-mates (beyond float rounding); with dynamic int8 the activation scales are per batch, so a vector
can move slightly (cosine > 0.99) with the company it is encoded in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from qa.embed.embedder import Embedder, Progress
from qa.settings import Settings


class BatchingEmbedder:
    """Wraps an `Embedder`; `encode_query` calls from many threads share forward passes."""

    def __init__(self, embedder: Embedder, window_ms: float = 2.0, max_batch: int = 32) -> None:
        self.embedder = embedder
        self.window_s = window_ms / 1000.0
        self.max_batch = max_batch
        self._pending: list[tuple[str, Future[np.ndarray]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.batches = 0  # forward passes run (for tests and metrics)
        self.queries = 0  # queries answered

    # -- the Embedder interface ------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        return self.embedder.backend

    @property
    def model(self) -> Any:
        return self.embedder.model

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Many texts at once are a batch already: passed straight through."""
        return self.embedder.encode(texts, progress)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Several questions at once are a batch already: passed straight through."""
        return self.embedder.encode_queries(queries)

    def encode_query(self, query: str) -> np.ndarray:
        """The unit vector for query, computed in a shared batch with queries from other threads."""
        fut: Future[np.ndarray] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("batcher is closed")
            self._start()
            self._pending.append((query, fut))
            self._cond.notify()
        return fut.result()

    def close(self) -> None:
        """Stop the worker after the queued queries are answered."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- the worker ------------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="qa-query-batcher", daemon=True)
            self._thread.start()

    def _take(self) -> list[tuple[str, Future[np.ndarray]]] | None:
        """Wait for a first query, then up to `window_s` more for company; None when closed and drained."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            deadline = time.monotonic() + self.window_s
            while len(self._pending) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            live = [(q, f) for q, f in batch if f.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                vecs = self.embedder.encode_queries([q for q, _ in live])
            except Exception as exc:  # noqa: BLE001 — every waiting caller sees the error, the worker carries on
                for _, f in live:
                    f.set_exception(exc)
                continue
            self.batches += 1
            self.queries += len(live)
            for (_, f), v in zip(live, vecs):
                f.set_result(v)


def query_embedder(settings: Settings, embedder: Embedder | BatchingEmbedder | None) -> Any:
    """The embedder a server should query with: batching when `settings.batch_queries`, else as given."""
    if not settings.batch_queries or isinstance(embedder, BatchingEmbedder):
        return embedder
    base = embedder or Embedder.from_settings(settings)
    return BatchingEmbedder(base, window_ms=settings.batch_window_ms)
