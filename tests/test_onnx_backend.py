"""ONNX Runtime backends: exported offline from the bundled weights, cached, close to PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from qa.embed.embedder import Embedder
from qa.embed.onnx_backend import FP32_FILE, INT8_FILE, model_dir

pytestmark = pytest.mark.slow  # exports ONNX graphs

TEXTS = [
    "when did russia pull out of kherson",
    ("Ukrainian forces entered the city of Kherson on 11 November 2022 after the Russian withdrawal across the "
    "Dnipro river, ending eight months of occupation."),
    "ZSU",
]


def test_onnx_fp32_and_int8_match_torch_and_are_cached(embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ref = embedder.encode(TEXTS)
    fp32 = Embedder("onnx", cache_dir=tmp_path).encode(TEXTS)
    int8 = Embedder("onnx-int8", cache_dir=tmp_path).encode(TEXTS)
    folder = model_dir(tmp_path)
    assert (folder / FP32_FILE).is_file() and (folder / INT8_FILE).is_file()
    for v in (fp32, int8):
        assert v.shape == (3, 384) and v.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert (fp32 * ref).sum(1).min() > 0.9999
    assert (int8 * ref).sum(1).min() > 0.97  # dynamic int8: close, not equal
    before = (folder / INT8_FILE).stat().st_mtime_ns
    again = Embedder("onnx-int8", cache_dir=tmp_path)  # a second load reuses the export
    one = again.encode(TEXTS[:1])
    assert (folder / INT8_FILE).stat().st_mtime_ns == before
    # dynamic int8 scales activations per batch: a text's vector depends a little on its batch-mates,
    # but the same batch gives the same vector
    np.testing.assert_allclose(again.encode(TEXTS[:1]), one, atol=1e-6)
    assert float(one[0] @ int8[0]) > 0.99


def test_switching_backend_reuses_fp32_vectors_and_reembeds_for_int8(  # type: ignore[no-untyped-def]
    embedder, settings_factory, tmp_path
) -> None:
    import shutil

    from qa.build import build
    from qa.index.folder import read_manifest, resolve
    from tests.conftest import SEEDS

    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    index_dir = tmp_path / "idx"
    first = build(settings_factory(index=index_dir, backend="torch"), seeds, index_dir, embedder=embedder)
    assert first.embedded == first.chunks > 0
    # ONNX fp32 vectors equal the PyTorch ones: nothing to redo
    fp32 = build(settings_factory(index=index_dir, backend="onnx", cache_dir=tmp_path / "c"), seeds, index_dir)
    assert fp32.up_to_date and fp32.embedded == 0
    # int8 vectors differ: every passage is embedded again, and the manifest says which backend made them
    int8 = build(settings_factory(index=index_dir, backend="onnx-int8", cache_dir=tmp_path / "c"), seeds, index_dir)
    assert not int8.up_to_date and int8.embedded == first.chunks
    assert read_manifest(resolve(index_dir)).model["backend"] == "onnx-int8"
