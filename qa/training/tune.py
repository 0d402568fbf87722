"""`qa tune-reader`: choose the read stage's settings on the reader's dev split, never on `eval/kherson.jsonl`.

The dev questions (`qa.training.devset`) are split in two by id: settings are chosen on the `tune` half and
the figures reported on the `check` half. Chosen: how many passages to read, how much of each (the whole
passage or a window of sentences around its best one), the fused-rank penalty and its weight. The figures include
how well the reader's own no-answer margin (`top_relevance`) tells answerable from unanswerable questions;
`confidence` itself is fitted afterwards, over the reader's and retrieval's signals together and on more kinds
of questions than this dev split, by `qa tune --calibration-only` (qa/evaluation/calibrate.py): re-run it
whenever the reader's weights or these settings change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.evaluation.questions import Question
from qa.evaluation.text import token_f1
from qa.index.retrieval import ReadConfig
from qa.reader.model import Reader, Reading
from qa.search.reading import (
    RANK_PENALTIES,
    features,
    order_by_reader,
    read_passages,
)
from qa.stats import auroc

PASSAGES = (3, 5, 10)  # reading is ~20-40 ms a passage on 2 cores: the top 10 is the budget
RANK_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
WINDOWS = (200, 300, 450, 0)  # characters around the best sentence; 0 = the whole passage (slowest)
WHOLE_CHARS = 1000  # a whole passage, as a reading cost (the seed's passages average ~650 characters, up to ~1,200)
FEATURES = ("top_relevance", "top_sentence")  # the reader's margin; retrieval's best-sentence cosine


@dataclass(frozen=True)
class Observed:
    """One dev question through retrieval (top `depth` fused hits) and the reader (every one of them)."""

    question: Question
    gold_rank: list[bool]  # per fused hit: is it a gold section
    readings: dict[int, list[Reading]]  # per window width (WINDOWS): the reading of every hit
    retrieval: dict[str, float]
    texts: list[str]  # the hits' passage texts, for the answer spans


def half(question_id: str) -> str:
    return "tune" if hashlib.sha256(question_id.encode()).digest()[0] % 2 == 0 else "check"


def observe(retriever, reader: Reader, questions: Sequence[Question], depth: int = max(PASSAGES),
            windows: Sequence[int] = WINDOWS, log: Callable[[str], None] = print) -> list[Observed]:
    out = []
    for i, q in enumerate(questions, 1):
        result = retriever.search(q.question, k=depth, mode="hybrid", read=False)
        gold = q.gold_sections
        hits = result.hits
        readings = {w: read_passages(reader, q.question, hits, w) for w in windows}
        out.append(Observed(q, [(h.chunk.article_id, h.chunk.section_path) in gold for h in hits], readings,
                            dict(result.features), [h.chunk.text for h in hits]))
        if i % 100 == 0:
            log(f"  read {i}/{len(questions)}")
    return out


def first_right(observed: Sequence[Observed], passages: int, rank_weight: float, window: int,
                penalty: str = "linear") -> float:
    """Share of answerable questions whose first result is a gold section after reordering."""
    wins = []
    for o in observed:
        if not o.question.answerable:
            continue
        order = order_by_reader(o.readings[window][:passages], rank_weight, penalty)
        wins.append(bool(order) and o.gold_rank[order[0]])
    return float(np.mean(wins)) if wins else float("nan")


def _feature_rows(observed: Sequence[Observed], config: ReadConfig) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for o in observed:
        readings = o.readings[config.window_chars][:config.passages]
        f = features(readings, order_by_reader(readings, config.rank_weight, config.rank_penalty), o.retrieval)
        rows.append([f[name] for name in FEATURES])
        labels.append(int(o.question.answerable))
    return np.asarray(rows), np.asarray(labels)


def choose(observed: Sequence[Observed]) -> tuple[ReadConfig, dict]:
    """The best settings on the tune half, and the figures on both halves."""
    tune = [o for o in observed if half(o.question.id) == "tune"]
    check = [o for o in observed if half(o.question.id) == "check"]
    windows = list(tune[0].readings) if tune else [0]
    grid = {(n, c, p, w): first_right(tune, n, w, c, p)
            for n in PASSAGES for c in windows for p in RANK_PENALTIES for w in RANK_WEIGHTS}
    # the cheapest reading (characters read: passages × window, a whole passage counted as WHOLE_CHARS) whose
    # first-right share is within one question of the best; then the best, the linear penalty, the smaller weight
    answerable = sum(o.question.answerable for o in tune) or 1
    best = max(grid.values())
    near = [key for key, v in grid.items() if v >= best - 1.0 / answerable - 1e-9]
    n, c, p, w = min(near, key=lambda key: (key[0] * (key[1] or WHOLE_CHARS), -grid[key], key[2] != "linear",
                                            key[3]))
    config = ReadConfig(passages=n, rank_weight=w, rank_penalty=p, window_chars=c)
    report = {half_name: _figures(part, config) for half_name, part in (("tune", tune), ("check", check))}
    report["grid_first_right_tune"] = {f"{n}x{c}x{p}x{w}": round(v, 4) for (n, c, p, w), v in grid.items()}
    return config, report


def _figures(observed: Sequence[Observed], config: ReadConfig) -> dict:
    x, y = _feature_rows(observed, config)
    margin, cosine = x[:, FEATURES.index("top_relevance")], x[:, FEATURES.index("top_sentence")]
    nearby = np.array(["nearby" in o.question.tags for o in observed])
    off = np.array(["off-topic" in o.question.tags for o in observed])
    pos = y == 1
    f1 = []
    for o in observed:
        if o.question.answers:
            readings = o.readings[config.window_chars][:config.passages]
            order = order_by_reader(readings, config.rank_weight, config.rank_penalty)
            r = readings[order[0]] if order else None
            span = o.texts[order[0]][r.start:r.end] if r is not None else ""
            f1.append(max(token_f1(span, a) for a in o.question.answers))
    return {
        "questions": len(observed),
        "answer_f1": round(float(np.mean(f1)), 4) if f1 else None,
        "first_right_fused": round(first_right(observed, 1, 0.0, config.window_chars), 4),
        "first_right_read": round(first_right(observed, config.passages, config.rank_weight, config.window_chars,
                                              config.rank_penalty), 4),
        # the reader's margin alone, and retrieval's best-sentence cosine alone, as answerability scores
        "auroc_nearby_margin": round(auroc(np.r_[margin[pos], margin[nearby]], np.r_[y[pos], y[nearby]]), 4),
        "auroc_off_topic_margin": round(auroc(np.r_[margin[pos], margin[off]], np.r_[y[pos], y[off]]), 4),
        "auroc_nearby_cosine": round(auroc(np.r_[cosine[pos], cosine[nearby]], np.r_[y[pos], y[nearby]]), 4),
        "auroc_off_topic_cosine": round(auroc(np.r_[cosine[pos], cosine[off]], np.r_[y[pos], y[off]]), 4),
    }


REPORT_FILE = "read-tuning.json"  # beside the reader's weights: the figures the choice was made on


def run(reader_dir, data_dir, work, settings, questions_limit: int = 600,
        log: Callable[[str], None] = print, config_file=None) -> tuple[ReadConfig, dict]:
    """Write the dev corpus under `work` (once), build its index (incremental), read, choose; save the choice
    as the `read` part of the tuned settings file (`config_file`, default `QA_RETRIEVAL_FILE`: the one record
    `qa build` copies into each index) and the figures as `read-tuning.json` beside the reader's weights."""
    from pathlib import Path

    from qa.build import build
    from qa.evaluation import load_questions
    from qa.reader.load import load_model
    from qa.search.retriever import Retriever
    from qa.training import devset

    work = Path(work)
    questions_file = work / "questions.jsonl"
    if not questions_file.exists():
        devset.write(Path(data_dir), work)
    build(settings, work / "articles", work / "index")
    retriever = Retriever.load(work / "index", settings.model_copy(update={"reader": "off"}))
    reader = load_model(Path(reader_dir), settings)
    questions = load_questions(questions_file)
    questions = sorted(questions, key=lambda q: hashlib.sha256(q.id.encode()).hexdigest())[:questions_limit]
    log(f"reading the top {max(PASSAGES)} of {len(questions)} dev questions")
    observed = observe(retriever, reader, questions, log=log)
    config, report = choose(observed)
    config_file = Path(config_file or settings.retrieval_file)
    save(config, {"dev": report, "runtime": settings.reader_runtime, "questions": str(questions_file)},
         Path(reader_dir), config_file)
    log(f"wrote `read` into {config_file}: rebuild the index (`qa build`) and re-fit answerability "
        "(`make calibrate`) to use it")
    return config, report


def save(config: ReadConfig, figures: dict, reader_dir, config_file) -> None:
    """The choice as the `read` part of the tuned settings file (its other parts kept), and the choice with
    the figures it was made on as `read-tuning.json` beside the reader's weights."""
    import json
    from pathlib import Path

    from qa.evaluation.tune import read_settings, write

    write(Path(config_file), read_settings(Path(config_file)) | {"read": config.to_dict()})
    record = {"read": config.to_dict()} | figures
    (Path(reader_dir) / REPORT_FILE).write_text(json.dumps(record, indent=1) + "\n")
