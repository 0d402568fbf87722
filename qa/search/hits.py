"""Stage `hits`: the top k of the ranking as cited passages, each with its best-answering sentence."""

from __future__ import annotations

import dataclasses

from qa.records import Hit
from qa.search.highlight import best_sentence
from qa.search.stages import SearchIndex, SearchState


def hits(index: SearchIndex, state: SearchState) -> SearchState:
    """Fills `hits` from `ranked[:depth or k]`, with each passage's own dense and BM25 scores where it had them."""
    dense = dict(zip(state.dense.rows.tolist(), state.dense.scores.tolist()))
    lexical = dict(zip(state.lexical.rows.tolist(), state.lexical.scores.tolist()))
    idf = index.idf
    found = [
        Hit(
            rank=rank,
            score=float(score),
            dense=dense.get(row),
            lexical=lexical.get(row) if state.mode != "dense" else None,
            chunk=index.chunks[row],
            highlight=best_sentence(state.query, index.chunks[row].text, idf),
        )
        for rank, (row, score) in enumerate(state.ranked[: state.depth or state.k], 1)
    ]
    return dataclasses.replace(state, hits=found)
