"""The sentence of a passage that best answers a question, as offsets into the passage text."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"'’”)\]]*|\n|$)")
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def terms(text: str) -> list[str]:
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return list(_stemmer().stemWords(words))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans or [(0, len(text))]


def best_sentence(query: str, text: str, idf: dict[str, float] | None = None) -> tuple[int, int]:
    """Offsets of the sentence sharing the most (idf-weighted) stemmed terms with the query; first on ties."""
    q = set(terms(query))
    best, best_score = (0, 0), -1.0
    for s, e in sentence_spans(text):
        words = set(terms(text[s:e]))
        score = sum((idf or {}).get(t, 1.0) for t in q & words)
        if score > best_score:
            best, best_score = (s, e), score
    return best
