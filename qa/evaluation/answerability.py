"""Answerability metrics: does `confidence` separate answerable from unanswerable questions?"""

from __future__ import annotations

from collections.abc import Sequence


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random negative
    (ties count one half) — the Mann–Whitney U statistic divided by |pos|·|neg|.
    """
    if not positives or not negatives:
        raise ValueError("AUROC needs at least one positive and one negative score")
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


def precision(predicted: Sequence[bool], actual: Sequence[bool]) -> float:
    """Share of predicted positives that are actual positives; 0.0 when nothing is predicted positive."""
    tp, fp, _ = _counts(predicted, actual)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(predicted: Sequence[bool], actual: Sequence[bool]) -> float:
    """Share of actual positives that are predicted positive; 0.0 when there are no actual positives."""
    tp, _, fn = _counts(predicted, actual)
    return tp / (tp + fn) if tp + fn else 0.0


def _counts(predicted: Sequence[bool], actual: Sequence[bool]) -> tuple[int, int, int]:
    if len(predicted) != len(actual):
        raise ValueError("predicted and actual must have the same length")
    tp = sum(1 for p, a in zip(predicted, actual) if p and a)
    fp = sum(1 for p, a in zip(predicted, actual) if p and not a)
    fn = sum(1 for p, a in zip(predicted, actual) if a and not p)
    return tp, fp, fn
