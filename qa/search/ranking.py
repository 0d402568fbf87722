"""Ranking that knows articles and sections, applied after dense + lexical fusion.

- `article_prior`: the question's similarity to each article as a whole (the article's lead passage —
  title + opening text — scored against the query vector) ranks the articles; each passage then gains
  `beta / (rrf_k + article_rank)`, the same reciprocal-rank form the fusion uses.
- `collapse_overlaps`: overlapping passages of one section (the chunker repeats a little text between
  split parts) must not crowd the top k — a passage whose source span mostly lies inside a better
  passage's span is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa.records import Chunk


class ArticleVectors:
    """One vector per article (its lead passage, or the mean of its passages if it has no lead)."""

    def __init__(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        ids = sorted({c.article_id for c in chunks})
        self.index = {a: i for i, a in enumerate(ids)}
        self.row_article = np.fromiter((self.index[c.article_id] for c in chunks), np.int64, len(chunks))
        dim = vectors.shape[1] if vectors.ndim == 2 else 0
        self.vectors = np.zeros((len(ids), dim), np.float32)
        has_lead = np.zeros(len(ids), bool)
        for row, c in enumerate(chunks):
            if c.section_path == () and c.ordinal == 0:
                self.vectors[self.index[c.article_id]] = vectors[row]
                has_lead[self.index[c.article_id]] = True
        for i in self.index.values():
            if not has_lead[i]:
                mean = vectors[self.row_article == i].mean(axis=0)
                self.vectors[i] = mean / max(float(np.linalg.norm(mean)), 1e-9)

    def __len__(self) -> int:
        return len(self.index)

    def ranks(self, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1-based rank, cosine) of every article for this query, indexed like `self.index`."""
        sims = self.vectors @ np.asarray(query_vector, np.float32).reshape(-1)
        order = np.argsort(-sims, kind="stable")
        ranks = np.empty(len(sims), np.int64)
        ranks[order] = np.arange(1, len(sims) + 1)
        return ranks, sims


def article_prior(
    fused: dict[int, float], article_rank_of_row: np.ndarray, beta: float, k: int
) -> dict[int, float]:
    """Add `beta / (k + rank of the passage's article)` to each fused passage score."""
    if beta == 0 or not fused:
        return fused
    return {row: s + beta / (k + int(article_rank_of_row[row])) for row, s in fused.items()}


def overlap(a: Chunk, b: Chunk) -> float:
    """Share of the shorter passage's source span that the two spans have in common (0 across files)."""
    if a.file != b.file or a.article_id != b.article_id:
        return 0.0
    common = min(a.end, b.end) - max(a.start, b.start)
    shorter = min(a.end - a.start, b.end - b.start)
    return max(common, 0) / shorter if shorter > 0 else 0.0


def collapse_overlaps(
    ranked: Sequence[tuple[int, float]], chunks: Sequence[Chunk], max_overlap: float = 0.5, k: int | None = None
) -> list[tuple[int, float]]:
    """Drop each passage that overlaps a better-ranked kept one by more than `max_overlap`; keeps order.

    Stops once `k` passages are kept (all when `k` is None).
    """
    kept: list[tuple[int, float]] = []
    for row, score in ranked:
        c = chunks[row]
        if all(overlap(c, chunks[r]) <= max_overlap for r, _ in kept):
            kept.append((row, score))
            if k is not None and len(kept) >= k:
                break
    return kept
