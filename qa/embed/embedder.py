"""Sentence embeddings with the bundled all-MiniLM-L6-v2 through sentence-transformers: batched, normalised,
on PyTorch (optionally under bf16 autocast) or ONNX Runtime.

One encoder per model: `Embedder` holds a `SentenceTransformer` (PyTorch backend, or `backend="onnx"` from
`qa.embed.onnx_backend`) and uses its tokenizer and its Transformer module for everything: passage and query
vectors, and the token embeddings that sentence vectors are pooled from (`encode_with_sentences`)."""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Tokenized:
    """Word-piece ids ([CLS] … [SEP], truncated as the model is) and, per id, its (start, end) in the text."""

    ids: list[list[int]]
    offsets: list[list[tuple[int, int]]]


class Embedder:
    """Encodes passages and queries to unit-length float32 vectors of DIM dimensions. Thread-safe once loaded."""

    def __init__(
        self, backend: str = "torch", batch_size: int = 32, cache_dir: Path | None = None, precision: str = "auto",
        device: str = "cpu",
    ) -> None:
        self.backend = backend
        self.device = device  # "cuda" on a GPU (Ray build workers); torch backend only
        self.batch_size = batch_size
        self.cache_dir = cache_dir or Path(".cache/qa")
        self.precision = resolve_precision(backend, precision)
        self._model: Any = None  # a sentence_transformers.SentenceTransformer
        self._tokenizer: Any = None
        self._query_encoder: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.backend, settings.batch_size, settings.cache_dir, settings.precision)

    @property
    def model(self) -> Any:
        """The SentenceTransformer, loaded on first use."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from qa.settings import get_settings
        from qa.threads import configure

        configure(get_settings().threads)
        if self.backend == "torch":
            from sentence_transformers import SentenceTransformer

            return SentenceTransformer(str(model_path()), device=self.device)
        from qa.embed.onnx_backend import load_onnx_model

        return load_onnx_model(self.backend, self.cache_dir)

    def tokenize(self, texts: list[str]) -> Tokenized:
        """The model's own word-pieces and their character offsets, truncated at its max_seq_length."""
        model = self.model
        with self._lock:
            # A private copy of the tokenizer: this fast tokenizer is not thread-safe when its padding settings
            # change, and the model's own copy may be encoding a query on another thread meanwhile.
            if self._tokenizer is None:
                self._tokenizer = copy.deepcopy(model.tokenizer)
            enc = self._tokenizer(texts, return_offsets_mapping=True, truncation=True,
                                  max_length=int(model.max_seq_length))
        return Tokenized(enc["input_ids"], [[(int(s), int(e)) for s, e in row] for row in enc["offset_mapping"]])

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Unit vectors for texts, in order. Sorted by length internally so batches pad little."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        if self.backend != "torch":
            # ONNX: the library's own encode. Dynamic int8 scales activations per batch, so its vectors are
            # kept exactly as sentence-transformers batches them.
            for idx in self._batches(texts, progress):
                out[idx] = self.model.encode([texts[i] for i in idx], batch_size=self.batch_size,
                                             normalize_embeddings=True, convert_to_numpy=True,
                                             show_progress_bar=False)
            return out
        ids = self.tokenize(list(texts)).ids
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
            lengths = [len(ids) for ids in self.tokenize(list(texts)).ids] if len(texts) > 1 else [0]
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
        enc = self.tokenize(list(texts))  # once: ids for the model, lengths to batch by, sentence offsets
        ids = enc.ids
        for idx in self._batches(texts, progress, [len(x) for x in ids]):
            for i, tokens in zip(idx, self._token_embeddings([ids[i] for i in idx])):
                offsets = np.asarray(enc.offsets[i])
                passage = tokens.mean(0)  # the model's own pooling: mean over all tokens, then unit length
                out[i] = _unit(passage)
                per[i] = pool(tokens, offsets, spans[i], passage)
        return out, per

    def token_embeddings(self, ids: list[list[int]], pad_to: int = 1) -> list[np.ndarray]:
        """The Transformer module's last hidden states (float32) for already tokenised texts, padding cut off.
        Rows are padded to the longest, rounded up to a multiple of pad_to, and masked out of attention.
        (`SentenceTransformer.encode` would tokenise the batch a second time, and pools the tokens away.)"""
        import torch

        input_ids, mask = padded(ids, pad_to, self.model.tokenizer.pad_token_id or 0)
        features = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(input_ids)}
        if self.device != "cpu":
            features = {k: v.to(self.device) for k, v in features.items()}
        with torch.inference_mode():
            hidden = self.model[0](features)["token_embeddings"].float().cpu().numpy()
        return [hidden[r, : len(row)] for r, row in enumerate(ids)]

    def _token_embeddings(self, ids: list[list[int]]) -> list[np.ndarray]:
        with self._arithmetic():
            return self.token_embeddings(ids, pad_to=PAD_TO)

    def _arithmetic(self) -> AbstractContextManager[Any]:
        """bf16 autocast (thread-local, so safe under concurrent server requests) or nothing."""
        if self.precision != "bf16":
            return nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def encode_query(self, query: str) -> np.ndarray:
        return self.encode_queries([query])[0]

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Unit vectors for questions as they arrive (one, or a server's micro-batch of a few): no sorting, no
        padding beyond the longest. Under bf16 they go through a copy of the encoder whose weights are cast to
        bf16 once, rather than under autocast, which re-casts every weight on every call (a fifth of one short
        query's time here); the vectors match the autocast ones to cosine >= 0.9999 (tests/test_embedder.py)."""
        if self.backend != "torch" or not queries:
            return self.encode(queries)
        import torch

        ids = self.tokenize(list(queries)).ids
        input_ids, mask = padded(ids, 1, self.model.tokenizer.pad_token_id or 0)
        encoder = self.query_encoder()
        with torch.inference_mode():
            if len(ids) == 1 and _unmasked(encoder):
                # one question has no padding to mask: the model's own embeddings and layers, without building
                # an attention mask first (0.4 of 5.6 ms here; vectors equal to cosine 0.9999999)
                out = encoder.encoder(encoder.embeddings(input_ids=input_ids,
                                                         token_type_ids=torch.zeros_like(input_ids)))
                hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state
            else:
                hidden = encoder(input_ids=input_ids, attention_mask=mask,
                                 token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            weights = mask.unsqueeze(-1).to(torch.float32)
            means = (hidden.float() * weights).sum(1) / weights.sum(1)  # the model's pooling, padding left out
        return np.stack([_unit(v) for v in means.numpy()])

    def query_encoder(self) -> Any:
        """The Hugging Face encoder that questions go through: the model's own in fp32, a bf16 copy in bf16."""
        if self._query_encoder is None:
            encoder = self.model[0].auto_model
            if self.precision == "bf16":
                import torch

                with self._lock:
                    encoder = copy.deepcopy(encoder).to(torch.bfloat16).eval()
            self._query_encoder = encoder
        return self._query_encoder


def _unmasked(encoder: Any) -> bool:
    """Whether `encoder` is a BERT encoder, whose embeddings and layers may run without a mask when nothing is
    padded (another model family always takes the full call)."""
    from transformers import BertModel

    return isinstance(encoder, BertModel)


def padded(ids: list[list[int]], pad_to: int, pad_id: int) -> tuple[Any, Any]:
    """(input_ids, attention_mask) as int64 tensors: rows padded to the longest, rounded up to pad_to."""
    import torch

    width = -(-max(map(len, ids)) // pad_to) * pad_to
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, row in enumerate(ids):
        input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[r, : len(row)] = 1
    return input_ids, mask


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)
