"""The read stage's cost: search with the reader reading the top N (5, 10, 20) against `read: false`, on
the eval questions, same process, interleaved by question. Writes bench/results/reader.json.

    .venv/bin/python bench/reader_bench.py [--index index/default] [--reader models/reader] [--questions 60]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", type=Path, default=ROOT / "index" / "default")
    ap.add_argument("--reader", default="auto", help="QA_READER: a folder, or auto (models/reader)")
    ap.add_argument("--questions", type=int, default=60, help="eval questions to ask (each once per variant)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reader.json")
    args = ap.parse_args()

    from qa.search.retriever import Retriever
    from qa.settings import Settings

    retriever = Retriever.load(args.index, Settings(reader=args.reader))
    if retriever.reader is None:
        raise SystemExit("no reader installed: train one (qa train-reader) or pass --reader DIR")
    lines = (ROOT / "eval" / "kherson.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.questions]
    base = retriever.read_config
    variants = {"no read": (False, base)} | {
        f"read top {n}": (True, dataclasses.replace(base, passages=n)) for n in (5, 10, 20)
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    retriever.search(questions[0], k=5, read=True)  # warm-up
    for q in questions:
        for name, (read, config) in variants.items():
            retriever.read_config = config
            t = time.perf_counter()
            retriever.search(q, k=5, read=read)
            times[name].append((time.perf_counter() - t) * 1000)
    retriever.read_config = base
    out = {name: {"p50_ms": round(statistics.median(v), 1), "p95_ms": round(sorted(v)[int(0.95 * (len(v) - 1))], 1),
                  "n": len(v)} for name, v in times.items()}
    out["_meta"] = {"index": str(args.index), "reader": str(args.reader), "threads": "torch default",
                    "precision": "bf16" if retriever.reader.bf16 else "fp32",
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    for name, row in out.items():
        print(name, row)


if __name__ == "__main__":
    main()
