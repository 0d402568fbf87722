"""FaissStore: every index type answers, with and without a row filter, and round-trips through disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.index.stores.faiss_store import FaissStore


def _vectors(n: int = 2000, dim: int = 384) -> np.ndarray:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(20, dim))
    v = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "ivf"])
def test_filtered_search_returns_only_allowed_rows(index_type: str, tmp_path: Path) -> None:
    vectors = _vectors()
    store = FaissStore.build(vectors, index_type)
    store.save(tmp_path)
    store = FaissStore.load(tmp_path, index_type)
    query = vectors[123]
    scores, rows = store.search(query, 5)
    assert rows[0] == 123 and scores[0] == pytest.approx(1.0, abs=1e-4)
    allowed = np.arange(1000, 1400)
    f_scores, f_rows = store.search(query, 5, allowed)
    assert len(f_rows) == 5 and set(f_rows.tolist()) <= set(allowed.tolist())
    exact = np.sort(vectors[allowed] @ query)[::-1][:5]
    assert f_scores[0] == pytest.approx(exact[0], abs=1e-4)  # the best allowed row is found
    assert list(f_scores) == sorted(f_scores, reverse=True)
    assert store.search(query, 5, np.zeros(0, np.int64))[1].size == 0
