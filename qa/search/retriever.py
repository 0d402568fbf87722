"""Retriever: loads one index folder and answers queries (dense, lexical or hybrid) with cited hits.

This is the Python API for backends that embed `qa`::

    retriever = Retriever.load("index/default")
    result = retriever.search("How many troops withdrew?", k=5, mode="hybrid")
    ctx = retriever.context("How many troops withdrew?", max_tokens=1000)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.index import folder as ix
from qa.build import chunker_settings, model_settings
from qa.search.calibration import confidence as calibrated
from qa.search.calibration import features as answer_features
from qa.search.calibration import for_mode as calibration_for
from qa.embed.embedder import Embedder
from qa.errors import InvalidRequest, NotFound
from qa.search.fusion import rrf, weighted
from qa.search.highlight import best_sentence
from qa.index.lexical import LexicalIndex
from qa.search.ranking import ArticleVectors, article_prior, collapse_overlaps
from qa.records import ArticleInfo, Chunk, Context, Hit, SearchResult
from qa.settings import Settings, get_settings
from qa.ingest.tokens import count_tokens

MODES = ("hybrid", "dense", "lexical")
MAX_QUERY_CHARS = 2000

# Defaults used when the index carries no tuned values: a copy of eval/retrieval.json, written by `qa tune`
# from the eval set's tuning half (README "Retrieval quality"; tests/test_ranking.py checks they agree).
DEFAULT_RETRIEVAL: dict[str, Any] = {
    "fusion": "rrf",  # or "weighted" (alpha · minmax dense + (1 − alpha) · minmax BM25)
    "rrf_k": 20,
    "dense_weight": 0.4,
    "lexical_weight": 1.0,
    "alpha": 0.5,
    "candidates": 50,  # from each retriever, before fusion
    "article_weight": 0.5,  # article prior (qa/search/ranking.py), chosen by `qa tune` once sentences joined
    "max_overlap": 1.0,  # collapse passages overlapping more than this (1.0 = off; tried, no gain)
    "sentence_weight": 0.5,  # RRF weight of the best-sentence ranking (qa/embed/sentences.py); 0 = off
    "calibrations": {  # per mode, each over the scores that mode has (qa/search/calibration.py)
        "hybrid": {"features": ["top_sentence", "gap_sentence", "top_lexical"], "coef": [9.35259, 9.02585, 2.5756],
                   "intercept": -7.51271, "threshold": 0.5276},
        "dense": {"features": ["top_dense", "gap_dense"], "coef": [7.86299, 4.96822], "intercept": -3.1573,
                  "threshold": 0.7613},
        "lexical": {"features": ["top_lexical", "gap_lexical"], "coef": [3.78993, 0.67887], "intercept": -3.2683,
                    "threshold": 0.6362},
    },
}


@dataclass(frozen=True)
class Candidates:
    dense: tuple[np.ndarray, np.ndarray]
    lexical: tuple[np.ndarray, np.ndarray]


class Retriever:
    """Read-only view of one index version; safe to share between threads."""

    def __init__(
        self,
        folder: Path,
        manifest: ix.Manifest,
        chunks: list[Chunk],
        articles: list[ArticleInfo],
        store: Any,
        lexical: LexicalIndex,
        embedder: Embedder,
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self.chunks = chunks
        self.articles = {a.id: a for a in articles}
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.config = DEFAULT_RETRIEVAL | manifest.retrieval
        if "calibrations" not in manifest.retrieval and "calibration" in manifest.retrieval:
            # a manifest from before per-mode calibration: its single model is the hybrid one
            hybrid = calibration_for(manifest.retrieval, "hybrid")
            self.config["calibrations"] = DEFAULT_RETRIEVAL["calibrations"] | {"hybrid": hybrid}
        rows: dict[str, list[int]] = {}
        for i, c in enumerate(chunks):
            rows.setdefault(c.article_id, []).append(i)
        self._rows_by_article = {k: np.asarray(v, dtype=np.int64) for k, v in rows.items()}
        self._idf = lexical.idf() if hasattr(lexical, "idf") else None  # weights for highlights
        try:
            self._article_vectors: ArticleVectors | None = ArticleVectors(chunks, np.asarray(ix.read_vectors(folder)))
        except (OSError, ValueError):
            self._article_vectors = None
        self._sentences = ix.read_sentences(folder, len(chunks))

    @classmethod
    def load(
        cls, index_dir: str | Path | None = None, settings: Settings | None = None, embedder: Embedder | None = None
    ) -> Retriever:
        """Open the index (following the `index/<name>` link once) and check it suits the settings."""
        settings = settings or get_settings()
        folder = ix.resolve(Path(index_dir) if index_dir is not None else settings.index)
        manifest = ix.read_manifest(folder)
        ix.check_compatible(manifest, {"model": model_settings(settings), "chunker": chunker_settings(settings)})
        chunks = ix.read_chunks(folder)
        articles = ix.read_articles(folder)
        store_kind = manifest.store.get("kind", "faiss")
        if store_kind == "faiss":
            from qa.index.stores.faiss_store import FaissStore

            store: Any = FaissStore.load(folder, manifest.store.get("index_type", "flat"))
        else:
            from qa.index.stores import open_store

            store = open_store(manifest, settings, chunks)
        lexical: Any = (
            store.lexical_index() if hasattr(store, "lexical_index") else LexicalIndex.load(folder, len(chunks))
        )
        embedder = embedder or Embedder.from_settings(settings)
        return cls(folder, manifest, chunks, articles, store, lexical, embedder)

    # -- queries -------------------------------------------------------------------------------------

    def validate(self, query: str, k: int, mode: str, articles: list[str] | None) -> str:
        query = query.strip() if isinstance(query, str) else ""
        if not query:
            raise InvalidRequest("query must not be empty", code="invalid_query")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidRequest(f"query is longer than {MAX_QUERY_CHARS} characters", code="invalid_query")
        if not 1 <= k <= 50:
            raise InvalidRequest("k must be between 1 and 50", code="invalid_k")
        if mode not in MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(MODES)}", code="invalid_mode")
        if articles is not None:
            unknown = [a for a in articles if a not in self.articles]
            if unknown:
                raise NotFound(f"unknown article id(s): {', '.join(unknown[:10])}", code="unknown_article")
        return query

    def _allowed(self, articles: list[str] | None) -> np.ndarray | None:
        if articles is None:
            return None
        parts = [self._rows_by_article[a] for a in articles if a in self._rows_by_article]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def search(
        self,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        articles: list[str] | None = None,
        query_vector: np.ndarray | None = None,
    ) -> SearchResult:
        """Top-k passages for a question, with citations, highlight and calibrated confidence."""
        t0 = time.perf_counter()
        query = self.validate(query, k, mode, articles)
        timings: dict[str, float] = {}
        allowed = self._allowed(articles)
        n_cand = max(int(self.config["candidates"]), k)
        empty = (np.zeros(0, np.float32), np.zeros(0, np.int64))
        dense, lexical = empty, empty
        qv: np.ndarray | None = None
        native: list[tuple[int, float]] | None = None  # a store that fuses by itself (Milvus hybrid_search)
        if mode in ("dense", "hybrid"):
            t = time.perf_counter()
            qv = query_vector if query_vector is not None else self.embedder.encode_query(query)
            timings["embed"] = _ms(t)
            t = time.perf_counter()
            if mode == "hybrid" and getattr(self.store, "native_hybrid", False):
                native, dense, lexical = self.store.hybrid(
                    qv, query, k, allowed, fusion=str(self.config["fusion"]), rrf_k=int(self.config["rrf_k"]),
                    alpha=float(self.config["alpha"]), candidates=n_cand,
                )
                timings["hybrid"] = _ms(t)
            else:
                dense = self.store.search(qv, n_cand, allowed)
                timings["dense"] = _ms(t)
        if mode in ("lexical", "hybrid") and native is None:
            t = time.perf_counter()
            lexical = self.lexical.search(query, n_cand, allowed)
            timings["lexical"] = _ms(t)
        t = time.perf_counter()
        sentence = self._best_sentences(dense, lexical, qv) if mode != "lexical" else None
        if native is not None:
            ranked, top_article = native, 0.0
        else:
            ranked, top_article = self._fuse(mode, dense, lexical, qv, sentence)
        if float(self.config.get("max_overlap", 1.0)) < 1.0:
            ranked = collapse_overlaps(ranked, self.chunks, float(self.config["max_overlap"]), k)
        dense_by_row = dict(zip(dense[1].tolist(), dense[0].tolist()))
        lex_by_row = dict(zip(lexical[1].tolist(), lexical[0].tolist()))
        hits = [
            Hit(
                rank=r,
                score=float(score),
                dense=dense_by_row.get(row),
                lexical=lex_by_row.get(row) if mode != "dense" else None,
                chunk=self.chunks[row],
                highlight=best_sentence(query, self.chunks[row].text, self._idf),
            )
            for r, (row, score) in enumerate(ranked[:k], 1)
        ]
        feats = answer_features(dense, lexical, top_article, ranked[0][1] if ranked and mode == "hybrid" else 0.0,
                                sentence[1] if sentence is not None else None)
        calibration = calibration_for(self.config, mode)
        confidence = calibrated(calibration, feats)
        timings["fuse"] = _ms(t)
        return SearchResult(
            query=query,
            mode=mode,
            hits=hits,
            answerable=bool(hits) and confidence >= float(calibration["threshold"]),
            confidence=confidence,
            took_ms=_ms(t0),
            timings=timings,
            features=feats,
        )

    def _best_sentences(
        self, dense: tuple[np.ndarray, np.ndarray], lexical: tuple[np.ndarray, np.ndarray], qv: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(candidate rows, each one's best sentence similarity) over both lists' candidates, if the index has
        sentence vectors (qa/embed/sentences.py)."""
        if self._sentences is None or qv is None:
            return None
        rows = np.unique(np.concatenate([dense[1], lexical[1]]).astype(np.int64))
        return rows, self._sentences.best(rows, qv)

    def _fuse(
        self,
        mode: str,
        dense: tuple[np.ndarray, np.ndarray],
        lexical: tuple[np.ndarray, np.ndarray],
        query_vector: np.ndarray | None,
        sentence: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[list[tuple[int, float]], float]:
        """Passages best first with their scores, and the query's best article similarity (0 if unknown)."""
        top_article = 0.0
        if mode == "dense":
            return list(zip(dense[1].tolist(), dense[0].tolist())), top_article
        if mode == "lexical":
            return list(zip(lexical[1].tolist(), lexical[0].tolist())), top_article
        if self.config["fusion"] == "weighted":
            fused = weighted(dense, lexical, float(self.config["alpha"]))
        else:
            lists = [dense[1], lexical[1]]
            weights = [float(self.config["dense_weight"]), float(self.config["lexical_weight"])]
            sentence_weight = float(self.config.get("sentence_weight", 0.0))
            if sentence_weight > 0 and sentence is not None:
                rows, best = sentence  # the same candidates, ranked by their best sentence
                lists.append(rows[np.argsort(-best, kind="stable")])
                weights.append(sentence_weight)
            fused = rrf(lists, k=int(self.config["rrf_k"]), weights=weights)
        if self._article_vectors is not None and query_vector is not None:
            ranks, sims = self._article_vectors.ranks(query_vector)
            top_article = float(sims.max()) if len(sims) else 0.0
            beta = float(self.config.get("article_weight", 0.0))
            fused = article_prior(fused, ranks[self._article_vectors.row_article], beta, int(self.config["rrf_k"]))
        return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0])), top_article

    def context(self, query: str, max_tokens: int = 1000, mode: str = "hybrid", k: int = 20) -> Context:
        """The best passages, numbered with citations, packed whole into at most `max_tokens` tokens."""
        if not 1 <= max_tokens <= 100_000:
            raise InvalidRequest("max_tokens must be between 1 and 100000", code="invalid_max_tokens")
        result = self.search(query, k=min(k, 50), mode=mode)
        parts: list[str] = []
        used: list[Hit] = []
        for hit in result.hits:
            block = f"[{len(used) + 1}] {hit.chunk.citation}\n{hit.chunk.text}"
            candidate = "\n\n".join(parts + [block])
            if count_tokens(candidate) <= max_tokens:
                parts.append(block)
                used.append(hit)
        text = "\n\n".join(parts)
        return Context(query=result.query, text=text, tokens=count_tokens(text), max_tokens=max_tokens,
                       hits=used, search=result)

    def article(self, article_id: str) -> ArticleInfo:
        try:
            return self.articles[article_id]
        except KeyError:
            raise NotFound(f"no article with id {article_id!r}", code="unknown_article") from None

    def close(self) -> None:
        """Release the store's connection (a Milvus client); FAISS holds nothing to release."""
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def info(self) -> dict[str, Any]:
        return {"id": self.manifest.id, "model": self.manifest.model.get("name"), "built_at": self.manifest.built_at}


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 3)
