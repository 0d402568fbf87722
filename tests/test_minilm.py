"""qa.embed.minilm runs the bundled weights as transformers' BertModel does: same word-pieces, same token embeddings,
same sentence vectors as `SentenceTransformer` on real frontlines text."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from qa.embed.embedder import Embedder
from qa.embed.minilm import padded
from qa.ingest.tokens import model_path
from tests.conftest import FRONTLINES


@pytest.fixture(scope="module")
def reference():  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_path()), device="cpu")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    files = sorted(FRONTLINES.glob("*.md"))[:12]
    # whole files (truncated at 256 word-pieces), a paragraph, a short question, one character
    return [f.read_text(encoding="utf-8")[:4000] for f in files] + [
        "Ukrainian forces entered Kherson on 11 November 2022, greeted by crowds.",
        "How many troops did Russia say it withdrew?",
        "x",
    ]


@pytest.mark.slow
def test_word_pieces_and_offsets_are_the_libraries(embedder, reference, texts) -> None:  # type: ignore[no-untyped-def]
    mine = embedder.model.tokenize(texts)
    theirs = reference.tokenizer(texts, truncation=True, max_length=reference.max_seq_length,
                                 return_offsets_mapping=True)
    assert max(map(len, mine.ids)) == reference.max_seq_length == 256  # truncation was exercised
    assert mine.ids == theirs["input_ids"]
    assert [list(map(tuple, o)) for o in mine.offsets] == [list(map(tuple, o)) for o in theirs["offset_mapping"]]


@pytest.mark.slow
@pytest.mark.parametrize("bf16", [False, True])
def test_token_embeddings_equal_transformers_bert(embedder, reference, texts, bf16) -> None:  # type: ignore[no-untyped-def]
    ids = embedder.model.tokenize(texts).ids
    input_ids, mask = padded(ids, 1, 0)  # the library's input: padded to the longest row only
    features = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(input_ids)}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        mine = embedder.model.token_embeddings(ids, pad_to=8)
        with torch.inference_mode():
            theirs = reference[0](features)["token_embeddings"].float().numpy()
    for r, row in enumerate(mine):
        assert row.shape == (len(ids[r]), 384)
        np.testing.assert_allclose(row, theirs[r, : len(ids[r])], atol=1e-5)


@pytest.mark.slow
def test_sentence_vectors_equal_sentence_transformers(embedder, reference, texts) -> None:  # type: ignore[no-untyped-def]
    fp32 = Embedder(precision="fp32")
    fp32._model = embedder.model
    mine = fp32.encode(texts)
    theirs = reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.all(np.sum(mine * theirs, axis=1) > 0.99999)
    one = fp32.encode_query(texts[-2])
    assert float(one @ theirs[-2]) > 0.99999


def test_loading_the_torch_backend_does_not_import_transformers() -> None:
    """The point of qa.embed.minilm: an incremental build or a server start pays for torch, not transformers."""
    code = (
        "import sys; from qa.embed.embedder import Embedder; e = Embedder(backend='torch'); e.encode_query('kherson'); "
        "print(sorted(m for m in ('transformers', 'sentence_transformers', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
