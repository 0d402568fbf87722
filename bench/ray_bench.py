"""Builds through Ray against the single-process build, and replicas that read records on demand.

    .venv/bin/python bench/ray_bench.py throughput [--seeds ../shared/corpus/frontlines] [--articles 20]
    .venv/bin/python bench/ray_bench.py replica --synthetic 100000 --work .cache/ray-bench
    BENCH_QUESTIONS=60 .venv/bin/python bench/ray_bench.py apart --work .cache/ray-bench
    (at 1 M synthetic passages: BENCH_QUESTIONS=20 BENCH_SEARCH_TIMEOUT_S=300, since Lite's brute-force
    hybrid search over 1 M rows outlasts the store's 10 s search budget)
    .venv/bin/python bench/ray_bench.py p50 --work .cache/ray-bench        (what `make bench-ray` runs)

`throughput`: the same corpus built from scratch (fresh cache, nothing reused) into Milvus Lite by the
single-process build (`qa build`, torch threads = cores) and through a real Ray cluster on 127.0.0.1
(tests/ray_cluster.py) of 1 and 2 nodes of 1 CPU each (one embedding actor per node, one torch thread each):
passages per second over the whole build (read, chunk, embed, write, publish).

`replica`: builds frontlines into Milvus Lite; a fresh process per case loads the index and runs the questions
without reading (query vectors given: the store's side only), then reports its RSS (VmRSS, VmHWM) and the
query p50/p95: frontlines with records in memory (today's Milvus path) and on demand (QA_RECORDS=store),
Milvus Lite running inside the replica. It then makes a synthetic corpus of `--synthetic` passages made from frontlines' passages (copies of its articles under
new ids, vectors jittered and renormalised, the same records and BM25 text), inserted straight into a Milvus
Lite collection of the build's schema — embedding that many passages on this machine's 2 cores would take
days (see docs/operations.md), the replica's side does not depend on how the vectors were made.
`apart`: the three replicas (frontlines in memory, on demand, synthetic on demand) against Milvus Lite in a
process of its own, as a Milvus server would be. `p50`: in memory vs on demand alternating in one process.

Results go to bench/results/ray.json (merged by section) and bench/results/ray.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("QA_READER", "off")
RESULTS = ROOT / "bench" / "results" / "ray.json"
FRONTLINES = ROOT.parent / "shared" / "corpus" / "frontlines"
if not FRONTLINES.is_dir():
    FRONTLINES = Path("/work/shared/corpus/frontlines")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def questions() -> list[str]:
    out = [json.loads(line)["question"] for line in (ROOT / "eval" / "kherson.jsonl").open(encoding="utf-8")
           if line.strip()]
    from qa.ingest.articles import find_files, load_file

    for path in find_files(FRONTLINES)[:60]:
        article, _ = load_file(path, FRONTLINES)
        if article is not None:
            out.append(f"What happened in the {article.title}?")
    return out


# -- throughput ----------------------------------------------------------------------------------------


def throughput(seeds: Path, work: Path) -> dict[str, Any]:
    from qa.build import build
    from qa.build.ray_engine import RayEngine, RayOptions
    from qa.settings import Settings
    from tests.ray_cluster import ray_cluster

    def settings(name: str) -> Settings:
        return Settings(seeds=seeds, index=work / "index" / name, cache_dir=work / f"cache-{name}", reader="off",
                        store="milvus", milvus_uri=str(work / f"{name}.db"))

    rows: dict[str, Any] = {}
    s = settings("local")
    t = time.perf_counter()
    report = build(s, seeds, s.index, processes=os.cpu_count() or 1)
    rows["local"] = {"passages": report.chunks, "embedded": report.embedded, "seconds": round(time.perf_counter() - t, 1)}
    print("local", rows["local"], flush=True)
    for nodes in (1, 2):
        with ray_cluster(workers=nodes - 1, cpus=1) as cluster:
            s = settings(f"ray{nodes}")
            t = time.perf_counter()
            with RayEngine(s, RayOptions(cluster.address)) as engine:
                report = build(s, seeds, s.index, engine=engine)
            rows[f"ray_{nodes}_node"] = {"passages": report.chunks, "embedded": report.embedded,
                                         "seconds": round(time.perf_counter() - t, 1), "actors": engine.workers}
        print(f"ray {nodes}", rows[f"ray_{nodes}_node"], flush=True)
    for row in rows.values():
        row["passages_per_s"] = round(row["embedded"] / row["seconds"], 1)
    local = rows["local"]["passages_per_s"]
    for row in rows.values():
        row["vs_local"] = round(row["passages_per_s"] / local, 2)
    return {"corpus": str(seeds), "cores": os.cpu_count(), "builds": rows}


# -- replicas ------------------------------------------------------------------------------------------


def serve_once(index: Path, records: str, uri: str, out: Path) -> dict[str, Any]:
    """In a fresh process: load, query, report RSS and latency."""
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.ray_bench import _replica; _replica()"
    env = os.environ | {"QA_RECORDS": records, "QA_MILVUS_URI": uri, "QA_READER": "off", "PYTHONPATH": str(ROOT),
                        "QA_INDEX": str(index), "BENCH_OUT": str(out)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800,
                         check=False)
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-3000:])
    return dict(json.loads(out.read_text()))


def _rss() -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _replica() -> None:
    from qa.search.retriever import Retriever
    from qa.settings import get_settings

    settings = get_settings()
    if os.environ.get("BENCH_SEARCH_TIMEOUT_S"):  # Lite brute-forces 1 M rows slower than a server's 10 s budget
        from qa.index.stores import milvus_store

        milvus_store.SEARCH_TIMEOUT_S = float(os.environ["BENCH_SEARCH_TIMEOUT_S"])
    t = time.perf_counter()
    retriever = Retriever.load(settings.index, settings)
    load_s = time.perf_counter() - t
    qs = questions()[: int(os.environ.get("BENCH_QUESTIONS", "0")) or None]
    vectors = retriever.embedder.encode(qs)
    timings: dict[str, list[float]] = {}
    for mode in ("hybrid", "dense", "lexical"):
        for q, v in zip(qs[:5], vectors[:5]):
            retriever.search(q, k=5, mode=mode, query_vector=v, read=False)
        ms = timings.setdefault(mode, [])
        for _ in range(2):
            for q, v in zip(qs, vectors):
                t = time.perf_counter()
                retriever.search(q, k=5, mode=mode, query_vector=v, read=False)
                ms.append((time.perf_counter() - t) * 1000)
    rss, peak = _rss()
    out = {"records": settings.records, "passages": len(retriever.chunks), "articles": len(retriever.articles),
           "load_s": round(load_s, 2), "rss_mib": round(rss, 1), "peak_rss_mib": round(peak, 1),
           "queries": len(qs) * 2,
           "p50_ms": {m: round(statistics.median(v), 2) for m, v in timings.items()},
           "p95_ms": {m: round(pct(v, 95), 2) for m, v in timings.items()}}
    retriever.close()
    Path(os.environ["BENCH_OUT"]).write_text(json.dumps(out))


def synthetic(source: Path, work: Path, passages: str | int, uri: str) -> tuple[Path, dict[str, Any]]:
    """An index of `passages` passages made from the `source` index's (see the module docstring)."""
    import numpy as np

    from qa.index import folder as ix
    from qa.index.contract import lexical_text
    from qa.index.stores.milvus_build import _create, record
    from qa.index.stores.milvus_store import analyse, clip, connect

    folder = ix.resolve(source)
    chunks, infos = ix.read_chunks(folder), ix.read_articles(folder)
    regions = ix.read_regions(folder, chunks) or [""] * len(chunks)
    vectors = np.load(folder / ix.VECTORS)
    bm25 = analyse([lexical_text(c) for c in chunks])
    passages = int(passages)
    copies = -(-passages // len(chunks))
    name = "qa_synthetic_bench_0"
    client = connect(uri)
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    inserted = 0
    try:
        if client.has_collection(name):
            client.drop_collection(name)
        _create(client, name, vectors.shape[1], server=False)
        batch: list[dict[str, Any]] = []
        for k in range(copies):
            jitter = vectors + rng.normal(0, 0.01, vectors.shape).astype(np.float32)
            jitter /= np.linalg.norm(jitter, axis=1, keepdims=True)
            for c, v, b, r in zip(chunks, jitter, bm25, regions):
                if inserted + len(batch) >= passages:
                    break
                pid = hashlib.sha1(f"{k}:{c.id}".encode()).hexdigest()[:16]
                aid = f"s{k:04d}/{c.article_id}"
                d = c.to_dict() | {"id": pid, "article_id": aid}
                from qa.records import Chunk

                syn = Chunk.from_dict(d)
                batch.append({"pid": pid, "article_id": aid, "section": json.dumps(list(c.section_path)),
                              "anchor": c.anchor, "file": f"s{k:04d}/{c.file}", "start": c.start, "end": c.end,
                              "h": "", "text": clip(c.text), "bm25_text": clip(b), "record": record(syn, r),
                              "dense": v.tolist()})
                if len(batch) == 2000:
                    client.insert(name, batch)
                    inserted += len(batch)
                    batch = []
                    if inserted % 20000 == 0:
                        print(f"  {inserted} rows, {inserted / (time.perf_counter() - t0):.0f} rows/s", flush=True)
        if batch:
            client.insert(name, batch)
            inserted += len(batch)
        insert_s = time.perf_counter() - t0
        client.flush(name)
        flush_s = time.perf_counter() - t0 - insert_s
    finally:
        client.close()
    # the index folder: manifest + articles + the build's idf (copies keep every term's document frequency)
    version = work / "index" / ".synthetic.00000000T000000-bench"
    shutil.rmtree(version, ignore_errors=True)
    (work / "index" / "synthetic").unlink(missing_ok=True)
    version.mkdir(parents=True)
    (work / "index" / "synthetic").symlink_to(version.name)
    m = ix.read_manifest(folder)
    m.store = dict(m.store) | {"collection": name, "uri": uri, "records": True}
    m.counts = {"articles": len(infos) * copies, "chunks": inserted}
    ix.write_manifest(version, m)
    shutil.copy(folder / ix.IDF, version / ix.IDF)
    arts = [a.to_dict() | {"id": f"s{k:04d}/{a.id}", "file": f"s{k:04d}/{a.file}"} for k in range(copies)
            for a in infos]
    (version / ix.ARTICLES).write_text(json.dumps(arts, ensure_ascii=False), encoding="utf-8")
    return work / "index" / "synthetic", {"passages": inserted, "insert_s": round(insert_s, 1),
                                         "rows_per_s": round(inserted / insert_s), "flush_s": round(flush_s, 1)}


def in_child(name: str, *args: Any) -> Any:
    """`name(*args)` of this module in a fresh process (its Milvus Lite database is then free for others)."""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; import bench.ray_bench as b; "
            f"r = b.{name}(*[Path(a) if i < 2 else a for i, a in enumerate(json.loads(sys.argv[1]))]); "
            f"Path({str(out)!r}).write_text(json.dumps([str(r[0]), r[1]]))")
    subprocess.run([sys.executable, "-c", code, json.dumps(list(args))], check=True, timeout=7200,
                   env=os.environ | {"PYTHONPATH": str(ROOT)})
    path, made = json.loads(out.read_text())
    return Path(path), made


