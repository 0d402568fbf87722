"""The bundled all-MiniLM-L6-v2 as a plain PyTorch BERT encoder: `tokenizers` for word-pieces, `safetensors`
for the weights, `torch.nn.functional` for the six layers.

Why not `SentenceTransformer` (which the ONNX backends still use): importing sentence-transformers and
transformers costs 6–7 s on this machine (transformers' utilities, scikit-learn, scipy.stats, torch's
dynamo and distributed modules), more than a whole incremental build of the frontlines index; torch alone
imports in ~1.7 s. The forward pass is the one transformers' `BertModel` runs with SDPA attention, op for
op, so its token embeddings equal the library's (tests/test_minilm.py checks them against
`SentenceTransformer` on the real weights).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Encoded:
    """Word-piece ids ([CLS] … [SEP], truncated as the model is) and, per id, its (start, end) in the text."""

    ids: list[list[int]]
    offsets: list[list[tuple[int, int]]]


class MiniLM:
    """Tokenizer + BERT encoder over a sentence-transformers model folder (config.json, model.safetensors,
    tokenizer.json, sentence_bert_config.json). Inference only, on the CPU; thread-safe (nothing mutates
    after load)."""

    def __init__(self, weights: dict[str, Any], config: dict[str, Any], tokenizer: Any, max_length: int) -> None:
        self.w = weights
        self._bf16: dict[str, Any] | None = None  # the layers' weights pre-cast, for bf16 autocast
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.pad_id = int(config.get("pad_token_id") or 0)
        self.max_length = max_length
        self.tokenizer = tokenizer
        if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only BERT with exact GELU and absolute positions is supported")

    @classmethod
    def load(cls, folder: Path) -> MiniLM:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        st_config = folder / "sentence_bert_config.json"
        max_length = int(json.loads(st_config.read_text())["max_seq_length"]) if st_config.exists() else 512
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length)  # counts [CLS]/[SEP], as transformers' truncation=True does
        return cls(load_file(str(folder / "model.safetensors")), config, tokenizer, max_length)

    def tokenize(self, texts: list[str]) -> Encoded:
        encodings = self.tokenizer.encode_batch(texts)
        return Encoded([e.ids for e in encodings], [e.offsets for e in encodings])

    def token_embeddings(self, ids: list[list[int]], pad_to: int = 1) -> list[np.ndarray]:
        """Last hidden states (float32) for each id list, padding cut off. Rows are padded to the longest,
        rounded up to a multiple of pad_to; padded positions are masked out of attention."""
        import torch

        input_ids, mask = padded(ids, pad_to, self.pad_id)
        with torch.inference_mode():
            hidden = self._forward(input_ids, mask.bool()).float().numpy()
        return [hidden[r, : len(row)] for r, row in enumerate(ids)]

    def _weights(self) -> dict[str, Any]:
        """Under bf16 autocast, the encoder layers' weights and biases already in bf16: autocast would cast
        them on every call (a third of a single query's time), with the same rounding, so the results are
        the same. Embeddings and LayerNorm parameters stay fp32, as autocast keeps them."""
        import torch

        if not (torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16):
            return self.w
        if self._bf16 is None:  # two threads may both build it: the same dict, no harm
            self._bf16 = {k: v.to(torch.bfloat16) if k.startswith("encoder.") and "LayerNorm" not in k else v
                          for k, v in self.w.items()}
        return self._bf16

    def _forward(self, input_ids: Any, mask: Any) -> Any:
        import torch
        from torch.nn import functional as F

        w, eps = self._weights(), self.eps
        batch, length = input_ids.shape
        x = (
            F.embedding(input_ids, w["embeddings.word_embeddings.weight"])
            + w["embeddings.token_type_embeddings.weight"][0]
            + w["embeddings.position_embeddings.weight"][:length]
        )
        x = F.layer_norm(x, x.shape[-1:], w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        # as transformers does for SDPA: no mask when nothing is padded, else an additive float mask
        attn_mask = None
        if not bool(mask.all()):
            attn_mask = torch.zeros((batch, 1, length, length), dtype=x.dtype)
            attn_mask.masked_fill_(~mask[:, None, None, :], torch.finfo(x.dtype).min)
        head_dim = x.shape[-1] // self.heads
        for n in range(self.layers):
            p = f"encoder.layer.{n}."

            def heads(name: str, h: Any = x, p: str = p) -> Any:
                y = F.linear(h, w[f"{p}attention.self.{name}.weight"], w[f"{p}attention.self.{name}.bias"])
                return y.view(batch, -1, self.heads, head_dim).transpose(1, 2)

            a = F.scaled_dot_product_attention(heads("query"), heads("key"), heads("value"), attn_mask=attn_mask)
            a = a.transpose(1, 2).reshape(batch, length, -1)
            a = F.linear(a, w[f"{p}attention.output.dense.weight"], w[f"{p}attention.output.dense.bias"])
            x = F.layer_norm(a + x, x.shape[-1:], w[f"{p}attention.output.LayerNorm.weight"],
                             w[f"{p}attention.output.LayerNorm.bias"], eps)
            h = F.gelu(F.linear(x, w[f"{p}intermediate.dense.weight"], w[f"{p}intermediate.dense.bias"]))
            h = F.linear(h, w[f"{p}output.dense.weight"], w[f"{p}output.dense.bias"])
            x = F.layer_norm(h + x, x.shape[-1:], w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"], eps)
        return x


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
