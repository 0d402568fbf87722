"""Filtered vs unfiltered query latency (issue #30's target: filtered p50 ≤ 1.5× unfiltered).

Over an index of a corpus (default: frontlines, built with
`qa build --seeds ../shared/corpus/frontlines --index index/frontlines -q`), each question of the eval set is
searched unfiltered and with filters that pass about 1 % and about 50 % of the passages (`path` any-of over
articles taken in id order until their passages reach the share), in each mode, interleaved so that a busy
machine slows all three alike. The query vector is given (query embedding, the same with or without a
filter, is left out, so the ratio is of the retrieval work alone); the reader does not read.

    .venv/bin/python bench/filters.py [--index index/frontlines] [--repeat 3]
    .venv/bin/python bench/filters.py --milvus --seeds ../shared/corpus/frontlines --out filters-milvus

`--milvus` first copies the index and rebuilds the copy into a Milvus Lite database in a temporary folder
(its vectors reused, nothing embedded), then measures that. Writes bench/results/filters.json and
bench/results/filters.md (`--out` names another stem).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
os.environ.setdefault("QA_READER", "off")

MODES = ("hybrid", "dense", "lexical")
SHARES = (0.01, 0.5)


def share_filter(retriever: Any, share: float) -> tuple[dict[str, Any], float]:
    """A `path` any-of filter over the first articles (by id) whose passages reach `share`; its real share."""
    counts: dict[str, int] = {}
    for c in retriever.chunks:
        counts[c.article_id] = counts.get(c.article_id, 0) + 1
    total, picked, n = len(retriever.chunks), [], 0
    target = share * total
    for article in sorted(counts):  # in id order, skipping articles that would overshoot by more than a quarter
        if n >= 0.97 * target:
            break
        if n + counts[article] <= 1.25 * target:
            picked.append(article)
            n += counts[article]
    return {"path": {"any": picked}}, n / total


def cold_ms(retriever: Any, flt: dict[str, Any] | None) -> float:
    """Parsing a filter and finding its passing articles without the retriever's cache (its first use)."""
    t = time.perf_counter()
    parsed = retriever.parse_filter(flt)
    if parsed is not None:
        parsed.articles(retriever.articles)
    return (time.perf_counter() - t) * 1000


def p50(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=ROOT / "index" / "frontlines")
    ap.add_argument("--questions", type=Path, default=ROOT / "eval" / "kherson.jsonl")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3, help="Passes over the questions (medians over all).")
    ap.add_argument("--out", default="filters", help="Result stem under bench/results/.")
    ap.add_argument("--milvus", action="store_true", help="Measure a Milvus Lite copy of the index.")
    ap.add_argument("--seeds", type=Path, default=ROOT.parent / "shared" / "corpus" / "frontlines",
                    help="The index's articles (to rebuild the copy, with --milvus).")
    args = ap.parse_args()

    from qa.search.retriever import Retriever
    from qa.settings import get_settings

    settings = get_settings()
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index
        if args.milvus:
            from bench.milvus_bench import copy_index
            from qa.build import build

            index = copy_index(args.index, Path(tmp), "filters-milvus")
            settings = settings.model_copy(update={"index": index, "store": "milvus",
                                                   "milvus_uri": str(Path(tmp) / "milvus.db")})
            build(settings, args.seeds, index, force=True)
        retriever = Retriever.load(index, settings)
        try:
            run(args, retriever)
        finally:
            retriever.close()


def run(args: argparse.Namespace, retriever: Any) -> None:
    questions = [json.loads(line)["question"] for line in args.questions.read_text().splitlines() if line.strip()]
    vectors = [retriever.embedder.encode_query(q) for q in questions]
    filters: dict[str, tuple[dict[str, Any] | None, float]] = {"none": (None, 1.0)}
    for share in SHARES:
        filters[f"{share:.0%}"] = share_filter(retriever, share)

    ms: dict[str, dict[str, list[float]]] = {m: {name: [] for name in filters} for m in MODES}
    hits: dict[str, dict[str, int]] = {m: {name: 0 for name in filters} for m in MODES}
    for mode in MODES:
        for q, v in zip(questions[:5], vectors[:5]):  # warm up
            for flt, _ in filters.values():
                retriever.search(q, k=args.k, mode=mode, query_vector=v, read=False, filter=flt)
        for _ in range(args.repeat):
            for q, v in zip(questions, vectors):
                for name, (flt, _) in filters.items():
                    t = time.perf_counter()
                    result = retriever.search(q, k=args.k, mode=mode, query_vector=v, read=False, filter=flt)
                    ms[mode][name].append((time.perf_counter() - t) * 1000)
                    hits[mode][name] += len(result.hits) == args.k

    rows = []
    for mode in MODES:
        base = p50(ms[mode]["none"])
        for name, (flt, share) in filters.items():
            rows.append({
                "mode": mode, "filter": name, "passage_share": round(share, 4),
                "articles": len(flt["path"]["any"]) if flt else len(retriever.articles),
                "p50_ms": round(p50(ms[mode][name]), 3), "ratio": round(p50(ms[mode][name]) / base, 3),
                "k_hits_share": round(hits[mode][name] / len(ms[mode][name]), 3), "queries": len(ms[mode][name]),
                "first_use_ms": round(statistics.median(cold_ms(retriever, flt) for _ in range(20)), 3),
            })
    out = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "index": str(args.index), "store": retriever.store.kind, "passages": len(retriever.chunks),
        "articles": len(retriever.articles), "questions": len(questions), "repeat": args.repeat, "k": args.k,
        "latency_includes_embedding": False, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": "bench/filters.py " + " ".join(sys.argv[1:]), "rows": rows,
    }
    results = ROOT / "bench" / "results"
    (results / f"{args.out}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"# Filtered vs unfiltered query p50 ({out['created_at'][:10]})", "",
        (f"{out['store']} index of {out['articles']} articles, {out['passages']} passages; {len(questions)} questions "
         f"× {args.repeat} passes, k={args.k}, query vector given (embedding left out), no reader; {out['machine']}."),
        f"Command: `{out['command']}`. Target (#30): filtered p50 ≤ 1.5× unfiltered.", "",
        "| mode | filter | passages passing | articles | p50 ms | × unfiltered | k hits returned | filter's first use ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {r['mode']} | {r['filter']} | {r['passage_share']:.1%} | {r['articles']} | {r['p50_ms']:.2f} | "
              f"{r['ratio']:.2f} | {r['k_hits_share']:.0%} | {r['first_use_ms']:.2f} |" for r in rows]
    lines += ["", ("A filter's passing articles are remembered per index version (the last 256 filters); the last "
              "column is parsing it and finding them without that memory (its first query pays it once). "
              "Lexical search returns only passages sharing a term with the question, so a narrow filter can leave "
              "fewer than k.")]
    (results / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
