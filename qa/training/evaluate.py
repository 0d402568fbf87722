"""Reader dev metrics: answer token F1 / exact match on answerable pairs, and "no answer" AUROC per negative kind."""

from __future__ import annotations

from typing import Any

import numpy as np

from qa.evaluation.text import normalize_answer, token_f1
from qa.reader.model import Reader, Reading
from qa.stats import auroc
from qa.training.data import KINDS, Example


def read_examples(reader: Reader, examples: list[Example], batch_size: int = 32) -> list[Reading]:
    out: list[Reading] = []
    for i in range(0, len(examples), batch_size):
        part = examples[i:i + batch_size]
        out += reader.read_pairs([e.question for e in part], [e.context for e in part], [e.title for e in part])
    return out


def evaluate(model: Any, tokenizer: Any, examples: list[Example], bf16: bool = False) -> dict:
    reader = Reader(model, tokenizer, max_length=384, bf16=bf16)
    readings = read_examples(reader, examples)
    pos = [(e, r) for e, r in zip(examples, readings, strict=True) if e.answer is not None]
    f1 = [token_f1(e.context[r.start:r.end], e.answer or "") for e, r in pos]
    em = [float(normalize_answer(e.context[r.start:r.end]) == normalize_answer(e.answer or "")) for e, r in pos]
    pos_scores = [r.relevance for _, r in pos]
    metrics: dict[str, Any] = {"answerable": len(pos), "f1": round(float(np.mean(f1)), 4),
                               "exact_match": round(float(np.mean(em)), 4)}
    for kind in ("squad", "nq"):
        kf1 = [f for (e, _), f in zip(pos, f1, strict=True) if e.kind == kind]
        metrics[f"f1_{kind}"] = round(float(np.mean(kf1)), 4) if kf1 else None
    negatives = [(e, r) for e, r in zip(examples, readings, strict=True) if e.answer is None]
    metrics["no_answer_auroc"] = round(_auroc(pos_scores, [r.relevance for _, r in negatives]), 4)
    for kind in (k for k in KINDS if k.startswith("neg-")):
        scores = [r.relevance for e, r in negatives if e.kind == kind]
        metrics[f"auroc_{kind}"] = round(_auroc(pos_scores, scores), 4)
    return metrics


def _auroc(positive: list[float], negative: list[float]) -> float:
    return auroc(positive + negative, [1] * len(positive) + [0] * len(negative))
