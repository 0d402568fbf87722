"""Ranking pieces on hand-made inputs (fusion, overlap collapse, article prior, highlight, calibration), then on
the real seed index (tuned parameters travel in the manifest; the withdrawal question ranks first)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.index.retrieval import for_mode
from qa.ingest.splitting import sentence_spans
from qa.records import Chunk
from qa.search.calibration import confidence, features
from qa.search.fusion import minmax, rrf, weighted
from qa.search.highlight import best_sentence
from qa.search.ranking import ArticleVectors, article_prior, collapse_overlaps, overlap


def _chunk(row: int, start: int, end: int, article: str = "a", section: tuple[str, ...] = ("S",)) -> Chunk:
    return Chunk(
        id=f"c{row}", article_id=article, article_title=article.title(), section_path=section, anchor="s",
        ordinal=row, file=f"{article}.md", start=start, end=end, text="x", embed_text="x", tokens=1,
    )


# -- fusion ------------------------------------------------------------------------------------------


def test_rrf_rewards_agreement_and_respects_weights() -> None:
    dense = np.array([1, 2, 3])
    lexical = np.array([3, 1, 4])
    fused = rrf([dense, lexical], k=10)
    assert fused[1] == pytest.approx(1 / 11 + 1 / 12)
    assert fused[3] == pytest.approx(1 / 13 + 1 / 11)
    assert fused[4] == pytest.approx(1 / 13)
    order = sorted(fused, key=lambda r: -fused[r])
    assert order[:2] == [1, 3] and order[-1] == 4
    lexical_heavy = rrf([dense, lexical], k=10, weights=[0.2, 1.0])
    assert max(lexical_heavy, key=lambda r: lexical_heavy[r]) == 3


def test_weighted_fusion_normalises_each_list() -> None:
    assert minmax(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert minmax(np.array([5.0, 5.0])).tolist() == [1.0, 1.0]
    dense = (np.array([0.9, 0.5, 0.1], np.float32), np.array([1, 2, 3]))
    lexical = (np.array([30.0, 10.0], np.float32), np.array([3, 2]))
    fused = weighted(dense, lexical, alpha=0.75)
    assert fused[1] == pytest.approx(0.75)  # best dense, absent from lexical
    assert fused[3] == pytest.approx(0.25)  # worst dense, best lexical
    assert fused[2] == pytest.approx(0.75 * 0.5)
    assert weighted(dense, lexical, alpha=0.0)[3] == pytest.approx(1.0)


# -- overlap collapse and article prior ----------------------------------------------------------------


def test_overlap_is_share_of_the_shorter_span_within_one_file() -> None:
    a, b = _chunk(0, 0, 100), _chunk(1, 80, 130)
    assert overlap(a, b) == pytest.approx(20 / 50)
    assert overlap(a, _chunk(2, 10, 30)) == 1.0
    assert overlap(a, _chunk(3, 0, 100, article="other")) == 0.0
    assert overlap(a, _chunk(4, 100, 200)) == 0.0


def test_collapse_drops_passages_mostly_inside_a_better_one() -> None:
    chunks = [_chunk(0, 0, 1000), _chunk(1, 900, 1900), _chunk(2, 1850, 1950), _chunk(3, 0, 1000, "b")]
    ranked = [(0, 0.9), (2, 0.8), (1, 0.7), (3, 0.6)]
    # row 2 (1850-1950) is not inside row 0; row 1 overlaps row 2 by 50 of 100 chars = 0.5 → kept at 0.5
    assert [r for r, _ in collapse_overlaps(ranked, chunks, max_overlap=0.5)] == [0, 2, 1, 3]
    assert [r for r, _ in collapse_overlaps(ranked, chunks, max_overlap=0.4)] == [0, 2, 3]
    assert [r for r, _ in collapse_overlaps(ranked, chunks, max_overlap=0.4, k=2)] == [0, 2]


def test_article_vectors_rank_articles_by_their_lead() -> None:
    chunks = [
        _chunk(0, 0, 10, "a", ()), _chunk(1, 10, 20, "a"), _chunk(2, 0, 10, "b", ()), _chunk(3, 0, 10, "c"),
    ]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    av = ArticleVectors(chunks, vectors)
    ranks, sims = av.ranks(np.array([0.1, 0.9, 0.0], np.float32))
    assert ranks[av.index["b"]] == 1 and ranks[av.index["a"]] == 2  # b's lead matches; a's lead does not
    assert sims[av.index["c"]] == pytest.approx(0.0)  # c has no lead: its mean passage vector is used
    boosted = article_prior({1: 0.10, 2: 0.10}, ranks[av.row_article], beta=1.0, k=10)
    assert boosted[2] > boosted[1]
    assert article_prior({1: 0.1}, ranks[av.row_article], beta=0.0, k=10) == {1: 0.1}


# -- highlight ---------------------------------------------------------------------------------------


def test_sentences_do_not_split_at_abbreviations() -> None:
    text = "The remains lay in St. Catherine's Cathedral. They were moved at 5 a.m. on Friday. Done"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "The remains lay in St. Catherine's Cathedral.", "They were moved at 5 a.m. on Friday.", "Done",
    ]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Where were the cathedral remains moved?", "The remains were moved from the cathedral"),
        ("When did the troops leave the city?", "The troops left the city on 11 November 2022."),
        ("How many soldiers crossed the river?", "About 30,000 soldiers crossed the river."),
        ("Who commanded the army?", "General Sergey Surovikin commanded the army"),
    ],
)
def test_highlight_picks_the_answering_sentence(question: str, expected: str) -> None:
    text = (
        "The city lies on a river. The troops left the city on 11 November 2022. "
        "About 30,000 soldiers crossed the river. The remains were moved from the cathedral to Crimea. "
        "The army was large. General Sergey Surovikin commanded the army at the time."
    )
    s, e = best_sentence(question, text)
    assert text[s:e].startswith(expected)


def test_highlight_weighs_rare_terms_by_idf() -> None:
    text = "Kherson was liberated by Ukraine. The Kakhovka dam in Kherson was damaged."
    s, e = best_sentence("Was Kherson's Kakhovka dam liberated?", text, idf={"kherson": 0.1, "kakhovka": 3.0})
    assert text[s:e] == "The Kakhovka dam in Kherson was damaged."


# -- calibration -------------------------------------------------------------------------------------


def test_confidence_is_a_logistic_over_named_features() -> None:
    cal = {"features": ["top_dense", "top_lexical"], "coef": [10.0, 1.0], "intercept": -6.0}
    assert confidence(cal, {"top_dense": 0.6, "top_lexical": 0.0}) == pytest.approx(0.5)
    assert 0.0 <= confidence(cal, {"top_dense": -50.0}) < 1e-9
    assert confidence(cal, {"top_dense": 9e9}) == 1.0
    f = features((np.array([0.7, 0.5]), np.array([1, 2])), (np.array([np.e - 1]), np.array([1])), 0.3, 0.05)
    assert f == pytest.approx(  # no sentence scores: the passage scores stand in for them
        {"top_dense": 0.7, "gap_dense": 0.2, "top_lexical": 1.0, "gap_lexical": 0.0, "top_article": 0.3,
         "top_fused": 0.05, "top_sentence": 0.7, "gap_sentence": 0.2,
         "agreement": 0.2}  # dense top 5 {1, 2} and lexical {1}: one shared of 5
    )
    with_sentences = features((np.array([0.7, 0.5]), np.array([1, 2])), (np.zeros(0), np.zeros(0, np.int64)),
                              sentence=np.array([0.4, 0.9, 0.6]))
    assert with_sentences["top_sentence"] == pytest.approx(0.9) and with_sentences["gap_sentence"] == pytest.approx(0.3)
    assert features((np.zeros(0), np.zeros(0, np.int64)), (np.zeros(0), np.zeros(0, np.int64)))["top_dense"] == 0


def test_term_coverage_is_an_idf_weighted_share_that_ignores_corpus_size() -> None:
    from qa.search.calibration import term_coverage

    idf = {"kherson": 2.0, "withdrew": 1.0, "russia": 0.5}
    assert term_coverage(["kherson", "withdrew"], ["kherson", "withdrew", "troops"], idf, 18) == pytest.approx(1.0)
    assert term_coverage(["kherson", "withdrew"], ["withdrew"], idf, 18) == pytest.approx(1 / 3)
    # a term no passage holds weighs most: a question about something the corpus never mentions scores low
    assert term_coverage(["russia", "fifa"], ["russia"], idf, 18) < 0.2
    assert term_coverage([], ["x"], idf, 18) == 0.0
    # the same share on a corpus 100× bigger with the same relative idfs
    assert term_coverage(["kherson", "withdrew"], ["withdrew"], {k: 3 * v for k, v in idf.items()}, 1800) == \
        pytest.approx(1 / 3)


# -- on the real seed index --------------------------------------------------------------------------

TUNED = Path(__file__).resolve().parent.parent / "eval" / "retrieval.json"


def test_defaults_mirror_the_tuned_file() -> None:
    """An index built without the tuned file still ranks and calibrates as tuned."""
    from qa.index.contract import load_retrieval_file as load_file
    from qa.index.retrieval import RetrievalConfig

    tuned = load_file(TUNED)
    assert tuned, "eval/retrieval.json is missing: run `qa tune`"
    defaults = RetrievalConfig().to_dict()
    assert {k: defaults[k] for k in tuned} == tuned
    assert json.loads(TUNED.read_text())["tuned"]["split"] == "tune"


def test_tuned_settings_travel_in_the_manifest(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.build import build
    from qa.index import folder as ix
    from qa.search.retriever import Retriever
    from tests.conftest import SEEDS

    tuned = json.loads(TUNED.read_text())
    tuned["calibrations"]["hybrid"]["threshold"] = 0.123
    custom = tmp_path / "retrieval.json"
    custom.write_text(json.dumps(tuned))
    index_dir = tmp_path / "idx"
    settings = settings_factory(index=index_dir, retrieval_file=custom)
    build(settings, SEEDS, index_dir, embedder=embedder)
    manifest = ix.read_manifest(ix.resolve(index_dir))
    assert manifest.retrieval["calibrations"]["hybrid"]["threshold"] == 0.123 and "tuned" not in manifest.retrieval
    r = Retriever.load(index_dir, settings, embedder=embedder)
    assert r.config.to_dict()["calibrations"] == tuned["calibrations"]
    # each mode scores with its own model from the manifest, over its own features
    for mode in ("hybrid", "dense", "lexical"):
        cal = tuned["calibrations"][mode]
        res = r.search("How many soldiers did Russia say it withdrew across the Dnipro?", mode=mode)
        assert res.confidence == pytest.approx(confidence(cal, res.features))
        assert res.answerable == (res.confidence >= cal["threshold"])
    # a changed file alone makes the next build write a new manifest (vectors reused)
    tuned["calibrations"]["dense"]["threshold"] = 0.456
    custom.write_text(json.dumps(tuned))
    report = build(settings, SEEDS, index_dir, embedder=embedder)
    assert not report.up_to_date and report.embedded == 0
    assert ix.read_manifest(ix.resolve(index_dir)).retrieval["calibrations"]["dense"]["threshold"] == 0.456


def test_legacy_single_calibration_is_the_hybrid_one() -> None:
    """Manifests from before per-mode calibration: their one model is hybrid's; no mode borrows another's."""
    legacy = {"calibration": {"features": ["top_dense"], "coef": [2.0], "intercept": -1.0}, "threshold": 0.7}
    assert for_mode(legacy, "hybrid") == legacy["calibration"] | {"threshold": 0.7}
    assert for_mode(legacy, "dense")["threshold"] > 1.0  # never answerable rather than miscalibrated
    per_mode = {"calibrations": {"dense": {"features": [], "coef": [], "intercept": 0.0, "threshold": 0.2}}}
    assert for_mode(per_mode | legacy, "dense")["threshold"] == 0.2


ANSWERABLE = "How many soldiers did Russia say it withdrew across the Dnipro?"
# BM25 alone sees words, not meaning: "soldiers … Dnipro" shares few with the article ("troops … Dnieper"), so
# lexical mode is asked in the article's words (docs/quality.md, "A corpus-size-free lexical signal")
ANSWERABLE_IN_ITS_WORDS = "Who announced the withdrawal from Kherson?"
OFF_TOPIC = "Who won the 2018 FIFA World Cup?"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_each_mode_flags_answerable_and_off_topic(mode: str, seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    """The shipped per-mode calibration on the real seed index: a clear question is answerable, an
    off-topic one is not, and confidence rises with the mode's top score, all else equal."""
    from qa.search.retriever import Retriever

    r = Retriever.load(seed_index, settings_factory(index=seed_index), embedder=embedder)
    question = ANSWERABLE_IN_ITS_WORDS if mode == "lexical" else ANSWERABLE
    on, off = r.search(question, k=5, mode=mode), r.search(OFF_TOPIC, k=5, mode=mode)
    assert on.answerable and not off.answerable
    assert on.answerability == "answered" and off.answerability == "not_answered"
    assert on.confidence > off.confidence
    cal = r.config.calibration(mode).to_dict()
    top = {"lexical": "lexical_coverage", "dense": "top_dense", "hybrid": "top_sentence"}[mode]
    assert top in cal["features"]
    levels = [confidence(cal, on.features | {top: v}) for v in np.linspace(0.0, 1.0, 6)]
    assert levels == sorted(levels) and levels[-1] > levels[0]


