"""`also` gold in the eval set: parsing and its errors, restriction to an index's articles, and scoring
with gold from two articles (real questions and evidence quotes from eval/kherson.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.errors import InvalidRequest
from qa.evaluation import load_questions, split_questions, summarise
from qa.evaluation.questions import Question
from qa.evaluation.runner import _info, score_result
from qa.records import Chunk, Hit, SearchResult
from tests.conftest import ROOT, SEED_ARTICLE

EVAL_SET = ROOT / "eval" / "kherson.jsonl"
SEED_ONLY = {SEED_ARTICLE}
OK_ALSO = {"article": "battle_of_kherson", "sections": [["Abandonment and retreat"]], "answer": "30,000",
           "evidence": "all soldiers (approximately 30,000)"}


@pytest.fixture(scope="module")
def questions() -> dict[str, Question]:
    return {q.id: q for q in load_questions(EVAL_SET)}


def _line(**also: object) -> str:
    d = {"id": "q1", "question": "How many?", "article": SEED_ARTICLE, "sections": [["Background"]],
         "answer": "30,000", "tags": []}
    return json.dumps(d | also)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_line(also={"article": "x"}), "also must be a list"),
        (_line(also=["x"]), "also[0] must be an object"),
        (_line(also=[{k: v for k, v in OK_ALSO.items() if k != "evidence"}]), "also[0]: missing field(s) evidence"),
        (_line(also=[OK_ALSO | {"answers": "x"}]), "also[0]: unknown field(s) answers"),
        (_line(also=[OK_ALSO, OK_ALSO | {"sections": []}]), "also[1]: sections must be a non-empty list"),
        (_line(also=[OK_ALSO | {"sections": ["Abandonment and retreat"]}]), "section paths"),
        (_line(also=[OK_ALSO | {"answer": " "}]), "also[0]: answer must be a non-empty string"),
        (_line(also=[OK_ALSO | {"article": ""}]), "also[0]: article must be a non-empty"),
        (_line(also=[OK_ALSO | {"article": SEED_ARTICLE}]), "the question's own article"),
    ],
)
def test_bad_also_names_file_line_and_entry(tmp_path: Path, line: str, message: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(_line() + "\n" + line + "\n")
    with pytest.raises(InvalidRequest) as exc:
        load_questions(f)
    assert f"{f}:2" in exc.value.message and message in exc.value.message


def test_also_parses_and_a_line_without_it_is_unchanged(tmp_path: Path) -> None:
    f = tmp_path / "ok.jsonl"
    f.write_text(_line() + "\n" + _line(id="q2", also=[OK_ALSO]) + "\n")
    plain, with_also = load_questions(f)
    assert plain.also == () and plain.gold_articles == {SEED_ARTICLE}
    (entry,) = with_also.also
    assert entry.article == "battle_of_kherson" and entry.sections == (("Abandonment and retreat",),)
    # as loaded, only the main label is gold (callers that never restrict see what they always saw) ...
    assert with_also.gold_sections == plain.gold_sections and with_also.answers == ("30,000",)
    # ... and for an index holding both articles, both are
    both = with_also.for_index({SEED_ARTICLE, "battle_of_kherson"})
    assert both.gold_sections == {(SEED_ARTICLE, ("Background",)), ("battle_of_kherson", ("Abandonment and retreat",))}
    assert both.gold_articles == {SEED_ARTICLE, "battle_of_kherson"}


def test_seed_only_index_sees_the_labels_it_always_had(questions: dict[str, Question]) -> None:
    seed = [q.for_index(SEED_ONLY) for q in questions.values()]
    assert sum(q.answerable for q in seed) == 112
    assert all(not q.also_gold for q in seed)
    # a question as loaded keeps its main label: the 30 unanswerable stay so until restricted to an index
    assert sum(q.answerable for q in questions.values()) == 112
    for q, r in zip(questions.values(), seed):
        assert (r.sections, r.answer, r.answerable, r.split) == (q.sections, q.answer, bool(q.sections), q.split)
        assert r.gold_sections == {(SEED_ARTICLE, s) for s in q.sections}
    # the tune / heldout split is still by id parity, with the same counts as before `also` existed
    for split in ("tune", "heldout"):
        part = split_questions(seed, split)
        assert (sum(q.answerable for q in part), sum(not q.answerable for q in part)) == (56, 15)


def test_a_nearby_question_is_answerable_where_the_also_article_is_indexed(questions: dict[str, Question]) -> None:
    q = questions["q133"]  # "When did the Crimean Bridge explosion happen?": no gold in the seed article
    assert "nearby" in q.tags and not q.sections and not q.answerable
    assert not q.for_index(SEED_ONLY).answerable
    there = q.for_index(SEED_ONLY | {"2022_crimean_bridge_explosion"})
    assert there.answerable and there.answers == ("8 October 2022",)
    assert there.gold_articles == {"2022_crimean_bridge_explosion"}
    assert ("2022_crimean_bridge_explosion", ("Event",)) in there.gold_sections
    # an index with the also article but without the seed keeps only the also gold
    q12 = questions["q012"].for_index({"battle_of_kherson"})
    assert q12.sections == () and q12.answer is None and q12.answers == ("Sergey Surovikin",)


def _hit(rank: int, article: str, section: tuple[str, ...], text: str) -> Hit:
    chunk = Chunk(id=f"c{rank}", article_id=article, article_title=article, section_path=section, anchor="",
                  ordinal=0, file=f"{article}.md", start=0, end=len(text), text=text, embed_text=text, tokens=1)
    return Hit(rank=rank, score=1.0 / rank, dense=None, lexical=None, chunk=chunk, highlight=(0, 0))


def test_scoring_counts_gold_and_answers_from_either_article(questions: dict[str, Question]) -> None:
    q = questions["q012"]  # "who announced russian retreat from kherson"
    other = q.also[0]
    # a passage from the other article first (its own wording: "Sergey Surovikin"), then an unrelated one
    hits = [
        _hit(1, "2022_crimean_bridge_explosion", ("Event",), "On 8 October 2022, an explosion occurred."),
        _hit(2, other.article, other.sections[0], other.evidence),
        _hit(3, SEED_ARTICLE, q.sections[0], "Russian general Sergey Surovikin announced the withdrawal."),
    ]
    result = SearchResult(query=q.question, mode="hybrid", hits=hits, answerable=True, confidence=0.9, took_ms=1.0)
    seed_only, both = q.for_index(SEED_ONLY), q.for_index(SEED_ONLY | {other.article})
    r_seed, r_both = score_result(seed_only, result, 1.0), score_result(both, result, 1.0)
    assert (r_seed.section_rank, r_seed.article_rank) == (3, 3)
    assert (r_both.section_rank, r_both.article_rank, r_both.answer_rank) == (2, 2, 2)
    assert [h.has_answer for h in r_both.hits] == [False, True, True]
    # summarise uses the gold articles for article nDCG: two gold articles at ranks 2 and 3
    metrics = summarise([both], [r_both])
    assert metrics["section_recall@1"] == 0.0 and metrics["section_recall@3"] == 1.0
    assert metrics["article_mrr@10"] == pytest.approx(0.5)
    # the report's copy of the question carries the also gold, so HTML stars the right passages
    info = _info(both)
    assert (other.article, other.sections[0]) in info.gold_keys()


def test_a_nearby_question_stays_unanswerable_where_its_article_is_missing(questions: dict[str, Question]) -> None:
    q = questions["q133"].for_index(SEED_ONLY)
    hits = [_hit(1, SEED_ARTICLE, ("Background",), "On 9 November Surovikin announced the withdrawal.")]
    result = SearchResult(query=q.question, mode="hybrid", hits=hits, answerable=False, confidence=0.1, took_ms=1.0)
    r = score_result(q, result, 1.0)
    assert (r.section_rank, r.article_rank, r.answer_rank) == (None, None, None)
    assert r.hits[0].has_answer is None
