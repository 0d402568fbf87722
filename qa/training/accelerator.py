"""The reader's training run on the accelerator machine: one standalone script, no `qa` imports.

    python3 qa/training/accelerator.py --data .cache/accel-run --out $OUT --minutes 7

Reads the folder `qa train-reader-prepare` wrote (pre-tokenised examples, dev split, manifest) and the base
weights it names (the tracked `models/reader`, read in place), cuts the 384-word-piece windows, trains with
bf16 autocast on CUDA (fp32 on the CPU), evaluates on the dev split (token F1, exact match, "no answer" AUROC,
the same figures as `qa.training.evaluate`), and writes into `--out`, flat, at most 8 files:
`model.safetensors.partN` (fp16, the byte stream of one safetensors file cut into parts of <= 15 MiB),
`training.json` (recipe, steps, minutes, machine, dev figures, sha256 of the whole and of each part),
`dev-readings.npz` (per dev example: predicted span and relevance, for `qa train-reader-collect` to compare)
and `train.log`. It keeps to `--minutes` from its own start: the learning-rate schedule is fitted to the
time left once the first steps are timed, and the dev evaluation and the writing are reserved time.
Imports: the standard library, numpy, torch, transformers, safetensors (what the machine has).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import platform
import re
import string
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

T0 = time.time()
PART_BYTES = 15 * 2**20
MAX_ANSWER_TOKENS = 30


class Log:
    def __init__(self, path: Path) -> None:
        self.fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - open for the run, flushed every line

    def __call__(self, line: str) -> None:
        text = f"[{time.time() - T0:7.1f}s] {line}"
        print(text, flush=True)
        self.fh.write(text + "\n")
        self.fh.flush()


class Split:
    """One split of data.npz: passages, questions and examples (indexes, answer word-pieces, kind)."""

    def __init__(self, z: np.lib.npyio.NpzFile, prefix: str, limit: int | None = None) -> None:
        self.p_ids, self.p_ptr = z[f"{prefix}_passage_ids"], z[f"{prefix}_passage_ptr"]
        self.q_ids, self.q_ptr = z[f"{prefix}_question_ids"], z[f"{prefix}_question_ptr"]
        n = len(z[f"{prefix}_ex_kind"]) if limit is None else min(limit, len(z[f"{prefix}_ex_kind"]))
        self.question = z[f"{prefix}_ex_question"][:n].astype(np.int64)
        self.passage = z[f"{prefix}_ex_passage"][:n].astype(np.int64)
        self.start = z[f"{prefix}_ex_start"][:n].astype(np.int64)
        self.end = z[f"{prefix}_ex_end"][:n].astype(np.int64)
        self.kind = z[f"{prefix}_ex_kind"][:n].astype(np.int64)
        self.chars = z.get(f"{prefix}_passage_chars")

    def __len__(self) -> int:
        return len(self.kind)

    def q(self, i: int) -> np.ndarray:
        k = self.question[i]
        return self.q_ids[self.q_ptr[k]:self.q_ptr[k + 1]].astype(np.int64)

    def p_range(self, i: int) -> tuple[int, int]:
        k = self.passage[i]
        return int(self.p_ptr[k]), int(self.p_ptr[k + 1])


def windows(n_passage: int, room: int, stride: int) -> list[int]:
    """Window starts over a passage of n word-pieces, `room` a window, consecutive ones overlapping by `stride`
    (the fast tokenizer's overflowing windows)."""
    starts = [0]
    while starts[-1] + room < n_passage:
        starts.append(starts[-1] + room - stride)
    return starts


def row(split: Split, i: int, w: int, max_length: int, cls: int, sep: int) -> tuple[np.ndarray, int, int]:
    """`[CLS] question [SEP] passage[w:w+room] [SEP]`, with the passage window's first position and end."""
    q = split.q(i)
    a, b = split.p_range(i)
    room = max_length - len(q) - 3
    p = split.p_ids[a + w:min(a + w + room, b)].astype(np.int64)
    ids = np.concatenate([[cls], q, [sep], p, [sep]])
    return ids, len(q) + 2, len(q) + 2 + len(p)


def collate(rows: list[np.ndarray], first: list[int], pad: int) -> dict[str, np.ndarray]:
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for k, (r, f) in enumerate(zip(rows, first)):
        ids[k, :len(r)] = r
        mask[k, :len(r)] = 1
        types[k, f:len(r)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def training_batch(split: Split, idx: np.ndarray, rng: np.random.Generator, recipe: dict, tokens: dict,
                   ) -> dict[str, np.ndarray]:
    """One batch: a positive reads a random window holding its whole answer, a negative a random window."""
    rows, first, starts, ends = [], [], [], []
    for i in idx:
        a, b = split.p_range(int(i))
        room = recipe["max_length"] - len(split.q(int(i))) - 3
        ws = windows(b - a, room, recipe["stride"])
        s, e = int(split.start[i]), int(split.end[i])
        if s >= 0:
            ws = [w for w in ws if w <= s and e < w + room] or ws[:1]
        w = ws[int(rng.integers(len(ws)))]
        ids, f, stop = row(split, int(i), w, recipe["max_length"], tokens["cls"], tokens["sep"])
        if s >= 0 and w <= s and f + e - w < stop:
            starts.append(f + s - w)
            ends.append(f + e - w)
        else:
            starts.append(0)
            ends.append(0)
        rows.append(ids)
        first.append(f)
    batch = collate(rows, first, tokens["pad"])
    batch["start_positions"] = np.asarray(starts)
    batch["end_positions"] = np.asarray(ends)
    return batch


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation (qa.evaluation.text): lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or not common:
        return float(pred == ref)
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive outscores a negative), ties counting half (qa.stats.auroc)."""
    if not len(positive) or not len(negative):
        return float("nan")
    scores = np.concatenate([positive, negative])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos = len(positive)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * len(negative)))


def read_dev(model, dev: Split, recipe: dict, tokens: dict, device: str, bf16: bool, batch: int = 128,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per dev example: best span's characters (start, end) and relevance (span − no-answer logit), over all its
    windows (stride `dev_stride`), passage word-pieces only, at most 30 word-pieces, as `qa.reader` reads."""
    import torch

    chars = dev.chars
    if chars is None:
        raise ValueError("the dev split has no character offsets: prepare it again")
    items = []  # (example, row ids, first passage position, passage slice start in the flat store)
    for i in range(len(dev)):
        a, b = dev.p_range(i)
        room = recipe["max_length"] - len(dev.q(i)) - 3
        for w in windows(b - a, room, recipe["dev_stride"]):
            ids, f, stop = row(dev, i, w, recipe["max_length"], tokens["cls"], tokens["sep"])
            items.append((i, ids, f, a + w, stop))
    items.sort(key=lambda t: len(t[1]))
    best_rel = np.full(len(dev), -np.inf)
    spans = np.zeros((len(dev), 2), dtype=np.int64)
    with torch.inference_mode():
        for k in range(0, len(items), batch):
            part = items[k:k + batch]
            enc = collate([t[1] for t in part], [t[2] for t in part], tokens["pad"])
            enc_t = {n: torch.from_numpy(v).to(device) for n, v in enc.items()}
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
                out = model(**enc_t)
            s, e = out.start_logits.float(), out.end_logits.float()
            width = s.shape[1]
            pos = torch.arange(width, device=device)
            mask = np.zeros((len(part), width), dtype=bool)
            for r, t in enumerate(part):  # passage word-pieces, the title prefix excluded
                mask[r, t[2]:t[4]] = chars[t[3]:t[3] + t[4] - t[2], 0] >= 0
            valid = torch.from_numpy(mask).to(device)
            null = s[:, 0] + e[:, 0]
            grid = s.masked_fill(~valid, -1e9)[:, :, None] + e.masked_fill(~valid, -1e9)[:, None, :]
            band = (pos[None, :] >= pos[:, None]) & (pos[None, :] - pos[:, None] < MAX_ANSWER_TOKENS)
            grid = grid.masked_fill(~band, -1e9).reshape(len(part), -1)
            score, arg = grid.max(dim=1)
            score, arg, null = score.cpu().numpy(), arg.cpu().numpy(), null.cpu().numpy()
            for r, t in enumerate(part):
                rel = score[r] - null[r] if score[r] > -1e8 else -1e4 - null[r]
                if rel > best_rel[t[0]]:
                    best_rel[t[0]] = rel
                    i_tok, j_tok = divmod(int(arg[r]), width)
                    if score[r] > -1e8:
                        spans[t[0]] = (chars[t[3] + i_tok - t[2], 0], chars[t[3] + j_tok - t[2], 1])
                    else:
                        spans[t[0]] = (0, 0)
    return spans[:, 0], spans[:, 1], best_rel


def dev_metrics(dev: Split, text: dict, kinds: list[str], starts: np.ndarray, ends: np.ndarray,
                relevance: np.ndarray) -> dict:
    """Token F1 / exact match on answerable examples, no-answer AUROC overall and per negative kind."""
    answers = text["answers"]
    contexts = text["contexts"]
    pos = [i for i in range(len(dev)) if answers[i] is not None]
    predicted = [contexts[dev.passage[i]][starts[i]:ends[i]] for i in pos]
    f1 = np.array([token_f1(p, answers[i]) for p, i in zip(predicted, pos)])
    em = np.array([float(normalize_answer(p) == normalize_answer(answers[i])) for p, i in zip(predicted, pos)])
    pos_scores = relevance[pos]
    neg = np.array([answers[i] is None for i in range(len(dev))])
    metrics = {"answerable": len(pos), "f1": round(float(f1.mean()), 4) if len(f1) else None,
               "exact_match": round(float(em.mean()), 4) if len(em) else None}
    for name in ("squad", "nq"):
        mine = [f for f, i in zip(f1, pos) if kinds[dev.kind[i]] == name]
        metrics[f"f1_{name}"] = round(float(np.mean(mine)), 4) if mine else None
    metrics["no_answer_auroc"] = _round(auroc(pos_scores, relevance[neg]))
    for name in (k for k in kinds if k.startswith("neg-")):
        mask = np.array([kinds[k] == name for k in dev.kind]) & neg
        metrics[f"auroc_{name}"] = _round(auroc(pos_scores, relevance[mask]))
    return metrics


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def lr_at(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / max(warmup, 1)
    return max(0.0, (total - step) / max(total - warmup, 1))


def save_parts(model, out: Path, log: Log) -> dict:
    """fp16 safetensors, its bytes cut into parts of <= 15 MiB (the device tool returns files of <= 16 MiB)."""
    import torch
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={"format": "pt"})
    parts = []
    for n, k in enumerate(range(0, len(blob), PART_BYTES)):
        name = f"model.safetensors.part{n}"
        (out / name).write_bytes(blob[k:k + PART_BYTES])
        parts.append({"file": name, "bytes": len(blob[k:k + PART_BYTES]),
                      "sha256": hashlib.sha256(blob[k:k + PART_BYTES]).hexdigest()})
    log(f"wrote {len(parts)} weight parts, {len(blob) / 2**20:.1f} MiB fp16")
    return {"bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(), "parts": parts,
            "tensors": {k: list(v.shape) for k, v in tensors.items()}}


def machine(device: str) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "device": device,
            "cpu": platform.processor() or platform.machine()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    import transformers

    info["transformers"] = transformers.__version__
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path(".cache/accel-run"), help="the prepared folder")
    ap.add_argument("--out", type=Path, required=True, help="where the weights, training.json and log go")
    ap.add_argument("--base", type=Path, help="reader folder to continue from [the manifest's, models/reader]")
    ap.add_argument("--minutes", type=float, default=7.0, help="wall-clock budget from this script's start")
    ap.add_argument("--epochs", type=float, help="passes over the training examples [recipe]")
    ap.add_argument("--batch-size", type=int, help="pairs a step [recipe]")
    ap.add_argument("--lr", type=float, help="peak learning rate [recipe]")
    ap.add_argument("--max-steps", type=int, help="stop after this many steps (the schedule ends there)")
    ap.add_argument("--train-limit", type=int, help="use only the first N training examples")
    ap.add_argument("--dev-limit", type=int, help="evaluate on the first N dev examples only")
    ap.add_argument("--eval-base", action=argparse.BooleanOptionalAction, default=None,
                    help="also score the base weights on the dev split first [on CUDA]")
    ap.add_argument("--time-steps", type=int, default=30, help="steps timed before the schedule is fitted")
    ap.add_argument("--reserve", type=float, help="seconds kept for dev evaluation and writing [auto]")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForQuestionAnswering

    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "train.log")
    manifest = json.loads((args.data / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        if hashlib.sha256((args.data / name).read_bytes()).hexdigest() != digest:
            log(f"error: {args.data / name} does not match the manifest: run `qa train-reader-prepare` again")
            return 2
    recipe = dict(manifest["recipe"])
    for key in ("epochs", "batch_size", "lr"):
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    tokens = manifest["tokens"]
    base = args.base or Path(manifest["base"]["folder"])
    weights = hashlib.sha256((base / "model.safetensors").read_bytes()).hexdigest()
    if weights != manifest["base"]["sha256"]:
        log(f"warning: {base}/model.safetensors is not the one prepared against (sha256 {weights[:12]})")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = bool(recipe["bf16"]) and device == "cuda"
    torch.manual_seed(recipe["seed"])
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    z = np.load(args.data / "data.npz")
    train, dev = Split(z, "train", args.train_limit), Split(z, "dev", args.dev_limit)
    dev_text = json.loads(gzip.decompress((args.data / "dev.json.gz").read_bytes()))
    log(f"{len(train)} training, {len(dev)} dev examples; {device} ({machine(device)}), bf16={bf16}; "
        f"recipe {json.dumps(recipe)}")
    model = AutoModelForQuestionAnswering.from_pretrained(str(base), dtype=torch.float32,
                                                          attn_implementation="sdpa").to(device)
    base_metrics = None
    if args.eval_base if args.eval_base is not None else device == "cuda":
        model.eval()
        b_starts, b_ends, b_rel = read_dev(model, dev, recipe, tokens, device, bf16)
        base_metrics = dev_metrics(dev, dev_text, manifest["kinds"], b_starts, b_ends, b_rel)
        log(f"dev, base weights: {json.dumps(base_metrics)}")
    model.train()
    bs = int(recipe["batch_size"])
    per_epoch = math.ceil(len(train) / bs)
    total = max(1, int(per_epoch * recipe["epochs"]))
    if args.max_steps:
        total = min(total, args.max_steps)
    decay: list = []
    no_decay: list = []
    for name, p in model.named_parameters():
        (no_decay if p.ndim == 1 else decay).append(p)
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": recipe["weight_decay"]},
                               {"params": no_decay, "weight_decay": 0.0}], lr=recipe["lr"],
                              fused=device == "cuda")
    deadline = T0 + args.minutes * 60
    reserve = args.reserve if args.reserve is not None else max(45.0, 0.12 * args.minutes * 60)
    rng = np.random.default_rng(recipe["seed"])
    order = np.concatenate([rng.permutation(len(train)) for _ in range(math.ceil(recipe["epochs"]) or 1)])
    planned, fitted = total, False
    losses: list[torch.Tensor] = []
    t_train, step, timed_from = time.time(), 0, None
    log(f"{total} steps planned ({per_epoch} an epoch of {bs}); training until "
        f"{deadline - reserve - T0:.0f}s, {reserve:.0f}s kept for dev and writing")
    while step < total:
        warm = max(1, int(recipe["warmup"] * total))
        for group in optim.param_groups:
            group["lr"] = recipe["lr"] * lr_at(step, total, warm)
        idx = order[(step * bs) % len(order):(step * bs) % len(order) + bs]
        batch = {k: torch.from_numpy(v).to(device, non_blocking=True)
                 for k, v in training_batch(train, idx, rng, recipe, tokens).items()}
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        step += 1
        if step == 2:  # the first steps pay for kernel selection and allocation: time from here
            if device == "cuda":
                torch.cuda.synchronize()
            timed_from = (time.time(), step)
        if not fitted and timed_from is not None and step == timed_from[1] + args.time_steps:
            if device == "cuda":
                torch.cuda.synchronize()
            per_step = (time.time() - timed_from[0]) / args.time_steps
            fit = step + int((deadline - reserve - time.time()) / per_step * 0.95)
            fitted = True
            log(f"{per_step * 1000:.0f} ms a step: {fit} steps fit the time left")
            if fit < total:
                log(f"the schedule is cut from {total} to {fit} steps to end inside --minutes")
                total = max(fit, step)
        if step % 200 == 0 or step == total:
            mean = float(torch.stack(losses[-200:]).float().mean())
            log(f"step {step}/{total} loss {mean:.3f} lr {optim.param_groups[0]['lr']:.2e} "
                f"{step * bs / (time.time() - t_train):.1f} ex/s")
        if time.time() > deadline - reserve:
            log(f"out of time at step {step}/{total}: stopping")
            break
    train_minutes = (time.time() - t_train) / 60
    model.eval()
    t_dev = time.time()
    starts, ends, relevance = read_dev(model, dev, recipe, tokens, device, bf16)
    metrics = dev_metrics(dev, dev_text, manifest["kinds"], starts, ends, relevance)
    log(f"dev ({len(dev)} examples, {time.time() - t_dev:.0f}s): {json.dumps(metrics)}")
    np.savez_compressed(args.out / "dev-readings.npz", start=starts.astype(np.int32), end=ends.astype(np.int32),
                        relevance=relevance.astype(np.float32))
    weights_record = save_parts(model, args.out, log)
    record = {"recipe": recipe, "base": {"folder": str(base), "sha256": weights},
              "data": {"manifest_sha256": hashlib.sha256((args.data / "manifest.json").read_bytes()).hexdigest(),
                       "data_npz_sha256": manifest["files"]["data.npz"],
                       "train_examples": len(train), "dev_examples": len(dev)},
              "steps": step, "planned_steps": planned, "scheduled_steps": total, "examples_seen": step * bs,
              "epochs_done": round(step * bs / max(len(train), 1), 3),
              "loss_last": round(float(torch.stack(losses[-200:]).float().mean()), 4) if losses else None,
              "train_minutes": round(train_minutes, 2), "minutes": round((time.time() - T0) / 60, 2),
              "machine": machine(device), "bf16": bf16, "dev": metrics, "dev_base": base_metrics, "weights": weights_record,
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None else " ".join(argv)}
    (args.out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    log(f"done in {(time.time() - T0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
