"""Embedder arithmetic: bf16 autocast gives the fp32 vectors to cosine >= 0.9999; bad combinations are refused."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from qa.embedder import Embedder, native_bf16, resolve_precision
from qa.errors import QAError
from qa.settings import Settings

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
