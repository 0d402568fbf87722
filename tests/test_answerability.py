"""Answerability that holds off the tuning data: the three-way verdict, the monotone calibration fit, and the
shipped calibration on the check halves (the seed, frontlines articles, plain Markdown notes) with the real
reader. These fail when answerability breaks: recall of answerable questions, off-topic questions accepted,
answerable questions called "not answered", and confidence never below the dense cosine alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.evaluation.calibrate import (
    RECALL,
    Observation,
    choose_recall,
    edge,
    figures,
    fit,
    fit_all,
    fit_monotone,
    held_out_recall,
    source,
)
from qa.index.retrieval import DEFAULT_CALIBRATIONS, Calibration
from tests.conftest import FRONTLINES, ROOT, need_corpus

CALIBRATION = ROOT / "eval" / "calibration"
READER = ROOT / "models" / "reader"


def test_verdict_has_three_bands() -> None:
    c = Calibration(("top_dense",), (1.0,), 0.0, threshold=0.6, unsure=0.2)
    assert [c.verdict(v) for v in (0.9, 0.6, 0.4, 0.2, 0.1)] == [
        "answered", "answered", "unsure", "unsure", "not_answered"]
    assert c.verdict(0.9, has_hits=False) == "not_answered"
    legacy = Calibration(("top_dense",), (1.0,), 0.0, threshold=0.6)  # no band: two ways, as before
    assert [legacy.verdict(v) for v in (0.7, 0.5)] == ["answered", "not_answered"]
    assert Calibration.from_dict(c.to_dict()) == c and "unsure" not in legacy.to_dict()


def test_monotone_fit_drops_a_feature_that_would_count_against_answerability() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.5
    good = y + rng.normal(0, 0.5, 400)
    bad = -0.8 * y + rng.normal(0, 0.5, 400)  # a signal that falls for answerable questions
    coef, _ = fit_monotone(np.c_[good, bad], y.astype(float), np.ones(400))
    assert coef[0] > 0 and coef[1] == 0.0


def test_edge_keeps_the_asked_recall() -> None:
    scores = np.linspace(0.0, 1.0, 101)
    assert (scores >= edge(scores, 0.95)).mean() >= 0.95
    assert (scores >= edge(scores, 0.99)).mean() >= 0.99 > (scores >= edge(scores, 0.95)).mean() - 0.05


def test_fit_weighs_each_set_and_orders_the_edges() -> None:
    """Two sets of very different sizes: the edges keep the recall in each; unsure ≤ threshold."""
    rng = np.random.default_rng(7)
    obs = []
    for name, n, shift in (("big", 600, 0.0), ("small", 60, -0.15)):
        for i in range(n):
            answerable = i % 3 != 0
            top = rng.normal(0.65 if answerable else 0.35, 0.08) + shift
            feats = {"top_sentence": top, "top_dense": top, "top_relevance": rng.normal(3 if answerable else -3, 2)}
            kind = "answerable" if answerable else ("off-topic" if i % 2 else "nearby")
            obs.append(Observation(name, f"{name}{i}", kind, feats))
    cal = fit(obs, "read")
    assert all(c > 0 for c in cal.coef) and cal.unsure is not None and cal.unsure <= cal.threshold
    for name, f in figures(obs, cal).items():
        assert f.recall is not None and f.recall >= 0.95, name
        assert f.not_answered_answerable is not None and f.not_answered_answerable <= 0.01 + 1e-9, name


def _three_files(shift_of_hard: float) -> list[Observation]:
    """Three questions files (one searched over two indexes); the file "hard" has answerable questions whose
    signals sit `shift_of_hard` lower than the others'."""
    rng = np.random.default_rng(11)
    obs = []
    for name, n, shift in (("easy on a", 300, 0.0), ("easy on b", 300, 0.0), ("plain on a", 200, 0.0),
                           ("hard on a", 120, shift_of_hard)):
        for i in range(n):
            answerable = i % 3 != 0
            top = rng.normal(0.65 + shift if answerable else 0.35, 0.08)
            kind = "answerable" if answerable else "nearby"
            obs.append(Observation(name, f"{name}{i}", kind, {"top_sentence": top, "top_dense": top}))
    return obs


def test_held_out_recall_leaves_out_a_whole_questions_file() -> None:
    assert source("frontlines-tune on frontlines") == source("frontlines-tune on its articles") == "frontlines-tune"
    held = held_out_recall(_three_files(-0.04), "dense", RECALL)
    assert set(held) == {"easy", "plain", "hard"}  # "easy" over two indexes is left out as one file
    assert held["hard"] < held["easy"]  # fitted without the hard file, its lower answerable questions fall short


