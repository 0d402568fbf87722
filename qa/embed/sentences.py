"""Sentence vectors pooled from each passage's own token embeddings ("late chunking"), and their use in ranking.

A passage vector is the mean of its token embeddings. Averaging only the tokens of one sentence gives that
sentence a vector in the same space, in the passage's context, from the same model pass: no extra encoding.
At query time the best sentence of each candidate passage ranks the candidates a third way (beside the
passage vector and BM25); a question usually matches one sentence better than a 200-token passage.
Measured with `qa eval` (docs/quality.md); the weight is `sentence_weight` in eval/retrieval.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.ingest.splitting import sentence_spans


def spans_in(embed_text: str, text: str) -> list[tuple[int, int]]:
    """Sentence spans of a passage's `text`, as offsets into its `embed_text` (= title/section prefix + text)."""
    shift = len(embed_text) - len(text)
    return [(s + shift, e + shift) for s, e in sentence_spans(text)]


def pool(tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]], fallback: np.ndarray) -> np.ndarray:
    """Unit vectors, one per char span: the mean of the token embeddings lying inside it.

    `tokens` (n_tokens, dim) and `offsets` (n_tokens, 2) come from one tokenisation; special tokens have
    empty offsets and join no span. A span with no token (cut off by the model's length limit) gets `fallback`.
    """
    real = offsets[:, 1] > offsets[:, 0]
    out = np.empty((len(spans), tokens.shape[1]), dtype=np.float32)
    for i, (start, end) in enumerate(spans):
        inside = real & (offsets[:, 0] >= start) & (offsets[:, 1] <= end)
        v = tokens[inside].mean(0) if inside.any() else fallback
        out[i] = v / max(float(np.linalg.norm(v)), 1e-12)
    return out


@dataclass(frozen=True)
class SentenceVectors:
    """Every passage's sentence vectors, stored flat: passage i owns rows offsets[i]:offsets[i + 1]."""

    vectors: np.ndarray  # (n_sentences, dim) float16, unit length
    offsets: np.ndarray  # (n_passages + 1,) int64

    @classmethod
    def from_lists(cls, per_passage: Sequence[np.ndarray], dim: int) -> SentenceVectors:
        counts = np.array([len(v) for v in per_passage], dtype=np.int64)
        if (counts == 0).any():
            raise ValueError("every passage needs at least one sentence vector")
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        flat = np.concatenate(per_passage) if len(per_passage) else np.zeros((0, dim), np.float32)
        return cls(np.ascontiguousarray(flat, dtype=np.float16), offsets)

    @property
    def passages(self) -> int:
        return len(self.offsets) - 1

    def of(self, row: int) -> np.ndarray:
        return self.vectors[self.offsets[row] : self.offsets[row + 1]]

    def best(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """For each passage row, the cosine of its best-matching sentence with the (unit) query vector."""
        if len(rows) == 0:
            return np.zeros(0, np.float32)
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        firsts = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # where each row's sentences begin in `idx`
        idx = np.repeat(starts - firsts, lengths) + np.arange(lengths.sum())
        sims = self.vectors[idx].astype(np.float32) @ query.astype(np.float32)
        return np.maximum.reduceat(sims, firsts)
