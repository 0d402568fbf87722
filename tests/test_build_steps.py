"""Each build step on its own: plan (reuse policy), chunk, embed, the up-to-date check, write + publish."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.build.chunk import chunk
from qa.build.embed import embed, missing, stacked
from qa.build.pipeline import up_to_date
from qa.build.plan import Previous, plan
from qa.build.report import BuildReport, Reporter
from qa.build.write import write_and_publish
from qa.embed.model import DIM, text_key
from qa.index import folder as ix
from qa.index.contract import retrieval_entry
from qa.ingest.chunker import Chunker
from tests.conftest import SEED_ARTICLE, SEEDS


def test_plan_without_an_index_reuses_nothing(tmp_path: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    previous = plan(settings_factory(), tmp_path / "none")
    assert previous.manifest is None and not previous.reusable and previous.reuse() == {} and not previous.vectors


def test_plan_reuse_policy(seed_index: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    same = plan(settings_factory(index=seed_index), seed_index)
    assert same.reusable and set(same.reuse()) == {SEED_ARTICLE} and same.vectors
    forced = plan(settings_factory(index=seed_index), seed_index, force=True)
    assert not forced.reusable and forced.reuse() == {} and not forced.chunks
    assert forced.vectors.keys() == same.vectors.keys()  # same weights: vectors are still good
    other_chunker = plan(settings_factory(index=seed_index, max_tokens=300), seed_index)
    assert not other_chunker.reusable and other_chunker.vectors
    int8 = plan(settings_factory(index=seed_index, backend="onnx-int8"), seed_index)
    assert not int8.reusable and not int8.vectors  # never mix int8 and fp32 vectors


def test_chunk_reuses_unchanged_articles_and_splits_the_rest(
    tmp_path: Path, seed_index: Path, settings_factory, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "extra.md").write_text("---\ntitle: Extra\n---\n## Part\nBridges over the river.\n", encoding="utf-8")
    split: list[str] = []
    real = Chunker.chunk
    monkeypatch.setattr(Chunker, "chunk", lambda self, a: split.append(a.id) or real(self, a))
    settings = settings_factory(index=seed_index)
    report = BuildReport(index_dir=seed_index)
    corpus = chunk(settings, seeds, plan(settings, seed_index), report, Reporter())
    assert split == ["extra"] and report.added == ["extra"] and report.unchanged == 1 and not report.changed
    assert {i.id for i in corpus.infos} == set(corpus.hashes) == {SEED_ARTICLE, "extra"}
    from_scratch = chunk(settings, seeds, Previous(), BuildReport(index_dir=seed_index), Reporter())
    assert from_scratch.chunks == corpus.chunks and from_scratch.corpus_hash == corpus.corpus_hash


class _CountingEmbedder:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode_with_sentences(self, texts, spans, progress=None):  # type: ignore[no-untyped-def]
        self.texts += texts
        return np.ones((len(texts), DIM), np.float32), [np.ones((len(s), DIM), np.float32) for s in spans]


def test_embed_only_what_the_cache_lacks(seed_index: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    chunks = ix.read_chunks(ix.resolve(seed_index))
    cache = plan(settings_factory(index=seed_index), seed_index).vectors
    assert missing(chunks, cache) == []
    fake = _CountingEmbedder()
    assert embed(chunks, cache, lambda: fake, Reporter()) == 0  # type: ignore[arg-type, return-value]
    del cache[text_key(chunks[3].embed_text)]
    assert embed(chunks, cache, lambda: fake, Reporter()) == 1  # type: ignore[arg-type, return-value]
    assert fake.texts == [chunks[3].embed_text]
    vectors, sentences = stacked(chunks, cache)
    assert vectors.shape == (len(chunks), DIM) and np.all(vectors[3] == 1.0) and sentences.passages == len(chunks)


def test_up_to_date_needs_the_same_articles_and_settings(seed_index: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(index=seed_index)
    previous = plan(settings, seed_index)
    report = BuildReport(index_dir=seed_index)
    corpus = chunk(settings, SEEDS, previous, report, Reporter())
    retrieval = retrieval_entry(settings, previous.manifest)
    assert up_to_date(settings, previous, corpus, report, retrieval)
    assert not up_to_date(settings, previous, corpus, report, retrieval | {"rrf_k": 99})
    assert not up_to_date(settings_factory(index=seed_index, store="milvus"), previous, corpus, report, retrieval)


def test_a_failed_write_leaves_the_live_index_and_no_temp_folder(seed_index: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(index=seed_index)
    previous = plan(settings, seed_index)
    corpus = chunk(settings, SEEDS, previous, BuildReport(index_dir=seed_index), Reporter())
    vectors, sentences = stacked(corpus.chunks, previous.vectors)
    live = ix.resolve(seed_index)
    before = sorted(p.name for p in seed_index.parent.iterdir())

    def fail(tmp: Path) -> ix.Manifest:
        (tmp / "partial").write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_and_publish(seed_index, fail, vectors, sentences, corpus)
    assert ix.resolve(seed_index) == live and sorted(p.name for p in seed_index.parent.iterdir()) == before