def test_choose_recall_raises_the_recall_until_a_left_out_file_keeps_the_target() -> None:
    alike, _ = choose_recall(_three_files(0.0), "dense")
    assert alike == RECALL  # files that look alike: the plain recall already holds on each left out
    shifted, held = choose_recall(_three_files(-0.04), "dense")
    assert shifted > RECALL and min(held.values()) >= 0.90  # a file unlike the others: a lower threshold
    fitted = fit_all(_three_files(-0.04))
    assert fitted.recall["dense"] == shifted and fitted.held_out["dense"] == held
    assert fit_all(_three_files(-0.04), recall=0.95).recall["dense"] == 0.95  # asked for: not chosen
    one_file = [o for o in _three_files(-0.04) if source(o.set) == "easy"]
    assert choose_recall(one_file, "dense") == (RECALL, {})  # nothing to leave out


def test_shipped_calibrations_are_monotone_and_banded() -> None:
    for mode, cal in DEFAULT_CALIBRATIONS.items():
        assert all(c >= 0 for c in cal.coef), mode
    read = DEFAULT_CALIBRATIONS["read"]
    assert read.unsure is not None and 0.0 < read.unsure < read.threshold < 1.0
    assert "top_relevance" in read.features and "top_sentence" in read.features


# --- the shipped calibration on the check halves, with the real reader (slow: reads ~400 questions) ----------


def _index(tmp: Path, name: str, articles: list[Path], settings_factory, embedder) -> Path:  # type: ignore[no-untyped-def]
    from qa.build import build

    folder = tmp / name
    folder.mkdir()
    for path in articles:
        shutil.copyfile(path, folder / path.name)
    index_dir = tmp / f"{name}-index"
    build(settings_factory(index=index_dir), folder, index_dir, embedder=embedder)
    return index_dir


def _figures(index_dir: Path, questions_file: Path, settings_factory, embedder):  # type: ignore[no-untyped-def]
    from qa.evaluation import load_questions
    from qa.evaluation.calibrate import observe
    from qa.search.retriever import Retriever

    r = Retriever.load(index_dir, settings_factory(index=index_dir, reader=str(READER)), embedder=embedder)
    assert r.reader is not None
    observed = observe(r, load_questions(questions_file), questions_file.stem)
    return figures(observed, r.config.calibration("read"))[questions_file.stem]


def _holds(f, recall: float, off_topic: float = 0.10) -> None:  # type: ignore[no-untyped-def]
    """The issue's operating point, with the recall bound this set reaches today (a drop fails)."""
    assert f.recall >= recall, f
    assert f.not_answered_answerable <= 0.05, f  # "no answer" asserted over an answerable question: rare
    if f.off_topic:
        assert f.accepted_off_topic <= off_topic, f
        # never below the cosine alone, within one pair in a thousand: on these sets the cosine separates
        # perfectly (1.000), and which of one off-topic and one answerable question ranks first can flip with
        # the CPU's arithmetic (measured 0.9996 here and 1.000 in eval/calibrate.py's run)
        assert f.auroc_off_topic >= f.cosine_auroc_off_topic - 1e-3, f


@pytest.mark.slow
def test_answerability_on_the_seed(seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    f = _figures(seed_index, ROOT / "eval" / "kherson.jsonl", settings_factory, embedder)
    _holds(f, recall=0.90)
    assert f.auroc_nearby >= 0.85, f


@pytest.mark.slow
def test_answerability_on_plain_notes(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    index_dir = _index(tmp_path, "notes", sorted((CALIBRATION / "notes").glob("*.md")), settings_factory, embedder)
    f = _figures(index_dir, CALIBRATION / "notes-check.jsonl", settings_factory, embedder)
    _holds(f, recall=0.85)


@pytest.mark.slow
@pytest.mark.parametrize("check_set", ["frontlines-check", "frontlines-fresh"])
def test_answerability_on_frontlines_check_articles(check_set: str, tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    need_corpus()
    import json

    questions = CALIBRATION / f"{check_set}.jsonl"
    ids = {json.loads(line)["article"] for line in questions.read_text().splitlines() if line.strip()} - {None}
    # the index eval/calibrate.py reports as "<set> on its articles": those 6 articles alone (neither set is
    # fitted on; frontlines-fresh was written after the fit)
    index_dir = _index(tmp_path, check_set, [FRONTLINES / f"{i}.md" for i in sorted(ids)],
                       settings_factory, embedder)
    f = _figures(index_dir, questions, settings_factory, embedder)
    _holds(f, recall=0.90)
