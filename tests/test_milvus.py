"""Milvus store specifics: parity with FAISS, blue/green collections, upsert/delete on incremental builds.

The retrieval and API tests already run against both stores (the `store_index` fixture in conftest.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.errors import QAError
from tests.conftest import FRONTLINES, need_corpus

QUESTIONS = [
    "How many soldiers did Russia say it withdrew across the Dnipro?",
    "What happened to the Antonivskyi Bridge?",
    "When did Ukrainian troops enter Kherson city?",
]
SMALL = ["desna_barracks_airstrike.md", "chuhuiv_air_base_attack.md", "attack_on_nova_kakhovka.md"]
EXTRA = "2022_as-suwayda_clashes.md"
MEMORIAL = "\n\n## Memorial\n\nA granite memorial to the eighty-seven cadets killed at Desna was unveiled in 2023.\n"


@pytest.fixture(scope="module")
def both(seed_index: Path, milvus_seed_index: Path, settings_factory, embedder):  # type: ignore[no-untyped-def]
    from qa.search.retriever import Retriever

    faiss = Retriever.load(seed_index, settings_factory(index=seed_index), embedder=embedder)
    milvus = Retriever.load(milvus_seed_index, settings_factory(index=milvus_seed_index), embedder=embedder)
    yield faiss, milvus
    milvus.close()


def test_manifest_names_the_collection_and_no_bm25s_folder_is_written(milvus_seed_index: Path) -> None:
    from qa.index import folder as ix

    folder = ix.resolve(milvus_seed_index)
    m = ix.read_manifest(folder)
    assert m.store["kind"] == "milvus" and m.store["uri"].endswith("milvus.db")
    assert m.store["collection"].startswith("qa_seed_") and m.store["collection"].endswith("_0")
    assert m.store["upserted"] == m.counts["chunks"] and m.lexical["library"] == "milvus-bm25"
    assert not (folder / "lexical").exists() and not (folder / "vectors.faiss").exists()


@pytest.mark.parametrize("question", QUESTIONS)
def test_dense_results_match_faiss(both, question: str) -> None:  # type: ignore[no-untyped-def]
    faiss, milvus = both
    a = faiss.search(question, k=10, mode="dense")
    b = milvus.search(question, k=10, mode="dense")
    assert [h.chunk.id for h in a.hits] == [h.chunk.id for h in b.hits]
    assert np.allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-4)
    assert abs(a.confidence - b.confidence) < 1e-3


@pytest.mark.parametrize("question", QUESTIONS)
def test_milvus_bm25_agrees_with_bm25s_and_hybrid_keeps_both_scores(both, question: str) -> None:  # type: ignore[no-untyped-def]
    faiss, milvus = both
    a = faiss.search(question, k=5, mode="lexical")
    b = milvus.search(question, k=5, mode="lexical")
    assert a.hits[0].chunk.id == b.hits[0].chunk.id
    assert len({h.chunk.id for h in a.hits} & {h.chunk.id for h in b.hits}) >= min(len(a.hits), len(b.hits)) - 1
    fused = milvus.search(question, k=5, mode="hybrid")
    assert "hybrid" in fused.timings and "lexical" not in fused.timings  # fused inside Milvus, one call
    assert [h.rank for h in fused.hits] == [1, 2, 3, 4, 5]
    assert all(h.dense is not None for h in fused.hits)
    assert fused.hits[0].lexical is not None and fused.hits[0].lexical > 0
    scores = [h.score for h in fused.hits]
    rrf_k = milvus.config.rrf_k  # the tuned k the index ships with (eval/retrieval.json)
    assert scores == sorted(scores, reverse=True) and scores[0] <= 2 / (rrf_k + 1) + 1e-6  # RRF, two lists


def test_article_filter_is_applied_inside_milvus(both) -> None:  # type: ignore[no-untyped-def]
    _, milvus = both
    for mode in ("dense", "lexical", "hybrid"):
        hits = milvus.search("Kherson bridge", k=3, mode=mode, articles=["liberation_of_kherson"]).hits
        assert hits and {h.chunk.article_id for h in hits} == {"liberation_of_kherson"}
    expr = milvus.store._filter(np.asarray([0, 1]))
    assert expr == 'article_id in ["liberation_of_kherson"]'


def test_bad_uri_is_a_clear_400(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.build import build
    from tests.conftest import SEEDS

    settings = settings_factory(index=tmp_path / "i", store="milvus", milvus_uri=str(tmp_path / "milvus.sqlite"))
    with pytest.raises(QAError) as err:
        build(settings, SEEDS, tmp_path / "i", embedder=embedder)
    assert err.value.status == 400 and err.value.code == "bad_milvus_uri" and ".db" in err.value.message


def test_incremental_builds_upsert_and_delete_in_the_collection_not_being_served(  # type: ignore[no-untyped-def]
    tmp_path: Path, settings_factory, embedder
) -> None:
    from qa.build import build
    from qa.index import folder as ix
    from qa.index.stores.milvus_store import connect
    from qa.search.retriever import Retriever

    need_corpus()
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in SMALL:
        shutil.copy(FRONTLINES / name, seeds / name)
    index_dir = tmp_path / "index" / "small"
    uri = str(tmp_path / "milvus.db")
    faiss_settings = settings_factory(seeds=seeds, index=index_dir)
    settings = settings_factory(seeds=seeds, index=index_dir, store="milvus", milvus_uri=uri)

    def store() -> dict:  # type: ignore[type-arg]
        return ix.read_manifest(ix.resolve(index_dir)).store

    # a FAISS index moves to Milvus without embedding anything again
    assert not build(faiss_settings, seeds, index_dir, embedder=embedder).up_to_date
    first = build(settings, seeds, index_dir, embedder=embedder)
    assert not first.up_to_date and first.embedded == 0
    s1 = store()
    assert s1["collection"].endswith("_0") and s1["upserted"] == first.chunks and s1["deleted"] == 0
    assert build(settings, seeds, index_dir, embedder=embedder).up_to_date
    r1 = Retriever.load(index_dir, settings, embedder=embedder)
    before = [h.chunk.id for h in r1.search("Chuhuiv air base drones", k=3, mode="hybrid").hits]

    # edit one article, remove another: written into the other collection while r1 keeps serving
    (seeds / "chuhuiv_air_base_attack.md").unlink()
    desna = seeds / "desna_barracks_airstrike.md"
    desna.write_text(desna.read_text(encoding="utf-8") + MEMORIAL, encoding="utf-8")
    second = build(settings, seeds, index_dir, embedder=embedder)
    s2 = store()
    assert second.removed == ["chuhuiv_air_base_attack"] and second.changed == ["desna_barracks_airstrike"]
    assert s2["collection"].endswith("_1") and s2["upserted"] == second.chunks  # a fresh collection
    assert [h.chunk.id for h in r1.search("Chuhuiv air base drones", k=3, mode="hybrid").hits] == before
    r2 = Retriever.load(index_dir, settings, embedder=embedder)

    # add an article: the build patches collection _0 (last build's-but-one state) by upsert and delete
    shutil.copy(FRONTLINES / EXTRA, seeds / EXTRA)
    third = build(settings, seeds, index_dir, embedder=embedder)
    s3 = store()
    assert s3["collection"] == s1["collection"]
    changed_rows = [c for c in ix.read_chunks(ix.resolve(index_dir))
                    if c.article_id in ("desna_barracks_airstrike", "2022_as-suwayda_clashes")]
    assert 0 < s3["upserted"] <= len(changed_rows) < third.chunks  # unchanged passages were not rewritten
    chuhuiv_passages = sum(1 for c in r1.chunks if c.article_id == "chuhuiv_air_base_attack")
    assert s3["deleted"] >= chuhuiv_passages > 0
    client = connect(uri)
    try:
        got = client.query(s3["collection"], filter="", output_fields=["count(*)"])[0]["count(*)"]
        gone = client.query(s3["collection"], filter='article_id == "chuhuiv_air_base_attack"', output_fields=["pid"])
    finally:
        client.close()
    assert got == third.chunks and gone == []

    r3 = Retriever.load(index_dir, settings, embedder=embedder)
    try:
        memorial = r3.search("granite memorial to the cadets killed at Desna", k=1, mode="hybrid").hits[0]
        assert memorial.chunk.section_path == ("Memorial",) and memorial.lexical and memorial.dense
        assert all(h.chunk.article_id != "chuhuiv_air_base_attack"
                   for h in r3.search("Chuhuiv air base drones", k=5, mode="lexical").hits)
        assert r3.search("Suwayda clashes", k=1, mode="hybrid").hits[0].chunk.article_id == "2022_as-suwayda_clashes"
        # r2 (collection _1) is untouched by the third build
        assert r2.search("granite memorial Desna", k=1, mode="dense").hits[0].chunk.section_path == ("Memorial",)
    finally:
        for r in (r1, r2, r3):
            r.close()


def test_milvus_lists_fused_by_qa_rank_like_faiss(both, milvus_seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.search.retriever import Retriever

    faiss, _ = both
    settings = settings_factory(index=milvus_seed_index, milvus_fusion="qa")
    r = Retriever.load(milvus_seed_index, settings, embedder=embedder)
    try:
        assert r.store.native_hybrid is False
        for question in QUESTIONS:
            a = faiss.search(question, k=5, mode="hybrid")
            b = r.search(question, k=5, mode="hybrid")
            assert "lexical" in b.timings and [h.chunk.id for h in a.hits] == [h.chunk.id for h in b.hits]
    finally:
        r.close()


def test_highlight_idf_matches_bm25s(both) -> None:  # type: ignore[no-untyped-def]
    faiss, milvus = both
    a, b = faiss.lexical.idf(), milvus.lexical.idf()
    common = set(a) & set(b)
    assert len(common) >= 0.95 * len(a)
    assert max(abs(a[t] - b[t]) for t in common) < 1e-6


def test_unreachable_milvus_is_a_503_naming_the_uri(tmp_path: Path, milvus_seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    import json

    from qa.index import folder as ix
    from qa.search.retriever import Retriever

    copy = tmp_path / "seed"
    shutil.copytree(ix.resolve(milvus_seed_index), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["store"]["uri"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(QAError) as err:
        Retriever.load(copy, settings_factory(index=copy), embedder=embedder)
    assert err.value.status == 503 and err.value.code == "store_unavailable" and "127.0.0.1:9" in err.value.message
