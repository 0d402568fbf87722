"""Ranking metrics as pure functions of (gold, ranked list).

`gold` is a set of keys (a section key ``(article_id, section_path)`` or an article id) and `ranked` the
keys of the returned passages, best first. A key may occur several times in `ranked` (several passages
of one section); only its first occurrence counts, so a section is one "document" whatever the chunking.
Every gold key is an *alternative* place where the answer can be read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from collections.abc import Set as AbstractSet

_SPACE = re.compile(r"\s+")


def first_rank(gold: AbstractSet[Hashable], ranked: Sequence[Hashable]) -> int | None:
    """1-based rank of the first gold key in `ranked`, or None when none is there."""
    for rank, key in enumerate(ranked, 1):
        if key in gold:
            return rank
    return None


def recall_at_k(gold: AbstractSet[Hashable], ranked: Sequence[Hashable], k: int) -> float:
    """1.0 when any gold key is among the top k, else 0.0 (success@k; averaged over questions = recall@k).

    Gold keys are alternatives (any one of them answers), so finding one is finding the answer.
    """
    _check(gold, k)
    rank = first_rank(gold, ranked[:k])
    return 1.0 if rank is not None else 0.0


def mrr_at_k(gold: AbstractSet[Hashable], ranked: Sequence[Hashable], k: int) -> float:
    """Reciprocal rank of the first gold key within the top k; 0.0 when none is there."""
    _check(gold, k)
    rank = first_rank(gold, ranked[:k])
    return 1.0 / rank if rank is not None else 0.0


def ndcg_at_k(gold: AbstractSet[Hashable], ranked: Sequence[Hashable], k: int) -> float:
    """Binary-relevance nDCG@k over distinct keys: gain 1/log2(rank+1) at the first occurrence of each gold
    key in the top k; the ideal places all gold keys (at most k) at ranks 1, 2, ...
    """
    _check(gold, k)
    seen: set[Hashable] = set()
    dcg = 0.0
    for rank, key in enumerate(ranked[:k], 1):
        if key in gold and key not in seen:
            seen.add(key)
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal


def normalise_text(text: str) -> str:
    """Lower-case, every run of whitespace made one space, ends trimmed."""
    return _SPACE.sub(" ", text).strip().lower()


def answer_rank(answer: str, passages: Sequence[str]) -> int | None:
    """1-based rank of the first passage containing `answer` (case- and whitespace-insensitive), or None."""
    needle = normalise_text(answer)
    if not needle:
        raise ValueError("answer must not be empty")
    for rank, text in enumerate(passages, 1):
        if needle in normalise_text(text):
            return rank
    return None


def answer_in_passage_at_k(answer: str, passages: Sequence[str], k: int) -> float:
    """1.0 when the answer text appears in one of the top-k passages, else 0.0."""
    if k < 1:
        raise ValueError("k must be at least 1")
    return 1.0 if answer_rank(answer, passages[:k]) is not None else 0.0


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; raises ValueError on an empty sequence (a metric over no questions is undefined)."""
    if not values:
        raise ValueError("mean of no values")
    return sum(values) / len(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be between 0 and 100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _check(gold: AbstractSet[Hashable], k: int) -> None:
    if not gold:
        raise ValueError("gold must not be empty (unanswerable questions have no ranking metrics)")
    if k < 1:
        raise ValueError("k must be at least 1")
