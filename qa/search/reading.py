"""The read stage's logic (`qa.search.read` runs it): the reader (`qa.reader`) reads the top N fused passages
with the question, then

- reorders them by `reader relevance − rank_weight × penalty(fused rank)` (the fused order still counts), the
  penalty `rank − 1` ("linear") or `ln rank` ("log": deep passages lose little more than the 3rd does);
- takes the answer span from the first passage of the new order;
- gives `confidence` from the index's `read` calibration (a monotone logistic model over the reader's
  no-answer margins and retrieval's cosines, qa/evaluation/calibrate.py), and the three-way verdict;
- moves each read passage's highlight to the sentence holding its span.

With `window_chars`, the reader reads only a window of whole sentences around each passage's best sentence
(its highlight): much cheaper than the whole passage, and the reader was trained on paragraphs of that size.

Its settings (N, the window, the rank weight: `ReadConfig`) are chosen on the reader's dev split
(`qa tune-reader`) and are part of the one tuned record the index is searched with (`RetrievalConfig.read`,
qa/index/retrieval.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from qa.index.retrieval import RANK_PENALTY_NAMES, Calibration, ReadConfig
from qa.ingest.splitting import sentence_spans
from qa.reader.load import load_model, reader_folder
from qa.reader.model import Reader, Reading
from qa.records import Answer, Chunk, Hit
from qa.search import calibration
from qa.search.highlight import window_around
from qa.settings import Settings

__all__ = ["ReadConfig", "load_reader", "order_by_reader", "read_hits", "read_passages"]


def load_reader(settings: Settings) -> Reader | None:
    """The reader the settings name (`QA_READER`), on its runtime; None when reading is off or none is installed.
    (How it reads, `ReadConfig`, comes with the index: `RetrievalConfig.read`.)"""
    folder = reader_folder(settings.reader)
    return None if folder is None else load_model(folder, settings)


def features(readings: list[Reading], order: list[int], retrieval: dict[str, float]) -> dict[str, float]:
    """What confidence is computed from: retrieval's signals (qa/search/calibration.py `features`) and the
    reader's no-answer margins (`relevance` = best span logit − no-answer logit) on its chosen passage, on the
    best read passage and on the fused first one."""
    rel = [r.relevance for r in readings]
    return {
        **{k: float(v) for k, v in retrieval.items()},
        "top_relevance": rel[order[0]] if order else -10.0,
        "max_relevance": max(rel) if rel else -10.0,
        "first_relevance": rel[0] if rel else -10.0,  # the fused first passage, before reordering
    }


RANK_PENALTIES: dict[str, Callable[[int], float]] = {
    "linear": lambda rank: float(rank - 1),
    "log": lambda rank: math.log(rank),
}
assert tuple(RANK_PENALTIES) == RANK_PENALTY_NAMES  # the names ReadConfig accepts


def order_by_reader(readings: list[Reading], rank_weight: float, penalty: str = "linear") -> list[int]:
    """Indices of the read passages, best first by relevance minus the fused-rank penalty (stable)."""
    if penalty not in RANK_PENALTIES:
        raise ValueError(f"unknown rank penalty {penalty!r}: one of {', '.join(RANK_PENALTIES)}")
    step = RANK_PENALTIES[penalty]
    combined = [r.relevance - rank_weight * step(i) for i, r in enumerate(readings, 1)]
    return sorted(range(len(readings)), key=lambda i: (-combined[i], i))


@dataclass(frozen=True)
class ReadOutcome:
    hits: list[Hit]
    answer: Answer | None
    confidence: float
    verdict: str  # Calibration.verdict: "answered", "unsure" or "not_answered"
    features: dict[str, float]

    @property
    def answerable(self) -> bool:
        return self.verdict == "answered"


def read_passages(reader: Reader, query: str, hits: list[Hit], window_chars: int = 0) -> list[Reading]:
    """The reader's reading of each hit (one `Reader.read` call); spans are offsets into the whole passage text even when
    only a window around the hit's highlight was read."""
    spans = [window_around(h.chunk.text, h.highlight, window_chars) for h in hits]
    readings = reader.read(query, [h.chunk.text[a:b] for h, (a, b) in zip(hits, spans, strict=True)],
                           [h.chunk.citation for h in hits])
    return [replace(r, start=r.start + a, end=r.end + a) if r.end > r.start else r
            for r, (a, _) in zip(readings, spans, strict=True)]


def read_hits(reader: Reader, config: ReadConfig, query: str, hits: list[Hit], k: int,
              retrieval_features: dict[str, float], judge: Calibration,
              raw_region: Callable[[Chunk], str | None] = lambda chunk: None) -> ReadOutcome:
    """Read the first `config.passages` hits, reorder them, and keep `k`; unread hits follow in fused order.
    `judge` (the index's `read` calibration) turns retrieval's and the reader's signals into confidence."""
    head, tail = hits[:config.passages], hits[config.passages:]
    readings = read_passages(reader, query, head, config.window_chars)
    order = order_by_reader(readings, config.rank_weight, config.rank_penalty)
    feats = features(readings, order, retrieval_features)
    conf = calibration.confidence(judge.to_dict(), feats)
    reordered: list[Hit] = []
    for new_rank, i in enumerate(order, 1):
        r, h = readings[i], head[i]
        highlight = _sentence_holding(h.chunk.text, r.start, r.end) if r.end > r.start else h.highlight
        reordered.append(replace(h, rank=new_rank, reader=round(r.relevance, 4), highlight=highlight))
    out = reordered + [replace(h, rank=len(reordered) + j) for j, h in enumerate(tail, 1)]
    answer = None
    if order and readings[order[0]].end > readings[order[0]].start:
        answer = make_answer(out[0], readings[order[0]], raw_region(out[0].chunk))
    return ReadOutcome(out[:k], answer, conf, judge.verdict(conf), feats)


def make_answer(hit: Hit, reading: Reading, raw: str | None = None) -> Answer:
    """The span as an answer; `raw` is the file region the passage was cut from (`raw_text[start:end]`), where
    the answer's source offsets are found (the nearest verbatim occurrence; None when markup splits it)."""
    c = hit.chunk
    text = c.text[reading.start:reading.end]
    source = _source_span(c.text, c.start, reading.start, text, raw)
    return Answer(text=text, score=round(1.0 / (1.0 + math.exp(-reading.relevance)), 4), rank=hit.rank,
                  passage_id=c.id, start=reading.start, end=reading.end, source_start=source[0],
                  source_end=source[1], citation=c.citation, file=c.file)


def _source_span(text: str, start: int, offset: int, answer: str, raw: str | None,
                 ) -> tuple[int | None, int | None]:
    if raw is None:
        return None, None
    # the nearest verbatim occurrence to where the answer sits in the clean text (clean text only drops markup)
    guess = int(offset * len(raw) / max(len(text), 1))
    spots, at = [], raw.find(answer)
    while at >= 0:
        spots.append(at)
        at = raw.find(answer, at + 1)
    if not spots:
        return None, None
    best = min(spots, key=lambda s: abs(s - guess))
    return start + best, start + best + len(answer)


def _sentence_holding(text: str, start: int, end: int) -> tuple[int, int]:
    for a, b in sentence_spans(text):
        if a <= start < b:
            return a, max(b, min(end, len(text)))
    return start, end
