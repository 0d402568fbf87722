"""Sentence vectors (qa/embed/sentences.py): pooling and ranking by hand-worked arrays, then the real model and index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.build import build
from qa.embed.sentences import SentenceVectors, pool, spans_in
from qa.index import folder as ix
from qa.search.retriever import Retriever
from tests.conftest import seeded_index


def _unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_spans_are_shifted_past_the_prefix() -> None:
    text = "Kherson was freed. Russia left."
    embed = "Title — Part\n" + text
    spans = spans_in(embed, text)
    assert [embed[s:e] for s, e in spans] == ["Kherson was freed.", "Russia left."]


def test_pool_averages_the_tokens_inside_each_span_and_skips_special_tokens() -> None:
    tokens = np.array([[9, 9], [1, 0], [3, 0], [0, 2], [9, 9]], dtype=np.float32)
    offsets = np.array([[0, 0], [0, 3], [4, 7], [8, 12], [0, 0]])  # [CLS] a b | c [SEP]
    out = pool(tokens, offsets, [(0, 7), (8, 12), (20, 30)], fallback=np.array([0, 5], np.float32))
    assert np.allclose(out[0], [1, 0])  # mean of (1,0) and (3,0), unit length
    assert np.allclose(out[1], [0, 1])
    assert np.allclose(out[2], [0, 1])  # no token inside: the fallback, unit length


def test_best_and_ranking_by_hand() -> None:
    sv = SentenceVectors.from_lists(
        [np.stack([_unit(1, 0), _unit(0, 1)]), np.stack([_unit(1, 1)]), np.stack([_unit(-1, 0), _unit(0.2, 1)])], 2
    )
    assert sv.passages == 3 and sv.offsets.tolist() == [0, 2, 3, 5] and sv.vectors.dtype == np.float16
    q = _unit(1, 0)
    best = sv.best(np.array([2, 0, 1]), q)
    assert np.allclose(best, [_unit(0.2, 1)[0], 1.0, _unit(1, 1)[0]], atol=1e-3)


def test_every_passage_needs_a_sentence() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SentenceVectors.from_lists([np.zeros((1, 2)), np.zeros((0, 2))], 2)


def test_late_chunking_matches_plain_encoding(embedder) -> None:  # type: ignore[no-untyped-def]
    texts = ["Liberation of Kherson\nUkraine retook Kherson on 11 November 2022. The bridge had been destroyed.",
             "Kakhovka\nThe dam was blown up in June 2023."]
    bodies = [t.split("\n", 1)[1] for t in texts]
    passages, per = embedder.encode_with_sentences(texts, [spans_in(t, b) for t, b in zip(texts, bodies)])
    plain = embedder.encode(texts)
    assert np.all(np.sum(passages * plain, axis=1) > 0.999)  # the passage vector is the model's own
    assert [len(p) for p in per] == [2, 1]
    q = embedder.encode_query("When was the dam destroyed?")
    assert per[1][0] @ q > 0.5
    date = embedder.encode_query("On what date did Ukraine retake Kherson?")
    assert per[0][0] @ date > per[0][1] @ date  # the sentence that answers scores higher


def test_index_has_sentence_vectors_for_every_passage(seed_index: Path) -> None:
    folder = ix.resolve(seed_index)
    chunks = ix.read_chunks(folder)
    sv = ix.read_sentences(folder, len(chunks))
    assert sv is not None and sv.passages == len(chunks)
    assert len(sv.vectors) >= len(chunks)
    assert np.allclose(np.linalg.norm(sv.vectors.astype(np.float32), axis=1), 1.0, atol=2e-3)
    assert ix.read_sentences(folder, len(chunks) + 1) is None  # a mismatch is refused, not misread


def test_index_without_sentences_still_serves_and_next_build_adds_them(
    tmp_path: Path, settings_factory, embedder  # type: ignore[no-untyped-def]
) -> None:
    seeds, index_dir, s = seeded_index(tmp_path, "old", settings_factory, embedder)
    (ix.resolve(index_dir) / ix.SENTENCES).unlink()  # as built before sentence vectors existed
    r = Retriever.load(index_dir, s, embedder=embedder)
    hits = r.search("When did Russia withdraw from Kherson?", k=3).hits
    assert len(hits) == 3
    again = build(s, seeds, index_dir, embedder=embedder)
    assert not again.up_to_date and again.embedded == again.chunks
    assert (ix.resolve(index_dir) / ix.SENTENCES).exists()


def test_sentence_ranking_reorders_only_the_fused_candidates(seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    retriever = Retriever.load(seed_index, settings_factory(index=seed_index), embedder=embedder)  # FAISS: qa fuses
    q = "How many Russian troops were withdrawn across the Dnipro?"
    base = retriever.config
    try:
        retriever.config = base.replace(sentence_weight=0.0)
        without = [h.chunk.id for h in retriever.search(q, k=18).hits]
        retriever.config = base.replace(sentence_weight=3.0)
        heavy = [h.chunk.id for h in retriever.search(q, k=18).hits]
    finally:
        retriever.config = base
    assert set(without) == set(heavy)  # the same candidates, in a different order
    assert without != heavy
