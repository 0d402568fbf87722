"""Stage `read`: the reader reads the top passages with the question, reorders them, finds the
answer span and judges answerability; then the hits are cut to k. A no-op when the query does not read."""

from __future__ import annotations

import dataclasses

from qa.search.reading import read_hits
from qa.search.stages import SearchIndex, SearchState


def read(index: SearchIndex, state: SearchState) -> SearchState:
    if not state.read or index.reader is None or not state.hits:
        return dataclasses.replace(state, hits=state.hits[: state.k])
    outcome = read_hits(index.reader, index.config.read, state.query, state.hits, state.k, state.features,
                        index.config.calibration("read"), index.sources.region)
    return dataclasses.replace(state, hits=outcome.hits, answer=outcome.answer, confidence=outcome.confidence,
                               answerable=outcome.answerable, answerability=outcome.verdict,
                               features=outcome.features)
