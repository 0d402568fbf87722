"""The query micro-batcher: same vectors as single encodes, shared batches, errors reach every caller."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from qa.serve.batcher import BatchingEmbedder

QUERIES = [
    "when did russia pull out of kherson",
    "What does the abbreviation ZSU refer to?",
    "Antonivka bridge",
    "who commanded the southern grouping of forces",
    "how many civilians stayed in the city during the occupation and what happened to them afterwards",
    "Dnipro",
    "left bank",
    "what happened on 11 November 2022 in Kherson?",
]


def test_single_query_equals_plain_encode(embedder) -> None:  # type: ignore[no-untyped-def]
    b = BatchingEmbedder(embedder, window_ms=1)
    try:
        for q in QUERIES[:3]:
            np.testing.assert_allclose(b.encode_query(q), embedder.encode_query(q), atol=1e-5)
    finally:
        b.close()


def test_concurrent_callers_get_their_own_vectors(embedder) -> None:  # type: ignore[no-untyped-def]
    expected = {q: embedder.encode_query(q) for q in QUERIES}
    b = BatchingEmbedder(embedder, window_ms=20, max_batch=5)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            asked = QUERIES * 3
            got = list(pool.map(b.encode_query, asked))
    finally:
        b.close()
    for q, v in zip(asked, got):
        assert v.shape == (384,)
        # padding in a batch must not change a vector beyond rounding (bf16 autocast rounds at ~1e-3)
        assert float(v @ expected[q]) > 0.9999
    assert b.queries == len(asked)
    assert b.batches < len(asked)  # some forward passes were shared


def test_encode_passes_through(embedder) -> None:  # type: ignore[no-untyped-def]
    b = BatchingEmbedder(embedder)
    np.testing.assert_allclose(b.encode(QUERIES[:2]), embedder.encode(QUERIES[:2]), atol=1e-6)
    assert b.backend == embedder.backend
    b.close()


class _Broken:
    backend = "broken"

    def encode_queries(self, texts):  # type: ignore[no-untyped-def]
        raise ValueError("model fell over")


def test_error_reaches_every_waiting_caller_and_worker_survives(embedder) -> None:  # type: ignore[no-untyped-def]
    b = BatchingEmbedder(_Broken(), window_ms=20)  # type: ignore[arg-type]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(b.encode_query, q) for q in QUERIES[:4]]
            for f in futures:
                with pytest.raises(ValueError, match="fell over"):
                    f.result(timeout=30)
        b.embedder = embedder  # the worker thread is still alive and serves the next query
        np.testing.assert_allclose(b.encode_query(QUERIES[0]), embedder.encode_query(QUERIES[0]), atol=1e-5)
    finally:
        b.close()


def test_closed_batcher_refuses(embedder) -> None:  # type: ignore[no-untyped-def]
    b = BatchingEmbedder(embedder)
    b.close()
    with pytest.raises(RuntimeError):
        b.encode_query("anything")
