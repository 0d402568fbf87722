"""A real `qa serve` (uvicorn) process on a free port, queried over a socket, then terminated."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, SEED_ARTICLE

START_TIMEOUT_S = 120  # model load ≈ 5 s; generous for a busy 2-core CI machine
QUESTIONS = {
    "How many soldiers did Russia say it withdrew across the Dnipro?": "russian-withdrawal-efforts",
    "When did Ukrainian forces enter the city of Kherson?": None,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    qa = Path(sys.executable).with_name("qa")
    env = os.environ | {"QA_CACHE_DIR": str(tmp_path_factory.mktemp("server-cache")), "HF_HUB_OFFLINE": "1"}
    env.pop("QA_API_KEY", None)
    log = tmp_path_factory.mktemp("server-log") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(qa), "serve", "--index", str(seed_index), "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"qa serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    print(f"qa serve ready in {START_TIMEOUT_S - (deadline - time.monotonic()):.1f} s")
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"qa serve not ready after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # a clean shutdown on SIGTERM (uvicorn re-raises the signal once shut down, hence -15 on newer versions)
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()


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
