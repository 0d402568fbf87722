"""Answerability metrics: precision and recall of `answerable` (its AUROC is `qa.stats.auroc`)."""

from __future__ import annotations

from collections.abc import Sequence


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