def replica(work: Path, synthetic_passages: int) -> dict[str, Any]:
    uri = str(work / "replica.db")
    index = work / "index" / "frontlines"
    # in a child process: Milvus Lite locks its .db to the process that opened it first
    env = os.environ | {"QA_STORE": "milvus", "QA_MILVUS_URI": uri, "QA_CACHE_DIR": str(work / "cache"),
                        "QA_READER": "off", "PYTHONPATH": str(ROOT)}
    qa = str(Path(sys.executable).with_name("qa"))
    subprocess.run([qa, "build", "--seeds", str(FRONTLINES), "--index", str(index), "-q"], env=env, check=True,
                   timeout=7200)
    out: dict[str, Any] = {}
    out["frontlines_memory"] = serve_once(index, "memory", uri, work / "a.json")
    print("frontlines memory", out["frontlines_memory"], flush=True)
    out["frontlines_store"] = serve_once(index, "store", uri, work / "b.json")
    print("frontlines store", out["frontlines_store"], flush=True)
    if synthetic_passages:
        _, made = in_child("synthetic", str(index), str(work), synthetic_passages, str(work / "synthetic.db"))
        print("synthetic", made, flush=True)
        out["synthetic_build"] = made  # served by `apart` (in-process Lite would load it into the replica)
    out["store_p50_vs_memory"] = {m: round(out["frontlines_store"]["p50_ms"][m] / out["frontlines_memory"]["p50_ms"][m],
                                           2) for m in out["frontlines_memory"]["p50_ms"]}
    return out


