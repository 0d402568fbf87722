"""Sentence embeddings with the bundled all-MiniLM-L6-v2: batched, normalised, optionally ONNX."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa.tokens import model_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "Loading weights" bars on every start
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384


@lru_cache(maxsize=1)
def weights_hash() -> str:
    """sha256 of the bundled weights file: an index is only valid for the exact weights that built it."""
    h = hashlib.sha256()
    with open(model_path() / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


Progress = Callable[[int, int, float], None]  # done, total, seconds so far


class Embedder:
    """Encodes passages and queries to unit-length float32 vectors of DIM dimensions."""

    def __init__(self, backend: str = "torch", batch_size: int = 64, cache_dir: Path | None = None) -> None:
        self.backend = backend
        self.batch_size = batch_size
        self.cache_dir = cache_dir or Path(".cache/qa")
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        from qa.settings import get_settings
        from qa.threads import configure

        configure(get_settings().threads)

        if self.backend == "torch":
            return SentenceTransformer(str(model_path()), device="cpu")
        from qa.onnx_backend import load_onnx_model

        return load_onnx_model(self.backend, self.cache_dir)

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Unit vectors for texts, in order. Sorted by length internally so batches pad little."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        start = time.perf_counter()
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            vecs = self.model.encode(
                [texts[i] for i in idx],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[idx] = vecs.astype(np.float32, copy=False)
            if progress:
                progress(min(b + self.batch_size, len(order)), len(order), time.perf_counter() - start)
        return out

    def encode_query(self, query: str) -> np.ndarray:
        return self.encode([query])[0]
