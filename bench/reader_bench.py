"""The read stage's cost: search with the reader reading the top N (3, 10, 20), whole passages or sentence
windows, on PyTorch fp32 / ONNX Runtime fp32 / int8, against `read: false`, on the eval questions, same
process, interleaved by question. Writes bench/results/reader.json.

    .venv/bin/python bench/reader_bench.py [--index index/default] [--reader models/reader] [--questions 60]
        [--runtimes torch,onnx,onnx-int8] [--passages 3,10,20] [--windows 0,300] [--bucket-rows 4,1000]

`--bucket-rows`: the reader runs a query's rows in groups of this many, shortest first, each cut to its longest
row (`Reader.bucket_rows`); a number ≥ the rows read is one padded batch.
"""

from __future__ import annotations

import argparse
import copy
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
    ap.add_argument("--runtimes", default="torch,onnx,onnx-int8", help="reader runtimes to compare")
    ap.add_argument("--passages", default="3,10,20", help="how many of the fused top passages to read")
    ap.add_argument("--windows", default="0,300", help="characters read around each best sentence (0 = whole)")
    ap.add_argument("--bucket-rows", default="4", help="rows per reader run (Reader.bucket_rows) to compare")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reader.json")
    args = ap.parse_args()

    from qa.reader.load import load_model, reader_folder
    from qa.search.retriever import Retriever
    from qa.settings import Settings

    settings = Settings(reader=args.reader)
    retriever = Retriever.load(args.index, settings)
    folder = reader_folder(args.reader)
    if retriever.reader is None or folder is None:
        raise SystemExit("no reader installed: train one (qa train-reader) or pass --reader DIR")
    lines = (ROOT / "eval" / "kherson.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.questions]
    tuned = retriever.config
    base = tuned.read
    readers = {rt: load_model(folder, settings.model_copy(update={"reader_runtime": rt}))
               for rt in args.runtimes.split(",")}
    variants = {"no read": (False, next(iter(readers.values())), base)}
    buckets = [int(b) for b in args.bucket_rows.split(",")]
    for runtime, reader in readers.items():
        for n in map(int, args.passages.split(",")):
            for window in map(int, args.windows.split(",")):
                config = dataclasses.replace(base, passages=n, window_chars=window)
                name = f"{runtime} top {n} {'window ' + str(window) if window else 'whole'}"
                for rows in buckets:
                    grouped = copy.copy(reader)  # shares the weights / ONNX session
                    grouped.bucket_rows = rows
                    variants[name + (f" groups of {rows}" if len(buckets) > 1 else "")] = (True, grouped, config)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _, reader, config in variants.values():  # warm-up (first calls allocate)
        retriever.reader, retriever.config = reader, dataclasses.replace(tuned, read=config)
        retriever.search(questions[0], k=5, read=True)
    for q in questions:
        for name, (read, reader, config) in variants.items():
            retriever.reader, retriever.config = reader, dataclasses.replace(tuned, read=config)
            t = time.perf_counter()
            retriever.search(q, k=5, read=read)
            times[name].append((time.perf_counter() - t) * 1000)
    out = {name: {"p50_ms": round(statistics.median(v), 1), "p95_ms": round(sorted(v)[int(0.95 * (len(v) - 1))], 1),
                  "n": len(v)} for name, v in times.items()}
    out["_meta"] = {"index": str(args.index), "reader": str(args.reader), "threads": "default (all cores)",
                    "bucket_rows": buckets,
                    "torch precision": ("bf16" if readers["torch"].bf16 else "fp32") if "torch" in readers else None,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    for name, row in out.items():
        print(name, row)


if __name__ == "__main__":
    main()
