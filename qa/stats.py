"""The statistics evaluation, calibration and training share (pure numpy): AUROC, logistic fitting, and the
threshold that reaches a precision."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 200, sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method on standardised features.

    Returns (coef, intercept) in the original feature units. `l2` is the ridge strength on the
    standardised coefficients (the intercept is not penalised). `sample_weight` weighs each row's loss
    (e.g. so that every labelled set counts the same, however many questions it has).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd < 1e-9] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
        grad = z.T @ (sw * (p - y)) + penalty * w
        hess = (z * (sw * p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    coef = w[1:] / sd
    intercept = float(w[0] - (coef * mu).sum())
    return coef, intercept


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve: the chance that a random positive (label 1) scores above a random negative
    (ties count one half), the Mann–Whitney U statistic divided by |pos|·|neg|; NaN when one class is missing."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return float("nan")
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def threshold_for_precision(scores: Sequence[float], labels: Sequence[int], precision: float = 0.9) -> float:
    """The lowest threshold whose `answerable` set (score ≥ t) reaches `precision`; keeps the most recall."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    best = float(s.max()) if len(s) else 0.5
    for t in sorted(set(s.tolist()), reverse=True):
        chosen = s >= t
        if y[chosen].mean() >= precision:
            best = t
    return best
