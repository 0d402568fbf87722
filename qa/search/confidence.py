"""Stage `confidence`: whether the top hit answers the question, from the mode's calibrated logistic model
(qa/search/calibration.py) — unless an earlier stage (a reader) has judged that already."""

from __future__ import annotations

import dataclasses

from qa.search.calibration import confidence as calibrated
from qa.search.calibration import features, term_coverage
from qa.search.highlight import terms
from qa.search.stages import SearchIndex, SearchState


def confidence(index: SearchIndex, state: SearchState) -> SearchState:
    """Fills `features`, and `confidence` + `answerable` where no earlier stage set them."""
    fused_top = state.ranked[0][1] if state.ranked and state.mode == "hybrid" else 0.0
    sentence = state.sentence.scores if state.sentence is not None else None
    feats = features(state.dense, state.lexical, state.top_article, fused_top, sentence)
    if len(state.lexical.rows):  # how much of the question the best BM25 passage holds (title and path too)
        top = index.chunks[int(state.lexical.rows[0])]
        feats["lexical_coverage"] = term_coverage(terms(state.query), terms(f"{top.citation} {top.text}"),
                                                  index.idf, len(index.chunks))
    if state.confidence is not None and state.answerable is not None:
        return dataclasses.replace(state, features=feats)
    calibration = index.config.calibration(state.mode)
    value = calibrated(calibration.to_dict(), feats)
    verdict = calibration.verdict(value, bool(state.hits))
    return dataclasses.replace(state, features=feats, confidence=value, answerable=verdict == "answered",
                               answerability=verdict)
