"""`qa tune`: choose fusion / ranking settings on the eval set's tuning half.

Only the `tune` split is read (odd question ids, see qa/evaluation/questions.py); the held-out half is
left for `qa eval --split heldout`. The result is a JSON file (default `eval/retrieval.json`) that
`qa build` copies into the index manifest under `retrieval`, so the settings travel with the index.

Steps:
1. Grid search over fusion (RRF k and dense weight, or weighted alpha), the article prior weight and the
   overlap collapse; objective = mean of section recall@1, @3, @5 and answer-in-passage@5 in hybrid mode,
   averaged over the given indexes (e.g. the seed alone and seed + distractors).
2. The file's answerability calibrations and read settings are kept as they are: the calibrations are
   fitted on their own, on labelled sets over several corpora, by `qa tune --calibration-only`
   (qa/evaluation/calibrate.py); the read settings by `qa tune-reader` (qa/training/tune.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

OBJECTIVE = ("section_recall@1", "section_recall@3", "section_recall@5", "answer_in_passage@5")


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
    tried: int = 0

    def to_json(self, questions_file: str, indexes: Sequence[str]) -> dict[str, Any]:
        return self.config | {
            "tuned": {
                "questions": questions_file,
                "split": "tune",
                "indexes": list(indexes),
                "objective": "mean of " + ", ".join(OBJECTIVE) + " (hybrid), averaged over indexes",
                "objective_value": round(self.objective, 4),
                "metrics": self.per_index,
                "configs_tried": self.tried,
            },
        }


def _score(metrics: dict[str, float | None]) -> float:
    return float(np.mean([metrics.get(name) or 0.0 for name in OBJECTIVE]))


def tune(retrievers: Sequence[Any], questions: Sequence[Any], log: Any = None) -> TuneResult:
    """Pick settings on `questions` (the tuning split) over every retriever."""
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
    return TuneResult(chosen, score, _rounded(per_index), tried)


def _rounded(per: dict[str, dict[str, float | None]]) -> dict[str, dict[str, float | None]]:
    keep = (*OBJECTIVE, "answerability_auroc", "latency_p50_ms")
    return {k: {n: (None if m.get(n) is None else round(float(m[n] or 0.0), 4)) for n in keep} for k, m in per.items()}


def read_settings(path: Path) -> dict[str, Any]:
    """The retrieval settings file as it stands ({} when there is none yet)."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
