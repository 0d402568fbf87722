"""The reader on ONNX Runtime: fp32 ("onnx") or dynamic int8 ("onnx-int8", weights per channel).

The reader folder's weights are exported to ONNX once, and quantised once, into a copy under `cache_dir`
keyed by a hash of the weights (never into the reader folder, which may be read-only); later loads reuse the
files. Measured on the 2-core CPU, reading the top 10 of the seed (`bench/reader_bench.py`,
docs/performance.md): int8 1.4–1.5× faster than PyTorch fp32; fp32 ONNX about as fast as PyTorch.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from qa.embed.model import files_hash

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUTS = ("start_logits", "end_logits")


def weights_hash(folder: Path) -> str:
    """A short hash of the reader's weight files (a retrained reader gets a fresh export)."""
    return files_hash(sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")))


def onnx_file(folder: Path, runtime: str, cache_dir: Path) -> Path:
    """The ONNX file for `runtime` ("onnx" or "onnx-int8"), exported and quantised on first use."""
    if runtime not in ("onnx", "onnx-int8"):
        raise ValueError(f"unknown reader runtime {runtime!r}")
    target = Path(cache_dir) / f"reader-onnx-{weights_hash(folder)}"
    fp32, int8 = target / "model.onnx", target / "model-int8-per-channel.onnx"
    if not fp32.exists():
        _publish(target, fp32, lambda tmp: _export(folder, tmp))
    if runtime == "onnx-int8" and not int8.exists():
        _publish(target, int8, lambda tmp: _quantize(fp32, tmp))
    return int8 if runtime == "onnx-int8" else fp32


def _publish(target: Path, path: Path, write: Any) -> None:
    """Write `path` under a temporary name, then rename it into place (two processes: the last one wins)."""
    target.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _export(folder: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(str(folder), dtype=torch.float32).eval()
    sample = torch.ones(2, 16, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (sample, sample, torch.zeros_like(sample)), str(out), input_names=list(INPUTS),
                          output_names=list(OUTPUTS), opset_version=17, dynamo=False,
                          dynamic_axes={name: {0: "batch", 1: "tokens"} for name in INPUTS + OUTPUTS})


def _quantize(fp32: Path, out: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the quantiser logs a "consider pre-processing" hint on every call
    try:
        # per channel: one scale per output column of each weight, half the error of one scale per matrix at
        # the same speed (docs/performance.md)
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        quiet.setLevel(level)


class OnnxLogits:
    """Start/end logits from an ONNX Runtime session (thread-safe: `run` may be called concurrently)."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        # no busy-waiting between runs: the query's embedding (torch) runs in the same process right before
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.session.run(list(OUTPUTS), {"input_ids": input_ids, "attention_mask": attention_mask,
                                                      "token_type_ids": token_type_ids})
        return np.asarray(start, dtype=np.float32), np.asarray(end, dtype=np.float32)
