"""The eval set loader and split, the regression gate on hand-made reports, and `qa eval` end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import main
from qa.errors import InvalidRequest
from qa.evaluation import EvalReport, ModeReport, Question, QuestionResult, load_questions, split_questions
from qa.evaluation.gate import compare
from qa.evaluation.html import render_html
from qa.evaluation.runner import _info, by_tag, summarise
from tests.conftest import ROOT, SEED_ARTICLE

EVAL_SET = ROOT / "eval" / "kherson.jsonl"


# -- the eval set ------------------------------------------------------------------------------------


def test_eval_set_loads_and_split_is_stratified() -> None:
    qs = load_questions(EVAL_SET)
    assert len(qs) == 142 and sum(q.answerable for q in qs) == 112
    tune, held = split_questions(qs, "tune"), split_questions(qs, "heldout")
    assert {q.id for q in tune} | {q.id for q in held} == {q.id for q in qs}
    assert not {q.id for q in tune} & {q.id for q in held}
    # odd id number → tune, even → heldout; both halves get answerable and unanswerable questions.
    assert all(int(q.id[1:]) % 2 == 1 for q in tune) and all(int(q.id[1:]) % 2 == 0 for q in held)
    assert sum(q.answerable for q in tune) == 56 and sum(not q.answerable for q in tune) == 15
    assert sum(q.answerable for q in held) == 56 and sum(not q.answerable for q in held) == 15


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('{"id": "q1", "question": "x", "article": "a", "sections": [["S"]]}', "answer"),
        ('{"id": "q1", "question": "x", "sections": [["S"]], "answer": "y"}', "article"),
        ('{"id": "q1", "question": "  "}', "non-empty"),
        ('{"id": "q1", "question": "x", "sections": ["S"]}', "section paths"),
    ],
)
def test_bad_eval_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "q0", "question": "ok?", "sections": []}\n' + line + "\n")
    with pytest.raises(InvalidRequest) as exc:
        load_questions(f)
    assert f"{f}:2" in exc.value.message and message in exc.value.message


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "dup.jsonl"
    f.write_text('{"id": "q1", "question": "a?"}\n{"id": "q1", "question": "b?"}\n')
    with pytest.raises(InvalidRequest, match="duplicate"):
        load_questions(f)


# -- the regression gate on reports built by hand ----------------------------------------------------

SECTION = ("Background",)
QUESTIONS = [
    Question(f"q{i}", f"question {i}?", SEED_ARTICLE, (SECTION,), "answer", ("number",)) for i in range(1, 5)
] + [Question("q5", "off topic?", None, (), None, ("unanswerable",))]


def _result(q: Question, rank: int | None, confidence: float) -> QuestionResult:
    return QuestionResult(
        id=q.id, section_rank=rank, article_rank=rank, answer_rank=rank, confidence=confidence,
        predicted_answerable=confidence >= 0.5, latency_ms=10.0, top_citation=None,
    )


def _report(ranks: list[int | None], confidences: list[float]) -> EvalReport:
    if len(ranks) != len(QUESTIONS) or len(confidences) != len(QUESTIONS):
        raise ValueError("one rank and one confidence per question")
    results = [_result(q, r, c) for q, r, c in zip(QUESTIONS, ranks, confidences)]
    mode = ModeReport("hybrid", summarise(QUESTIONS, results), by_tag(QUESTIONS, results), results)
    return EvalReport(
        created_at="2026-01-01T00:00:00+00:00", questions_file="hand.jsonl", split="all", k=10,
        index={"name": "hand", "corpus_hash": "abc", "articles": 1, "passages": 18}, retrieval={"threshold": 0.5},
        latency_includes_embedding=True, questions=[_info(q) for q in QUESTIONS], modes={"hybrid": mode},
    )


GOOD = _report([1, 1, 2, 6, None], [0.9, 0.8, 0.7, 0.6, 0.2])


def test_summarise_by_hand() -> None:
    m = GOOD.modes["hybrid"].metrics
    # ranks 1, 1, 2, 6 over four answerable questions:
    assert m["section_recall@1"] == pytest.approx(2 / 4)
    assert m["section_recall@3"] == pytest.approx(3 / 4)
    assert m["section_recall@10"] == pytest.approx(1.0)
    assert m["section_mrr@10"] == pytest.approx((1 + 1 + 1 / 2 + 1 / 6) / 4)
    # every answerable confidence (0.6–0.9) is above the one unanswerable (0.2): AUROC 1; all flagged right.
    assert m["answerability_auroc"] == 1.0
    assert m["answerable_precision"] == 1.0 and m["answerable_recall"] == 1.0


def test_gate_passes_on_an_equal_run() -> None:
    same = _report([1, 1, 2, 6, None], [0.9, 0.8, 0.7, 0.6, 0.2])
    c = compare(same, GOOD, tolerance=0.02)
    assert c.passed and not c.regressions and not c.changes and not c.notes


def test_gate_says_when_the_baseline_was_computed_in_other_arithmetic() -> None:
    bf16 = replace(GOOD, arithmetic="embedder torch bf16, reader onnx-int8, cpu amx_bf16 avx512_bf16 avx2")
    fp32 = replace(GOOD, arithmetic="embedder torch fp32, reader onnx-int8, cpu avx2")
    c = compare(fp32, bf16, tolerance=0.02)
    assert c.passed  # a note, not a failure: the metrics are what decide
    assert len(c.notes) == 1 and "embedder torch bf16" in c.notes[0] and "now embedder torch fp32" in c.notes[0]
    assert not compare(fp32, fp32).notes
    assert not compare(fp32, GOOD).notes  # a baseline from before it was recorded says nothing
    assert EvalReport.from_dict(fp32.to_dict()).arithmetic == fp32.arithmetic


def test_gate_fails_on_a_worse_run_and_names_what_was_lost() -> None:
    # q1 falls from rank 1 to 7 (lost at found@5), q4 rises from 6 to 3 (gained); q5 is now wrongly answered.
    worse = _report([7, 1, 2, 3, None], [0.9, 0.8, 0.7, 0.6, 0.7])
    c = compare(worse, GOOD, tolerance=0.02)
    assert not c.passed
    regressed = {d.metric for d in c.regressions}
    assert {"section_recall@1", "answerability_auroc", "answerable_precision"} <= regressed
    assert "section_recall@5" not in regressed  # 3 of 4 found within 5 before and after
    assert [(ch.id, ch.what) for ch in c.lost] == [("q1", "found@5"), ("q5", "answerable")]
    assert [(ch.id, ch.what, ch.rank_before, ch.rank_after) for ch in c.gained] == [("q4", "found@5", 6, 3)]


def test_gate_tolerance_and_undefined_metrics() -> None:
    # recall@1 drops by exactly 1/4: fails at tolerance 0.2, passes at 0.25 (only that metric and MRR move).
    slightly = _report([1, 2, 2, 6, None], [0.9, 0.8, 0.7, 0.6, 0.2])
    assert not compare(slightly, GOOD, tolerance=0.2).passed
    assert compare(slightly, GOOD, tolerance=0.25).passed
    # nothing flagged answerable any more: precision becomes undefined, which is a regression.
    silent = _report([1, 1, 2, 6, None], [0.4, 0.4, 0.4, 0.4, 0.2])
    assert "answerable_precision" in {d.metric for d in compare(silent, GOOD).regressions}


def test_report_round_trips_through_json(tmp_path: Path) -> None:
    path = GOOD.save(tmp_path / "r.json")
    back = EvalReport.load(path)
    assert back == GOOD
    assert compare(back, GOOD).passed
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 999}))
    with pytest.raises(InvalidRequest, match="version"):
        EvalReport.load(bad)


def test_html_is_self_contained_and_escapes() -> None:
    tricky = replace(GOOD, questions_file="<script>alert(1)</script>")
    page = render_html(tricky, compare(tricky, GOOD))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<svg" in page and "http://" not in page and "https://" not in page


# -- qa eval end to end on the real seed index ---------------------------------------------------------


def test_qa_eval_cli_writes_json_and_html_and_gates(seed_index: Path, tmp_path: Path) -> None:
    # a slice of the real eval set (every 10th question: answerable and unanswerable) keeps this quick
    lines = EVAL_SET.read_text().splitlines()[::10]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    args = ["eval", "--questions", str(questions), "--index", str(seed_index), "--modes", "hybrid,lexical"]
    r = runner.invoke(main, [*args, "--json", str(out_json), "--html", str(out_html), "-v"])
    assert r.exit_code == 0, r.output
    assert "section_recall@1" in r.output and "Per tag" in r.output and "q001" in r.output

    data = json.loads(out_json.read_text())
    assert set(data["modes"]) == {"hybrid", "lexical"}
    assert len(data["questions"]) == len(lines) == 15
    hybrid = data["modes"]["hybrid"]
    assert 0.0 <= hybrid["metrics"]["section_recall@10"] <= 1.0
    assert hybrid["metrics"]["latency_p50_ms"] > 0
    q001 = next(q for q in hybrid["questions"] if q["id"] == "q001")
    assert q001["article_rank"] == 1 and q001["hits"][0]["article"] == SEED_ARTICLE and len(q001["hits"]) == 10

    page = out_html.read_text()
    assert page.startswith("<!doctype html>") and page.count("<svg") >= 3
    assert "q001" in page and "src=" not in page and "<link" not in page

    # the same run against itself passes; against a doctored better baseline it fails with exit code 1
    base = tmp_path / "base.json"
    r = runner.invoke(main, [*args, "--json", str(tmp_path / "r2.json"), "--html", str(tmp_path / "r2.html"),
                             "--baseline", str(out_json), "--save-baseline", str(base)])
    assert r.exit_code == 0, r.output
    assert "PASS" in r.output
    assert all(q["hits"] == [] for q in json.loads(base.read_text())["modes"]["hybrid"]["questions"])
    better = json.loads(base.read_text())
    better["modes"]["hybrid"]["metrics"]["section_mrr@10"] = 1.5
    base.write_text(json.dumps(better))
    r = runner.invoke(main, [*args, "--json", str(tmp_path / "r3.json"), "--html", str(tmp_path / "r3.html"),
                             "--baseline", str(base)])
    assert r.exit_code == 1, r.output
    assert "REGRESSION" in r.output and "section_mrr@10" in r.output


def test_qa_eval_bad_input_is_a_one_line_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["eval", "--questions", str(tmp_path / "none.jsonl")])
    assert r.exit_code == 1 and "not found" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["eval", "--questions", str(EVAL_SET), "--modes", "fuzzy"])
    assert r.exit_code == 2 and "--modes" in r.output
