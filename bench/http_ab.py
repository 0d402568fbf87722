"""HTTP A/B: the same load against `qa serve` from this tree and from another checkout (e.g. an older
commit), alternating, so a change is compared with what it replaced in the same minutes — this machine's
speed drifts by 20-30 % over an hour. Writes a JSON of every run.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/http_ab.py --before /tmp/before --index index/frontlines [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # bench/run.py: server start, load loop

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before", type=Path, required=True, help="another checkout of qa (its qa/ is imported)")
    ap.add_argument("--index", type=Path, default=ROOT / "index" / "frontlines", help="a built index both can read")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=600, help="requests per run (bounded; 30 s at most)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "http-ab.json")
    args = ap.parse_args()
    cache = ROOT / ".cache" / "qa"
    variants = [("onnx", False), ("torch", True)]  # the README's serving rows
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.runs):
        for name, tree in (("before", args.before.resolve()), ("now", ROOT)):
            os.environ["PYTHONPATH"] = str(tree)  # ahead of the editable install: that tree's qa/ serves
            for backend, batching in variants:
                row = bench.bench_http(args.index.resolve(), cache, backend, [8], args.requests, 30, batching)
                runs.setdefault(f"{name} {backend} batching={batching}", []).append(row["levels"][0])
    summary = {
        key: {"req_per_s": [round(r["req_per_s"], 1) for r in rows],
              "median_req_per_s": round(statistics.median(r["req_per_s"] for r in rows), 1),
              "median_p99_ms": round(statistics.median(r["p99_ms"] for r in rows)),
              "errors": sum(int(r["errors"]) for r in rows)}
        for key, rows in runs.items()
    }
    for key, s in summary.items():
        print(f"{key:32} req/s {s['req_per_s']} median {s['median_req_per_s']}, p99 median {s['median_p99_ms']} ms, "
              f"errors {s['errors']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"before": str(args.before), "summary": summary, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
