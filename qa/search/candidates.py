"""Stage `candidates`: the query embedded, then dense and BM25 candidates — or one fused list from a store
that fuses by itself (Milvus `hybrid_search`)."""

from __future__ import annotations

import dataclasses
import time

from qa.search.stages import Scored, SearchIndex, SearchState


def candidates(index: SearchIndex, state: SearchState) -> SearchState:
    """Fills `vector`, `dense`, `lexical` (and `native` for a fusing store); times each retriever."""
    cfg, timings = index.config, state.timings
    n = max(cfg.candidates, state.k)
    found = state
    if state.mode in ("dense", "hybrid"):
        t = time.perf_counter()
        vector = state.vector if state.vector is not None else index.embedder.encode_query(state.query)
        timings["embed"] = ms(t)
        t = time.perf_counter()
        if state.mode == "hybrid" and index.store.native_hybrid:
            native, dense, lexical = index.store.hybrid(vector, state.query, state.k, state.allowed, cfg)
            timings["hybrid"] = ms(t)
            return dataclasses.replace(state, vector=vector, native=native, dense=Scored(*dense), lexical=Scored(*lexical))
        found = dataclasses.replace(state, vector=vector, dense=Scored(*index.store.search(vector, n, state.allowed)))
        timings["dense"] = ms(t)
    if state.mode in ("lexical", "hybrid"):
        t = time.perf_counter()
        found = dataclasses.replace(found, lexical=Scored(*index.lexical.search(state.query, n, state.allowed)))
        timings["lexical"] = ms(t)
    return found


def ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 3)
