"""`qa train-reader-prepare`: everything a one-shot accelerator run needs, in one git-ignored folder.

The accelerator machine has torch, transformers, safetensors and numpy, and none of `qa`'s dependencies (no
bm25s for the retrieved negatives, no tokenizer needed): so the examples are made here (`data.make_examples`,
every negative kind resolved) and tokenised here, and `qa/training/accelerator.py` only cuts windows and trains.

The folder (`.cache/accel-run/` by default):
- `data.npz`: word-piece ids (uint16) of each distinct passage (`title. passage`, as the reader sees it) and
  question (clipped to 64 word-pieces), stored once each, and the examples as indexes into them with the
  answer's first/last word-piece (-1 for "no answer") and kind; the dev passages also with character offsets;
- `dev.json.gz`: the dev passages' text and answers (token F1 / exact match are taken on text);
- `manifest.json`: counts, recipe, tokenizer ids, base weights (tracked `models/reader`, which travels with
  the tree and is read in place) and the sha256 of every file.

Everything that travels (tracked tree + this folder) must fit the device tool's 64 MiB: when the examples do
not fit, the shuffled list is cut (kinds stay in proportion) and the manifest says how many were dropped.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.training import data

ROOT = Path(__file__).resolve().parents[2]
KIND_CODES = {k: i for i, k in enumerate(data.KINDS)}
TRAVEL_LIMIT = 64 * 2**20  # what the device tool carries: tracked tree + carried folders
MARGIN = 2**20  # room for untracked files and a grown model card


@dataclass(frozen=True)
class Recipe:
    """What the accelerator run does (written into the manifest; its flags can override each)."""

    max_length: int = 384
    stride: int = 128  # overlap of consecutive windows of a long passage, in training
    dev_stride: int = 64  # as `Reader` reads (min(64, max_length // 4)): device dev figures match `qa` ones
    max_question_tokens: int = 64
    batch_size: int = 32
    lr: float = 3e-5
    warmup: float = 0.06
    weight_decay: float = 0.01
    epochs: float = 3.0
    seed: int = 13
    bf16: bool = True  # autocast on CUDA only; the CPU runs fp32


@dataclass(frozen=True)
class PrepareConfig:
    data_dir: Path
    out: Path = Path(".cache/accel-run")
    base: Path = Path("models/reader")
    examples: int | None = None  # None: all SQuAD train questions, the other kinds in `data.Mix` proportion
    dev_examples: int = 3_000
    seed: int = 13
    budget_bytes: int | None = None  # None: 64 MiB less the tracked tree less a margin


def travelling_bytes(root: Path = ROOT) -> int:
    """Bytes of the tracked files plus untracked, not ignored ones: what a device call sends besides `carry`."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                         check=True, capture_output=True).stdout.decode()
    return sum((root / p).stat().st_size for p in out.split("\0") if p and (root / p).is_file())


def all_examples_n(corpus: data.Corpus, mix: data.Mix | None = None) -> int:
    """The example count whose SQuAD share is every SQuAD question of `corpus`."""
    mix = mix or data.Mix()
    total = sum(mix.shares().values())
    squad = sum(len(p.qas) for paras in corpus.squad.values() for p in paras)
    return int(squad * total / mix.squad)


class Tokens:
    """Distinct texts tokenised once: ids (no special tokens) and character offsets."""

    def __init__(self, tokenizer: Any, texts: list[str], max_tokens: int | None = None) -> None:
        self.index = {t: i for i, t in enumerate(dict.fromkeys(texts))}
        unique = list(self.index)
        self.ids: list[np.ndarray] = []
        self.offsets: list[np.ndarray] = []
        for i in range(0, len(unique), 2048):
            enc = tokenizer(unique[i:i + 2048], add_special_tokens=False, return_offsets_mapping=True)
            for ids, offs in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
                ids, offs = ids[:max_tokens], offs[:max_tokens]
                self.ids.append(np.asarray(ids, dtype=np.uint16))
                self.offsets.append(np.asarray(offs, dtype=np.int32).reshape(-1, 2))


