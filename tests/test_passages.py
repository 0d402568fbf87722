"""Records on demand (`QA_RECORDS=store`, qa/index/passages.py): a replica reading passages from the Milvus
collection returns the same records and the same search results as one holding chunks.jsonl in memory."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qa.errors import QAError
from tests.conftest import FRONTLINES, SEEDS, need_corpus

SMALL = ["desna_barracks_airstrike.md", "chuhuiv_air_base_attack.md", "attack_on_nova_kakhovka.md"]
QUESTIONS = [
    "How many soldiers did Russia say it withdrew across the Dnipro?",
    "What happened to the Antonivskyi Bridge?",
    "When was the Desna barracks struck?",
    "Which air base was attacked near Chuhuiv?",
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, settings_factory, embedder) -> tuple[Path, str]:  # type: ignore[no-untyped-def]
    from qa.build import build

    need_corpus()
    folder = tmp_path_factory.mktemp("passages")
    seeds = folder / "seeds"
    shutil.copytree(SEEDS, seeds)
    for name in SMALL:
        shutil.copy(FRONTLINES / name, seeds / name)
    index_dir, uri = folder / "index" / "small", str(folder / "milvus.db")
    build(settings_factory(seeds=seeds, index=index_dir, store="milvus", milvus_uri=uri), seeds, index_dir,
          embedder=embedder)
    return index_dir, uri


@pytest.fixture(scope="module")
def pair(index, settings_factory, embedder) -> Iterator[tuple[object, object]]:  # type: ignore[no-untyped-def]
    from qa.search.retriever import Retriever

    index_dir, _ = index
    memory = Retriever.load(index_dir, settings_factory(index=index_dir), embedder=embedder)
    store = Retriever.load(index_dir, settings_factory(index=index_dir, records="store"), embedder=embedder)
    yield memory, store
    memory.close()
    store.close()


def test_records_read_on_demand_equal_the_in_memory_ones(pair, index) -> None:  # type: ignore[no-untyped-def]
    from qa.index import folder as ix
    from qa.index.passages import StorePassages

    memory, store = pair
    assert isinstance(store.chunks, StorePassages) and not isinstance(memory.chunks, StorePassages)
    assert len(store.chunks) == len(memory.chunks) > 25
    assert store.sentences is None and store.article_vectors is None and store.on_demand
    assert store.disabled() == ["sentence_ranking", "article_prior"] and memory.disabled() == []
    regions = ix.read_regions(ix.resolve(index[0]), memory.chunks)
    assert regions is not None
    for article in {c.article_id for c in memory.chunks}:
        mine = [c for c in memory.chunks if c.article_id == article]
        theirs = store.passages_of(article)
        assert sorted((c.to_dict() for c in theirs), key=lambda d: d["id"]) == sorted(
            (c.to_dict() for c in mine), key=lambda d: d["id"])
        assert memory.passages_of(article) == mine
    by_id = {c.id: r for c, r in zip(memory.chunks, regions, strict=True)}
    for article in {c.article_id for c in memory.chunks}:
        for c in store.passages_of(article):
            assert store.sources.region(c) == by_id[c.id]
    assert store.idf == memory.idf  # the build's saved idf.json = the one computed from the records
    with pytest.raises(QAError, match="on demand"):
        list(store.chunks)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_search_results_are_the_same(pair, mode: str) -> None:  # type: ignore[no-untyped-def]
    memory, store = pair
    for q in QUESTIONS:
        a, b = memory.search(q, k=8, mode=mode), store.search(q, k=8, mode=mode)
        assert [h.chunk.to_dict() for h in a.hits] == [h.chunk.to_dict() for h in b.hits], q
        assert np.allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-6)
        assert [h.highlight for h in a.hits] == [h.highlight for h in b.hits]
        assert a.features.get("lexical_coverage") == b.features.get("lexical_coverage")
        f = store.search(q, k=3, mode=mode, articles=["desna_barracks_airstrike"])
        g = memory.search(q, k=3, mode=mode, articles=["desna_barracks_airstrike"])
        assert [h.chunk.id for h in f.hits] == [h.chunk.id for h in g.hits]
        assert {h.chunk.article_id for h in f.hits} <= {"desna_barracks_airstrike"}


def test_a_fresh_replica_reads_records_by_id_and_keeps_a_bounded_cache(index) -> None:  # type: ignore[no-untyped-def]
    from qa.index import folder as ix
    from qa.index.passages import StorePassages
    from qa.index.stores.milvus_store import connect

    index_dir, uri = index
    folder = ix.resolve(index_dir)
    chunks = ix.read_chunks(folder)
    m = ix.read_manifest(folder)
    client = connect(uri)
    try:
        passages = StorePassages(client, m.store["collection"], len(chunks), cache=5)
        rows = [passages.row(c.id) for c in chunks]  # ids seen, records not yet read
        assert rows == list(range(len(chunks)))
        passages.fetch(rows[:3])
        assert [passages[r].to_dict() for r in rows] == [c.to_dict() for c in chunks]  # read one by one
        assert len(passages._records) == 5
        with pytest.raises(IndexError):
            passages[len(chunks)]
    finally:
        client.close()


def test_store_mode_needs_a_milvus_index(seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.search.retriever import Retriever

    with pytest.raises(QAError, match="QA_STORE=milvus"):
        Retriever.load(seed_index, settings_factory(index=seed_index, records="store"), embedder=embedder)


def test_a_collection_without_records_is_refused_then_rewritten_once(tmp_path: Path, settings_factory,  # type: ignore[no-untyped-def]
                                                                      embedder, caplog) -> None:
    from qa.build import build
    from qa.index import folder as ix
    from qa.index.stores.milvus_store import connect
    from qa.search.retriever import Retriever

    index_dir, uri = tmp_path / "index" / "seed", str(tmp_path / "milvus.db")
    settings = settings_factory(index=index_dir, store="milvus", milvus_uri=uri)
    build(settings, SEEDS, index_dir, embedder=embedder)
    manifest = ix.read_manifest(ix.resolve(index_dir))
    live = manifest.store["collection"]
    manifest.store.pop("records")  # as builds wrote it before
    ix.write_manifest(ix.resolve(index_dir), manifest)
    client = connect(uri)  # make the live collection an old one: the same rows without the `record` field
    try:
        rows = client.query(live, filter="", output_fields=["*"])
        client.drop_collection(live)
        _old_collection(client, live)
        client.insert(live, [{k: v for k, v in r.items() if k not in ("record", "sparse")} for r in rows])
        client.flush(live)
    finally:
        client.close()
    with pytest.raises(QAError, match="no `record` field"):
        Retriever.load(index_dir, settings_factory(index=index_dir, records="store"), embedder=embedder)
    other = live[:-1] + ("1" if live.endswith("0") else "0")
    client = connect(uri)
    try:
        _old_collection(client, other)  # the collection the next build writes: old too
    finally:
        client.close()
    with caplog.at_level("WARNING", logger="qa.build"):
        report = build(settings, SEEDS, index_dir, embedder=embedder, force=False)
    assert not report.up_to_date and report.embedded == 0
    assert any("written again in full" in r.getMessage() for r in caplog.records)
    store = Retriever.load(index_dir, settings_factory(index=index_dir, records="store"), embedder=embedder)
    try:
        assert store.search("Antonivskyi Bridge", k=3).hits
    finally:
        store.close()


def _old_collection(client, name: str) -> None:  # type: ignore[no-untyped-def]
    """A collection as builds made it before the `record` field."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pid", DataType.VARCHAR, max_length=64, is_primary=True)
    for f in ("article_id", "section", "anchor", "file", "h"):
        schema.add_field(f, DataType.VARCHAR, max_length=4096)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=65535)
    schema.add_field("bm25_text", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=384)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["bm25_text"],
                                 output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


