"""FAISS store: inner product over unit vectors (= cosine). Flat below a size threshold, HNSW above."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import faiss

    from qa.index.retrieval import RetrievalConfig

FILE = "vectors.faiss"
EXACT_BELOW = 4096  # a filter passing at most this many rows of an HNSW index is searched exactly


class FaissStore:
    """A `VectorStore` in the index folder; BM25 lives beside it (bm25s), fused by the search stages."""

    kind = "faiss"
    native_hybrid = False

    def __init__(self, index: faiss.Index, index_type: str) -> None:
        self.index = index
        self.index_type = index_type

    @classmethod
    def build(cls, vectors: np.ndarray, index_type: str = "auto", hnsw_threshold: int = 50_000) -> FaissStore:
        import faiss

        from qa.settings import get_settings
        from qa.threads import configure

        faiss.omp_set_num_threads(configure(get_settings().threads))  # building: every core helps

        n, dim = vectors.shape if vectors.size else (0, 384)
        if index_type == "auto":
            index_type = "hnsw" if n >= hnsw_threshold else "flat"
        index: faiss.Index
        if index_type == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = 80
            hnsw.hnsw.efSearch = 128
            index = hnsw
        elif index_type == "ivf":
            nlist = max(1, int(4 * np.sqrt(max(n, 1))))
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            ivf.train(np.ascontiguousarray(vectors, dtype=np.float32))
            ivf.nprobe = max(1, nlist // 16)
            index = ivf
        else:
            index = faiss.IndexFlatIP(dim)
            index_type = "flat"
        if n:
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, index_type)

    @classmethod
    def load(cls, folder: Path, index_type: str) -> FaissStore:
        import faiss

        return cls(faiss.read_index(str(folder / FILE)), index_type)

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(folder / FILE))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def lexical_index(self) -> None:
        return None  # bm25s files in the folder (qa.index.lexical)

    def close(self) -> None:
        """Nothing to release: the index is in memory."""

    def hybrid(
        self, query_vector: np.ndarray, query: str, k: int, allowed: np.ndarray | None, config: RetrievalConfig
    ) -> tuple[list[tuple[int, float]], tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError("FAISS does not fuse: the search stages fuse its list with BM25's")

    def _filtered(self, selector: faiss.IDSelector) -> faiss.SearchParameters:
        """Search parameters that keep only `selector`'s rows. IVF refuses the generic class ("params have
        incorrect type"); per-type parameters carry the index's own nprobe / efSearch, not the defaults."""
        import faiss

        # faiss' stubs declare no kwargs, but its Python wrappers take them (and keep `sel` alive)
        if self.index_type == "hnsw":
            ef = faiss.downcast_index(self.index).hnsw.efSearch  # type: ignore[attr-defined]
            hnsw = faiss.SearchParametersHNSW  # type: ignore[attr-defined]  # missing from faiss' stubs
            return hnsw(sel=selector, efSearch=ef)  # type: ignore[no-any-return]
        if self.index_type == "ivf":
            nprobe = faiss.extract_index_ivf(self.index).nprobe
            return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)  # type: ignore[call-arg]
        return faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        n = len(self)
        k = min(k, n)
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        # one query: OpenMP threads only add wake-up cost (1.5 ms vs ~50 ms for flat 20k on a busy 2-core box);
        # the setting is per calling thread, so request threads search single-threaded and builds stay parallel
        faiss.omp_set_num_threads(1)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return np.zeros(0, np.float32), np.zeros(0, np.int64)
            if self.index_type == "hnsw" and len(allowed) <= EXACT_BELOW:
                return self._exact(q[0], k, allowed)
            params = self._filtered(faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        scores, rows = self.index.search(q, k, params=params)
        keep = rows[0] >= 0
        if allowed is not None and self.index_type == "hnsw" and int(keep.sum()) < min(k, len(allowed)):
            return self._exact(q[0], k, allowed)  # the graph / lists ran dry inside a narrow filter
        return scores[0][keep], rows[0][keep]

    def _exact(self, query: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the allowed rows (their vectors read back from the HNSW index's flat storage): a graph
        searched through a narrow filter may find fewer than k of them, or miss the best."""
        rows = np.asarray(allowed, dtype=np.int64)
        vectors = self.index.reconstruct_batch(rows)
        scores = vectors @ np.asarray(query, np.float32)
        top = np.argsort(-scores, kind="stable")[:k]
        return scores[top].astype(np.float32), rows[top]