def lite_server(db: str) -> tuple[subprocess.Popen[str], str]:
    """Milvus Lite serving `db` from a process of its own (its gRPC server on a free port), as a Milvus server
    would: a replica connected to it over http:// holds none of the store's memory."""
    code = ("import sys, time; from milvus_lite.server_manager import server_manager_instance as m; "
            "print(m.start_and_get_uri(sys.argv[1]), flush=True); time.sleep(1e6)")
    proc = subprocess.Popen([sys.executable, "-c", code, db], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    uri = proc.stdout.readline().strip()
    if not uri.startswith("http://"):
        proc.kill()
        raise RuntimeError(f"Milvus Lite did not start for {db}: {uri!r}")
    return proc, uri


def apart(work: Path) -> dict[str, Any]:
    """The three replicas again, each against Milvus Lite in a process of its own (needs `replica`'s work)."""
    out: dict[str, Any] = {}
    cases = [("frontlines_memory", "frontlines", "memory", "replica.db"),
             ("frontlines_store", "frontlines", "store", "replica.db"),
             ("synthetic_store", "synthetic", "store", "synthetic.db")]
    for name, index, records, db in cases:
        if not (work / "index" / index).exists():
            continue
        server, uri = lite_server(str(work / db))
        try:
            out[name] = serve_once(work / "index" / index, records, uri, work / f"{name}.json")
        finally:
            server.kill()
            server.wait()
        print(name, out[name], flush=True)
    if "synthetic_store" in out:
        out["synthetic_rss_vs_frontlines_memory"] = round(
            out["synthetic_store"]["rss_mib"] / out["frontlines_memory"]["rss_mib"], 2)
    return out


def interleaved(work: Path) -> dict[str, Any]:
    """Query p50, records in memory vs on demand, in one process over the same index, alternating query by
    query (so a machine whose load changes between runs favours neither); needs `replica`'s frontlines index."""
    import numpy as np

    from qa.search.retriever import Retriever
    from qa.settings import Settings

    index = work / "index" / "frontlines"
    base = Settings(index=index, reader="off", milvus_uri=str(work / "replica.db"), cache_dir=work / "cache")
    memory = Retriever.load(index, base)
    store = Retriever.load(index, base.model_copy(update={"records": "store"}), embedder=memory.embedder)
    qs = questions()
    vectors = memory.embedder.encode(qs)
    out: dict[str, Any] = {"queries": 2 * len(qs)}
    for mode in ("hybrid", "dense", "lexical"):
        ms: dict[str, list[float]] = {"memory": [], "store": []}
        for _ in range(2):
            for q, v in zip(qs, vectors):
                for name, r in (("memory", memory), ("store", store)):
                    t = time.perf_counter()
                    r.search(q, k=5, mode=mode, query_vector=v, read=False)
                    ms[name].append((time.perf_counter() - t) * 1000)
        a, b = float(np.median(ms["memory"])), float(np.median(ms["store"]))
        out[mode] = {"memory_p50_ms": round(a, 2), "store_p50_ms": round(b, 2), "ratio": round(b / a, 2)}
        print(mode, out[mode], flush=True)
    memory.close()
    store.close()
    return out


def markdown(data: dict[str, Any]) -> str:
    lines = [f"# Ray builds and on-demand replicas ({data.get('date', '')})", "",
             f"Machine: {data.get('machine', '')}. Commands: `make bench-ray` (bench/ray_bench.py).", ""]
    if "throughput" in data:
        t = data["throughput"]
        lines += [f"## Build throughput ({t['corpus']}, from scratch, into Milvus Lite)", "",
                  "| build | passages | seconds | passages/s | × local |", "| --- | --- | --- | --- | --- |"]
        for name, row in t["builds"].items():
            lines.append(f"| {name} | {row['embedded']} | {row['seconds']} | {row['passages_per_s']} | "
                         f"{row['vs_local']} |")
        lines.append("")
    if "replica" in data:
        r = data["replica"]
        lines += ["## Replica memory and query latency (no reading, query vectors given)", "",
                  ("| replica | passages | articles | RSS MiB | peak MiB | hybrid p50 ms | dense p50 ms | "
                  "lexical p50 ms |"), "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name in ("frontlines_memory", "frontlines_store", "synthetic_store"):
            if name in r:
                x = r[name]
                lines.append(f"| {name} | {x['passages']} | {x['articles']} | {x['rss_mib']} | {x['peak_rss_mib']} | "
                             f"{x['p50_ms']['hybrid']} | {x['p50_ms']['dense']} | {x['p50_ms']['lexical']} |")
        lines.append("")
        if "synthetic_build" in r:
            lines.append(f"Synthetic collection: {r['synthetic_build']}.")
        lines.append(f"Store-mode p50 / in-memory p50 (frontlines, one fresh process each, one after the other): "
                     f"{r['store_p50_vs_memory']}.")
    if "replica_store_apart" in data:
        r = data["replica_store_apart"]
        lines += ["", "## Replica RSS with Milvus Lite in a process of its own (as a Milvus server would be)", "",
                  ("| replica | passages | articles | RSS MiB | peak MiB | hybrid p50 ms | dense p50 ms | "
                  "lexical p50 ms |"), "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name in ("frontlines_memory", "frontlines_store", "synthetic_store"):
            if name in r:
                x = r[name]
                lines.append(f"| {name} | {x['passages']} | {x['articles']} | {x['rss_mib']} | {x['peak_rss_mib']} | "
                             f"{x['p50_ms']['hybrid']} | {x['p50_ms']['dense']} | {x['p50_ms']['lexical']} |")
        if "synthetic_rss_vs_frontlines_memory" in r:
            lines.append(f"\nSynthetic on demand / frontlines in memory, RSS: {r['synthetic_rss_vs_frontlines_memory']}.")
    if "p50_interleaved" in data:
        p = data["p50_interleaved"]
        lines += ["", "## Query p50, in memory vs on demand, interleaved in one process (frontlines)", "",
                  "| mode | in memory ms | on demand ms | ratio |", "| --- | --- | --- | --- |"]
        lines += [f"| {m} | {p[m]['memory_p50_ms']} | {p[m]['store_p50_ms']} | {p[m]['ratio']} |"
                  for m in ("hybrid", "dense", "lexical")]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["throughput", "replica", "apart", "p50", "all"])
    ap.add_argument("--seeds", type=Path, default=FRONTLINES)
    ap.add_argument("--articles", type=int, default=0, help="throughput: only the first N articles (0 = all)")
    ap.add_argument("--work", type=Path, help="keep the work folder here (a rerun reuses the frontlines index)")
    ap.add_argument("--synthetic", type=int, default=100_000, help="passages of the synthetic corpus (0 = none)")
    args = ap.parse_args()
    data: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, "
                            f"{platform.machine()}, Python {platform.python_version()}"}
    with tempfile.TemporaryDirectory(prefix="qa-ray-bench-") as tmp:
        work = args.work or Path(tmp)
        if args.what in ("throughput", "all"):
            seeds = args.seeds
            if args.articles:
                seeds = work / "seeds"
                seeds.mkdir(parents=True)
                for path in sorted(args.seeds.glob("*.md"))[: args.articles]:
                    shutil.copy(path, seeds / path.name)
            data["throughput"] = throughput(seeds, work / "t")
            data["throughput"]["corpus"] = f"{args.seeds} (first {args.articles or 'all'} articles)"
        if args.what in ("replica", "all"):
            data["replica"] = replica(work / "r", args.synthetic)
        if args.what in ("apart", "all"):
            data["replica_store_apart"] = apart(work / "r")
        if args.what in ("p50", "all"):
            data["p50_interleaved"] = interleaved(work / "r")
    data = (json.loads(RESULTS.read_text()) if RESULTS.exists() else {}) | data  # read now: runs may overlap
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    RESULTS.with_suffix(".md").write_text(markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
