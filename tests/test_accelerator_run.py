"""The accelerator run's three steps: prepare (here) → qa/training/accelerator.py (standalone) → collect."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.training import accelerator

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "qa" / "training" / "accelerator.py"
ALLOWED = {"torch", "transformers", "safetensors", "numpy", "__future__"}  # what the accelerator machine has


def test_the_training_script_imports_nothing_the_accelerator_lacks() -> None:
    found = set()
    for node in ast.walk(ast.parse(SCRIPT.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    assert found - ALLOWED <= set(sys.stdlib_module_names), found - ALLOWED - set(sys.stdlib_module_names)


def test_windows_overlap_by_the_stride_and_cover_the_passage() -> None:
    assert accelerator.windows(100, 317, 128) == [0]
    starts = accelerator.windows(700, 300, 128)
    assert starts == [0, 172, 344, 516]
    assert starts[-1] + 300 >= 700


def test_auroc_counts_ties_half() -> None:
    assert accelerator.auroc(np.array([2.0, 3.0]), np.array([1.0])) == 1.0
    assert accelerator.auroc(np.array([1.0]), np.array([1.0])) == 0.5
    assert accelerator.auroc(np.array([0.0, 2.0]), np.array([1.0])) == 0.5


@pytest.mark.slow
def test_prepare_train_collect_end_to_end(small_data: Path, tmp_path: Path) -> None:
    """Tiny: 120 examples, 2 training steps of 4 pairs on the CPU, then a reader folder that loads and reads.
    QA_TEST_ACCEL_PYTHON names the interpreter for the training step (a venv with only the accelerator's
    packages, docs/training.md); by default this one."""
    from qa.reader.model import Reader
    from qa.training.collect_run import CollectConfig, collect
    from qa.training.prepare_run import PrepareConfig, Recipe, prepare

    run, returned, reader = tmp_path / "run", tmp_path / "returned", tmp_path / "reader"
    manifest = prepare(PrepareConfig(small_data, out=run, examples=120, dev_examples=40, seed=3,
                                     budget_bytes=8 * 2**20), Recipe(seed=3), log=lambda _: None)
    assert sum(manifest["train"]["by_kind"].values()) == manifest["train"]["count"] > 100
    assert all(manifest["train"]["by_kind"][k] for k in manifest["kinds"])
    python = os.environ.get("QA_TEST_ACCEL_PYTHON", sys.executable)
    done = subprocess.run([python, str(SCRIPT), "--data", str(run), "--out", str(returned), "--max-steps", "2",
                           "--batch-size", "4", "--dev-limit", "12", "--minutes", "4"], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(p.name for p in returned.iterdir())
    assert len(files) <= 8 and all(p.stat().st_size <= 15 * 2**20 for p in returned.iterdir()), files
    record = json.loads((returned / "training.json").read_text())
    assert record["steps"] == 2 and record["dev"]["answerable"] > 0
    summary = collect(CollectConfig(returned, reader, run=run, compare=12, tune=False, cache_dir=tmp_path / "cache"),
                      log=lambda _: None)
    assert summary["parameters"] > 20_000_000
    assert summary["compare"]["same_span"] >= 0.9  # the device's windows and spans are the serving reader's
    assert Path(summary["int8"]).exists()
    readings = Reader.load(reader, precision="fp32").read(
        "When was the earthquake?", ["The 2008 Sichuan earthquake struck in May 2008."], ["Sichuan"])
    assert readings[0].end > readings[0].start


def test_collect_refuses_a_damaged_part(tmp_path: Path) -> None:
    from qa.errors import QAError
    from qa.training.collect_run import reassemble

    (tmp_path / "model.safetensors.part0").write_bytes(b"abc")
    record = {"weights": {"sha256": "0", "parts": [{"file": "model.safetensors.part0", "sha256": "0" * 64}]}}
    (tmp_path / "training.json").write_text(json.dumps(record))
    with pytest.raises(QAError, match="damaged"):
        reassemble(tmp_path)
