"""Fusing dense and lexical rankings into one: reciprocal-rank fusion or weighted normalised scores."""

from __future__ import annotations

import numpy as np


def rrf(rankings: list[np.ndarray], k: int = 60, weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal-rank fusion: score(d) = Σ w_i / (k + rank_i(d)), ranks from 1."""
    weights = weights or [1.0] * len(rankings)
    out: dict[int, float] = {}
    for rows, w in zip(rankings, weights):
        for r, row in enumerate(rows.tolist(), 1):
            out[row] = out.get(row, 0.0) + w / (k + r)
    return out


def minmax(scores: np.ndarray) -> np.ndarray:
    if len(scores) == 0:
        return scores
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-9:
        return np.ones_like(scores, dtype=np.float32)
    return ((scores - lo) / (hi - lo)).astype(np.float32)


def weighted(
    dense: tuple[np.ndarray, np.ndarray], lexical: tuple[np.ndarray, np.ndarray], alpha: float = 0.5
) -> dict[int, float]:
    """alpha · minmax(dense) + (1 − alpha) · minmax(lexical); a row missing from one list scores 0 there."""
    out: dict[int, float] = {}
    for (scores, rows), w in ((dense, alpha), (lexical, 1.0 - alpha)):
        for s, row in zip(minmax(scores).tolist(), rows.tolist()):
            out[row] = out.get(row, 0.0) + w * s
    return out
