"""Benchmarks: build speed, incremental rebuild, query latency per stage, HTTP throughput, memory, FAISS scale.

    .venv/bin/python bench/run.py            # full run (all of frontlines, 100k synthetic vectors)
    .venv/bin/python bench/run.py --only scale --scale 1000000   # FAISS at 1M (~15 min on 2 cores)
    .venv/bin/python bench/run.py --quick    # smaller sizes, a few minutes
    .venv/bin/python bench/run.py --only build,query

Writes bench/results/latest.json and latest.md. Every timed part runs several times and reports medians.
Builds and servers run as child processes so their wall time, CPU time and peak RSS are their own
(os.wait4); wall time includes process start and model load, i.e. what a user waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
QA = str(Path(PY).with_name("qa"))
FRONTLINES = ROOT.parent / "shared" / "corpus" / "frontlines"
SEEDS = ROOT / "seeds"
RESULTS = ROOT / "bench" / "results"
PIPELINE_BACKEND = "torch"  # "our pipeline": PyTorch, bf16 autocast where the CPU has it (QA_PRECISION=auto)
SERVE_BACKEND = "onnx"  # the fastest single-query backend here (docs/performance.md)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    i = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[i]


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_measured(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a child to completion: wall s, CPU s and peak RSS MB of that child alone (os.wait4), stdout."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
        p = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=so, stderr=se, text=True)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        out, err = so.read(), se.read()
    if p.returncode != 0:
        raise RuntimeError(f"{args} failed ({p.returncode}): {err[-2000:]}")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024, "out": out}


# -- build ------------------------------------------------------------------------------------------------

PLAIN = """
import json, sys, time
from sentence_transformers import SentenceTransformer
from qa.ingest.tokens import model_path
from qa.threads import configure
configure()
texts = json.load(open(sys.argv[1]))
t = time.perf_counter()
m = SentenceTransformer(str(model_path()), device="cpu")
v = m.encode(texts, normalize_embeddings=True)  # its defaults: batch 32, fp32
print(json.dumps({"n": len(texts), "encode_s": time.perf_counter() - t}))
"""


def build_precision() -> str:
    from qa.embed.model import resolve_precision
    from qa.settings import Settings

    return resolve_precision(PIPELINE_BACKEND, Settings().precision)


def passages_of(folder: Path) -> list[str]:
    from qa.index.contract import chunker_settings
    from qa.ingest.articles import find_files, iter_articles
    from qa.ingest.chunker import Chunker, ChunkerConfig
    from qa.settings import Settings

    chunker = Chunker(ChunkerConfig(**chunker_settings(Settings())))
    out: list[str] = []
    for a, _ in iter_articles(folder, find_files(folder)):
        if a is not None:
            out += [c.embed_text for c in chunker.chunk(a)]
    return out


def corpus_copy(src: Path, dst: Path, limit: int | None) -> Path:
    dst.mkdir(parents=True)
    files = sorted(src.glob("*.md"))[:limit] if limit else sorted(src.glob("*.md"))
    for f in files:
        shutil.copy2(f, dst / f.name)
    return dst


def qa_build(seeds: Path, index: Path, backend: str, cache: Path, force: bool = False) -> dict[str, Any]:
    args = [QA, "build", "--seeds", str(seeds), "--index", str(index), "-q"] + (["--force"] if force else [])
    return run_measured(args, {"QA_BACKEND": backend, "QA_CACHE_DIR": str(cache)})


def bench_build(work: Path, cache: Path, corpora: dict[str, Path], runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, folder in corpora.items():
        texts = passages_of(folder)
        tf = work / f"{name}.texts.json"
        tf.write_text(json.dumps(texts))
        plain, ours, loads = [], [], []
        for r in range(runs):  # interleaved, so machine load hits both alike
            loads.append(round(os.getloadavg()[0], 2))
            p = run_measured([PY, "-c", PLAIN, str(tf)])
            p |= json.loads(p.pop("out").strip().splitlines()[-1])
            plain.append(p)
            idx = work / f"idx-{name}-{r}"
            o = qa_build(folder, idx, PIPELINE_BACKEND, cache, force=True)
            o.pop("out")
            ours.append(o)
            shutil.rmtree(idx, ignore_errors=True)
        n = len(texts)
        pw, ow = med([p["wall_s"] for p in plain]), med([o["wall_s"] for o in ours])
        out[name] = {
            "articles": len(list(folder.glob("*.md"))),
            "passages": n,
            "plain_sentence_transformers": {
                "what": "SentenceTransformer(torch).encode(passages) with its defaults (batch 32, fp32): load + encode only",
                "wall_s": pw, "cpu_s": med([p["cpu_s"] for p in plain]), "passages_per_s": n / pw,
                "peak_rss_mb": max(p["peak_rss_mb"] for p in plain),
            },
            "qa_build": {
                "what": f"`qa build --force` with QA_BACKEND={PIPELINE_BACKEND} ({build_precision()}): load, chunk, embed, FAISS, BM25, write",
                "wall_s": ow, "cpu_s": med([o["cpu_s"] for o in ours]), "passages_per_s": n / ow,
                "peak_rss_mb": max(o["peak_rss_mb"] for o in ours),
            },
            "speedup_wall": pw / ow,
            "speedup_cpu": med([p["cpu_s"] for p in plain]) / med([o["cpu_s"] for o in ours]),
            "runs": runs,
            "per_run_wall_s": [[round(p["wall_s"], 1), round(o["wall_s"], 1)] for p, o in zip(plain, ours)],
            "loadavg_1min_before_each_run": loads,
        }
        print(f"build {name}: {n} passages, plain {pw:.1f}s, qa build {ow:.1f}s, ×{pw / ow:.2f}", flush=True)
    return out


def bench_incremental(work: Path, cache: Path, corpus: Path, runs: int) -> dict[str, Any]:
    """Full build of a copy, then edit one article and rebuild; the rebuild's share of the full build."""
    src = corpus_copy(corpus, work / "incr-corpus", None)
    # each full build into a new folder: `--force` on an existing index would reuse its vectors
    full = [qa_build(src, work / f"idx-incr-{r}", PIPELINE_BACKEND, cache, force=True) for r in range(runs)]
    idx = work / f"idx-incr-{runs - 1}"
    victim = sorted(src.glob("*.md"))[len(list(src.glob("*.md"))) // 2]
    edits = []
    for r in range(runs):
        with victim.open("a") as f:
            f.write(f"\n\nBenchmark edit {r}: a new closing paragraph about the frontline.\n")
        edits.append(qa_build(src, idx, PIPELINE_BACKEND, cache))
    noop = qa_build(src, idx, PIPELINE_BACKEND, cache)
    fw, ew = med([f["wall_s"] for f in full]), med([e["wall_s"] for e in edits])
    res = {
        "corpus": str(corpus.name), "edited": victim.name,
        "full_wall_s": fw, "incremental_wall_s": ew, "fraction_of_full": ew / fw,
        "up_to_date_wall_s": noop["wall_s"], "report": edits[-1]["out"].strip()[-300:], "runs": runs,
    }
    print(f"incremental: full {fw:.1f}s, one article edited {ew:.1f}s ({ew / fw:.1%})", flush=True)
    return res


# -- queries ----------------------------------------------------------------------------------------------

def questions(n: int) -> list[str]:
    qs = [json.loads(line)["question"] for line in (ROOT / "eval" / "kherson.jsonl").read_text().splitlines() if line]
    extra = [
        "when did the counteroffensive start", "who commanded the defence of the city", "casualties in the battle",
        "which bridge was destroyed", "drone attacks on energy infrastructure", "Bakhmut", "Avdiivka encirclement",
        "how long did the siege last", "what happened at the dam", "HIMARS",
    ]
    qs += extra
    return (qs * (n // len(qs) + 1))[:n]


def bench_query(index: Path, cache: Path, n: int, backends: list[str]) -> dict[str, Any]:
    from qa.embed.embedder import Embedder
    from qa.search.retriever import Retriever
    from qa.settings import Settings

    out: dict[str, Any] = {}
    qs = questions(n)
    for variant in backends:  # "backend" or "backend:precision"
        backend, _, precision = variant.partition(":")
        settings = Settings(backend=backend, precision=precision or "auto", cache_dir=cache)  # type: ignore[arg-type]
        r = Retriever.load(index, settings, Embedder.from_settings(settings))
        backend = f"{backend}-{r.embedder.precision}"
        for q in qs[:10]:
            r.search(q, 5, "hybrid")  # warm up
        for mode in ("hybrid", "dense", "lexical"):
            stages: dict[str, list[float]] = {}
            total: list[float] = []
            for q in qs:
                res = r.search(q, 5, mode)
                total.append(res.took_ms)
                for k, v in res.timings.items():
                    stages.setdefault(k, []).append(v)
            out[f"{backend}/{mode}"] = {
                "queries": len(qs),
                "total_ms": {"p50": pct(total, 50), "p95": pct(total, 95), "p99": pct(total, 99)},
                **{f"{k}_ms": {"p50": pct(v, 50), "p95": pct(v, 95), "p99": pct(v, 99)} for k, v in stages.items()},
            }
            print(f"query {backend}/{mode}: p50 {pct(total, 50):.1f} ms, p99 {pct(total, 99):.1f} ms", flush=True)
    return out


# -- HTTP -------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _load(url: str, qs: list[str], conc: int, max_requests: int, max_s: float) -> dict[str, Any]:
    import httpx

    lat: list[float] = []
    errors = 0
    sent = 0
    stop = time.perf_counter() + max_s

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=conc)) as client:
        async def worker() -> None:
            nonlocal sent, errors
            while sent < max_requests and time.perf_counter() < stop:
                q = qs[sent % len(qs)]
                sent += 1
                t = time.perf_counter()
                try:
                    resp = await client.post(url + "/v1/search", json={"query": q, "k": 5, "mode": "hybrid"})
                    if resp.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                lat.append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        wall = time.perf_counter() - t0
    return {
        "concurrency": conc, "requests": len(lat), "errors": errors, "seconds": wall,
        "req_per_s": len(lat) / wall, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
    }


def bench_http(index: Path, cache: Path, backend: str, levels: list[int], max_requests: int, max_s: float,
               batching: bool) -> dict[str, Any]:
    import httpx

    port = free_port()
    env = {**os.environ, "QA_BACKEND": backend, "QA_CACHE_DIR": str(cache), "QA_INDEX": str(index),
           "QA_PORT": str(port), "QA_BATCH_QUERIES": "1" if batching else "0"}
    server = subprocess.Popen([QA, "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"qa serve did not become ready: {server.stderr.read()[-2000:] if server.stderr else ''}")
            time.sleep(0.5)
        qs = questions(200)
        asyncio.run(_load(url, qs, 4, 40, 20))  # warm up
        rows = []
        for conc in levels:
            row = asyncio.run(_load(url, qs, conc, max_requests, max_s))
            rows.append(row)
            print(f"http {backend} batching={batching} c={conc}: {row['req_per_s']:.1f} req/s, "
                  f"p50 {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms, errors {row['errors']}", flush=True)
        return {"backend": backend, "batching": batching, "levels": rows,
                "server_peak_rss_mb": rss_mb(server.pid, "VmHWM"), "server_rss_mb": rss_mb(server.pid, "VmRSS")}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


# -- FAISS at scale ---------------------------------------------------------------------------------------

SCALE = """
import json, sys, time, resource
import numpy as np
sys.path.insert(0, sys.argv[4])
from qa.threads import configure
configure()
from qa.index.stores.faiss_store import FaissStore
n, kind, params = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
rng = np.random.default_rng(0)
# clustered unit vectors (real embeddings cluster by topic; uniform random 384-d points have no
# neighbourhood structure and are a worst case no real corpus looks like)
centers = rng.standard_normal((max(16, n // 1000), 384)).astype(np.float32)
def sample(m, seed):
    r = np.random.default_rng(seed)
    x = centers[r.integers(0, len(centers), m)] + 0.9 * r.standard_normal((m, 384)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
X = np.empty((n, 384), np.float32)
for s in range(0, n, 100_000):
    X[s:s + 100_000] = sample(min(100_000, n - s), s + 1)
Q = sample(200, 7)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
store = FaissStore.build(X, kind)
build_s = time.perf_counter() - t
truth = np.load(sys.argv[5]) if kind != "flat" else None
out = {"n": n, "kind": kind, "build_s": build_s, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "vectors_mb": X.nbytes / 2**20, "rows": []}
settings = params.get("efSearch") or params.get("nprobe") or [None]
for p in settings:
    if kind == "hnsw": store.index.hnsw.efSearch = p
    if kind == "ivf": store.index.nprobe = p
    lat, found = [], []
    for i, q in enumerate(Q):
        t = time.perf_counter(); s, rows = store.search(q, 10); lat.append((time.perf_counter() - t) * 1000)
        found.append(rows)
    if kind == "flat":
        np.save(sys.argv[5], np.stack(found))
        recall = 1.0
    else:
        recall = float(np.mean([len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)]))
    lat.sort()
    out["rows"].append({"param": p, "p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99) - 1],
                        "recall_at_10": recall})
print(json.dumps(out))
"""


def bench_scale(work: Path, sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    grid = {"flat": {}, "hnsw": {"efSearch": [16, 32, 64, 128]}, "ivf": {"nprobe": [4, 8, 16, 32, 64]}}
    for n in sizes:
        truth = work / f"truth-{n}.npy"
        rows = []
        for kind, params in grid.items():
            r = run_measured([PY, "-c", SCALE, str(n), kind, json.dumps(params), str(ROOT), str(truth)])
            res = json.loads(r["out"].strip().splitlines()[-1])
            res["process_peak_rss_mb"] = r["peak_rss_mb"]
            rows.append(res)
            for row in res["rows"]:
                print(f"scale n={n} {kind} {row['param']}: build {res['build_s']:.1f}s, p50 {row['p50_ms']:.2f} ms, "
                      f"recall@10 {row['recall_at_10']:.3f}", flush=True)
        out[str(n)] = rows
    return out


# -- report -----------------------------------------------------------------------------------------------

def markdown(res: dict[str, Any]) -> str:
    L = [f"# qa benchmarks — {res['meta']['date']}", "",
         (f"Machine: {res['meta']['cpus']} cores, {res['meta']['machine']}; load average at start "
         f"{res['meta']['loadavg_start']}, at end {res['meta'].get('loadavg_end')}. Command: `{res['meta']['command']}`."),
         "Medians of several runs; wall times include process start and model load."]
    if res["meta"].get("updated"):
        L.append(f"Sections re-run: {res['meta']['updated']}.")
    L.append("")
    if "build" in res:
        L += ["## Build (plain SentenceTransformer.encode vs `qa build`)", "",
              "| corpus | passages | plain encode s (p/s) | qa build s (p/s) | speed-up wall | speed-up CPU | build peak RSS MB |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, b in res["build"].items():
            p, o = b["plain_sentence_transformers"], b["qa_build"]
            L.append(f"| {name} | {b['passages']} | {p['wall_s']:.1f} ({p['passages_per_s']:.1f}) | "
                     f"{o['wall_s']:.1f} ({o['passages_per_s']:.1f}) | ×{b['speedup_wall']:.2f} | ×{b['speedup_cpu']:.2f} | "
                     f"{o['peak_rss_mb']:.0f} |")
        L.append("")
    if "incremental" in res:
        i = res["incremental"]
        L += ["## Incremental rebuild", "",
              (f"Full build of {i['corpus']} {i['full_wall_s']:.1f} s; after editing one article ({i['edited']}) "
              f"{i['incremental_wall_s']:.1f} s = **{i['fraction_of_full']:.1%}** of a full build; "
              f"nothing changed: {i['up_to_date_wall_s']:.1f} s."), ""]
    if "query" in res:
        L += ["## Query latency in-process (ms)", "", "| backend/mode | stage | p50 | p95 | p99 |", "| --- | --- | --- | --- | --- |"]
        for name, q in res["query"].items():
            for stage, v in q.items():
                if stage.endswith("_ms"):
                    L.append(f"| {name} | {stage[:-3]} | {v['p50']:.2f} | {v['p95']:.2f} | {v['p99']:.2f} |")
        L.append("")
    if "http" in res:
        L += ["## HTTP `POST /v1/search` (hybrid, k=5) against `qa serve`", "",
              "| backend | batching | concurrency | req/s | p50 ms | p99 ms | errors | requests |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for h in res["http"]:
            for r in h["levels"]:
                L.append(f"| {h['backend']} | {h['batching']} | {r['concurrency']} | {r['req_per_s']:.1f} | "
                         f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['errors']} | {r['requests']} |")
        L += [""] + [f"Server peak RSS ({h['backend']}, batching={h['batching']}): {h['server_peak_rss_mb']:.0f} MB"
                     for h in res["http"]] + [""]
    if "scale" in res:
        L += ["## FAISS at scale (synthetic clustered 384-d unit vectors, 200 single queries)", "",
              "| n | index | build s | process peak RSS MB | efSearch / nprobe | p50 ms | p99 ms | recall@10 |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for n, rows in res["scale"].items():
            for r in rows:
                for row in r["rows"]:
                    L.append(f"| {n} | {r['kind']} | {r['build_s']:.1f} | {r['process_peak_rss_mb']:.0f} | "
                             f"{row['param'] if row['param'] is not None else '-'} | {row['p50_ms']:.2f} | "
                             f"{row['p99_ms']:.2f} | {row['recall_at_10']:.3f} |")
        L.append("")
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller corpora, sizes and request counts")
    ap.add_argument("--only", default="build,incremental,query,http,scale", help="comma-separated sections")
    ap.add_argument("--runs", type=int, default=None, help="repeats of each build (default 3, quick 1)")
    ap.add_argument("--scale", default=None, help="comma-separated vector counts (default 100000; quick 20000,100000)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--merge", action="store_true", help="update only the sections run in the existing latest.json")
    a = ap.parse_args()
    only = set(a.only.split(","))
    runs = a.runs or (1 if a.quick else 3)
    # 1M vectors: HNSW alone builds for ~12 min on the 2-core box, so it is opt-in (--scale 100000,1000000)
    sizes = [int(s) for s in (a.scale or ("20000,100000" if a.quick else "100000")).split(",")]
    res: dict[str, Any] = {"meta": {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
        "machine": platform.platform(), "python": platform.python_version(), "quick": a.quick,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()], "command": " ".join(["bench/run.py"] + sys.argv[1:]),
    }}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        work = Path(tmp)
        cache = ROOT / ".cache" / "qa"  # the exported ONNX model is reused between runs
        front = corpus_copy(FRONTLINES, work / "frontlines", 40 if a.quick else None)
        if "build" in only:
            res["build"] = bench_build(work, cache, {"seeds": SEEDS, "frontlines": front}, runs)
        if "incremental" in only:
            res["incremental"] = bench_incremental(work, cache, front, max(1, runs))
        if only & {"query", "http"}:
            idx = work / "idx-query"
            qa_build(front, idx, PIPELINE_BACKEND, cache, force=True)
            if "query" in only:
                res["query"] = bench_query(idx, cache, 100 if a.quick else 300, ["torch:fp32", "torch:bf16", "onnx"])
            if "http" in only:
                n_req, secs = (150, 15) if a.quick else (600, 30)
                levels = [1, 4, 8, 16]
                res["http"] = [
                    bench_http(idx, cache, SERVE_BACKEND, levels, n_req, secs, batching=True),
                    bench_http(idx, cache, SERVE_BACKEND, [8], n_req, secs, batching=False),
                    bench_http(idx, cache, "torch", [8], n_req, secs, batching=True),
                ]
        if "scale" in only:
            res["scale"] = bench_scale(work, sizes)
    seconds = res["meta"]["seconds"] = time.perf_counter() - t0
    res["meta"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    a.out.mkdir(parents=True, exist_ok=True)
    if a.merge and (a.out / "latest.json").exists():  # keep the sections this run did not redo
        old = json.loads((a.out / "latest.json").read_text())
        this = (f"{res['meta']['date']}: {a.only} ({res['meta']['command']}; {seconds:.0f} s, load average "
                f"{res['meta']['loadavg_start']} at start, {res['meta']['loadavg_end']} at end)")
        earlier = old["meta"].get("updated")  # every merged run is listed, newest last
        updated = f"{earlier}; {this}" if earlier else this
        res = old | {k: v for k, v in res.items() if k != "meta"} | {"meta": old["meta"] | {"updated": updated}}
    (a.out / "latest.json").write_text(json.dumps(res, indent=2) + "\n")
    (a.out / "latest.md").write_text(markdown(res) + "\n")
    print(f"wrote {a.out / 'latest.json'} and latest.md in {seconds:.0f} s")  # this run's time, merged or not


if __name__ == "__main__":
    main()
