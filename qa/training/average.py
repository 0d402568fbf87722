"""Average readers' weights ("model soup"): the element-wise mean of two or more fine-tuned copies of one
model, each tensor kept in its own dtype.

Readers continued from the same weights sit in one basin, so their mean reads at least about as well as either
and often better (Wortsman et al., 2022, "Model soups"). The shipped reader is the mean of stage 4 and a
seven-kind stage 5 (models/reader/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from qa.training.collect_run import MODEL_FILES, copy_folder_files

WEIGHTS = "model.safetensors"


def average(folders: Sequence[Path], out: Path) -> dict:
    """Write the mean of the readers in `folders` to `out` (config and tokenizer from the first); returns the
    record written as `out/average.json`. All must hold the same tensors with the same shapes."""
    import torch
    from safetensors.torch import load_file, save_file

    if len(folders) < 2:
        raise ValueError("averaging needs at least two reader folders")
    parts = [load_file(str(Path(f) / WEIGHTS)) for f in folders]
    names = set(parts[0])
    for folder, part in zip(folders[1:], parts[1:], strict=True):
        if set(part) != names:
            raise ValueError(f"{folder} holds other tensors than {folders[0]}")
        for name in names:
            if part[name].shape != parts[0][name].shape:
                raise ValueError(f"{folder}: tensor {name} is {tuple(part[name].shape)}, "
                                 f"not {tuple(parts[0][name].shape)}")
    mean = {name: (torch.stack([p[name].float() for p in parts]).mean(0)).to(parts[0][name].dtype)
            for name in sorted(names)}
    out.mkdir(parents=True, exist_ok=True)
    save_file(mean, str(out / WEIGHTS), metadata={"format": "pt"})
    copy_folder_files(Path(folders[0]), out, MODEL_FILES)
    record = {"averaged": [str(f) for f in folders], "tensors": len(mean)}
    (out / "average.json").write_text(json.dumps(record, indent=1) + "\n")
    return record
