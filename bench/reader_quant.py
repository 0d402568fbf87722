"""How far ONNX Runtime's dynamic int8 moves the reader from fp32, per quantisation option, and at what speed.

For the first `--questions` eval questions: the fused top 10 (`read: false`), each read in the shipped window, by the fp32
export and by int8 copies quantised with each option; per option, the mean |Δ relevance| against fp32 over all
read passages, how often the reader's first choice among the passages it reads (their number and the rank penalty from the reader's
qa-reader.json) agrees with fp32's, and the p50 of one batch. Writes bench/results/reader-quant.json.

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

    from qa.reader.features import encode, title_prefix
    from qa.reader.model import Reader, best_spans
    from qa.reader.onnx_runtime import OnnxLogits, onnx_file
    from qa.reader.stage import RANK_PENALTIES, ReadConfig
    from qa.search.highlight import window_around
    from qa.search.retriever import Retriever
    from qa.settings import Settings

    settings = Settings(reader="off")
    retriever = Retriever.load(args.index, settings)
    config = ReadConfig.load(args.reader)
    tokenizer = Reader.load(args.reader, runtime="onnx", cache_dir=settings.cache_dir).tokenizer
    fp32 = onnx_file(args.reader, "onnx", settings.cache_dir)
    lines = (ROOT / "eval" / "kherson.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][: args.questions]
    batches = []
    for q in questions:
        hits = retriever.search(q, k=10, read=False).hits
        spans = [window_around(h.chunk.text, h.highlight, config.window_chars) for h in hits]
        batches.append(encode(tokenizer, [q] * len(hits), [title_prefix(h.chunk.citation) for h in hits],
                              [h.chunk.text[a:b] for h, (a, b) in zip(hits, spans, strict=True)], 384))

    def relevance(session: OnnxLogits, enc) -> np.ndarray:  # type: ignore[no-untyped-def]
        start, end = session(enc.input_ids, enc.attention_mask, enc.token_type_ids)
        return np.array([r.relevance for r in best_spans(start, end, enc, enc.input_ids.shape[0])])

    def first(rel: np.ndarray) -> int:
        step = RANK_PENALTIES[config.rank_penalty]
        head = [r - config.rank_weight * step(rank) for rank, r in enumerate(rel[: config.passages], 1)]
        return int(np.argmax(head))

    reference = OnnxLogits(fp32)
    want = [relevance(reference, enc) for enc in batches]
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {"fp32": reference}
        for name, options in OPTIONS.items():
            path = Path(tmp) / f"{len(sessions)}.onnx"
            quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, **options)
            sessions[name] = OnnxLogits(path)
        for name, session in sessions.items():
            relevance(session, batches[0])  # warm-up
            times, errors, agree = [], [], 0
            for enc, ref in zip(batches, want, strict=True):
                t = time.perf_counter()
                got = relevance(session, enc)
                times.append((time.perf_counter() - t) * 1000)
                errors.append(float(np.abs(got - ref).mean()))
                agree += first(got) == first(ref)
            out[name] = {"batch_p50_ms": round(statistics.median(times), 1),
                         "mean_abs_relevance_delta": round(float(np.mean(errors)), 3),
                         "same_first_choice": f"{agree}/{len(batches)}"}
            print(name, out[name])
    out["_meta"] = {"reader": str(args.reader), "index": str(args.index), "questions": len(batches),
                    "window_chars": config.window_chars, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
