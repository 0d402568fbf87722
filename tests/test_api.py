"""The HTTP API through TestClient: every route, every bad input, one error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.ingest.tokens import count_tokens
from tests.conftest import SEED_ARTICLE, SEEDS

QUESTION = "How many soldiers did Russia say it withdrew across the Dnipro?"
WITHDRAWAL = ["Withdrawal and liberation", "Russian withdrawal efforts"]


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape: {"error": {"status", "code", "message"}}, nothing else, no internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}
    err = body["error"]
    assert err["status"] == status
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and err["message"]
    assert (
        "Traceback" not in err["message"] and "/tmp" not in err["message"] and "/work" not in err["message"]
    )
    if code is not None:
        assert err["code"] == code, err
    return err


@pytest.fixture(scope="module")
def client(store_index: Path, settings_factory, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """The app over the seeds/ index, once per vector store (FAISS, Milvus Lite)."""
    from qa.serve.api import create_app

    app = create_app(settings_factory(index=store_index), embedder=embedder)
    with TestClient(app) as c:  # runs the lifespan: loads the index, warms up, probes
        yield c


# -- routes ------------------------------------------------------------------------------------------


def test_search_returns_the_design_shape(client: TestClient) -> None:
    r = client.post("/v1/search", json={"query": QUESTION, "k": 3, "mode": "hybrid", "articles": None})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == QUESTION and body["mode"] == "hybrid"
    assert isinstance(body["answerable"], bool) and 0 <= body["confidence"] <= 1 and body["took_ms"] > 0
    assert set(body["index"]) == {"id", "model", "built_at"} and body["index"]["model"] == "all-MiniLM-L6-v2"
    results = body["results"]
    assert [h["rank"] for h in results] == [1, 2, 3]
    top = results[0]
    assert top["section"]["path"] == WITHDRAWAL and top["section"]["anchor"] == "russian-withdrawal-efforts"
    assert top["article"] == {"id": SEED_ARTICLE, "title": "Liberation of Kherson"}
    assert top["citation"] == "Liberation of Kherson § " + " › ".join(WITHDRAWAL)
    assert top["scores"]["dense"] is not None and top["scores"]["lexical"] is not None
    raw = (SEEDS / top["source"]["file"]).read_text(encoding="utf-8")
    assert "30,000" in raw[top["source"]["start"] : top["source"]["end"]]
    hl = top["highlight"]
    assert 0 <= hl["start"] < hl["end"] <= len(top["text"])


def test_search_defaults_modes_and_article_filter(client: TestClient) -> None:
    assert len(client.post("/v1/search", json={"query": "Kherson"}).json()["results"]) == 5
    dense = client.post("/v1/search", json={"query": QUESTION, "k": 2, "mode": "dense"}).json()
    assert dense["mode"] == "dense" and all(h["scores"]["lexical"] is None for h in dense["results"])
    lexical = client.post("/v1/search", json={"query": QUESTION, "k": 2, "mode": "lexical"}).json()
    assert all(h["scores"]["dense"] is None for h in lexical["results"])
    within = client.post("/v1/search", json={"query": "bridge", "k": 2, "articles": [SEED_ARTICLE]}).json()
    assert {h["article"]["id"] for h in within["results"]} == {SEED_ARTICLE}


def test_context_is_numbered_cited_and_within_budget(client: TestClient) -> None:
    r = client.post(
        "/v1/context", json={"query": "What happened to the Antonivskyi Bridge?", "max_tokens": 400}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["max_tokens"] == 400 and body["tokens"] == count_tokens(body["context"]) <= 400
    assert body["passages"] and body["context"].startswith("[1] ")
    for n, p in enumerate(body["passages"], 1):
        assert f"[{n}] {p['citation']}\n{p['text']}" in body["context"]


def test_context_with_a_tiny_budget_is_empty_not_cut(client: TestClient) -> None:
    body = client.post("/v1/context", json={"query": "Kherson", "max_tokens": 5}).json()
    assert body["context"] == "" and body["passages"] == [] and body["tokens"] == 0


def test_articles_list_and_detail(client: TestClient) -> None:
    listing = client.get("/v1/articles").json()
    assert listing["count"] == 1 and listing["articles"][0]["id"] == SEED_ARTICLE
    outline = listing["articles"][0]["sections"]
    assert {"path": WITHDRAWAL, "anchor": "russian-withdrawal-efforts", "level": 3} in outline
    detail = client.get(f"/v1/articles/{SEED_ARTICLE}").json()
    assert detail["title"] == "Liberation of Kherson" and detail["file"] == f"{SEED_ARTICLE}.md"
    assert detail["passages"] > 5 and detail["sections"] == outline


@pytest.mark.parametrize(
    "article_id",
    ["nope", "..%2F..%2Fetc%2Fpasswd", "a/b/c", "%2Fetc%2Fpasswd", SEED_ARTICLE + ".md", "x" * 3000],
)
def test_unknown_or_hostile_article_ids_are_404(client: TestClient, article_id: str) -> None:
    err = assert_error(client.get(f"/v1/articles/{article_id}"), 404)
    assert err["code"] in ("unknown_article", "not_found")
    assert "root:" not in err["message"]


def test_health_ready_version(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    version = client.get("/version").json()
    assert version["package"]["name"] == "qa" and version["package"]["version"]
    assert version["index"]["counts"]["articles"] == 1 and version["index"]["store"] in ("faiss", "milvus")
    assert version["index"]["id"] == ready.json()["index"]["id"]


def test_metrics_count_routes_statuses_and_stages(client: TestClient) -> None:
    client.post("/v1/search", json={"query": QUESTION, "k": 1})
    client.post("/v1/search", json={"query": ""})
    text = client.get("/metrics").text
    assert 'qa_http_requests_total{method="POST",route="/v1/search",status="200"}' in text
    assert 'qa_http_errors_total{method="POST",route="/v1/search",status="422"}' in text
    assert 'qa_http_request_duration_seconds_bucket{le="0.5",route="/v1/search"}' in text
    for stage in ("embed", "dense", "lexical", "fuse"):
        assert f'qa_search_stage_duration_seconds_count{{stage="{stage}"}}' in text


def test_openapi_documents_limits_examples_and_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    search = schemas["SearchRequest"]["properties"]
    assert search["query"]["maxLength"] == 2000 and search["query"]["minLength"] == 1
    assert search["k"]["minimum"] == 1 and search["k"]["maximum"] == 50
    assert search["query"]["description"] and search["query"]["examples"]
    assert schemas["SearchRequest"]["examples"]
    assert schemas["SearchRequest"]["additionalProperties"] is False
    post = spec["paths"]["/v1/search"]["post"]
    for status in ("400", "404", "413", "422", "503"):
        assert post["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith(
            "ErrorResponse"
        )
    assert {
        "/v1/search",
        "/v1/context",
        "/v1/articles",
        "/v1/articles/{article_id}",
        "/healthz",
        "/readyz",
        "/version",
        "/metrics",
    } <= set(spec["paths"])


# -- bad input: never a 500, always the one shape ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"query": ""}, 422, "invalid_query"),
        ({"query": "   \n\t "}, 422, "invalid_query"),
        ({"query": "\x1f\u3000\x85"}, 422, "invalid_query"),
        ({"query": "x" * 2001}, 422, "invalid_query"),
        ({"query": 42}, 422, "invalid_query"),
        ({"k": 5}, 422, "invalid_query"),
        ({"query": "x", "k": 0}, 422, "invalid_k"),
        ({"query": "x", "k": 51}, 422, "invalid_k"),
        ({"query": "x", "k": "5"}, 422, "invalid_k"),
        ({"query": "x", "k": 2.5}, 422, "invalid_k"),
        ({"query": "x", "k": None}, 422, "invalid_k"),
        ({"query": "x", "k": True}, 422, "invalid_k"),
        ({"query": "x", "mode": "fuzzy"}, 422, "invalid_mode"),
        ({"query": "x", "mode": None}, 422, "invalid_mode"),
        ({"query": "x", "articles": "liberation_of_kherson"}, 422, "invalid_articles"),
        ({"query": "x", "articles": [1, 2]}, 422, "invalid_articles"),
        ({"query": "x", "articles": ["nope"]}, 404, "unknown_article"),
        ({"query": "x", "top_k": 3}, 422, "unknown_field"),
        ([{"query": "x"}], 422, "invalid_body"),
        ("x", 422, "invalid_body"),
        (None, 422, "invalid_body"),
    ],
)
def test_bad_search_bodies(client: TestClient, body: Any, status: int, code: str) -> None:
    assert_error(client.post("/v1/search", json=body), status, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": " "}, "invalid_query"),
        ({"query": "x", "max_tokens": 0}, "invalid_max_tokens"),
        ({"query": "x", "max_tokens": 100_001}, "invalid_max_tokens"),
        ({"query": "x", "mode": "x"}, "invalid_mode"),
        ({"query": "x", "k": 3}, "unknown_field"),
    ],
)
def test_bad_context_bodies(client: TestClient, body: Any, code: str) -> None:
    assert_error(client.post("/v1/context", json=body), 422, code)


def test_body_that_is_not_json(client: TestClient) -> None:
    json_type = {"content-type": "application/json"}
    assert_error(client.post("/v1/search", content=b"{not json", headers=json_type), 400, "invalid_json")
    assert_error(client.post("/v1/search", content=b"\xff\xfe\x00", headers=json_type), 400, "invalid_json")
    assert_error(
        client.post("/v1/search", content=b'{"query": "x"}', headers={"content-type": "text/plain"}),
        422,
        "invalid_body",
    )
    assert_error(
        client.post(
            "/v1/search", content=b"query=x", headers={"content-type": "application/x-www-form-urlencoded"}
        ),
        422,
        "invalid_body",
    )
    assert_error(client.post("/v1/search"), 422, "invalid_body")


def test_oversized_body_is_413_by_header_and_by_stream(client: TestClient) -> None:
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    big = json.dumps({"query": "x" * (limit + 10)}).encode()
    assert_error(
        client.post("/v1/search", content=big, headers={"content-type": "application/json"}),
        413,
        "payload_too_large",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, counted as it streams
        for _ in range(4):
            yield b" " * (limit // 2)

    r = client.post("/v1/search", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_error(r, 413, "payload_too_large")
    # just under the limit is accepted and parsed
    ok = json.dumps({"query": "Kherson", "k": 1}).encode().ljust(limit - 10, b" ")
    assert (
        client.post("/v1/search", content=ok, headers={"content-type": "application/json"}).status_code == 200
    )


def test_unknown_routes_and_methods(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/v1/search"), 405, "method_not_allowed")
    r = client.delete("/v1/articles")
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET"


# -- API key, readiness, time limit, swapping ------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(seed_index: Path, settings_factory, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    from qa.serve.api import create_app

    with TestClient(
        create_app(settings_factory(index=seed_index, api_key="s3cret-key"), embedder=embedder)
    ) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/search", {"query": "x"}),
        ("post", "/v1/context", {"query": "x"}),
        ("get", "/v1/articles", None),
        ("get", f"/v1/articles/{SEED_ARTICLE}", None),
    ],
)
def test_api_key_guards_every_v1_route(keyed: TestClient, method: str, path: str, body: Any) -> None:
    kw: dict[str, Any] = {"json": body} if body is not None else {}
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic s3cret-key"},
        {"Authorization": "Bearer s3cret-key-and-more"},
    ):
        r = getattr(keyed, method)(path, headers=headers, **kw)
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
    ok = getattr(keyed, method)(path, headers={"Authorization": "Bearer s3cret-key"}, **kw)
    assert ok.status_code == 200, ok.text


def test_api_key_leaves_health_routes_open(keyed: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/version", "/metrics", "/openapi.json"):
        assert keyed.get(path).status_code == 200, path
    assert "bearer" in json.dumps(keyed.get("/openapi.json").json()["components"]["securitySchemes"]).lower()


def test_without_an_index_health_is_up_and_the_rest_is_503(
    tmp_path: Path, settings_factory, embedder
) -> None:  # type: ignore[no-untyped-def]
    from qa.serve.api import create_app

    with TestClient(create_app(settings_factory(index=tmp_path / "missing"), embedder=embedder)) as c:
        assert c.get("/healthz").status_code == 200
        assert_error(c.get("/readyz"), 503, "not_ready")
        assert_error(c.post("/v1/search", json={"query": "Kherson"}), 503, "not_ready")
        assert_error(c.get("/v1/articles"), 503, "not_ready")
        assert c.get("/version").json()["index"] is None


def test_request_time_limit_gives_503(seed_index: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.serve.api import create_app

    app = create_app(settings_factory(index=seed_index, request_timeout_s=1e-6), embedder=embedder)
    with TestClient(app) as c:
        assert_error(c.post("/v1/search", json={"query": QUESTION}), 503, "timeout")


def test_holder_swap_serves_the_new_index(client: TestClient, retriever) -> None:  # type: ignore[no-untyped-def]
    holder = client.app.state.holder  # type: ignore[attr-defined]
    old = holder.swap(retriever)
    try:
        assert client.get("/readyz").json()["index"]["id"] == retriever.manifest.id
        assert client.post("/v1/search", json={"query": "Kherson", "k": 1}).status_code == 200
    finally:
        holder.swap(old)
    assert holder.current is old


# -- nested article ids, and the in-process Python API ---------------------------------------------------


NESTED = """---
title: Pontoon Bridges
shortDescription: Temporary river crossings
description: Floating bridges used by armies to cross rivers.
---
Pontoon bridges float on boats or hollow pontoons.

