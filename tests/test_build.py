from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.build import build
from qa.errors import IndexMismatch, QAError
from qa.index import folder as ix
from qa.ingest.articles import load_file
from qa.ingest.chunker import Chunker
from qa.search.retriever import Retriever
from tests.conftest import SEEDS


def test_index_folder_layout_and_manifest(seed_index: Path) -> None:
    folder = ix.resolve(seed_index)
    assert seed_index.is_symlink() and folder.name.startswith(".seed.")
    for name in ("manifest.json", "chunks.jsonl", "regions.jsonl", "articles.json", "vectors.npy", "vectors.faiss",
                 "lexical"):
        assert (folder / name).exists(), name
    m = json.loads((folder / "manifest.json").read_text())
    assert m["model"]["name"] == "all-MiniLM-L6-v2" and m["model"]["dim"] == 384
    assert len(m["model"]["weights_hash"]) == 16
    assert m["chunker"] == {"max_tokens": 200, "overlap_tokens": 40, "model_max_tokens": 256}
    assert set(m["articles"]) == {"liberation_of_kherson"}
    assert m["counts"]["chunks"] == len(ix.read_chunks(folder))
    vectors = np.load(folder / "vectors.npy")
    assert vectors.shape == (m["counts"]["chunks"], 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_rebuild_is_a_noop_then_incremental(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "extra.md").write_text("---\ntitle: Extra\n---\n## Part\nThe extra article talks about bridges.\n")
    index_dir = tmp_path / "index" / "x"
    s = settings_factory(index=index_dir)
    first = build(s, seeds, index_dir, embedder=embedder)
    assert first.added == ["extra", "liberation_of_kherson"] and first.embedded == first.chunks
    again = build(s, seeds, index_dir, embedder=embedder)
    assert again.up_to_date and "up to date" in again.summary()
    (seeds / "extra.md").write_text("---\ntitle: Extra\n---\n## Part\nThe extra article talks about rivers.\n")
    (seeds / "new.md").write_text("# New\n\nBrand new text.\n")
    third = build(s, seeds, index_dir, embedder=embedder)
    assert third.changed == ["extra"] and third.added == ["new"] and third.unchanged == 1
    assert third.embedded == 2  # only the edited passage and the new one
    (seeds / "new.md").unlink()
    fourth = build(s, seeds, index_dir, embedder=embedder)
    assert fourth.removed == ["new"] and fourth.embedded == 0
    r = Retriever.load(index_dir, s, embedder=embedder)
    assert set(r.articles) == {"extra", "liberation_of_kherson"}
    assert r.search("rivers", k=1, mode="lexical").hits[0].chunk.article_id == "extra"


def test_incremental_index_equals_a_build_from_scratch(tmp_path: Path, settings_factory, embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    for name in ("a", "b", "c"):
        (seeds / f"{name}.md").write_text(f"---\ntitle: {name.upper()}\n---\n## Part\nArticle {name} on bridges.\n")
    (seeds / "latin1.md").write_bytes(b"---\ntitle: L\n---\nCaf\xe9 by the river.\n")
    inc = tmp_path / "index" / "inc"
    s = settings_factory(index=inc)
    build(s, seeds, inc, embedder=embedder)
    (seeds / "b.md").write_text("---\ntitle: B\n---\n## Part\nArticle b, now on rivers.\n")
    split: list[str] = []
    real_chunk = Chunker.chunk
    monkeypatch.setattr(Chunker, "chunk", lambda self, a: split.append(a.id) or real_chunk(self, a))
    report = build(s, seeds, inc, embedder=embedder)
    monkeypatch.undo()
    assert split == ["b"]  # unchanged articles are neither parsed nor split again
    assert report.changed == ["b"] and report.unchanged == 4 and report.embedded == 1
    assert [str(p) for p in report.problems] == ["latin1.md:4: warning: invalid UTF-8 byte 0xe9; replaced with U+FFFD"]
    full = tmp_path / "index" / "full"
    build(settings_factory(index=full), seeds, full, embedder=embedder)
    a, b = ix.resolve(inc), ix.resolve(full)
    assert ix.read_chunks(a) == ix.read_chunks(b)  # same passages, same order
    assert ix.read_articles(a) == ix.read_articles(b)
    assert ix.read_regions(a, ix.read_chunks(a)) == ix.read_regions(b, ix.read_chunks(b)) is not None
    assert np.allclose(np.load(a / "vectors.npy"), np.load(b / "vectors.npy"), atol=1e-4)


def assert_regions_are_the_files(index_dir: Path, seeds: Path) -> None:
    """Every passage's stored raw region is the part of its file (as decoded) it was cut from."""
    folder = ix.resolve(index_dir)
    chunks = ix.read_chunks(folder)
    regions = ix.read_regions(folder, chunks)
    assert regions is not None and len(regions) == len(chunks)
    for c, region in zip(chunks, regions, strict=True):
        article, _ = load_file(seeds / c.file, seeds)
        assert article is not None and region == article.raw_text[c.start:c.end], c.id


def test_raw_regions_stay_right_through_incremental_builds(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    """Serving reads answers' raw regions from the index folder: an edit that shifts one article's offsets
    re-cuts its regions, the unchanged article keeps its own; an index without them is written again."""
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "other.md").write_text("---\ntitle: Other\n---\n## Part\nThe *other* article talks about bridges.\n")
    index_dir = tmp_path / "index" / "regions"
    s = settings_factory(index=index_dir)
    build(s, seeds, index_dir, embedder=embedder)
    assert_regions_are_the_files(index_dir, seeds)
    kherson = seeds / "liberation_of_kherson.md"
    raw = kherson.read_text(encoding="utf-8")
    body = raw.index("\n#")  # a new paragraph before the first heading shifts every later offset
    kherson.write_text(raw[:body] + "\n\nAn **added** paragraph, with [a link](https://example.org).\n" + raw[body:],
                       encoding="utf-8")
    edited = build(s, seeds, index_dir, embedder=embedder)
    assert edited.changed == ["liberation_of_kherson"] and edited.unchanged == 1
    assert_regions_are_the_files(index_dir, seeds)
    (ix.resolve(index_dir) / ix.REGIONS).unlink()  # as built before regions were stored
    again = build(s, seeds, index_dir, embedder=embedder)
    assert not again.up_to_date and again.unchanged == 2 and not again.changed and again.embedded == 0
    assert_regions_are_the_files(index_dir, seeds)
    assert build(s, seeds, index_dir, embedder=embedder).up_to_date


def test_broken_file_is_reported_and_build_goes_on(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "broken.md").write_text("---\ntitle: [oops\n---\nbody\n")
    (seeds / "empty.md").write_text("")
    index_dir = tmp_path / "idx"
    report = build(settings_factory(index=index_dir), seeds, index_dir, embedder=embedder)
    assert report.articles == 1 and report.skipped == 2
    assert {p.file for p in report.problems} == {"broken.md", "empty.md"}
    assert "2 skipped files" in report.summary()


def test_failed_build_leaves_previous_index_intact(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    index_dir = tmp_path / "idx"
    s = settings_factory(index=index_dir)
    build(s, seeds, index_dir, embedder=embedder)
    before = ix.resolve(index_dir)
    manifest = (before / "manifest.json").read_text()
    (seeds / "more.md").write_text("# More\n\nmore text\n")

    def boom(tmp: Path) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        build(s, seeds, index_dir, embedder=embedder, on_written=boom)
    assert ix.resolve(index_dir) == before and (before / "manifest.json").read_text() == manifest
    assert not list(index_dir.parent.glob(".idx.*.tmp"))


def test_second_concurrent_build_is_refused(tmp_path: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    index_dir = tmp_path / "idx"
    with ix.build_lock(index_dir), pytest.raises(QAError, match="another build"):
        build(settings_factory(index=index_dir), SEEDS, index_dir)


def test_load_refuses_index_built_with_other_settings(seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IndexMismatch, match=r"chunker.max_tokens is 200 in the index, 300 in the settings.*qa build"):
        Retriever.load(seed_index, settings_factory(index=seed_index, max_tokens=300), embedder=embedder)


def test_missing_seeds_folder_is_a_clear_error(tmp_path: Path, settings_factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QAError, match="does not exist"):
        build(settings_factory(), tmp_path / "nope", tmp_path / "idx")
