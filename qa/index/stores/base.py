"""The interfaces the retriever uses; it never knows which store it talks to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from qa.index.retrieval import RetrievalConfig

Scores = tuple[np.ndarray, np.ndarray]  # (scores, rows) best first


class LexicalSearch(Protocol):
    """BM25 over the passages: bm25s files in the folder (`qa.index.lexical`) or the store's own."""

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> Scores:
        """Top-k (BM25 scores, rows) for a query; rows limited to `allowed`."""
        ...

    def idf(self) -> dict[str, float]:
        """Inverse document frequency of every stemmed term (weights the highlight)."""
        ...

    def __len__(self) -> int: ...


class VectorStore(Protocol):
    """Dense vectors addressed by row number (the position of the chunk in `chunks.jsonl`)."""

    kind: str
    native_hybrid: bool  # True: hybrid search is one call to `hybrid` (the store fuses by itself)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Scores:
        """Top-k (scores, rows) by inner product for one unit query vector; rows limited to `allowed`."""
        ...

    def hybrid(
        self, query_vector: np.ndarray, query: str, k: int, allowed: np.ndarray | None, config: RetrievalConfig
    ) -> tuple[list[tuple[int, float]], Scores, Scores]:
        """Dense + BM25 fused by the store (with `config`'s fusion, rrf_k, alpha and candidates): the (row,
        score) list and the fused hits' dense and BM25 scores. Called only when `native_hybrid`."""
        ...

    def lexical_index(self) -> LexicalSearch | None:
        """The store's own BM25, or None when the index folder holds it (bm25s)."""
        ...

    def close(self) -> None:
        """Release connections (nothing for in-process stores)."""
        ...

    def __len__(self) -> int: ...
