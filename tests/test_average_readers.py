"""`qa average-readers`: the element-wise mean of readers' weights, each tensor in its own dtype."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from qa.cli import main
from qa.training.average import average


def _reader(folder, scale: float, shape=(4, 3)):
    folder.mkdir()
    save_file({"w": torch.full(shape, scale, dtype=torch.float16), "steps": torch.tensor([int(scale)])},
              str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"scale": scale}))
    return folder


def test_average_is_the_elementwise_mean_in_each_tensors_dtype(tmp_path):
    a, b = _reader(tmp_path / "a", 1.0), _reader(tmp_path / "b", 4.0)
    record = average([a, b], tmp_path / "out")
    out = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert out["w"].dtype == torch.float16 and torch.equal(out["w"], torch.full((4, 3), 2.5, dtype=torch.float16))
    assert out["steps"].dtype == torch.int64 and out["steps"].tolist() == [2]  # integer mean, truncated
    assert json.loads((tmp_path / "out" / "config.json").read_text()) == {"scale": 1.0}  # from the first folder
    assert record["tensors"] == 2 and json.loads((tmp_path / "out" / "average.json").read_text()) == record


def test_average_of_a_reader_with_itself_is_that_reader(tmp_path):
    a = _reader(tmp_path / "a", 3.0)
    average([a, a], tmp_path / "out")
    assert torch.equal(load_file(str(tmp_path / "out" / "model.safetensors"))["w"],
                       load_file(str(a / "model.safetensors"))["w"])


def test_readers_of_other_shapes_are_refused_by_name(tmp_path):
    a, b = _reader(tmp_path / "a", 1.0), _reader(tmp_path / "b", 1.0, shape=(4, 4))
    with pytest.raises(ValueError, match="tensor w is"):
        average([a, b], tmp_path / "out")
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_cli_averages_and_refuses_one_folder(tmp_path):
    a, b = _reader(tmp_path / "a", 1.0), _reader(tmp_path / "b", 3.0)
    runner = CliRunner()
    done = runner.invoke(main, ["average-readers", str(a), str(b), "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert "averaged 2 readers (2 tensors)" in done.output
    assert load_file(str(tmp_path / "out" / "model.safetensors"))["w"][0, 0].item() == 2.0
    alone = runner.invoke(main, ["average-readers", str(a), "--out", str(tmp_path / "out2")])
    assert alone.exit_code == 2 and "at least two reader folders" in alone.output
