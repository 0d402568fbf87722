from __future__ import annotations

import pytest

from qa.errors import InvalidRequest, NotFound
from qa.ingest.tokens import count_tokens

WITHDRAWAL = ("Withdrawal and liberation", "Russian withdrawal efforts")


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_withdrawal_question_ranks_the_withdrawal_section_first(retriever, mode: str) -> None:  # type: ignore[no-untyped-def]
    result = retriever.search("How many soldiers did Russia say it withdrew across the Dnipro?", k=5, mode=mode)
    top = result.hits[0]
    if mode == "lexical":  # BM25 alone is weaker; the passage must still be in the top 5
        assert WITHDRAWAL in [h.chunk.section_path for h in result.hits]
    else:
        assert top.chunk.section_path == WITHDRAWAL
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert (top.dense is not None) == (mode != "lexical")
    assert (top.lexical is not None) == (mode != "dense")


def test_hit_carries_an_exact_citation(retriever) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import SEEDS

    hit = retriever.search("approximately 30,000 soldiers moved across the river", k=1).hits[0]
    raw = (SEEDS / hit.chunk.file).read_text(encoding="utf-8")
    assert "30,000" in raw[hit.chunk.start : hit.chunk.end]
    s, e = hit.highlight
    assert "30,000" in hit.chunk.text[s:e]
    assert hit.chunk.citation == "Liberation of Kherson § Withdrawal and liberation › Russian withdrawal efforts"


def test_article_filter_and_unknown_article(retriever) -> None:  # type: ignore[no-untyped-def]
    assert retriever.search("Kherson", k=3, articles=["liberation_of_kherson"]).hits
    with pytest.raises(NotFound):
        retriever.search("Kherson", articles=["nope"])


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [({"query": "  "}, "invalid_query"), ({"query": "x" * 2001}, "invalid_query"),
     ({"query": "x", "k": 0}, "invalid_k"), ({"query": "x", "k": 51}, "invalid_k"),
     ({"query": "x", "mode": "fuzzy"}, "invalid_mode")],
)
def test_bad_queries_raise_invalid_request(retriever, kwargs, code) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest) as err:
        retriever.search(**kwargs)
    assert err.value.code == code and err.value.status == 422


@pytest.mark.parametrize("budget", [60, 200, 1000])
def test_context_stays_within_budget_with_whole_passages(retriever, budget: int) -> None:  # type: ignore[no-untyped-def]
    ctx = retriever.context("What happened to the Antonivskyi Bridge?", max_tokens=budget)
    assert ctx.tokens == count_tokens(ctx.text) <= budget
    for n, hit in enumerate(ctx.hits, 1):
        assert f"[{n}] {hit.chunk.citation}\n{hit.chunk.text}" in ctx.text
    if budget >= 200:
        assert ctx.hits


def test_a_stage_after_fuse_is_one_line_in_the_list(retriever) -> None:  # type: ignore[no-untyped-def]
    """The slot a reranker or reader takes: it sees the fused ranking, and what it sets is what comes out."""
    import dataclasses

    from qa.search.pipeline import STAGES
    from qa.search.stages import SearchIndex, SearchState, Stage

    seen: list[list[int]] = []

    def reverse(index: SearchIndex, state: SearchState) -> SearchState:
        seen.append([row for row, _ in state.ranked])
        top5 = list(reversed(state.ranked[:5]))
        return dataclasses.replace(state, ranked=top5, confidence=0.25, answerable=False)

    q = "How many soldiers did Russia say it withdrew across the Dnipro?"
    plain = retriever.search(q, k=5)
    position = [s.name for s in STAGES].index("fuse") + 1
    stages = (*STAGES[:position], Stage("read", reverse, timer="read"), *STAGES[position:])
    original = retriever.stages
    try:
        retriever.stages = stages
        read = retriever.search(q, k=5)
    finally:
        retriever.stages = original
    assert seen and seen[0][:5] == [retriever.chunks.index(h.chunk) for h in plain.hits]
    assert [h.chunk.id for h in read.hits] == [h.chunk.id for h in reversed(plain.hits)]
    assert (read.confidence, read.answerable) == (0.25, False)  # the stage's judgement is kept
    assert read.features.keys() == plain.features.keys() and "read" in read.timings and "fuse" in read.timings
