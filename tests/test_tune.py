"""`qa tune` on the real seed index: picks the best grid point on the tuning half and fits answerability."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.evaluation import load_questions, run_eval, split_questions
from qa.evaluation.tune import grid, tune
from qa.search.retriever import Retriever

EVAL = Path(__file__).resolve().parent.parent / "eval" / "kherson.jsonl"


@pytest.fixture(scope="module")
def tuned(seed_index: Path, settings_factory, embedder):  # type: ignore[no-untyped-def]
    r = Retriever.load(seed_index, settings_factory(index=seed_index), embedder=embedder)
    qs = split_questions(load_questions(EVAL), "tune")
    return r, qs, tune([r], qs)


def test_grid_offers_the_sentence_ranking() -> None:
    points = list(grid())
    assert {p["sentence_weight"] for p in points} == {0.0, 0.5, 1.0}
    assert all(p["sentence_weight"] == 0.0 for p in points if p["fusion"] == "weighted")


@pytest.mark.slow
def test_chosen_settings_score_at_least_every_other_grid_point(tuned) -> None:  # type: ignore[no-untyped-def]
    r, qs, result = tuned
    assert result.tried == len(list(grid()))
    assert result.config in list(grid())
    plain = {"fusion": "rrf", "rrf_k": 60, "dense_weight": 1.0, "lexical_weight": 1.0, "sentence_weight": 0.0,
             "article_weight": 0.0, "max_overlap": 1.0}  # the common default: plain RRF
    base = r.config
    try:
        r.config = base.replace(**plain)
        m = run_eval(r, qs, modes=("hybrid",)).modes["hybrid"].metrics
    finally:
        r.config = base
    objective = sum(m[k] for k in ("section_recall@1", "section_recall@3", "section_recall@5",
                                   "answer_in_passage@5")) / 4
    assert result.objective >= objective - 1e-9


@pytest.mark.slow
def test_calibration_is_fitted_per_mode(tuned) -> None:  # type: ignore[no-untyped-def]
    _, qs, result = tuned
    assert set(result.calibrations) == {"hybrid", "dense", "lexical"}
    for mode, cal in result.calibrations.items():
        assert len(cal["coef"]) == len(cal["features"]) and 0.0 <= cal["threshold"] <= 1.0
        assert result.fit[mode]["questions"] == len(qs)
        assert result.fit[mode]["auroc"] > 0.6  # better than chance on the half it was fitted on
