"""Run queries against an index and rank documents, for the field's measures (qa/evaluation/measures.py).

A document's rank is its best passage's rank in the fused passage ranking, and its score that passage's
score. The search asks each retriever for `passages_per_doc × depth` passages (not the API's k ≤ 50), so a
document ranking `depth` deep is there even when documents have several passages. The reader does not
read here: this ranks what retrieval finds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qa.evaluation.runs import Ranking, Run, strictly_falling
from qa.search.candidates import candidates
from qa.search.fuse import fuse
from qa.search.stages import SearchState

if TYPE_CHECKING:
    from qa.records import Chunk
    from qa.search.retriever import Retriever

PASSAGES_PER_DOC = 3


def article_key(chunk: Chunk) -> str:
    return chunk.article_id


@dataclass(frozen=True)
class RunResult:
    """A run and how long its searches took (query embedding excluded when vectors were given)."""

    run: Run
    seconds: float


def encode_queries(retriever: Retriever, queries: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Query vectors by id, embedded in one batch (pass to `rank_documents` across modes and settings)."""
    ids = list(queries)
    vectors = retriever.embedder.encode([queries[q] for q in ids])
    return {q: vectors[i] for i, q in enumerate(ids)}


def rank_documents(
    retriever: Retriever,
    queries: Mapping[str, str],
    mode: str = "hybrid",
    depth: int = 100,
    vectors: Mapping[str, np.ndarray] | None = None,
    key: Callable[[Chunk], str] = article_key,
) -> RunResult:
    """Each query's top `depth` documents (by `key` of their passages: the article id by default)."""
    n = max(1, min(len(retriever.chunks), depth * PASSAGES_PER_DOC))
    run: Run = {}
    t0 = time.perf_counter()
    for qid, text in queries.items():
        vector = None if vectors is None or mode == "lexical" else vectors.get(qid)
        state = SearchState(text, n, mode, None, vector)
        state = fuse(retriever, candidates(retriever, state))
        run[qid] = documents(retriever.chunks, state.ranked, depth, key)
    return RunResult(run, time.perf_counter() - t0)


def documents(chunks: Sequence[Chunk], ranked: list[tuple[int, float]], depth: int,
              key: Callable[[Chunk], str] = article_key) -> Ranking:
    """Passage ranking (row, score) → document ranking: each document at its best passage, `depth` of them."""
    seen: dict[str, float] = {}
    for row, score in ranked:
        doc = key(chunks[row])
        if doc not in seen:
            seen[doc] = float(score)
            if len(seen) == depth:
                break
    return strictly_falling(list(seen.items()))  # the file's scores: rank order survives trec_eval's sort
