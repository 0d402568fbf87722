"""One query's embedding: qa's Embedder.encode_query (PyTorch backend: one tokenisation, the Hugging Face encoder,
bf16 weights cast once under bf16) against its passage path (`encode`: the Transformer module under autocast)
and SentenceTransformer.encode on the same weights, same process, interleaved, fp32 and bf16 autocast; the ONNX
fp32 backend beside them.
Writes bench/results/query-embed.json.

    .venv/bin/python bench/query_embed.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5, help="passes over the 142 eval questions per variant")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "query-embed.json")
    args = ap.parse_args()

    from sentence_transformers import SentenceTransformer

    from qa.embed.embedder import Embedder
    from qa.ingest.tokens import model_path

    lines = (ROOT / "eval" / "kherson.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    reference = SentenceTransformer(str(model_path()), device="cpu")
    out: dict[str, dict[str, float]] = {}
    for precision in ("fp32", "bf16"):
        ours = Embedder(precision=precision)

        def sentence_transformers(q: str, e: Embedder = ours) -> object:
            with e._arithmetic():
                return reference.encode([q], normalize_embeddings=True, show_progress_bar=False)[0]

        def passage_path(q: str, e: Embedder = ours) -> object:
            return e.encode([q])[0]

        variants = {"qa Embedder": ours.encode_query, "qa Embedder.encode (passage path)": passage_path,
                    "SentenceTransformer.encode": sentence_transformers}
        if precision == "fp32":
            variants["onnx backend"] = Embedder(backend="onnx", cache_dir=ROOT / ".cache" / "qa").encode_query
        for f in variants.values():  # warm up
            for q in questions[:10]:
                f(q)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, f in variants.items():
                for q in questions:
                    t = time.perf_counter()
                    f(q)
                    times[name].append((time.perf_counter() - t) * 1000)
        for name, ms in times.items():
            ms.sort()
            out[f"{precision}/{name}"] = {"p50_ms": round(statistics.median(ms), 2),
                                          "p95_ms": round(ms[int(0.95 * len(ms))], 2), "queries": len(ms)}
            print(f"{precision:5} {name:34} p50 {out[f'{precision}/{name}']['p50_ms']:6.2f} ms", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