def test_kherson_withdrawal_ranks_first_in_hybrid_with_its_sentence(seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.search.retriever import Retriever

    r = Retriever.load(seed_index, settings_factory(index=seed_index), embedder=embedder)
    res = r.search("How many soldiers did Russia say it withdrew across the Dnipro?", k=5, mode="hybrid")
    top = res.hits[0]
    assert top.chunk.section_path == ("Withdrawal and liberation", "Russian withdrawal efforts")
    s, e = top.highlight
    assert "30,000" in top.chunk.text[s:e]
    assert res.answerable
    off = r.search("How do I make traditional Ukrainian borscht?", k=5, mode="hybrid")
    assert off.confidence < res.confidence and not off.answerable


def test_bm25_text_spells_out_infobox_field_names(seed_index: Path) -> None:
    """`partof:` reads as "Part of:" for BM25 (the shown text keeps the field name), and the manifest records
    which lexical text it was built with, so a change to it rewrites BM25 even over an unchanged corpus."""
    from qa.index import folder as ix
    from qa.index.contract import LEXICAL_TEXT_VERSION, lexical_text

    folder = ix.resolve(seed_index)
    box = next(c for c in ix.read_chunks(folder) if tuple(c.section_path) == ("Infobox",))
    assert "partof:" in box.text
    lex = lexical_text(box)
    assert "Part of: 2022 Ukrainian southern counteroffensive" in lex and "Location: Southern Ukraine" in lex
    assert "partof" not in lex and "date: 9 to 11 November 2022" in lex
    assert ix.read_manifest(folder).lexical["text_version"] == LEXICAL_TEXT_VERSION
