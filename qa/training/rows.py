"""Reader training examples as model inputs with start/end targets (the windows of `qa.reader.features`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from qa.reader.features import encode, title_prefix
from qa.training.data import Example


def training_rows(tokenizer: Any, examples: list[Example], max_length: int, seed: int,
                  ) -> dict[str, np.ndarray]:
    """Model inputs with start/end targets: the window holding the answer for positives, ([CLS], [CLS]) for
    negatives (one window each, chosen at random when the passage is long); answers cut by a window are dropped."""
    rng = np.random.default_rng(seed)
    enc = encode(tokenizer, [e.question for e in examples], [title_prefix(e.title) for e in examples],
                 [e.context for e in examples], max_length)
    windows: dict[int, list[int]] = {}
    for row, pair in enumerate(enc.row_of):
        windows.setdefault(pair, []).append(row)
    keep, starts, ends = [], [], []
    for ex_i, rows in windows.items():
        ex = examples[ex_i]
        if ex.answer is None or ex.start is None:
            keep.append(rows[int(rng.integers(len(rows)))])
            starts.append(0)
            ends.append(0)
            continue
        a, b = ex.start, ex.start + len(ex.answer)
        for row in rows:
            s_tok = np.nonzero((enc.char_start[row] <= a) & (enc.char_end[row] > a))[0]
            e_tok = np.nonzero((enc.char_start[row] < b) & (enc.char_end[row] >= b))[0]
            if len(s_tok) and len(e_tok) and e_tok[0] >= s_tok[0]:
                keep.append(row)
                starts.append(int(s_tok[0]))
                ends.append(int(e_tok[0]))
                break
    idx = np.array(keep)
    return {"input_ids": enc.input_ids[idx], "attention_mask": enc.attention_mask[idx],
            "token_type_ids": enc.token_type_ids[idx], "start_positions": np.array(starts),
            "end_positions": np.array(ends)}
