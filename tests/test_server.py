"""A real `qa serve` (uvicorn) process on a free port, queried over a socket, then terminated."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import SEED_ARTICLE
from tests.live_server import serve

QUESTIONS = {
    "How many soldiers did Russia say it withdrew across the Dnipro?": "russian-withdrawal-efforts",
    "When did Ukrainian forces enter the city of Kherson?": None,
}


@pytest.fixture(scope="module")
def server(seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(seed_index, tmp_path_factory.mktemp("server")) as live:
        yield live.url
    # a clean shutdown on SIGTERM (uvicorn re-raises the signal once shut down, hence -15 on newer versions)
    assert live.proc.returncode in (0, -signal.SIGTERM), live.log.read_text()[-3000:]
    assert "Application shutdown complete" in live.log.read_text()


def test_real_server_answers_over_a_socket(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        r = c.post("/v1/search", json={"query": next(iter(QUESTIONS)), "k": 3})
        assert r.status_code == 200, r.text
        assert r.json()["results"][0]["section"]["anchor"] == "russian-withdrawal-efforts"
        ctx = c.post(
            "/v1/context", json={"query": "What happened to the Antonivskyi Bridge?", "max_tokens": 300}
        )
        assert ctx.status_code == 200 and 0 < ctx.json()["tokens"] <= 300
        assert c.get(f"/v1/articles/{SEED_ARTICLE}").json()["id"] == SEED_ARTICLE
        assert c.get("/version").json()["index"]["counts"]["articles"] == 1
        bad = c.post("/v1/search", content=b"{oops", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
        big = c.post("/v1/search", content=b" " * 70_000, headers={"content-type": "application/json"})
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
        assert 'route="/v1/search"' in c.get("/metrics").text


@pytest.mark.slow
def test_many_clients_at_once_all_get_correct_answers(server: str) -> None:
    expected = {}
    with httpx.Client(base_url=server, timeout=30) as c:
        for q in QUESTIONS:
            expected[q] = [
                h["passage_id"] for h in c.post("/v1/search", json={"query": q, "k": 3}).json()["results"]
            ]

    def client_session(n: int) -> list[bool]:
        ok = []
        with httpx.Client(base_url=server, timeout=60) as c:
            for i in range(10):
                q = list(QUESTIONS)[(n + i) % len(QUESTIONS)]
                r = c.post("/v1/search", json={"query": q, "k": 3})
                ok.append(
                    r.status_code == 200 and [h["passage_id"] for h in r.json()["results"]] == expected[q]
                )
        return ok

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [ok for session in pool.map(client_session, range(8)) for ok in session]
    assert len(results) == 80 and all(results), f"{results.count(False)} of 80 answers wrong or failed"
