"""Two collections in one `qa serve` against two single-index servers: resident memory, and a load test on
one collection while the other is rebuilt and swapped in (issue #30's targets: RSS <= the sum of two
single-index servers; 0 failed requests during the swap).

Builds two indexes in a work folder (the seed article; the first N articles of the frontlines corpus), then
runs, one at a time, `qa serve --index A`, `qa serve --index B` and `qa serve --collections a=A,b=B`, each
warmed up with the same searches (the reader on where models/reader is installed), and reads VmRSS / VmHWM
from /proc (after one unmeasured start that fills the cache: the reader's ONNX export). Then, on the
two-collection server, clients search collection `b` while collection `a` is
rebuilt (`qa build`, a changed article) and picked up by the server's link watch.

    .venv/bin/python bench/collections_rss.py [--second-articles 20] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
QA = str(Path(sys.executable).parent / "qa")
FRONTLINES = ROOT.parent / "shared" / "corpus" / "frontlines"
KHERSON_Q = ["How many soldiers did Russia say it withdrew across the Dnipro?", "When was Kherson liberated?",
             "What happened to the Antonivskyi Bridge?", "Who entered the city first?"]
SECOND_Q = ["Which brigade fought in the battle?", "casualties of the shelling", "When did the offensive start?",
            "drone attack on the port"]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))] if s else float("nan")


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def env(cache: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    return keep | {"QA_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                   "QA_RELOAD_CHECK_S": "0.5"}


def build(seeds: Path, index: Path, cache: Path) -> float:
    t = time.perf_counter()
    subprocess.run([QA, "build", "--seeds", str(seeds), "--index", str(index), "-q"], cwd=ROOT, env=env(cache),
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


class Server:
    def __init__(self, args: list[str], cache: Path, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log.open("wb")
        self.proc = subprocess.Popen([QA, "serve", *args, "--port", str(port)], cwd=ROOT, env=env(cache),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"qa serve {args} did not become ready; see {log}")
            time.sleep(0.5)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def warm(url: str, routes: list[tuple[str, list[str]]], rounds: int) -> int:
    """The same searches for every configuration: `rounds` passes over each collection's questions."""
    n = 0
    with httpx.Client(base_url=url, timeout=120) as c:
        for _ in range(rounds):
            for route, qs in routes:
                for q in qs:
                    r = c.post(route, json={"query": q, "k": 5})
                    r.raise_for_status()
                    n += 1
    return n


def memory(args: list[str], routes: list[tuple[str, list[str]]], cache: Path, log: Path, rounds: int
           ) -> dict[str, Any]:
    from socket import socket

    with socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Server(args, cache, port, log)
    try:
        ready_rss = rss_mb(server.proc.pid, "VmRSS")
        searches = warm(server.url, routes, rounds)
        reader = httpx.post(server.url + routes[0][0], json={"query": routes[0][1][0]}, timeout=120).json()
        return {"args": args, "rss_ready_mb": round(ready_rss, 1), "searches": searches,
                "rss_mb": round(rss_mb(server.proc.pid, "VmRSS"), 1),
                "peak_rss_mb": round(rss_mb(server.proc.pid, "VmHWM"), 1),
                "reader_on": reader.get("answer") is not None}
    finally:
        server.close()


