"""Every metric against values worked out by hand (the working is in the comments)."""

from __future__ import annotations

import math

import pytest

from qa.evaluation.answerability import precision, recall
from qa.evaluation.metrics import (
    answer_in_passage_at_k,
    answer_rank,
    first_rank,
    mean,
    mrr_at_k,
    ndcg_at_k,
    normalise_text,
    percentile,
    recall_at_k,
)

# Section keys as the runner builds them: (article id, section path).
A = ("kherson", ("Background",))
B = ("kherson", ("Aftermath", "Demining operations"))
C = ("kherson", ())
X = ("other", ("Background",))  # same section path, other article: never a match
RANKED = [X, C, A, A, B]  # A at ranks 3 and 4 (two passages of one section), B at 5


def test_first_rank() -> None:
    assert first_rank({A}, RANKED) == 3  # X, C, then A
    assert first_rank({A, B}, RANKED) == 3  # the earlier of A (3) and B (5)
    assert first_rank({("kherson", ("Reactions",))}, RANKED) is None


def test_recall_at_k() -> None:
    # gold {A}: A first appears at rank 3, so k=1,2 → 0; k=3,5,10 → 1.
    assert [recall_at_k({A}, RANKED, k) for k in (1, 2, 3, 5, 10)] == [0.0, 0.0, 1.0, 1.0, 1.0]
    # gold {C, B} are alternatives: C at rank 2 suffices at k=2.
    assert recall_at_k({C, B}, RANKED, 2) == 1.0
    # X shares A's path but not its article: gold {("kherson", ("Background",))} is not found at rank 1.
    assert recall_at_k({A}, RANKED, 1) == 0.0
    # article level: keys are article ids; "kherson" first at rank 2.
    assert recall_at_k({"kherson"}, [k[0] for k in RANKED], 1) == 0.0
    assert recall_at_k({"kherson"}, [k[0] for k in RANKED], 2) == 1.0


def test_mrr_at_k() -> None:
    assert mrr_at_k({A}, RANKED, 10) == pytest.approx(1 / 3)  # first A at rank 3
    assert mrr_at_k({A}, RANKED, 2) == 0.0  # rank 3 is past the cut-off
    assert mrr_at_k({B, C}, RANKED, 10) == pytest.approx(1 / 2)  # C at rank 2 comes first
    assert mrr_at_k({X}, RANKED, 10) == 1.0
    assert mrr_at_k({("z", ())}, RANKED, 10) == 0.0


def test_ndcg_at_k() -> None:
    # gold {A}: DCG = 1/log2(3+1) = 1/2 (the second A at rank 4 is a duplicate, gain 0);
    # ideal = 1/log2(2) = 1 → nDCG = 0.5.
    assert ndcg_at_k({A}, RANKED, 10) == pytest.approx(0.5)
    # gold {A, B}: DCG = 1/log2(4) + 1/log2(6) = 0.5 + 0.386853 = 0.886853;
    # ideal = 1/log2(2) + 1/log2(3) = 1 + 0.630930 = 1.630930 → 0.543774.
    assert ndcg_at_k({A, B}, RANKED, 10) == pytest.approx(0.886853 / 1.630930, abs=1e-6)
    # same at k=4: B (rank 5) drops out → 0.5 / 1.630930 = 0.306574.
    assert ndcg_at_k({A, B}, RANKED, 4) == pytest.approx(0.5 / 1.630930, abs=1e-6)
    # k=1 with two gold keys: the ideal holds only min(2, 1) = 1 key → DCG(X) = 0 → 0.
    assert ndcg_at_k({A, B}, RANKED, 1) == 0.0
    # perfect: gold {X, C} at ranks 1 and 2 → 1.
    assert ndcg_at_k({X, C}, RANKED, 10) == pytest.approx(1.0)


def test_answer_in_passage() -> None:
    passages = ["Nothing here.", "About 30,000\n  troops   withdrew.", "30,000 TROOPS again"]
    assert normalise_text("  About 30,000\n  Troops ") == "about 30,000 troops"
    # "30,000 troops" matches passage 2 once newlines and runs of spaces are one space, case ignored.
    assert answer_rank("30,000 Troops", passages) == 2
    assert answer_in_passage_at_k("30,000 troops", passages, 1) == 0.0
    assert answer_in_passage_at_k("30,000 troops", passages, 2) == 1.0
    assert answer_in_passage_at_k("40,000", passages, 10) == 0.0
    with pytest.raises(ValueError):
        answer_rank("   ", passages)


def test_precision_recall() -> None:
    predicted = [True, True, True, False, False, True]
    actual = [True, True, False, True, False, False]
    # TP = 2 (0, 1), FP = 2 (2, 5), FN = 1 (3) → precision 2/4, recall 2/3.
    assert precision(predicted, actual) == pytest.approx(0.5)
    assert recall(predicted, actual) == pytest.approx(2 / 3)
    assert precision([False, False], [True, False]) == 0.0  # nothing predicted positive
    assert recall([True], [False]) == 0.0  # no actual positives
    with pytest.raises(ValueError):
        precision([True], [True, False])


def test_mean_and_percentile() -> None:
    assert mean([1.0, 0.0, 0.5]) == pytest.approx(0.5)
    values = [10.0, 20.0, 30.0, 40.0]
    # linear interpolation: position (n-1)·q = 3·0.5 = 1.5 → 20 + 0.5·(30-20) = 25.
    assert percentile(values, 50) == pytest.approx(25.0)
    # 3·0.95 = 2.85 → 30 + 0.85·10 = 38.5.
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile([7.0], 95) == 7.0
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 40.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        recall_at_k(set(), RANKED, 5)  # unanswerable questions get no ranking metrics
    with pytest.raises(ValueError):
        mrr_at_k({A}, RANKED, 0)
    assert math.isclose(mrr_at_k({A}, [], 10), 0.0)  # nothing returned: a miss, not an error
