"""qa.stats: AUROC checked against pairs counted by hand, logistic fitting and the precision threshold."""

from __future__ import annotations

import math

import numpy as np

from qa.stats import auroc, fit_logistic, threshold_for_precision


def pairs(positives: list[float], negatives: list[float]) -> float:
    return auroc(positives + negatives, [1] * len(positives) + [0] * len(negatives))


def test_auroc() -> None:
    # pos {0.9, 0.6, 0.4}, neg {0.5, 0.4}: pairs (p>n → 1, tie → ½):
    # 0.9: 1+1; 0.6: 1+1; 0.4: 0 (vs 0.5) + ½ (tie) → 4.5 of 6 = 0.75.
    assert pairs([0.9, 0.6, 0.4], [0.5, 0.4]) == 0.75
    assert pairs([1.0, 0.9], [0.1]) == 1.0  # perfect separation
    assert pairs([0.1], [0.9, 1.0]) == 0.0  # perfectly wrong
    assert pairs([0.5, 0.5], [0.5]) == 0.5  # all ties: chance
    assert math.isnan(pairs([0.5], []))  # one class missing


def test_fit_logistic_separates_and_threshold_meets_precision() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.7, 0.08, 60), rng.normal(0.35, 0.08, 40)])[:, None]
    y = np.array([1] * 60 + [0] * 40)
    coef, intercept = fit_logistic(x, y, l2=0.1)
    assert coef[0] > 0
    p = 1 / (1 + np.exp(-(x[:, 0] * coef[0] + intercept)))
    assert auroc(p, y) > 0.97
    t = threshold_for_precision(p, y, precision=0.95)
    assert y[p >= t].mean() >= 0.95 and (p >= t).sum() > 40
    assert auroc([0.9, 0.8], [1, 0]) == 1.0 and auroc([0.5, 0.5], [1, 0]) == 0.5