def load_during_rebuild(both: list[str], seeds_a: Path, index_a: Path, cache: Path, log: Path, clients: int,
                        max_requests: int) -> dict[str, Any]:
    from socket import socket

    with socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Server(both, cache, port, log)
    lat: list[tuple[float, float]] = []  # (start time, ms)
    errors: list[str] = []
    ids: set[str] = set()
    stop = threading.Event()
    lock = threading.Lock()
    try:
        def collections() -> dict[str, Any]:
            listed = httpx.get(server.url + "/v1/collections", timeout=30).json()["collections"]
            return {c["name"]: c["index"]["id"] for c in listed}

        before = collections()

        def client(n: int) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as c:
                for i in range(max_requests // clients):
                    if stop.is_set():
                        return
                    t = time.perf_counter()
                    try:
                        r = c.post("/v1/collections/b/search", json={"query": SECOND_Q[(n + i) % 4], "k": 5})
                        ok = r.status_code == 200
                        if ok:
                            with lock:
                                ids.add(r.json()["index"]["id"])
                        else:
                            errors.append(f"{r.status_code} {r.text[:200]}")
                    except httpx.HTTPError as exc:
                        errors.append(repr(exc))
                    with lock:
                        lat.append((t, (time.perf_counter() - t) * 1000))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(5)
        article = seeds_a / "liberation_of_kherson.md"
        article.write_text(article.read_text(encoding="utf-8") + "\n\n## Aftermath\n\nThe Kakhovka dam was destroyed "
                           "in June 2023.\n", encoding="utf-8")
        time.sleep(1.05)  # index ids carry the build second
        rebuild_start = time.perf_counter()
        build_s = build(seeds_a, index_a, cache)
        while collections()["a"] == before["a"]:
            if time.perf_counter() - rebuild_start > 120:
                raise RuntimeError("the rebuilt collection was never picked up")
            time.sleep(0.1)
        swapped = time.perf_counter()
        time.sleep(5)
        stop.set()
        for t in threads:
            t.join(120)
        after = collections()
    finally:
        server.close()
    during = [ms for t, ms in lat if rebuild_start <= t <= swapped]
    quiet = [ms for t, ms in lat if t < rebuild_start]
    return {
        "clients": clients, "requests": len(lat), "failed": len(errors), "errors": errors[:5],
        "seconds": round(time.perf_counter() - t0, 1), "rebuild_and_swap_s": round(swapped - rebuild_start, 1),
        "build_s": round(build_s, 1), "other_collection_index_unchanged": after["b"] == before["b"] and ids == {before["b"]},
        "rebuilt_collection_swapped": after["a"] != before["a"],
        "p50_ms_before": round(statistics.median(quiet), 1) if quiet else None,
        "p99_ms_before": round(pct(quiet, 99), 1) if quiet else None,
        "requests_during_rebuild": len(during),
        "p50_ms_during_rebuild": round(statistics.median(during), 1) if during else None,
        "p99_ms_during_rebuild": round(pct(during, 99), 1) if during else None,
    }


def markdown(res: dict[str, Any]) -> str:
    m = res["memory"]
    load = res["load"]
    lines = [
        f"# Two collections in one process vs two single-index servers ({res['date']})", "",
        f"Machine: {res['machine']}. Reader on: {m['both']['reader_on']}. Command: `{res['command']}`.", "",
        (f"Collections: `a` = the seed ({res['sizes']['a']['articles']} article, {res['sizes']['a']['passages']} passages), "
        f"`b` = the first {res['second_articles']} frontlines articles ({res['sizes']['b']['articles']} articles, "
        f"{res['sizes']['b']['passages']} passages). Each server warmed up with the same passes over 4 questions "
        f"per collection it serves ({m['a']['searches']} / {m['b']['searches']} / {m['both']['searches']} searches)."), "",
        "| server | RSS after warm-up (MB) | peak RSS (MB) |", "| --- | ---: | ---: |",
        f"| `qa serve --index a` | {m['a']['rss_mb']} | {m['a']['peak_rss_mb']} |",
        f"| `qa serve --index b` | {m['b']['rss_mb']} | {m['b']['peak_rss_mb']} |",
        (f"| sum of the two | {round(m['a']['rss_mb'] + m['b']['rss_mb'], 1)} | "
        f"{round(m['a']['peak_rss_mb'] + m['b']['peak_rss_mb'], 1)} |"),
        f"| `qa serve --collections a=…,b=…` | **{m['both']['rss_mb']}** | {m['both']['peak_rss_mb']} |", "",
        (f"Load on collection `b` while `a` is rebuilt (`qa build`, {load['build_s']} s) and swapped in by the link "
        f"watch: {load['clients']} clients, {load['requests']} requests, **{load['failed']} failed**; "
        f"{load['requests_during_rebuild']} during the rebuild and swap ({load['rebuild_and_swap_s']} s). "
        f"p50 {load['p50_ms_before']} ms before / {load['p50_ms_during_rebuild']} ms during (p99 "
        f"{load['p99_ms_before']} / {load['p99_ms_during_rebuild']} ms: the build shares the 2 cores). "
        f"`b`'s index unchanged throughout: {load['other_collection_index_unchanged']}; `a` swapped: "
        f"{load['rebuilt_collection_swapped']}."), "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--second-articles", type=int, default=20, help="frontlines articles in collection b")
    ap.add_argument("--rounds", type=int, default=3, help="warm-up passes over each collection's questions")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--max-requests", type=int, default=2000, help="load test bound, all clients together")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "collections")
    args = ap.parse_args()
    cache = ROOT / ".cache" / "qa"
    with tempfile.TemporaryDirectory(prefix="qa-collections-") as tmp:
        work = Path(tmp)
        seeds_a, seeds_b = work / "seeds-a", work / "seeds-b"
        shutil.copytree(ROOT / "seeds", seeds_a)
        seeds_b.mkdir()
        for f in sorted(FRONTLINES.glob("*.md"))[: args.second_articles]:
            shutil.copy2(f, seeds_b / f.name)
        index_a, index_b = work / "index" / "a", work / "index" / "b"
        builds = {"a": round(build(seeds_a, index_a, cache), 1), "b": round(build(seeds_b, index_b, cache), 1)}
        sizes = {}
        for name, index in (("a", index_a), ("b", index_b)):
            manifest = json.loads((index.resolve() / "manifest.json").read_text())
            sizes[name] = {"articles": manifest["counts"].get("articles"), "passages": manifest["counts"].get("chunks",
                           manifest["counts"].get("passages"))}
        spec = f"a={index_a},b={index_b}"
        routes_a = [("/v1/search", KHERSON_Q)]
        routes_b = [("/v1/search", SECOND_Q)]
        routes_both = [("/v1/collections/a/search", KHERSON_Q), ("/v1/collections/b/search", SECOND_Q)]
        # a first start exports the reader's ONNX files into the cache (a one-off peak): pay it before measuring
        cold = memory(["--index", str(index_a)], routes_a, cache, work / "cold.log", 1)
        mem = {
            "a": memory(["--index", str(index_a)], routes_a, cache, work / "a.log", args.rounds),
            "b": memory(["--index", str(index_b)], routes_b, cache, work / "b.log", args.rounds),
            "both": memory(["--collections", spec], routes_both, cache, work / "both.log", args.rounds),
        }
        for k, v in mem.items():
            print(f"{k}: RSS {v['rss_mb']} MB (peak {v['peak_rss_mb']}), reader on: {v['reader_on']}", flush=True)
        load = load_during_rebuild(["--collections", spec], seeds_a, index_a, cache, work / "load.log", args.clients,
                                   args.max_requests)
        print(f"load: {load}", flush=True)
    res = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": "make bench-collections", "second_articles": args.second_articles, "builds_s": builds,
        "sizes": sizes, "cold_start": cold, "memory": mem, "load": load,
        "rss_target_met": mem["both"]["rss_mb"] <= mem["a"]["rss_mb"] + mem["b"]["rss_mb"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(str(args.out) + ".json").write_text(json.dumps(res, indent=2) + "\n")
    Path(str(args.out) + ".md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