## History

Armies have built pontoon bridges across rivers for more than two thousand years.
"""


def test_nested_article_id_with_slashes(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.build import build
    from qa.serve.api import create_app

    seeds = tmp_path / "seeds"
    (seeds / "engineering" / "rivers").mkdir(parents=True)
    (seeds / "engineering" / "rivers" / "pontoon_bridges.md").write_text(NESTED, encoding="utf-8")
    index_dir = tmp_path / "index"
    settings = settings_factory(seeds=seeds, index=index_dir)
    build(settings, seeds, index_dir, embedder=embedder)
    with TestClient(create_app(settings, embedder=embedder)) as c:
        article_id = "engineering/rivers/pontoon_bridges"
        detail = c.get(f"/v1/articles/{article_id}")
        assert detail.status_code == 200, detail.text
        assert detail.json()["id"] == article_id and detail.json()["title"] == "Pontoon Bridges"
        hit = c.post("/v1/search", json={"query": "floating bridge", "k": 1, "articles": [article_id]}).json()
        assert hit["results"][0]["article"]["id"] == article_id
        assert_error(c.get("/v1/articles/engineering/rivers"), 404, "unknown_article")


def test_python_api_gives_what_http_serialises(
    client: TestClient, store_index: Path, settings_factory, embedder
) -> None:  # type: ignore[no-untyped-def]
    from qa import Retriever
    from qa.serialize import result_to_dict

    retriever = Retriever.load(store_index, settings_factory(index=store_index), embedder=embedder)
    result = retriever.search(QUESTION, k=3, mode="hybrid")
    assert result.hits[0].chunk.section_path == tuple(WITHDRAWAL)
    ctx = retriever.context(QUESTION, max_tokens=300)
    assert ctx.tokens <= 300 and ctx.text.startswith("[1] ")
    over_http = client.post("/v1/search", json={"query": QUESTION, "k": 3}).json()
    in_process = result_to_dict(result, retriever.info())
    assert [h["passage_id"] for h in over_http["results"]] == [h["passage_id"] for h in in_process["results"]]
    assert [h["citation"] for h in over_http["results"]] == [h["citation"] for h in in_process["results"]]
