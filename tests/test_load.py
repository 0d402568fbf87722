"""A real `qa serve` hammered by 8 clients while its index is rebuilt and swapped twice; raw hostile paths.

Three index versions are built from different seed sets (A: the Kherson seed; B: A plus three frontlines
articles; C: three other frontlines articles, no Kherson). The server picks up B through its link watch
and C through `POST /v1/admin/reload`. Every response must be a 200 whose passages all belong to the
version its `index.id` names: no failed request, no answer stitched from two versions.
"""

from __future__ import annotations

import http.client
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from qa.build import build
from qa.index import folder as ix
from tests.conftest import FRONTLINES, ROOT, SEEDS, need_corpus, seeded_index
from tests.live_server import serve

pytestmark = pytest.mark.slow  # load: clients hammer a real server for seconds

CLIENTS = 8
HAMMER_S = 20.0
QUESTIONS = [
    "How many soldiers did Russia say it withdrew across the Dnipro?",
    "When was Kherson liberated?",
    "drone attack on the port",
    "Which brigade fought in the battle?",
    "casualties of the shelling",
]


@dataclass
class Version:
    id: str
    passages: set[str]
    articles: set[str]


@dataclass
class Live:
    base: str
    seeds: Path
    index_dir: Path
    settings: object
    versions: dict[str, Version] = field(default_factory=dict)

    def record(self) -> Version:
        folder = ix.resolve(self.index_dir)
        chunks = ix.read_chunks(folder)
        v = Version(ix.read_manifest(folder).id, {c.id for c in chunks}, {c.article_id for c in chunks})
        self.versions[v.id] = v
        return v

    def use_seeds(self, files: list[Path]) -> None:
        for old in self.seeds.glob("*.md"):
            old.unlink()
        for f in files:
            shutil.copy(f, self.seeds / f.name)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, settings_factory, embedder) -> Iterator[Live]:  # type: ignore[no-untyped-def]
    need_corpus()
    tmp = tmp_path_factory.mktemp("load")
    seeds, index_dir, settings = seeded_index(tmp, "live", settings_factory, embedder)
    with serve(index_dir, tmp / "server", QA_RELOAD_CHECK_S="1") as live_server:
        state = Live(live_server.url, seeds, index_dir, settings)
        state.record()
        yield state
    log = live_server.log
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.mark.parametrize(
    "raw_path",
    [
        "/v1/articles/../../../../etc/passwd",
        "/v1/articles/..%2f..%2f..%2fetc%2fpasswd",
        "/v1/articles/%2e%2e/%2e%2e/pyproject.toml",
        "/v1/articles//etc/passwd",
        "/v1/articles/liberation_of_kherson%00.md",
        "/v1/passages?article=../../seeds/liberation_of_kherson",
        "/static/../../pyproject.toml",
        "/static/..%2f..%2fqa%2fapi.py",
        "/../../../etc/passwd",
    ],
)
def test_raw_paths_over_a_socket_never_leave_the_index(live: Live, raw_path: str) -> None:
    """http.client sends the path as written (httpx would normalise `..` away before sending)."""
    host, port = live.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", raw_path)
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
    finally:
        conn.close()
    assert r.status == 404, (raw_path, r.status, body[:300])
    assert body.startswith('{"error":') and '"status":404' in body
    assert "root:" not in body and "[project]" not in body and "import " not in body and str(ROOT) not in body


def test_hammered_while_the_index_is_rebuilt_and_swapped_twice(live: Live, embedder) -> None:  # type: ignore[no-untyped-def]
    frontlines = sorted(FRONTLINES.glob("*.md"), key=lambda p: (p.stat().st_size, p.name))
    version_a = next(iter(live.versions.values()))
    stop = threading.Event()
    failures: list[str] = []
    seen: list[tuple[str, str]] = []  # (index id, route)
    lock = threading.Lock()

    def check(route: str, r: httpx.Response) -> None:
        if r.status_code != 200:
            failures.append(f"{route}: {r.status_code} {r.text[:200]}")
            return
        data = r.json()
        index_id = data["index"]["id"]
        version = live.versions.get(index_id)
        passages = data.get("results", data.get("passages", []))
        with lock:
            seen.append((index_id, route))
        if version is None:
            failures.append(f"{route}: answered from an unknown index {index_id}")
        elif not all(
            p["passage_id"] in version.passages and p["article"]["id"] in version.articles for p in passages
        ):
            failures.append(f"{route}: passages not all from index {index_id}")

    def client(n: int) -> None:
        with httpx.Client(base_url=live.base, timeout=30) as c:
            i = 0
            while not stop.is_set():
                q = QUESTIONS[(n + i) % len(QUESTIONS)]
                try:
                    if i % 4 == 3:
                        check("context", c.post("/v1/context", json={"query": q, "max_tokens": 400}))
                    else:
                        check("search", c.post("/v1/search", json={"query": q, "k": 5, "mode": "hybrid"}))
                except httpx.HTTPError as exc:
                    failures.append(f"transport: {exc!r}")
                i += 1

    def wait_serving(index_id: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while httpx.get(f"{live.base}/version", timeout=30).json()["index"]["id"] != index_id:
            assert time.monotonic() < deadline, f"server never switched to {index_id}"
            time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        # swap 1: build B into the served index folder; the server's link watch notices it
        live.use_seeds([SEEDS / "liberation_of_kherson.md", *frontlines[:3]])
        time.sleep(1.05)  # index ids carry the build second
        build(live.settings, live.seeds, live.index_dir, embedder=embedder)  # type: ignore[arg-type]
        version_b = live.record()
        wait_serving(version_b.id)
        time.sleep(2)
        # swap 2: build C (no Kherson at all) and ask for it with the operator route
        live.use_seeds(frontlines[3:6])
        build(live.settings, live.seeds, live.index_dir, embedder=embedder)  # type: ignore[arg-type]
        version_c = live.record()
        r = httpx.post(f"{live.base}/v1/admin/reload", timeout=60)
        assert r.status_code == 200 and r.json()["status"] in ("reloaded", "unchanged"), (
            r.text
        )  # the watch may win
        assert r.json()["index"]["id"] == version_c.id
        wait_serving(version_c.id)
        time.sleep(max(2.0, HAMMER_S - (time.monotonic() - start)))
    finally:
        stop.set()
        for t in threads:
            t.join(60)

    ids = [i for i, _ in seen]
    print(
        f"{len(seen)} answers in {time.monotonic() - start:.1f} s: "
        + ", ".join(f"{v[:12]}… {ids.count(v)}" for v in live.versions)
    )
    assert failures == [], f"{len(failures)} failed of {len(seen) + len(failures)}: {failures[:5]}"
    assert {version_a.id, version_b.id, version_c.id} <= set(ids)
    assert ids.index(version_c.id) > ids.index(version_b.id) > 0  # A first, then B, then C
    assert len(seen) >= 3 * CLIENTS  # a count, not a speed: CI machines may be busy
    assert version_a.articles & version_b.articles and not (version_c.articles & version_a.articles)
