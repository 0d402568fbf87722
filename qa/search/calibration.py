"""Answerability: the signals (`features`) and the logistic model over them, giving `confidence` in [0, 1].

Each mode has its own model over the signals that mode has, and reading has one over the reader's and
retrieval's together (the `read` model, applied by qa/search/reading.py). The parameters (feature names,
coefficients, intercept, the `answered` threshold and the `unsure` edge) live in the index manifest under
`retrieval.calibrations.<mode>`, so they travel with the index (read by `qa.index.retrieval`);
`qa tune --calibration-only` fits them on labelled questions (qa/evaluation/calibrate.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

FEATURES = ("top_dense", "gap_dense", "top_lexical", "gap_lexical", "top_article", "top_fused", "top_sentence",
            "gap_sentence", "agreement", "lexical_coverage")
AGREEMENT_DEPTH = 5  # how deep the dense and lexical lists are compared


def features(
    dense: tuple[np.ndarray, np.ndarray],
    lexical: tuple[np.ndarray, np.ndarray],
    article_score: float = 0.0,
    fused_top: float = 0.0,
    sentence: np.ndarray | None = None,
) -> dict[str, float]:
    """Scores that tell an answerable question from one the index cannot answer.

    `dense` and `lexical` are (scores, rows) best first. BM25 scores are squashed with log1p so the
    feature does not grow without bound on long keyword queries. `sentence` holds the candidates' best
    sentence similarities (qa/embed/sentences.py); without them (an index built before sentence vectors) the
    passage scores stand in. `agreement` compares the two retrievers' lists (0 in single modes).
    """
    d = dense[0]
    lx = [math.log1p(max(float(v), 0.0)) for v in lexical[0][:2]]
    top_dense = float(d[0]) if len(d) else 0.0
    gap_dense = float(d[0] - d[1]) if len(d) > 1 else 0.0
    best = np.sort(sentence)[::-1] if sentence is not None and len(sentence) else None
    dense_top, lexical_top = list(dense[1][:AGREEMENT_DEPTH]), list(lexical[1][:AGREEMENT_DEPTH])
    return {
        "top_dense": top_dense,
        "gap_dense": gap_dense,
        "top_sentence": float(best[0]) if best is not None else top_dense,
        "gap_sentence": float(best[0] - best[1]) if best is not None and len(best) > 1 else gap_dense,
        "top_lexical": lx[0] if lx else 0.0,
        "gap_lexical": lx[0] - lx[1] if len(lx) > 1 else 0.0,
        "top_article": float(article_score),
        "top_fused": float(fused_top),
        # the two retrievers agree: the share of the dense top 5 also in the lexical top 5
        "agreement": len(set(dense_top) & set(lexical_top)) / AGREEMENT_DEPTH if dense_top and lexical_top else 0.0,
    }


def term_coverage(query_terms: Iterable[str], passage_terms: Iterable[str], idf: Mapping[str, float] | None,
                  passages: int) -> float:
    """The idf-weighted share of the query's terms that a passage holds, in [0, 1]: unlike a BM25 score it
    does not grow with the corpus, so it means the same on 18 passages and on 4,000. A term no passage of
    the index holds weighs most (the idf of a term in no document), so a question about something the corpus
    never mentions scores low."""
    q = set(query_terms)
    if not q:
        return 0.0
    unseen = math.log1p((passages + 0.5) / 0.5)
    weight = {t: (idf or {}).get(t, unseen) for t in q}
    total = sum(weight.values())
    held = q & set(passage_terms)
    return float(sum(weight[t] for t in held) / total) if total > 0 else 0.0


def confidence(calibration: Mapping[str, Any], feats: Mapping[str, float]) -> float:
    """σ(intercept + Σ coef·feature); unknown feature names count as 0."""
    z = float(calibration.get("intercept", 0.0))
    for name, coef in zip(calibration.get("features", ()), calibration.get("coef", ())):
        z += float(coef) * float(feats.get(name, 0.0))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
