"""(question, passage) pairs as model input: `[CLS] question [SEP] title. passage [SEP]`.

The passage is prefixed with its title (at search time: the citation), so the reader knows what "it" or
"the city" is; answers are only ever taken from the passage part. Position 0 ([CLS]) is "no answer".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Encoded:
    """A batch of token ids with, per row, the character span of each token in the passage (-1: not passage)."""

    input_ids: np.ndarray  # (n, length) int64
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    char_start: np.ndarray  # (n, length) int64, offsets into the passage text (prefix excluded); -1 elsewhere
    char_end: np.ndarray
    row_of: list[int]  # which input pair each row came from


def encode(tokenizer: Any, questions: list[str], prefixes: list[str], passages: list[str], max_length: int,
           stride: int = 64, max_question_tokens: int = 64, all_windows: bool = True) -> Encoded:
    """Tokenise pairs, cutting long passages into overlapping windows (every window, or only the first)."""
    questions = [_clip_question(tokenizer, q, min(max_question_tokens, max_length // 2)) for q in questions]
    stride = min(stride, max_length // 4)  # windows must still advance after the question
    texts = [p + t for p, t in zip(prefixes, passages, strict=True)]
    enc = tokenizer(questions, texts, truncation="only_second", max_length=max_length, stride=stride,
                    return_overflowing_tokens=all_windows, return_offsets_mapping=True, padding="longest",
                    return_tensors="np")
    mapping = enc["overflow_to_sample_mapping"].tolist() if all_windows else list(range(len(questions)))
    n = enc["input_ids"].shape[0]
    second = np.array([[s == 1 for s in enc.sequence_ids(row)] for row in range(n)], dtype=bool)
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64)  # (n, length, 2), into prefix + passage
    shift = np.array([len(prefixes[mapping[row]]) for row in range(n)], dtype=np.int64)[:, None]
    a, b = offsets[..., 0], offsets[..., 1]
    passage = second & (a >= shift) & (b > a)
    starts = np.where(passage, a - shift, -1)
    ends = np.where(passage, b - shift, -1)
    token_types = enc["token_type_ids"] if "token_type_ids" in enc else np.zeros_like(enc["input_ids"])
    return Encoded(enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64),
                   token_types.astype(np.int64), starts, ends, mapping)


def _clip_question(tokenizer: Any, question: str, max_tokens: int) -> str:
    ids = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(ids["input_ids"]) <= max_tokens:
        return question
    return question[: ids["offset_mapping"][max_tokens - 1][1]]


def title_prefix(title: str) -> str:
    return f"{title}. "
