"""Sentence embeddings with the bundled all-MiniLM-L6-v2: batched, normalised, optionally ONNX.

The PyTorch backend runs the model through `qa.embed.minilm` (plain torch, no transformers import); the ONNX
backends through sentence-transformers' ONNX Runtime support (`qa.embed.onnx_backend`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.embed.model import DIM, resolve_precision
from qa.ingest.tokens import model_path

if TYPE_CHECKING:
    from qa.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "Loading weights" bars on every start
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

Progress = Callable[[int, int, float], None]  # done, total, seconds so far
# Build batches are padded to a multiple of this many tokens: 32 shapes rather than one per length, so the
# math library's per-shape kernel cache stays small (frontlines build peak RSS 3.0 GB → 1.5 GB; 16 was slower).
PAD_TO = 8


class Embedder:
    """Encodes passages and queries to unit-length float32 vectors of DIM dimensions."""

    def __init__(
        self, backend: str = "torch", batch_size: int = 32, cache_dir: Path | None = None, precision: str = "auto"
    ) -> None:
        self.backend = backend
        self.batch_size = batch_size
        self.cache_dir = cache_dir or Path(".cache/qa")
        self.precision = resolve_precision(backend, precision)
        self._model: Any = None  # qa.embed.minilm.MiniLM, or qa.embed.onnx_backend.OnnxModel: tokenize + token_embeddings

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.backend, settings.batch_size, settings.cache_dir, settings.precision)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from qa.settings import get_settings
        from qa.threads import configure

        configure(get_settings().threads)

        if self.backend == "torch":
            from qa.embed.minilm import MiniLM

            return MiniLM.load(model_path())
        from qa.embed.onnx_backend import OnnxModel, load_onnx_model

        return OnnxModel(load_onnx_model(self.backend, self.cache_dir))

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Unit vectors for texts, in order. Sorted by length internally so batches pad little."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        if self.backend != "torch":  # ONNX: sentence-transformers' own encode (qa/embed/onnx_backend.py says why)
            for idx in self._batches(texts, progress):
                out[idx] = self.model.encode([texts[i] for i in idx], self.batch_size)
            return out
        ids = self.model.tokenize(list(texts)).ids
        for idx in self._batches(texts, progress, [len(x) for x in ids]):
            for i, tokens in zip(idx, self._token_embeddings([ids[i] for i in idx])):
                out[i] = _unit(tokens.mean(0))  # mean of the token embeddings, unit length: the model's pooling
        return out

    def _batches(
        self, texts: Sequence[str], progress: Progress | None, lengths: Sequence[int] | None = None
    ) -> Iterator[list[int]]:
        """Indices of `texts` in batches of equal token length, or nearly (so batches pad little), reporting
        progress after each batch is done. Sorting by word-pieces rather than characters matters: on the
        frontlines passages, character-sorted batches of 32 compute 32% padding, token-sorted ones 0.6%."""
        if lengths is None:
            lengths = [len(ids) for ids in self.model.tokenize(list(texts)).ids] if len(texts) > 1 else [0]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        start = time.perf_counter()
        for b in range(0, len(order), self.batch_size):
            yield order[b : b + self.batch_size]
            if progress:
                progress(min(b + self.batch_size, len(order)), len(order), time.perf_counter() - start)

    def encode_with_sentences(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], progress: Progress | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors (as `encode`) and, per passage, a unit vector for each char span in it, pooled from
        the same pass's token embeddings (qa/embed/sentences.py): sentence vectors at no extra model cost."""
        from qa.embed.sentences import pool

        out = np.zeros((len(texts), DIM), dtype=np.float32)
        per: list[np.ndarray] = [np.zeros((0, DIM), np.float32)] * len(texts)
        enc = self.model.tokenize(list(texts))  # once: ids for the model, lengths to batch by, sentence offsets
        ids = enc.ids
        for idx in self._batches(texts, progress, [len(x) for x in ids]):
            for i, tokens in zip(idx, self._token_embeddings([ids[i] for i in idx])):
                offsets = np.asarray(enc.offsets[i])
                passage = tokens.mean(0)  # the model's own pooling: mean over all tokens, then unit length
                out[i] = _unit(passage)
                per[i] = pool(tokens, offsets, spans[i], passage)
        return out, per

    def _token_embeddings(self, ids: list[list[int]]) -> list[np.ndarray]:
        """The model's last hidden states for already tokenised texts, one forward pass, padding cut off.
        (`SentenceTransformer.encode` would tokenise the batch a second time.)"""
        with self._arithmetic():
            embeddings: list[np.ndarray] = self.model.token_embeddings(ids, pad_to=PAD_TO)
        return embeddings

    def _arithmetic(self) -> AbstractContextManager[Any]:
        """bf16 autocast (thread-local, so safe under concurrent server requests) or nothing."""
        if self.precision != "bf16":
            return nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def encode_query(self, query: str) -> np.ndarray:
        return self.encode([query])[0]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)
