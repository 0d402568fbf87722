"""BEIR-format build + eval against building the same documents as Markdown, side by side (issue 28).

    .venv/bin/python bench/beir_bench.py --docs 5000 --queries 300 --repeats 3

Writes a BEIR folder from ../shared/qa-train (tests/beir_data.py: SQuAD paragraphs as documents, a question
each for `--queries` of them) and the same paragraphs as one Markdown file each. Each repetition, in
alternation so machine load falls on both alike: `qa build` of the Markdown folder, then `qa build` of the
BEIR folder followed by `qa eval --beir` (hybrid, dense, lexical; every judged query of the test split).
Each is a child process from scratch (fresh index folder, model load included): what a user waits for.
Reports medians to bench/results/<date>-beir-<docs>.json and .md, rewritten after every repetition.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QA = str(Path(sys.executable).with_name("qa"))
RESULTS = ROOT / "bench" / "results"


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    done = subprocess.run([QA, *args], check=False, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"qa {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - t, done.stdout


def main() -> None:
    from tests.beir_data import write_beir, write_markdown

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="Result stem [bench/results/<date>-beir-<docs>]")
    args = parser.parse_args()
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "QA_READER": "off",
                        "PYTHONPATH": str(ROOT)}
    rows: dict[str, list[float]] = {"markdown_build_s": [], "jsonl_build_s": [], "beir_eval_s": [], "jsonl_total_s": []}
    last: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="beir-bench-") as tmp:
        work = Path(tmp)
        written = write_beir(work / "beir", args.docs, args.queries)
        markdown = write_markdown(work / "md", written)
        for n in range(args.repeats):
            md_s, md_out = timed(["build", "--seeds", str(markdown), "--index", str(work / f"md-{n}"), "-q"], env)
            build_s, build_out = timed(["build", "--seeds", str(written.folder), "--index", str(work / f"j-{n}"), "-q"],
                                       env)
            eval_s, _ = timed(["eval", "--beir", str(written.folder), "--index", str(work / f"j-{n}"), "--split", "test",
                               "--json", str(work / f"eval-{n}.json")], env)
            for key, value in (("markdown_build_s", md_s), ("jsonl_build_s", build_s), ("beir_eval_s", eval_s),
                               ("jsonl_total_s", build_s + eval_s)):
                rows[key].append(round(value, 2))
            last = {"markdown_summary": md_out.strip().splitlines()[-1], "jsonl_summary": build_out.strip().splitlines()[-1],
                    "eval": json.loads((work / f"eval-{n}.json").read_text())}
            print(f"run {n + 1}: markdown build {md_s:.1f} s; jsonl build {build_s:.1f} s + eval {eval_s:.1f} s", flush=True)
            report(args, rows, last)


def report(args: argparse.Namespace, rows: dict[str, list[float]], last: dict[str, object]) -> None:
    """Medians so far to <stem>.json and .md (written after every repetition)."""
    medians = {k: round(statistics.median(v), 2) for k, v in rows.items()}
    ratio = round(medians["jsonl_total_s"] / medians["markdown_build_s"], 2)
    ev = last["eval"]
    assert isinstance(ev, dict)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "docs": args.docs, "queries": args.queries, "judged_test_queries": ev["queries"], "repeats": len(rows['markdown_build_s']),
        "runs": rows, "medians": medians, "ratio_build_eval_vs_markdown_build": ratio, "target_ratio": 3.0,
        "markdown_summary": last["markdown_summary"], "jsonl_summary": last["jsonl_summary"],
        "measures": ev["measures"], "search_seconds": ev["search_seconds"],
    }
    stem = args.out or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-beir-{args.docs}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = [f"# BEIR build + eval vs Markdown build: {args.docs} documents, {args.queries} queries", "",
             f"{result['date']}, {result['machine']}, {len(rows['markdown_build_s'])} repetitions (medians), each a fresh `qa` process.",
             "", "| | median s | runs |", "| --- | ---: | --- |"]
    lines += [f"| {k} | {medians[k]} | {', '.join(map(str, v))} |" for k, v in rows.items()]
    lines += ["", f"(JSONL build + eval) / Markdown build = **{ratio}×** (target ≤ 3×)", "",
              f"- Markdown: {result['markdown_summary']}", f"- JSONL: {result['jsonl_summary']}", "",
              f"Measures on the test split ({ev['queries']} judged queries):", "", "| mode | " +
              " | ".join(next(iter(ev["measures"].values()))) + " |", "| --- |" + " ---: |" * len(next(iter(ev["measures"].values())))]
    lines += [f"| {m} | " + " | ".join(f"{v:.4f}" for v in vals.values()) + " |" for m, vals in ev["measures"].items()]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
