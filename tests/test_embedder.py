"""Embedder: the vectors of the retired hand-written forward pass (qa/embed/minilm.py) kept to cosine >= 0.9999 for
passages, sentences and queries, in fp32 and bf16; equal to `SentenceTransformer.encode`; bf16 autocast gives the
fp32 vectors to cosine >= 0.9999; bad combinations are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from qa.embed.embedder import Embedder
from qa.embed.model import native_bf16, resolve_precision
from qa.errors import QAError
from qa.settings import Settings

REFERENCE = Path(__file__).parent / "data" / "embed_reference"  # made by tests/data/make_embed_reference.py

TEXTS = [
    "Liberation of Kherson\nOn 9 November 2022 Russia announced its withdrawal from the right bank of the Dnipro.",
    "Ukrainian troops entered Kherson on 11 November and were greeted by crowds in the central square.",
    "What was the population of Kherson before the invasion?",
]


def test_bf16_vectors_match_fp32(embedder) -> None:  # type: ignore[no-untyped-def]
    fp32 = Embedder(precision="fp32")
    fp32._model = embedder.model  # same weights, loaded once per session
    bf16 = Embedder(precision="bf16")
    bf16._model = embedder.model
    a, b = fp32.encode(TEXTS), bf16.encode(TEXTS)
    assert a.dtype == b.dtype == np.float32
    assert np.all(np.sum(a * b, axis=1) > 0.9999)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)


def test_auto_follows_the_cpu() -> None:
    assert resolve_precision("torch", "auto") == ("bf16" if native_bf16() else "fp32")
    assert resolve_precision("torch", "fp32") == "fp32"
    assert resolve_precision("onnx", "auto") == "fp32"  # ONNX backends have their own arithmetic


def test_bf16_with_onnx_is_a_clear_error() -> None:
    with pytest.raises(QAError, match="bf16 needs backend torch"):
        resolve_precision("onnx-int8", "bf16")


def test_settings_refuse_unknown_precision() -> None:
    with pytest.raises(ValidationError):
        Settings(precision="fp8")  # type: ignore[arg-type]
    assert Settings(precision="fp32").precision == "fp32"


def test_batches_group_texts_by_token_count_not_characters(embedder) -> None:  # type: ignore[no-untyped-def]
    # Long rare words: many characters, many word-pieces each; short common words: few of both.
    dense = ["pneumonoultramicroscopicsilicovolcanoconiosis " * n for n in (3, 4)]  # ~130-180 chars
    sparse = ["the cat sat on a mat " * n for n in (7, 8)]  # ~150-170 chars, fewer word-pieces
    texts = [dense[0], sparse[0], dense[1], sparse[1]]
    lengths = [len(ids) for ids in embedder.tokenize(texts).ids]
    by_tokens = sorted(range(4), key=lambda i: lengths[i])
    by_chars = sorted(range(4), key=lambda i: len(texts[i]))
    assert set(by_tokens[:2]) != set(by_chars[:2])  # the two orders disagree, so the test can tell them apart
    e = Embedder(batch_size=2)
    e._model = embedder.model
    assert [set(b) for b in e._batches(texts, None)] == [set(by_tokens[:2]), set(by_tokens[2:])]
    # and the vectors are the same whichever way the texts were batched
    one_by_one = np.stack([embedder.encode([t])[0] for t in texts])
    assert np.all(np.sum(e.encode(texts) * one_by_one, axis=1) > 0.9999)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    b = b.astype(np.float32)
    return np.sum(a * b, axis=1) / np.linalg.norm(b, axis=1)  # the reference is float16-rounded: re-normalise


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_vectors_equal_the_retired_forward_pass(embedder, precision) -> None:  # type: ignore[no-untyped-def]
    """Passages of the seed article, their sentences (late chunking), the 142 eval questions and 6 frontlines
    texts cut at 256 word-pieces, against the vectors qa/embed/minilm.py gave before it was retired."""
    ref = np.load(f"{REFERENCE}.npz")
    data = json.loads(Path(f"{REFERENCE}.json").read_text(encoding="utf-8"))
    e = Embedder(precision=precision)
    e._model = embedder.model
    passages, sentences = e.encode_with_sentences(data["passages"], [[tuple(s) for s in p] for p in data["spans"]])
    assert [len(s) for s in sentences] == [len(p) for p in data["spans"]]
    queries = np.stack([e.encode_query(q) for q in data["queries"]])
    for name, mine in [("passages", passages), ("sentences", np.concatenate(sentences)), ("queries", queries),
                       ("long", e.encode(data["long"]))]:
        assert _cosines(mine, ref[f"{precision}_{name}"]).min() >= 0.9999, name
    np.testing.assert_allclose(passages, e.encode(data["passages"]), atol=1e-6)  # with or without sentences


@pytest.mark.slow
def test_fp32_vectors_equal_sentence_transformers_encode(embedder) -> None:  # type: ignore[no-untyped-def]
    """Our batching (by word-pieces, padded to multiples of 8, one tokenisation) changes nothing: the library's
    plain encode gives the same vectors; and the word-pieces and offsets are its tokenizer's."""
    data = json.loads(Path(f"{REFERENCE}.json").read_text(encoding="utf-8"))
    texts = data["long"] + data["passages"][:6] + data["queries"][:4]
    fp32 = Embedder(precision="fp32")
    fp32._model = embedder.model
    theirs = embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.all(np.sum(fp32.encode(texts) * theirs, axis=1) > 0.99999)
    enc = fp32.tokenize(texts)
    assert max(map(len, enc.ids)) == embedder.model.max_seq_length == 256  # truncation was exercised
    lib = embedder.model.tokenizer(texts, truncation=True, max_length=256, return_offsets_mapping=True)
    assert enc.ids == lib["input_ids"] and enc.offsets == [list(map(tuple, o)) for o in lib["offset_mapping"]]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_questions_alone_or_batched_match_the_passage_path(embedder, precision) -> None:  # type: ignore[no-untyped-def]
    """Questions go through the encoder directly (bf16 weights cast once under bf16), alone or in a server's
    micro-batch of mixed lengths; their vectors are the passage path's to cosine >= 0.9999."""
    e = Embedder(precision=precision)
    e._model = embedder.model
    questions = ["Who liberated Kherson?", ("When did Russian forces withdraw from the right bank of the Dnipro "
                 "river in November 2022, and what did they blow up behind them?"), "Antonivka Bridge"]
    batched = e.encode_queries(questions)
    alone = np.stack([e.encode_query(q) for q in questions])
    passage_path = e.encode(questions)
    assert batched.shape == (3, 384) and batched.dtype == np.float32
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert np.sum(batched * alone, axis=1).min() > 0.9999  # padding is masked out of the mean
    assert np.sum(batched * passage_path, axis=1).min() > 0.9999
    full_call = e.query_encoder()  # one question skips the mask; the model's full call gives the same vector
    import torch

    ids = torch.tensor(e.tokenize([questions[1]]).ids)
    with torch.inference_mode():
        hidden = full_call(input_ids=ids, attention_mask=torch.ones_like(ids),
                           token_type_ids=torch.zeros_like(ids)).last_hidden_state[0].float().mean(0).numpy()
    assert float(alone[1] @ (hidden / np.linalg.norm(hidden))) > 0.999999
    if precision == "bf16":
        assert e.query_encoder() is not e.model[0].auto_model  # the cast copy, made once
        assert str(next(e.query_encoder().parameters()).dtype) == "torch.bfloat16"
