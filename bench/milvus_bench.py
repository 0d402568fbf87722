"""Build and query timings of the two vector stores, FAISS and Milvus (Lite here), on one corpus.

No passage is embedded twice: the vectors come from an existing FAISS index of the corpus (by default
`index/frontlines`, made by `make eval-frontlines`), copied into a temporary folder; each store is then
built from those vectors with `qa.build.build(force=True)` (chunking included, embedding skipped), so the
times compare the stores, not the model. Query times are `Retriever.search` with the query vector given
(the ~12 ms of query embedding is the same for both stores and left out).

    .venv/bin/python bench/milvus_bench.py [--index index/frontlines] [--seeds ../shared/corpus/frontlines]

Writes bench/results/milvus.json and prints a table. A `--milvus-uri http://host:19530` measures a server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EDIT = "\n\n## Benchmark note\n\nThis paragraph was appended by bench/milvus_bench.py to time an incremental build.\n"


def copy_index(src: Path, dst_root: Path, name: str) -> Path:
    """A private copy of an index (version folder + link), so builds here reuse its vectors."""
    from qa.index import folder as ix

    folder = ix.resolve(src)
    version = dst_root / f".{name}.00000000T000000-copy"
    shutil.copytree(folder, version)
    (dst_root / name).symlink_to(version.name)
    return dst_root / name


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def time_queries(retriever: Any, questions: list[str], vectors: Any, modes: list[str], k: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in modes:
        for q, v in zip(questions[:5], vectors[:5]):  # warm up
            retriever.search(q, k=k, mode=mode, query_vector=v)
        ms = []
        for q, v in zip(questions, vectors):
            t = time.perf_counter()
            retriever.search(q, k=k, mode=mode, query_vector=v)
            ms.append((time.perf_counter() - t) * 1000)
        out[mode] = {"p50_ms": round(pct(ms, 50), 2), "p95_ms": round(pct(ms, 95), 2),
                     "mean_ms": round(statistics.fmean(ms), 2), "queries": len(ms)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=ROOT / "index" / "frontlines")
    ap.add_argument("--seeds", type=Path, default=ROOT.parent / "shared" / "corpus" / "frontlines")
    ap.add_argument("--questions", type=Path, default=ROOT / "eval" / "kherson.jsonl")
    ap.add_argument("--milvus-uri", default=None, help="default: a Milvus Lite file in a temporary folder")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "milvus.json")
    args = ap.parse_args()

    from qa.build import build
    from qa.embed.embedder import Embedder
    from qa.index import folder as ix
    from qa.search.retriever import Retriever
    from qa.settings import Settings

    if not args.index.exists():
        print(f"{args.index} is missing: run `make eval-frontlines` (or `qa build --seeds {args.seeds} "
              f"--index {args.index}`) first", file=sys.stderr)
        return 2
    questions = [json.loads(line)["question"] for line in args.questions.read_text().splitlines() if line.strip()]
    embedder = Embedder()
    t = time.perf_counter()
    qvecs = [embedder.encode_query(q) for q in questions]
    embed_ms = (time.perf_counter() - t) * 1000 / len(questions)

    results: dict[str, Any] = {"corpus": str(args.seeds), "questions": len(questions), "k": args.k,
                               "query_embed_ms_mean": round(embed_ms, 2), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="qa-milvus-bench-") as tmp_s:
        tmp = Path(tmp_s)
        uri = args.milvus_uri or str(tmp / "milvus.db")
        seeds = tmp / "seeds"
        shutil.copytree(args.seeds, seeds)
        stores: dict[str, Any] = {}
        for kind in ("faiss", "milvus"):
            index_dir = copy_index(args.index, tmp, f"bench-{kind}")
            settings = Settings(index=index_dir, seeds=seeds, store=kind, milvus_uri=uri,  # type: ignore[arg-type]
                                cache_dir=tmp / "cache", faiss_index="flat")
            t = time.perf_counter()
            report = build(settings, seeds, index_dir, embedder=embedder, force=True)
            seconds = time.perf_counter() - t
            manifest = ix.read_manifest(ix.resolve(index_dir))
            entry: dict[str, Any] = {
                "passages": report.chunks,
                "build_s": round(seconds, 2),
                "embedded": report.embedded,
                "passages_per_s": round(report.chunks / seconds, 1),
            }
            if kind == "milvus":
                entry["store_write_s"] = manifest.store["seconds"]
                entry["store_passages_per_s"] = round(report.chunks / manifest.store["seconds"], 1)
                # incremental: append a section to one article, build twice (fresh slot, then patched slot)
                article = min(seeds.glob("*.md"))
                article.write_text(article.read_text(encoding="utf-8") + EDIT, encoding="utf-8")
                inc = []
                for n in (1, 2):
                    if n == 2:
                        article.write_text(article.read_text(encoding="utf-8") + EDIT.replace("note", "note 2"),
                                           encoding="utf-8")
                    t = time.perf_counter()
                    r = build(settings, seeds, index_dir, embedder=embedder)
                    s = ix.read_manifest(ix.resolve(index_dir)).store
                    inc.append({"build_s": round(time.perf_counter() - t, 2), "embedded": r.embedded,
                                "collection": s["collection"], "upserted": s["upserted"], "deleted": s["deleted"],
                                "store_write_s": s["seconds"]})
                entry["incremental"] = inc
            retriever = Retriever.load(index_dir, settings, embedder=embedder)
            try:
                entry["query"] = time_queries(retriever, questions, qvecs, ["dense", "lexical", "hybrid"], args.k)
            finally:
                retriever.close()
            stores[kind] = entry
            print(f"{kind}: {json.dumps(entry)}", flush=True)
        results["stores"] = stores
        results["milvus_uri"] = "milvus-lite (temporary file)" if args.milvus_uri is None else args.milvus_uri

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\n{results['stores']['faiss']['passages']} passages, {len(questions)} queries, k={args.k}; "
          f"query embedding {results['query_embed_ms_mean']} ms (excluded below)")
    print("| store | build s (no embedding) | dense p50/p95 ms | lexical p50/p95 ms | hybrid p50/p95 ms |")
    print("| --- | --- | --- | --- | --- |")
    for kind, e in results["stores"].items():
        q = e["query"]
        print(f"| {kind} | {e['build_s']} | " + " | ".join(
            f"{q[m]['p50_ms']} / {q[m]['p95_ms']}" for m in ("dense", "lexical", "hybrid")) + " |")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
