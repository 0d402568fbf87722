"""The sentence of a passage that best answers a question, as offsets into the passage text.

A sentence scores the idf-weighted stemmed query terms it shares with the question, plus a bonus when it
holds the kind of thing the question asks for (a date for "when", a number for "how many", a name for
"who"). Sentences are `qa.ingest.splitting.sentence_spans`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from qa.ingest.splitting import sentence_spans

_WORD = re.compile(r"\w+")

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATE = re.compile(rf"\b\d{{1,2}}\s+(?:{_MONTHS})\b|\b(?:{_MONTHS})\s+\d{{1,2}}\b", re.IGNORECASE)  # a day, not just a year
_YEAR = re.compile(rf"\b(?:{_MONTHS})\b|\b(?:1[89]|20)\d\d\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million)\b", re.IGNORECASE)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")

# what the question asks for → patterns a sentence answering it likely holds, with their share of the bonus
_ASKS: tuple[tuple[re.Pattern[str], tuple[tuple[re.Pattern[str], float], ...]], ...] = (
    (re.compile(r"\bwhen\b|\bwhat (?:day|date|month|year|time)\b|\bwhich (?:day|date|month|year)\b", re.IGNORECASE),
     ((_DATE, 1.0), (_YEAR, 0.5))),
    (re.compile(r"\bhow (?:many|much|far|long|big|large)\b|\bwhat (?:share|percentage|proportion|number)\b"
                r"|\broughly\b|\bapproximately\b", re.IGNORECASE), ((_NUMBER, 1.0),)),
    (re.compile(r"\bwho\b|\bwhose\b|\bwhich (?:person|official|minister|commander|general)\b", re.IGNORECASE),
     ((_NAME, 1.0),)),
)
TYPE_BONUS = 2.0  # in units of the mean idf of the question's terms


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, English-stemmed words (the same analysis as the BM25 index)."""
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return list(_stemmer().stemWords(words))


def asked_patterns(query: str) -> tuple[tuple[re.Pattern[str], float], ...]:
    """What a sentence answering `query` likely holds (a date, a number, a name), with bonus shares."""
    for asks, patterns in _ASKS:
        if asks.search(query):
            return patterns
    return ()


def type_bonus(sentence: str, patterns: tuple[tuple[re.Pattern[str], float], ...]) -> float:
    for pattern, share in patterns:
        if pattern.search(sentence):
            return share
    return 0.0


def best_sentence(query: str, text: str, idf: Mapping[str, float] | None = None) -> tuple[int, int]:
    """Offsets of the best-answering sentence: shared (idf-weighted) terms plus the answer-type bonus.

    Ties go to the earlier sentence. `idf` maps stemmed terms to weights (missing terms weigh 1.0).
    """
    q = set(terms(query))
    weight = {t: (idf or {}).get(t, 1.0) for t in q}
    bonus = TYPE_BONUS * (sum(weight.values()) / len(weight) if weight else 1.0)
    patterns = asked_patterns(query)
    best, best_score = (0, 0), -1.0
    for s, e in sentence_spans(text):
        sentence = text[s:e]
        words = set(terms(sentence))
        score = sum(weight[t] for t in q & words)
        score += bonus * type_bonus(sentence, patterns)
        if score > best_score:
            best, best_score = (s, e), score
    return best


def window_around(text: str, span: tuple[int, int], width: int) -> tuple[int, int]:
    """Whole sentences around `span` (e.g. the best sentence), grown a sentence at a time, the following one
    first, while the window stays within `width` characters. The span's own sentences are always kept."""
    if width <= 0 or len(text) <= width:
        return 0, len(text)
    sentences = sentence_spans(text)
    inside = [i for i, (s, e) in enumerate(sentences) if s < span[1] and e > span[0]] or [0]
    lo, hi = inside[0], inside[-1]
    grown = True
    while grown:
        grown = False
        if hi + 1 < len(sentences) and sentences[hi + 1][1] - sentences[lo][0] <= width:
            hi, grown = hi + 1, True
        if lo > 0 and sentences[hi][1] - sentences[lo - 1][0] <= width:
            lo, grown = lo - 1, True
    return sentences[lo][0], sentences[hi][1]
