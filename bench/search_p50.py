"""Seed search p50 without reading, in process, for whichever `qa` tree is on PYTHONPATH: build the seed into a
temporary index with that tree's code, then the 142 eval questions twice through `Retriever.search(read=False)`
(10 warm-up queries first); prints one JSON line. Compare two trees side by side by alternating them, e.g.

    git worktree add /tmp/old d19a257^      # the tree before the sentence-transformers switch (issue 27)
    for i in 1 2 3; do for t in /tmp/old $PWD; do PYTHONPATH=$t .venv/bin/python bench/search_p50.py $t; done; done
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import qa
    from qa.build import build
    from qa.search.retriever import Retriever
    from qa.settings import Settings

    lines = (ROOT / "eval" / "kherson.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        settings = Settings(index=index, seeds=ROOT / "seeds", cache_dir=Path(tmp) / "cache")
        build(settings, ROOT / "seeds", index)
        retriever = Retriever.load(index, settings)
        for q in questions[:10]:
            retriever.search(q, k=5, read=False)
        ms: list[float] = []
        for _ in range(2):
            for q in questions:
                t = time.perf_counter()
                retriever.search(q, k=5, read=False)
                ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    print(json.dumps({"tree": sys.argv[1] if len(sys.argv) > 1 else str(ROOT), "qa": qa.__file__,
                      "p50_ms": round(statistics.median(ms), 2), "p90_ms": round(ms[int(0.9 * len(ms))], 2),
                      "queries": len(ms)}), flush=True)


if __name__ == "__main__":
    main()
