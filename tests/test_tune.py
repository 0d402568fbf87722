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


def test_calibration_only_refits_answerability_and_keeps_fusion(seed_index: Path, tmp_path: Path,
                                                                 monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`qa tune --calibration-only` on a user's labelled questions: every mode's monotone model and its two
    edges are re-fitted and written; the fusion settings already in the file stay as they were."""
    import json

    from click.testing import CliRunner

    from qa.cli import main

    out = tmp_path / "retrieval.json"
    shipped = json.loads((EVAL.parent / "retrieval.json").read_text())
    out.write_text(json.dumps(shipped | {"rrf_k": 33}))
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(main, ["tune", "--calibration-only", "--questions", str(EVAL), "--index",
                                       str(seed_index), "--split", "all", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["rrf_k"] == 33 and data["dense_weight"] == shipped["dense_weight"]
    assert set(data["calibrations"]) == {"hybrid", "dense", "lexical", "read"}
    for mode, cal in data["calibrations"].items():
        assert len(cal["coef"]) == len(cal["features"]) and all(c > 0 for c in cal["coef"]), mode
        assert 0.0 <= cal["unsure"] <= cal["threshold"] <= 1.0, mode
    # one questions file: nothing to leave out, so every mode's threshold keeps the plain 0.95
    assert data["calibrated"]["recall"] == {mode: 0.95 for mode in data["calibrations"]}
    assert "calibration read, recall 0.95:" in result.output
    assert "AUROC off (cosine)" in result.output and "wrote" in result.output
    # too few labelled questions: a clear error, nothing written
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(EVAL.read_text().splitlines()[:12]) + "\n")
    before = out.read_text()
    result = CliRunner().invoke(main, ["tune", "--calibration-only", "--questions", str(few), "--index",
                                       str(seed_index), "--split", "all", "--out", str(out)])
    assert result.exit_code == 2 and "at least 20 answerable" in result.output and out.read_text() == before
