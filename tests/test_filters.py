"""Metadata filters against real indexes (FAISS + bm25s, Milvus Lite) of tests/data/filters.

The reference is brute force: the unfiltered ranking of every passage, filtered afterwards by a predicate
written here over the front matter as PyYAML reads it (not by qa's filter code), then cut to k — for hybrid,
each retriever's full list filtered and cut to the candidate depth, then fused.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient

from qa.errors import InvalidRequest
from qa.search.retriever import Retriever
from tests.test_api import assert_error

DATA = Path(__file__).parent / "data" / "filters"
QUESTIONS = ["How much load can a pontoon bridge carry?", "grain fire in the harbour warehouses",
             "drone batteries in cold weather", "diesel generators during blackouts"]
Predicate = Callable[[str, dict[str, Any]], bool]


def _front_matter(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    return dict(yaml.safe_load(text.split("---\n")[1]) or {})


META = {p.relative_to(DATA).with_suffix("").as_posix(): _front_matter(p) for p in sorted(DATA.rglob("*.md"))}


def _day(value: Any) -> date | None:
    return value.date() if isinstance(value, datetime) else value if isinstance(value, date) else None


def _in_2022(aid: str, m: dict[str, Any]) -> bool:
    day = _day(m.get("date"))
    return day is not None and date(2022, 1, 1) <= day < date(2023, 1, 1)


FILTERS: list[tuple[dict[str, Any], Predicate]] = [
    ({"tags": {"any": ["fire", "energy"]}}, lambda a, m: bool({"fire", "energy"} & set(m.get("tags", [])))),
    ({"date": {"gte": "2022-01-01", "lt": "2023-01-01"}}, _in_2022),
    ({"path": {"prefix": "guides/"}}, lambda a, m: a.startswith("guides/")),
    ({"tags": "no-such-tag"}, lambda a, m: False),
    ({"tags": "bridges"}, lambda a, m: "bridges" in m.get("tags", [])),
    ({"tags": {"all": ["drones", "engineering"]}}, lambda a, m: {"drones", "engineering"} <= set(m.get("tags", []))),
    ({"date": {"gt": "2023-06-01T00:00:00Z"}}, lambda a, m: (_day(m.get("date")) or date.min) > date(2023, 6, 1)),
    ({"path": {"any": ["textile_mill", "port_history"]}}, lambda a, m: a in ("textile_mill", "port_history")),
    ({"draft": True}, lambda a, m: m.get("draft") is True),
    ({"draft": {"exists": False}}, lambda a, m: "draft" not in m),
    ({"rating": {"gt": 4}}, lambda a, m: m.get("rating", 0) > 4),
    ({"author": "Olena Koval", "categories": "news"},
     lambda a, m: m.get("author") == "Olena Koval" and "news" in m.get("categories", [])),
    ({"categories": {"any": ["maritime", "history"]}, "rating": {"lte": 4.2, "gte": 3}},
     lambda a, m: bool({"maritime", "history"} & set(m.get("categories", []))) and 3 <= m.get("rating", 0) <= 4.2),
]
FAST = 4  # the first few run in `make test-fast`; the rest are `slow`
CASES = [pytest.param(f, p, id=json.dumps(f), marks=[pytest.mark.slow] if i >= FAST else [])
         for i, (f, p) in enumerate(FILTERS)]


def _build(folder: Path, settings_factory, embedder, **kw: Any) -> tuple[Path, Any]:  # type: ignore[no-untyped-def]
    from qa.build import build

    seeds = folder / "seeds"
    shutil.copytree(DATA, seeds)
    index_dir = folder / "index"
    settings = settings_factory(index=index_dir, seeds=seeds, **kw)
    build(settings, seeds, index_dir, embedder=embedder)
    return index_dir, settings


@pytest.fixture(scope="module", params=["faiss", pytest.param("milvus", marks=pytest.mark.slow)])
def retriever(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, settings_factory,
              embedder) -> Iterator[Retriever]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp(f"filters-{request.param}")
    kw: dict[str, Any] = {"store": "milvus", "milvus_uri": str(folder / "milvus.db")} if request.param == "milvus" else {}
    index_dir, settings = _build(folder, settings_factory, embedder, **kw)
    r = Retriever.load(index_dir, settings, embedder=embedder)
    yield r
    r.close()


@pytest.fixture(scope="module")
def faiss_index(tmp_path_factory: pytest.TempPathFactory, settings_factory, embedder) -> tuple[Path, Any]:  # type: ignore[no-untyped-def]
    return _build(tmp_path_factory.mktemp("filters-api"), settings_factory, embedder)


def _allowed(r: Retriever, pred: Predicate) -> set[int]:
    return {i for i, c in enumerate(r.chunks) if pred(c.article_id, META[c.article_id])}


# -- the filter language -----------------------------------------------------------------------------------


def test_metadata_is_kept_typed_and_returned_with_each_hit(retriever: Retriever) -> None:
    info = retriever.articles["news/drone_factory"]
    assert info.metadata is not None
    assert info.metadata.values == {"tags": ["drones", "industry", "ukraine"], "categories": ["news", "technology"],
                                    "date": "2024-01-20T09:30:00", "author": "Olena Koval", "draft": True, "rating": 5}
    assert info.metadata.types == {"tags": "string", "categories": "string", "date": "date", "author": "string",
                                   "draft": "boolean", "rating": "number"}
    assert "title" not in info.metadata.values and "shortDescription" not in info.metadata.values
    fields = retriever.catalogue.fields
    assert {n: (f.type, f.is_list, f.articles) for n, f in fields.items()} == {
        "author": ("string", False, 10), "categories": ("string", True, 10), "date": ("date", False, 10),
        "draft": ("boolean", False, 9), "rating": ("number", False, 9), "tags": ("string", True, 10)}
    assert fields["tags"].values["ukraine"] == 3 and fields["draft"].values[False] == 7
    hit = retriever.search("drone factory production line", k=1, mode="dense", read=False).hits[0]
    assert hit.chunk.article_id == "news/drone_factory" and hit.metadata == info.metadata.values


def test_typed_metadata_keeps_scalars_and_lists_and_drops_the_rest() -> None:
    from qa.ingest.metadata import typed_metadata

    m = typed_metadata({"title": "T", "n": 3, "x": 1.5, "ok": False, "d": date(2022, 1, 2), "s": " a ", "empty": "",
                        "nested": {"a": 1}, "objs": [{"a": 1}], "mixed": [1, "b", True], "none": None,
                        "dt": datetime(2022, 1, 2, 3, 4, 5), "nan": float("nan"), 7: "seven"})
    assert m.values == {"n": 3, "x": 1.5, "ok": False, "d": "2022-01-02", "s": "a", "mixed": ["1", "b", "true"],
                        "dt": "2022-01-02T03:04:05", "7": "seven"}
    assert m.types == {"n": "number", "x": "number", "ok": "boolean", "d": "date", "s": "string", "mixed": "string",
                       "dt": "date", "7": "string"}


@pytest.mark.parametrize(("flt", "message"), [
    ({"tagz": "x"}, "unknown field 'tagz'"),
    ({"tags": 3}, "expected a string"),
    ({"rating": "high"}, "expected a number"),
    ({"draft": "yes"}, "expected a boolean"),
    ({"date": {"gte": "last year"}}, "expected an ISO date"),
    ({"tags": {"near": "x"}}, "unknown operator 'near'"),
    ({"tags": {"gte": "a"}}, "ranges apply to number and date fields"),
    ({"rating": {"prefix": "4"}}, "prefix applies to string fields"),
    ({"tags": ["a", "b"]}, "a list is not a value"),
    ({"tags": {"any": []}}, "expected a list of 1 to"),
    ({"tags": {}}, "an empty object"),
    ({"path": {"exists": True}}, "expected true or false"),
    (["tags"], "must be a JSON object"),
])
def test_bad_filters_are_invalid_requests(retriever: Retriever, flt: Any, message: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        retriever.search("bridge", k=3, filter=flt)
    assert exc.value.status == 422 and exc.value.code == "invalid_filter" and message in exc.value.message


# -- filtered = brute force over the unfiltered ranking ----------------------------------------------------


@pytest.mark.parametrize("mode", ["dense", "lexical"])
@pytest.mark.parametrize(("flt", "pred"), CASES)
def test_single_retriever_results_are_the_filtered_full_ranking(retriever: Retriever, mode: str, flt: dict[str, Any],
                                                                 pred: Predicate,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # each retriever fetches exactly k: a filter applied after the store's top-k would come back short
    monkeypatch.setattr(retriever, "config", retriever.config.replace(candidates=1))
    n = len(retriever.chunks)
    allowed = _allowed(retriever, pred)
    for question in QUESTIONS:
        full = retriever.search(question, k=min(n, 50), mode=mode, read=False).hits
        if mode == "dense":
            assert len(full) == n  # the whole ranking
        expected = [h for h in full if retriever.chunks.index(h.chunk) in allowed]
        for k in (1, 3, 8):
            got = retriever.search(question, k=k, mode=mode, read=False, filter=flt).hits
            assert [h.chunk.id for h in got] == [h.chunk.id for h in expected[:k]], (question, k)
            assert [h.score for h in got] == pytest.approx([h.score for h in expected[:k]], abs=1e-4)
            if mode == "dense":  # every passage has a dense score: k hits whenever k passages pass
                assert len(got) == min(k, len(allowed))


def _brute_hybrid(r: Retriever, question: str, k: int, allowed: set[int]) -> list[tuple[str, float]]:
    """Hybrid by hand: each retriever's unfiltered list of every passage, filtered, cut to the candidate depth, then
    the pipeline's own fuse / hits stages (FAISS); Milvus' RRF (1 / (rrf_k + rank)) over the two lists."""
    from qa.search.candidates import candidates
    from qa.search.pipeline import STAGES
    from qa.search.stages import Scored, SearchState

    n, depth = len(r.chunks), max(r.config.candidates, k)
    full = candidates(r, SearchState(question, n, "dense", None))
    vector = full.vector
    assert vector is not None and len(full.dense.rows) == n
    lexical = Scored(*r.lexical.search(question, n))

    def cut(s: Scored) -> Scored:
        keep = [i for i, row in enumerate(s.rows.tolist()) if row in allowed][:depth]
        return Scored(s.scores[keep], s.rows[keep])

    dense, lex = cut(full.dense), cut(lexical)
    if r.store.native_hybrid:
        fused: dict[int, float] = {}
        for rows in (dense.rows, lex.rows):
            for rank, row in enumerate(rows.tolist(), 1):
                fused[row] = fused.get(row, 0.0) + 1.0 / (r.config.rrf_k + rank)
        ranked = sorted(fused.items(), key=lambda kv: -kv[1])
        return [(r.chunks[row].id, score) for row, score in ranked]  # all fused (callers cut to k: ties)
    state = SearchState(question, k, "hybrid", None, vector, dense=dense, lexical=lex)
    for stage in STAGES:
        if stage.name in ("fuse", "hits"):
            state = stage.run(r, state)
    return [(h.chunk.id, h.score) for h in state.hits]


@pytest.mark.parametrize(("flt", "pred"), CASES)
def test_hybrid_results_are_the_fusion_of_the_filtered_full_rankings(retriever: Retriever, flt: dict[str, Any],
                                                                     pred: Predicate,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # a candidate depth below the corpus size, so a filter applied after each retriever's top-k would differ
    monkeypatch.setattr(retriever, "config", retriever.config.replace(candidates=6))
    allowed = _allowed(retriever, pred)
    for question in QUESTIONS:
        for k in (1, 4, 8):
            got = retriever.search(question, k=k, mode="hybrid", read=False, filter=flt).hits
            expected = _brute_hybrid(retriever, question, k, allowed)
            assert {retriever.chunks.index(h.chunk) for h in got} <= allowed
            if retriever.store.native_hybrid:  # RRF ties (ranks (1, 3) and (3, 1)) may come in either order
                want = dict(expected)
                assert [h.score for h in got] == pytest.approx([s for _, s in expected[:k]], abs=1e-6)
                assert all(h.score == pytest.approx(want[h.chunk.id], abs=1e-6) for h in got)
            else:
                assert [(h.chunk.id, round(h.score, 6)) for h in got] == [(i, round(s, 6)) for i, s in expected]
            assert len(got) == min(k, len(allowed))  # k hits whenever k passages pass


def test_filter_and_article_list_both_hold(retriever: Retriever) -> None:
    hits = retriever.search("bridge", k=10, mode="dense", read=False, filter={"tags": "bridges"},
                            articles=["guides/bridge_building", "news/harbour_fire"]).hits
    assert hits and {h.chunk.article_id for h in hits} == {"guides/bridge_building"}
    none = retriever.search("bridge", k=10, mode="hybrid", read=False, filter={"tags": "fire"},
                            articles=["guides/bridge_building"])
    assert none.hits == [] and not none.answerable


def test_context_packs_only_filtered_passages(retriever: Retriever) -> None:
    ctx = retriever.context("bridges and rivers", max_tokens=400, filter={"path": {"prefix": "news/"}}, read=False)
    assert ctx.hits and all(h.chunk.article_id.startswith("news/") for h in ctx.hits) and ctx.tokens <= 400


# -- an index built before metadata was kept ---------------------------------------------------------------


@pytest.mark.slow
def test_an_index_without_metadata_says_rebuild_and_a_build_adds_it(tmp_path: Path, settings_factory,
                                                                     embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.build import build
    from qa.index import folder as ix

    index_dir, settings = _build(tmp_path, settings_factory, embedder)
    articles = ix.resolve(index_dir) / ix.ARTICLES
    old = [{k: v for k, v in a.items() if not k.startswith("metadata")} for a in json.loads(articles.read_text())]
    articles.write_text(json.dumps(old))
    r = Retriever.load(index_dir, settings, embedder=embedder)
    assert r.search("bridge", k=2, read=False).hits[0].metadata == {}
    assert r.search("bridge", k=2, read=False, filter={"path": {"prefix": "news/"}}).hits
    with pytest.raises(InvalidRequest, match="built before metadata was kept: run `qa build`"):
        r.search("bridge", k=2, filter={"tags": "bridges"})
    report = build(settings, settings.seeds, index_dir, embedder=embedder)
    assert not report.up_to_date and report.embedded == 0  # records made again; every vector reused
    r = Retriever.load(index_dir, settings, embedder=embedder)
    assert r.search("bridge", k=2, read=False, filter={"tags": "bridges"}).hits[0].metadata["tags"]


# -- HTTP, MCP, CLI ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(faiss_index: tuple[Path, Any], embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    from qa.serve.api import create_app

    with TestClient(create_app(faiss_index[1], embedder=embedder)) as c:
        yield c


def test_http_search_and_context_take_a_filter(client: TestClient) -> None:
    flt = {"tags": {"any": ["bridges", "energy"]}, "date": {"gte": "2022-01-01"}}
    r = client.post("/v1/search", json={"query": "bridge", "k": 5, "filter": flt, "read": False})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert {h["article"]["id"] for h in results} <= {"news/river_crossing", "news/winter_grid",
                                                     "guides/advanced/generator_care"}
    assert len(results) == 5 and all(h["metadata"]["date"] >= "2022" for h in results)
    assert results[0]["metadata"] == META_JSON[results[0]["article"]["id"]]
    r = client.post("/v1/context", json={"query": "bridge", "max_tokens": 300, "filter": {"draft": True}})
    assert r.status_code == 200, r.text
    assert {p["article"]["id"] for p in r.json()["passages"]} <= {"news/drone_factory", "guides/advanced/drone_maintenance"}


META_JSON = {a: {k: (v.isoformat() if isinstance(v, date) else v) for k, v in m.items()
                 if k not in ("title", "shortDescription")} for a, m in META.items()}


@pytest.mark.parametrize(("route", "flt"), [
    ("/v1/search", {"tagz": "x"}), ("/v1/search", {"rating": "4"}), ("/v1/search", {"tags": {"like": "x"}}),
    ("/v1/context", {"date": {"gte": 2022}}), ("/v1/search", ["tags"]), ("/v1/context", "tags=x"),
])
def test_http_bad_filters_are_422_in_the_one_shape(client: TestClient, route: str, flt: Any) -> None:
    body = {"query": "bridge", "filter": flt}
    err = assert_error(client.post(route, json=body), 422)
    assert err["code"] in ("invalid_filter",) and "filter" in err["message"]


def test_http_fields_lists_types_values_and_ranges(client: TestClient) -> None:
    r = client.get("/v1/fields", params={"max_values": 3})
    assert r.status_code == 200, r.text
    fields = {f["name"]: f for f in r.json()["fields"]}
    assert r.json()["count"] == 6 and r.json()["articles"] == 11 and set(fields) == {"author", "categories", "date", "draft", "rating", "tags"}
    assert fields["tags"]["is_list"] and fields["tags"]["distinct"] == 11 and len(fields["tags"]["values"]) == 3
    assert fields["tags"]["values"][:2] == [{"value": "engineering", "articles": 3}, {"value": "ukraine", "articles": 3}]
    assert fields["date"] | {"values": None} == {"name": "date", "type": "date", "is_list": False, "articles": 10,
                                                 "distinct": 10, "values": None, "min": "1911-04-12",
                                                 "max": "2024-01-20T09:30:00"}
    assert fields["rating"]["min"] == 2 and fields["rating"]["max"] == 5 and fields["draft"]["min"] is None
    assert {v["value"]: v["articles"] for v in fields["draft"]["values"]} == {False: 7, True: 2}
    assert_error(client.get("/v1/fields", params={"max_values": -1}), 422)


def test_mcp_search_and_context_take_a_filter(faiss_index: tuple[Path, Any], embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.serve.mcp import Tools

    r = Retriever.load(faiss_index[0], faiss_index[1], embedder=embedder)
    tools = Tools(lambda: r)

    async def call(name: str, args: dict[str, Any]) -> Any:
        from mcp_types import CallToolRequestParams

        return await tools.call_tool(None, CallToolRequestParams(name=name, arguments=args))

    found = anyio.run(call, "search", {"query": "fire", "k": 3, "filter": {"categories": "maritime"}, "read": False})
    assert not found.is_error
    hits = found.structured_content["results"]
    assert len(hits) == 3 and {h["article"]["id"] for h in hits} <= {"news/harbour_fire", "port_history"}
    assert all("maritime" in h["metadata"]["categories"] for h in hits)
    ctx = anyio.run(call, "context", {"query": "fire", "max_tokens": 200, "filter": {"path": {"prefix": "guides/"}}})
    assert not ctx.is_error and all(p["article"]["id"].startswith("guides/") for p in ctx.structured_content["passages"])
    bad = anyio.run(call, "search", {"query": "fire", "filter": {"colour": "red"}})
    assert bad.is_error and json.loads(bad.content[0].text)["error"]["code"] == "invalid_filter"


def test_cli_search_filter(faiss_index: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.cli import main
    from qa.settings import get_settings

    index_dir, settings = faiss_index
    monkeypatch.setenv("QA_CACHE_DIR", str(settings.cache_dir))
    monkeypatch.setenv("QA_READER", "off")
    get_settings.cache_clear()
    runner = CliRunner()
    args = ["search", "grain", "--index", str(index_dir), "--k", "4", "--json"]
    r = runner.invoke(main, [*args, "--filter", '{"author": "Marek Nowak"}'])
    assert r.exit_code == 0, r.output
    hits = json.loads(r.output)["results"]
    assert len(hits) == 4 and {h["metadata"]["author"] for h in hits} == {"Marek Nowak"}
    r = runner.invoke(main, [*args, "--filter", '{"author": 3}'])
    assert r.exit_code == 1 and "filter author: expected a string" in r.output
    r = runner.invoke(main, [*args, "--filter", "{not json"])
    assert r.exit_code == 2 and "not JSON" in r.output
    get_settings.cache_clear()


def test_filters_are_records_not_dicts(retriever: Retriever) -> None:
    flt = retriever.parse_filter({"rating": {"gte": 4, "lt": 5}, "path": {"prefix": "news/"}})
    assert flt is not None and [(c.field, c.op, c.value) for c in flt.conditions] == [
        ("rating", "gte", 4), ("rating", "lt", 5), ("path", "prefix", "news/")]
    assert flt.articles(retriever.articles) == ["news/river_crossing", "news/winter_grid"]
    assert dataclasses.is_dataclass(flt) and retriever.parse_filter({}) is None and retriever.parse_filter(None) is None


@pytest.mark.parametrize("passing", [3, 40, 5000])
def test_a_filtered_hnsw_search_is_exact_and_full(passing: int) -> None:
    """An HNSW graph searched through a narrow filter runs dry or misses; the store then searches the allowed
    rows exactly (few rows: always; many: when the graph came back short)."""
    import numpy as np

    from qa.index.stores.faiss_store import FaissStore

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((6000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = FaissStore.build(vectors, "hnsw")
    allowed = np.sort(rng.choice(len(vectors), passing, replace=False))
    for query in vectors[:5]:
        scores, rows = store.search(query, 10, allowed)
        brute = allowed[np.argsort(-(vectors[allowed] @ query), kind="stable")][:10]
        assert len(rows) == min(10, passing) and set(rows.tolist()) <= set(allowed.tolist())
        if passing <= 4096:
            assert rows.tolist() == brute.tolist()
            assert scores == pytest.approx(vectors[rows] @ query, abs=1e-5)


def test_jsonl_documents_metadata_is_kept_and_filters(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    """A JSONL corpus' `metadata` becomes the same typed metadata as front matter: in hits and in filters."""
    from qa.build import build

    docs = [
        {"_id": "doc/1", "title": "Ferry", "text": "The river ferry crossed the Dnipro at dawn with grain.",
         "metadata": {"year": 2021, "tags": ["river", "grain"], "draft": False}},
        {"_id": "doc 2", "title": "Bridge", "text": "The bridge over the Dnipro was repaired after the flood.",
         "metadata": {"year": 2023, "tags": ["river", "bridges"]}},
        {"_id": "doc-3", "title": "Orchard", "text": "Apple trees were planted along the Dnipro river bank.",
         "metadata": {"year": 2023, "tags": ["farming"], "published": "2023-04-01"}},
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    index_dir = tmp_path / "index"
    settings = settings_factory(index=index_dir, seeds=corpus)
    build(settings, corpus, index_dir, embedder=embedder)
    r = Retriever.load(index_dir, settings, embedder=embedder)
    try:
        everything = r.search("Dnipro river", k=10, mode="dense", read=False).hits
        assert {h.chunk.article_id for h in everything} == {"doc/1", "doc 2", "doc-3"}
        assert {h.chunk.article_id: h.metadata.get("year") for h in everything} == {"doc/1": 2021, "doc 2": 2023,
                                                                             "doc-3": 2023}
        hits = r.search("Dnipro river", k=10, mode="dense", read=False,
                        filter={"year": {"gte": 2022}, "tags": {"any": ["river", "farming"]}}).hits
        assert sorted(h.chunk.article_id for h in hits) == ["doc 2", "doc-3"]
        assert [h.chunk.article_id for h in r.search("Dnipro", k=10, mode="lexical", read=False,
                                                filter={"tags": "grain"}).hits] == ["doc/1"]
        with pytest.raises(InvalidRequest):
            r.search("Dnipro", k=3, read=False, filter={"year": "recent"})  # a number field
    finally:
        r.close()
