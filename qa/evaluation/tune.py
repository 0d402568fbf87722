"""`qa tune`: choose fusion / ranking settings and fit answerability on the eval set's tuning half.

Only the `tune` split is read (odd question ids, see qa/evaluation/questions.py); the held-out half is
left for `qa eval --split heldout`. The result is a JSON file (default `eval/retrieval.json`) that
`qa build` copies into the index manifest under `retrieval`, so the settings travel with the index.

Steps:
1. Grid search over fusion (RRF k and dense weight, or weighted alpha), the article prior weight and the
   overlap collapse; objective = mean of section recall@1, @3, @5 and answer-in-passage@5 in hybrid mode,
   averaged over the given indexes (e.g. the seed alone and seed + distractors).
2. With the chosen settings, one logistic regression per mode (hybrid, dense, lexical) over the
   answerability features that mode has (`MODE_FEATURES` in qa/search/calibration.py) is fitted on the first
   index's tuning questions (label: the question is answerable), and each mode's `answerable` threshold
   is the lowest confidence whose precision reaches `--precision`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.search.calibration import FEATURES, MODE_FEATURES
from qa.stats import auroc, fit_logistic, threshold_for_precision

OBJECTIVE = ("section_recall@1", "section_recall@3", "section_recall@5", "answer_in_passage@5")
# Fewer features generalise better here: with the article and fused scores added, the hybrid fit on the
# tuning half gained and the held-out AUROC dropped (docs/quality.md).
CALIBRATION_MODES = ("hybrid", "dense", "lexical")
assert all(set(MODE_FEATURES[m]) <= set(FEATURES) for m in CALIBRATION_MODES)


def grid() -> Iterator[dict[str, Any]]:
    """Candidate settings, simplest first (ties keep the earlier one)."""
    # overlap collapse (max_overlap < 1) and article_weight 1.0 were tried and never chosen (docs/quality.md); not re-run
    for max_overlap, article_weight in itertools.product((1.0,), (0.0, 0.5)):
        for sentence_weight, rrf_k, dense_weight in itertools.product((0.0, 0.5, 1.0), (60, 20, 10), (1.0, 0.8, 0.4)):
            yield {"fusion": "rrf", "rrf_k": rrf_k, "dense_weight": dense_weight, "lexical_weight": 1.0,
                   "sentence_weight": sentence_weight, "article_weight": article_weight, "max_overlap": max_overlap}
        for alpha in (0.5, 0.7):
            yield {"fusion": "weighted", "alpha": alpha, "rrf_k": 60, "article_weight": article_weight / 30,
                   "sentence_weight": 0.0, "max_overlap": max_overlap}


@dataclass
class TuneResult:
    config: dict[str, Any]
    objective: float
    per_index: dict[str, dict[str, float | None]]
    calibrations: dict[str, dict[str, Any]]  # mode → features, coef, intercept, threshold
    fit: dict[str, dict[str, float]] = field(default_factory=dict)  # mode → AUROC, precision, recall
    tried: int = 0

    def to_json(self, questions_file: str, indexes: Sequence[str]) -> dict[str, Any]:
        return self.config | {
            "calibrations": self.calibrations,
            "tuned": {
                "questions": questions_file,
                "split": "tune",
                "indexes": list(indexes),
                "objective": "mean of " + ", ".join(OBJECTIVE) + " (hybrid), averaged over indexes",
                "objective_value": round(self.objective, 4),
                "metrics": self.per_index,
                "calibration_fit": self.fit,
                "configs_tried": self.tried,
            },
        }


def _score(metrics: dict[str, float | None]) -> float:
    return float(np.mean([metrics.get(name) or 0.0 for name in OBJECTIVE]))


def tune(
    retrievers: Sequence[Any], questions: Sequence[Any], precision: float = 0.9, log: Any = None
) -> TuneResult:
    """Pick settings on `questions` (the tuning split) over every retriever; fit calibration on the first."""
    from qa.evaluation import encode_questions, run_eval

    vectors = [encode_questions(r, questions) for r in retrievers]
    base = [r.config for r in retrievers]  # frozen: each candidate is a copy
    best: tuple[float, dict[str, Any], dict[str, dict[str, float | None]]] | None = None
    tried = 0
    for cand in grid():
        tried += 1
        per: dict[str, dict[str, float | None]] = {}
        for r, v, b in zip(retrievers, vectors, base):
            r.config = b.replace(**cand)
            per[str(r.folder)] = run_eval(r, questions, modes=("hybrid",), vectors=v).modes["hybrid"].metrics
        score = float(np.mean([_score(m) for m in per.values()]))
        if best is None or score > best[0] + 1e-9:
            best = (score, cand, per)
            if log:
                log(f"{score:.4f} {cand}")
    assert best is not None
    score, chosen, per_index = best
    for r, b in zip(retrievers, base):
        r.config = b.replace(**chosen)

    calibrations: dict[str, dict[str, Any]] = {}
    fits: dict[str, dict[str, float]] = {}
    for mode in CALIBRATION_MODES:
        # fitted on the first index only: fitting on every index (each with its own labels) was tried and
        # lowered the held-out AUROC on both the seed and frontlines (docs/quality.md)
        calibrations[mode], fits[mode] = calibrate(retrievers[:1], questions, mode, vectors[:1], precision)
    return TuneResult(chosen, score, _rounded(per_index), calibrations, fits, tried)


def calibrate(
    retrievers: Sequence[Any],
    questions: Sequence[Any],
    mode: str,
    vectors: Sequence[dict[str, np.ndarray]],
    precision: float = 0.9,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Fit `mode`'s logistic over its own features (MODE_FEATURES) and its precision-targeted threshold,
    on every (index, question) pair, each labelled answerable for that index (`Question.for_index`).

    Returns the calibration as stored in the manifest and how it does on those pairs themselves.
    """
    names = MODE_FEATURES[mode]
    x, y = [], []
    for retriever, vecs in zip(retrievers, vectors):
        for q in questions:
            res = retriever.search(q.question, k=10, mode=mode, query_vector=vecs.get(q.id))
            x.append([res.features.get(f, 0.0) for f in names])
            y.append(1 if q.for_index(retriever.articles).answerable else 0)
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y)
    coef, intercept = fit_logistic(xa, ya, l2=1.0)
    coef, intercept = np.round(coef, 5), round(intercept, 5)
    p = 1.0 / (1.0 + np.exp(-(xa @ coef + intercept)))
    threshold = round(threshold_for_precision(p, y, precision), 4)
    chosen = p >= threshold
    calibration = {"features": list(names), "coef": [float(c) for c in coef], "intercept": intercept,
                   "threshold": threshold}
    fit = {
        "auroc": round(auroc(p, y), 4),
        "precision": round(float(ya[chosen].mean()) if chosen.any() else 0.0, 4),
        "recall": round(float(chosen[ya == 1].mean()), 4),
        "target_precision": precision,
        "questions": len(ya),
    }
    return calibration, fit


def _rounded(per: dict[str, dict[str, float | None]]) -> dict[str, dict[str, float | None]]:
    keep = (*OBJECTIVE, "answerability_auroc", "latency_p50_ms")
    return {k: {n: (None if m.get(n) is None else round(float(m[n] or 0.0), 4)) for n in keep} for k, m in per.items()}


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