def _passage(e: data.Example) -> str:
    return f"{e.title}. {e.context}"  # qa.reader.features.title_prefix, the text the reader reads


def _answer_tokens(e: data.Example, offsets: np.ndarray) -> tuple[int, int] | None:
    """First and last word-piece of the answer (as `qa.training.rows` finds them); None when none match."""
    if e.answer is None or e.start is None:
        return -1, -1
    shift = len(e.title) + 2
    a, b = e.start + shift, e.start + len(e.answer) + shift
    cs, ce = offsets[:, 0], offsets[:, 1]
    s = np.nonzero((cs >= shift) & (cs <= a) & (ce > a))[0]
    t = np.nonzero((cs >= shift) & (cs < b) & (ce >= b))[0]
    if not len(s) or not len(t) or t[0] < s[0]:
        return None
    return int(s[0]), int(t[0])


def _flat(parts: list[np.ndarray], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(parts) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(p) for p in parts])
    return (np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)), ptr


def pack_split(examples: list[data.Example], passages: Tokens, questions: Tokens, prefix: str,
               offsets: bool) -> tuple[dict[str, np.ndarray], list[data.Example], list[int]]:
    """Arrays for one split, holding only the passages and questions its examples use."""
    p_of: dict[int, int] = {}
    title: dict[int, str] = {}
    q_of: dict[int, int] = {}
    rows: list[tuple[int, int, int, int, int]] = []
    kept: list[data.Example] = []
    passage_keys: list[int] = []
    for e in examples:
        pk = passages.index[_passage(e)]
        span = _answer_tokens(e, passages.offsets[pk])
        if span is None:
            continue  # the answer does not start / end on a word-piece boundary: dropped, as in training_rows
        p = p_of.setdefault(pk, len(p_of))
        title[pk] = e.title
        q = q_of.setdefault(questions.index[e.question], len(q_of))
        rows.append((q, p, span[0], span[1], KIND_CODES[e.kind]))
        kept.append(e)
        passage_keys.append(pk)
    p_keys, q_keys = list(p_of), list(q_of)
    table = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
    ids, ptr = _flat([passages.ids[k] for k in p_keys], np.uint16)
    q_ids, q_ptr = _flat([questions.ids[k] for k in q_keys], np.uint16)
    out = {f"{prefix}_passage_ids": ids, f"{prefix}_passage_ptr": ptr, f"{prefix}_question_ids": q_ids,
           f"{prefix}_question_ptr": q_ptr, f"{prefix}_ex_question": table[:, 0].astype(np.int32),
           f"{prefix}_ex_passage": table[:, 1].astype(np.int32), f"{prefix}_ex_start": table[:, 2].astype(np.int32),
           f"{prefix}_ex_end": table[:, 3].astype(np.int32), f"{prefix}_ex_kind": table[:, 4].astype(np.uint8)}
    if offsets:  # character offsets into the passage text proper (the title prefix: -1)
        chars = []
        for k in p_keys:
            shift = len(title[k]) + 2
            o = passages.offsets[k] - shift
            o[o[:, 0] < 0] = -1
            chars.append(o)
        flat, _ = _flat(chars, np.int32)
        out[f"{prefix}_passage_chars"] = flat.reshape(-1, 2) if len(flat) else flat.reshape(0, 2)
    return out, kept, [p_of[k] for k in passage_keys]


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def prepare(cfg: PrepareConfig, recipe: Recipe = Recipe(), log: Callable[[str], None] = print) -> dict:
    """Write the run folder; returns the manifest."""
    from transformers import AutoTokenizer

    base = cfg.base if cfg.base.is_absolute() else ROOT / cfg.base
    weights = base / "model.safetensors"
    if not weights.exists():
        from qa.errors import ConfigError

        raise ConfigError(f"{weights} is missing: the run continues from a reader folder's weights")
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    train_corpus, dev_corpus = data.load(cfg.data_dir, cfg.seed)
    n = cfg.examples or all_examples_n(train_corpus)
    log(f"making {n} training examples (every negative kind; BM25 for the retrieved ones) ...")
    train = data.make_examples(train_corpus, n, cfg.seed)
    dev = data.make_examples(dev_corpus, cfg.dev_examples, cfg.seed + 1)  # the dev set `qa train-reader` scores
    log(f"tokenising {len(train)} + {len(dev)} examples ...")
    passages = Tokens(tokenizer, [_passage(e) for e in train + dev])
    questions = Tokens(tokenizer, [e.question for e in train + dev], recipe.max_question_tokens)
    dev_arrays, dev_kept, dev_passage = pack_split(dev, passages, questions, "dev", offsets=True)
    contexts = [""] * (int(max(dev_passage)) + 1 if dev_passage else 0)
    titles = list(contexts)
    for e, p in zip(dev_kept, dev_passage, strict=True):
        contexts[p], titles[p] = e.context, e.title
    dev_json = gzip.compress(json.dumps({"contexts": contexts, "titles": titles, "answers": [e.answer for e in dev_kept],
                                         "questions": [e.question for e in dev_kept],
                                         "qids": [e.qid for e in dev_kept]}).encode(), mtime=0)
    budget = cfg.budget_bytes if cfg.budget_bytes is not None else TRAVEL_LIMIT - travelling_bytes() - MARGIN
    keep = len(train)
    while True:
        train_arrays, train_kept, _ = pack_split(train[:keep], passages, questions, "train", offsets=False)
        blob = _npz_bytes({**train_arrays, **dev_arrays})
        size = len(blob) + len(dev_json) + 16_384  # + the manifest
        if size <= budget or keep == 0:
            break
        keep = int(keep * budget / size * 0.98)
        log(f"{size / 2**20:.1f} MiB is over the {budget / 2**20:.1f} MiB left: cutting to {keep} examples")
    cfg.out.mkdir(parents=True, exist_ok=True)
    for stale in cfg.out.iterdir():  # the folder is this command's own
        stale.unlink()
    (cfg.out / "data.npz").write_bytes(blob)
    (cfg.out / "dev.json.gz").write_bytes(dev_json)
    record = data.selection_record(train_kept, dev_kept, cfg.seed, list(dev_corpus.squad))
    manifest = {
        "format": 1,
        "recipe": asdict(recipe),
        "base": {"folder": str(cfg.base), "sha256": _sha256(weights.read_bytes())},
        "tokens": {"cls": tokenizer.cls_token_id, "sep": tokenizer.sep_token_id, "pad": tokenizer.pad_token_id,
                   "vocab_size": len(tokenizer)},
        "kinds": list(data.KINDS),
        "train": {**record["train"], "made": len(train), "dropped_for_size": len(train) - keep,
                  "dropped_unaligned": keep - len(train_kept), "passages": len(train_arrays["train_passage_ptr"]) - 1,
                  "questions": len(train_arrays["train_question_ptr"]) - 1,
                  "word_pieces": len(train_arrays["train_passage_ids"])},
        "dev": {**record["dev"], "passages": len(contexts)},
        "dev_squad_articles": record["dev_squad_articles"],
        "seed": cfg.seed,
        "corpus_shaped_passages": False,  # infobox / list passages: data.py does not make them yet
        "bytes": {"data.npz": len(blob), "dev.json.gz": len(dev_json), "budget": budget},
        "files": {"data.npz": _sha256(blob), "dev.json.gz": _sha256(dev_json)},
    }
    (cfg.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    log(f"wrote {cfg.out}: {len(train_kept)} training examples {record['train']['by_kind']}, "
        f"{len(dev_kept)} dev; {size / 2**20:.1f} MiB of {budget / 2**20:.1f} MiB left to carry")
    return manifest
