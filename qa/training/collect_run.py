"""`qa train-reader-collect`: what came back from the accelerator run, checked and made a reader folder again.

Checks each weight part and the reassembled file against `training.json`'s sha256, the tensors' names and
shapes against the base reader's, and that every weight is finite; then writes a normal reader folder (the
base folder's config and tokenizer files, `model.safetensors`, `training.json`, `train-log.txt`), compares the
reassembled reader's readings (`qa.reader.Reader`, the serving code) with the device's own on the first dev
examples, exports the int8 ONNX copy (`qa.reader.onnx_runtime`) and re-runs `qa tune-reader` on it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import QAError

MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
FOLDER_FILES = (*MODEL_FILES, "read-tuning.json")


def copy_folder_files(base: Path, out: Path, names: tuple[str, ...] = FOLDER_FILES) -> None:
    """Copy a reader folder's files other than its weights (those `base` has) into `out`, unless they are one."""
    if base.resolve() == out.resolve():
        return
    for name in names:
        if (base / name).exists():
            shutil.copyfile(base / name, out / name)


@dataclass(frozen=True)
class CollectConfig:
    returned: Path
    out: Path
    base: Path = Path("models/reader")
    run: Path = Path(".cache/accel-run")  # the prepared folder, for the dev comparison
    compare: int = 200  # dev examples read again here and compared with the device's readings (0: none)
    int8: bool = True
    tune: bool = True
    data_dir: Path = Path("../shared/qa-train")
    work: Path = Path(".cache/reader-dev")
    cache_dir: Path | None = None  # where the ONNX copies go [the settings' cache_dir]


def _fail(message: str) -> QAError:
    return QAError(message, code="bad_run")


def reassemble(returned: Path) -> tuple[bytes, dict]:
    """The fp16 safetensors bytes from the parts, each checked; and the run's record."""
    record_file = returned / "training.json"
    if not record_file.exists():
        raise _fail(f"{record_file} is missing: the run did not finish (see {returned / 'train.log'})")
    record = json.loads(record_file.read_text())
    chunks = []
    for part in record["weights"]["parts"]:
        blob = (returned / part["file"]).read_bytes() if (returned / part["file"]).exists() else b""
        if hashlib.sha256(blob).hexdigest() != part["sha256"]:
            raise _fail(f"{returned / part['file']} is missing or damaged (sha256 differs from training.json)")
        chunks.append(blob)
    whole = b"".join(chunks)
    if hashlib.sha256(whole).hexdigest() != record["weights"]["sha256"]:
        raise _fail("the reassembled weights' sha256 differs from training.json")
    return whole, record


def check_tensors(blob: bytes, base: Path) -> int:
    """Same tensor names and shapes as the base reader, every value finite; returns the parameter count."""
    from safetensors import safe_open
    from safetensors.numpy import load

    tensors = load(blob)
    with safe_open(str(base / "model.safetensors"), "np") as fh:
        want = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118 - safe_open is no dict
    have = {k: tuple(v.shape) for k, v in tensors.items()}
    if have != want:
        diff = sorted(set(have.items()) ^ set(want.items()))[:5]
        raise _fail(f"the returned tensors differ from {base}'s in name or shape: {diff}")
    bad = [k for k, v in tensors.items() if not np.isfinite(v.astype(np.float32)).all()]
    if bad:
        raise _fail(f"non-finite weights in {bad[:5]}: the run diverged")
    return sum(int(v.size) for v in tensors.values())


def write_folder(blob: bytes, record: dict, cfg: CollectConfig) -> None:
    cfg.out.mkdir(parents=True, exist_ok=True)
    copy_folder_files(cfg.base, cfg.out)
    (cfg.out / "model.safetensors").write_bytes(blob)
    (cfg.out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    if (cfg.returned / "train.log").exists():
        shutil.copyfile(cfg.returned / "train.log", cfg.out / "train-log.txt")


def compare_readings(cfg: CollectConfig, n: int) -> dict:
    """Read the first `n` dev examples with `qa.reader.Reader` (torch fp32, here) and compare with the device's
    readings: the share of identical spans, and the mean gap in relevance."""
    from qa.reader.model import Reader

    z = np.load(cfg.run / "data.npz")
    text = json.loads(gzip.decompress((cfg.run / "dev.json.gz").read_bytes()))
    device = np.load(cfg.returned / "dev-readings.npz")
    n = min(n, len(device["start"]), len(z["dev_ex_kind"]))
    manifest = json.loads((cfg.run / "manifest.json").read_text())
    record = json.loads((cfg.returned / "training.json").read_text())
    if manifest["files"]["data.npz"] != record["data"]["data_npz_sha256"]:
        raise _fail(f"{cfg.run} is not the folder the run was trained on (data.npz sha256 differs)")
    passages = z["dev_ex_passage"][:n]
    questions = text["questions"][:n]
    contexts = [text["contexts"][p] for p in passages]
    titles = [text["titles"][p] for p in passages]
    reader = Reader.load(cfg.out, precision="fp32")
    readings = reader.read_pairs(questions, contexts, titles)
    same = np.mean([(r.start, r.end) == (int(s), int(e)) for r, s, e in
                    zip(readings, device["start"][:n], device["end"][:n], strict=True)])
    gap = np.mean([abs(r.relevance - float(v)) for r, v in zip(readings, device["relevance"][:n], strict=True)])
    return {"examples": int(n), "same_span": round(float(same), 4), "mean_relevance_gap": round(float(gap), 4)}


def collect(cfg: CollectConfig, log: Callable[[str], None] = print) -> dict:
    """Check, reassemble, compare, export int8 and tune; returns a summary."""
    blob, record = reassemble(cfg.returned)
    params = check_tensors(blob, cfg.base)
    write_folder(blob, record, cfg)
    summary: dict = {"reader": str(cfg.out), "parameters": params, "steps": record["steps"],
                     "minutes": record["minutes"], "machine": record["machine"], "dev": record["dev"]}
    log(f"reassembled {len(record['weights']['parts'])} parts ({len(blob) / 2**20:.1f} MiB, {params} parameters) "
        f"into {cfg.out}; dev on the device: {json.dumps(record['dev'])}")
    if cfg.compare and (cfg.returned / "dev-readings.npz").exists():
        summary["compare"] = compare_readings(cfg, cfg.compare)
        log(f"the reassembled reader here vs the device, first {summary['compare']['examples']} dev examples: "
            f"{summary['compare']['same_span']:.0%} same span, mean relevance gap "
            f"{summary['compare']['mean_relevance_gap']:.3f}")
    if cfg.int8:
        from qa.reader.onnx_runtime import onnx_file
        from qa.settings import get_settings

        summary["int8"] = str(onnx_file(cfg.out, "onnx-int8", cfg.cache_dir or get_settings().cache_dir))
        log(f"int8 ONNX: {summary['int8']}")
    if cfg.tune:
        from qa.settings import get_settings
        from qa.training.tune import run as run_tune

        config, _ = run_tune(cfg.out, cfg.data_dir, cfg.work, get_settings(), log=log)
        summary["tuned"] = str(config)
        log(f"qa tune-reader chose: {config}")
    log(f"next: copy {cfg.out} over models/reader (or point QA_READER at it), then re-fit the answerability "
        "calibration for its margins: make calibrate (eval/calibrate.py), and qa build")
    return summary
