"""Run a reader folder (any `AutoModelForQuestionAnswering` checkpoint whose position 0 means "no answer").

`Reader.read(question, passages)` gives, for each passage, its best answer span (character offsets into the
passage text) and `relevance` = best span logit − no-answer logit: above 0 the model thinks the passage answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa.reader.features import Encoded, encode, title_prefix

MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class Reading:
    """What the reader found in one passage: `start`/`end` into the passage text (empty span: none found)."""

    start: int
    end: int
    span_score: float
    null_score: float

    @property
    def relevance(self) -> float:
        return self.span_score - self.null_score


@lru_cache(maxsize=64)
def _span_grid(n: int, max_answer_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (start, end) token pair with start <= end < start + max_answer_tokens, for sequences of n tokens."""
    i_idx, j_idx = np.triu_indices(n)
    keep = (j_idx - i_idx) < max_answer_tokens
    return i_idx[keep], j_idx[keep]


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, enc: Encoded, n_pairs: int,
               max_answer_tokens: int = MAX_ANSWER_TOKENS) -> list[Reading]:
    """The best span per input pair over all its windows (passage tokens only, end ≥ start, ≤ N tokens)."""
    best: list[Reading | None] = [None] * n_pairs
    i_idx, j_idx = _span_grid(start_logits.shape[1], max_answer_tokens)
    for row, pair in enumerate(enc.row_of):
        valid = enc.char_start[row] >= 0
        null = float(start_logits[row, 0] + end_logits[row, 0])
        s = np.where(valid, start_logits[row], -np.inf)
        e = np.where(valid, end_logits[row], -np.inf)
        scores = s[i_idx] + e[j_idx]
        k = int(np.argmax(scores))
        span = float(scores[k])
        if not np.isfinite(span):
            reading = Reading(0, 0, -1e4, null)
        else:
            reading = Reading(int(enc.char_start[row, i_idx[k]]), int(enc.char_end[row, j_idx[k]]), span, null)
        current = best[pair]
        # over windows: keep the window whose span beats its own no-answer most (SQuAD 2.0 practice)
        if current is None or reading.relevance > current.relevance:
            best[pair] = reading
    return [r if r is not None else Reading(0, 0, -1e4, 0.0) for r in best]


RUNTIMES = ("torch", "onnx", "onnx-int8")


class Reader:
    """A loaded reader; `read` is thread-safe (torch inference with no shared mutable state but the model).

    The logits come from `model` in PyTorch (bf16 autocast where `bf16`), or, when `onnx` is given, from ONNX
    Runtime (qa.reader.onnx_runtime, runtimes "onnx" / "onnx-int8") and `model` may be None.
    """

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 384, bf16: bool = False,
                 onnx: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None, bucket_rows: int = 4,
                 arithmetic: str = "") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.bf16 = bf16
        self.onnx = onnx
        self.bucket_rows = bucket_rows
        # what computes the logits, for reports: "onnx-int8", "onnx", "torch bf16" or "torch fp32"
        self.arithmetic = arithmetic or ("onnx" if onnx is not None else "torch bf16" if bf16 else "torch fp32")
        self._lock = threading.Lock()  # the fast tokenizer is not safe to call from several threads at once

    @classmethod
    def load(cls, path: Path | str, max_length: int = 384, precision: str = "auto", runtime: str = "torch",
             cache_dir: Path | None = None, threads: int = 0) -> Reader:
        from transformers import AutoTokenizer

        if runtime not in RUNTIMES:
            raise ValueError(f"unknown reader runtime {runtime!r}: one of {', '.join(RUNTIMES)}")
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        if runtime != "torch":
            from qa.reader.onnx_runtime import OnnxLogits, onnx_file

            file = onnx_file(Path(path), runtime, cache_dir or Path(".cache/qa"))
            return cls(None, tokenizer, max_length, onnx=OnnxLogits(file, threads), arithmetic=runtime)
        import torch
        from transformers import AutoModelForQuestionAnswering

        from qa.embed.model import native_bf16

        model = AutoModelForQuestionAnswering.from_pretrained(str(path), dtype=torch.float32)
        model.eval()
        bf16 = precision == "bf16" or (precision == "auto" and native_bf16())
        return cls(model, tokenizer, max_length, bf16)

    def _arithmetic(self) -> AbstractContextManager[Any]:
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else nullcontext()

    def logits(self, enc: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """Start/end logits for every row of `enc`. Rows run in groups of `bucket_rows`, shortest first, each
        group cut to its own longest row: padding costs as much as text, and these rows differ in length.
        (A tokenizer that pads on the left keeps every row whole.)"""
        n, length = enc.input_ids.shape
        right = getattr(self.tokenizer, "padding_side", "right") == "right"
        lengths = enc.attention_mask.sum(axis=1) if right else np.full(n, length)
        order = np.argsort(lengths, kind="stable")
        start = np.full((n, length), -1e4, dtype=np.float32)
        end = np.full((n, length), -1e4, dtype=np.float32)
        for group in np.array_split(order, -(-n // max(self.bucket_rows, 1))):
            width = int(lengths[group].max())
            s, e = self._run(enc.input_ids[group, :width], enc.attention_mask[group, :width],
                             enc.token_type_ids[group, :width])
            start[group, :width], end[group, :width] = s, e
        return start, end

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray,
             ) -> tuple[np.ndarray, np.ndarray]:
        if self.onnx is not None:
            return self.onnx(input_ids, attention_mask, token_type_ids)
        import torch

        with torch.inference_mode(), self._arithmetic():
            out = self.model(input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(attention_mask),
                             token_type_ids=torch.from_numpy(token_type_ids))
        return out.start_logits.float().numpy(), out.end_logits.float().numpy()

    def read(self, question: str, passages: list[str], titles: list[str] | None = None) -> list[Reading]:
        """Read each passage (prefixed with its title/citation) with the question (rows in length groups, `logits`)."""
        return self.read_pairs([question] * len(passages), passages, titles)

    def read_pairs(self, questions: list[str], passages: list[str], titles: list[str] | None = None,
                   ) -> list[Reading]:
        """Read each (question, passage) pair, the passage prefixed with its title (rows in length groups)."""
        if not passages:
            return []
        prefixes = [title_prefix(t) for t in titles] if titles else [""] * len(passages)
        with self._lock:
            enc = encode(self.tokenizer, questions, prefixes, passages, self.max_length)
        start, end = self.logits(enc)
        return best_spans(start, end, enc, len(passages))