def test_the_api_serves_from_records_on_demand_and_says_so(index, pair, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from qa.serve.api import create_app

    memory, _ = pair
    index_dir, _ = index
    app = create_app(settings_factory(index=index_dir, records="store"), embedder=embedder)
    with TestClient(app) as c:
        v = c.get("/version").json()["index"]
        assert v["records"] == "store" and v["disabled"] == ["sentence_ranking", "article_prior"]
        got = c.get("/v1/passages", params={"article": "desna_barracks_airstrike"}).json()
        want = sorted(memory.passages_of("desna_barracks_airstrike"), key=lambda c: (c.start, c.ordinal))
        assert [p["passage_id"] for p in got["passages"]] == [c.id for c in want] and got["count"] == len(want)
        art = c.get("/v1/articles/desna_barracks_airstrike").json()
        assert art["passages"] == len(want)
        r = c.post("/v1/search", json={"query": "Antonivskyi Bridge", "k": 3}).json()
        assert [h["text"] for h in r["results"]] == [h.chunk.text for h in memory.search("Antonivskyi Bridge", k=3).hits]


def test_the_article_catalogue_stays_on_disk_and_answers_the_same(pair) -> None:  # type: ignore[no-untyped-def]
    """Records on demand keep `articles.json` on disk (qa/index/articles_on_disk.py): the same articles, fields
    and filtered searches as the replica holding every record."""
    from qa.index.articles_on_disk import ArticlesOnDisk

    memory, store = pair
    assert isinstance(store.articles, ArticlesOnDisk) and isinstance(memory.articles, dict)
    assert dict(store.articles) == memory.articles and store.catalogue == memory.catalogue
    for article in memory.articles:
        assert store.article(article) == memory.article(article)
        assert store.metadata(article) == memory.metadata(article)
    some = sorted(memory.articles)[:2]
    for kwargs in ({"articles": some}, {"filter": {"path": {"any": some}}}):
        got = store.search("Kherson", k=5, mode="lexical", **kwargs).hits
        want = memory.search("Kherson", k=5, mode="lexical", **kwargs).hits
        assert [h.chunk.id for h in got] == [h.chunk.id for h in want] and {h.chunk.article_id for h in got} <= set(some)
