"""How far ONNX Runtime's dynamic int8 moves the reader from fp32, per quantisation option, and at what speed.

For the first `--questions` eval questions: the fused top 10 (`read: false`), read as search reads them
(`read_passages`: the shipped window, rows in length groups) by the fp32 export and by int8 copies quantised
with each option; per option, the mean |Δ relevance| against fp32 over all read passages, how often the
reader's first choice (`order_by_reader` over the passages the index's tuned `read` settings read) agrees with fp32's, and the
p50 of reading the top 10. Writes bench/results/reader-quant.json.

    .venv/bin/python bench/reader_quant.py [--reader models/reader] [--index index/default] [--questions 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OPTIONS: dict[str, dict] = {
    "per tensor (onnxruntime's default)": {},
    "per channel (shipped)": {"per_channel": True},
    "per tensor, reduced range": {"reduce_range": True},
    "per channel, reduced range": {"per_channel": True, "reduce_range": True},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reader", type=Path, default=ROOT / "models" / "reader")
    ap.add_argument("--index", type=Path, default=ROOT / "index" / "default")
    ap.add_argument("--questions", type=int, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reader-quant.json")
    args = ap.parse_args()

    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    from qa.reader.model import Reader, Reading
    from qa.reader.onnx_runtime import OnnxLogits, onnx_file
    from qa.search.reading import order_by_reader, read_passages
    from qa.search.retriever import Retriever
    from qa.settings import Settings

    settings = Settings(reader="off")
    retriever = Retriever.load(args.index, settings)
    config = retriever.config.read  # the index's tuned read settings
    reference = Reader.load(args.reader, runtime="onnx", cache_dir=settings.cache_dir)
    fp32 = onnx_file(args.reader, "onnx", settings.cache_dir)
    lines = (ROOT / "eval" / "kherson.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.questions]
    asked = [(q, retriever.search(q, k=10, read=False).hits) for q in questions]

    def first(readings: list[Reading]) -> int:
        return order_by_reader(readings[: config.passages], config.rank_weight, config.rank_penalty)[0]

    def read(reader: Reader, question: str, hits) -> list[Reading]:  # type: ignore[no-untyped-def]
        return read_passages(reader, question, hits, config.window_chars)

    want = [read(reference, q, hits) for q, hits in asked]
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        readers = {"fp32": reference}
        for name, options in OPTIONS.items():
            path = Path(tmp) / f"{len(readers)}.onnx"
            quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, **options)
            readers[name] = Reader(None, reference.tokenizer, reference.max_length, onnx=OnnxLogits(path))
        for name, reader in readers.items():
            read(reader, *asked[0])  # warm-up
            times, errors, agree = [], [], 0
            for (q, hits), ref in zip(asked, want, strict=True):
                t = time.perf_counter()
                got = read(reader, q, hits)
                times.append((time.perf_counter() - t) * 1000)
                errors.append(float(np.mean([abs(g.relevance - r.relevance) for g, r in zip(got, ref, strict=True)])))
                agree += first(got) == first(ref)
            out[name] = {"read_top10_p50_ms": round(statistics.median(times), 1),
                         "mean_abs_relevance_delta": round(float(np.mean(errors)), 3),
                         "same_first_choice": f"{agree}/{len(asked)}"}
            print(name, out[name])
    out["_meta"] = {"reader": str(args.reader), "index": str(args.index), "questions": len(asked),
                    "window_chars": config.window_chars, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
