"""BM25 over passages with bm25s (English stemming and stop words), saved beside the vectors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.index.contract import STEMMER, STOPWORDS

FOLDER = "lexical"


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer(STEMMER)


class LexicalIndex:
    kind = "bm25s"

    def __init__(self, bm25: Any, size: int) -> None:
        self.bm25 = bm25
        self.size = size
        self.stemmer = _stemmer()

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        tokens = bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=_stemmer(), show_progress=False)
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        return cls(bm25, len(texts))

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(folder / FOLDER)), size)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder / FOLDER))

    def __len__(self) -> int:
        return self.size

    def idf(self) -> dict[str, float]:
        """BM25 idf of every indexed (stemmed) term: log(1 + (N − df + 0.5) / (df + 0.5))."""
        scores = self.bm25.scores
        df = np.diff(np.asarray(scores["indptr"]))
        n = float(scores.get("num_docs", self.size))
        return {
            term: float(np.log1p((n - df[i] + 0.5) / (df[i] + 0.5)))
            for term, i in self.bm25.vocab_dict.items()
            if i < len(df)
        }

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) with score > 0; rows limited to `allowed`."""
        import bm25s

        if self.size == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        tokens = bm25s.tokenize(
            [query], stopwords=STOPWORDS, stemmer=self.stemmer, return_ids=False, show_progress=False
        )
        if not tokens or not tokens[0]:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        weight_mask = None
        if allowed is not None:
            weight_mask = np.zeros(self.size, dtype=np.float32)
            weight_mask[allowed] = 1.0
        rows, scores = self.bm25.retrieve(
            tokens, k=min(k, self.size), show_progress=False, n_threads=1, weight_mask=weight_mask
        )
        rows, scores = rows[0], scores[0]
        keep = scores > 0
        return scores[keep].astype(np.float32), rows[keep].astype(np.int64)
