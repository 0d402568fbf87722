"""Cutting text into units that fit a budget: paragraphs, then sentences, then word windows, then characters.

A `Unit` is a piece of text with its span in the raw file; `Chunker` packs units into passages.

Two sentence splitters, for two jobs: `split_sentences` cuts a paragraph of the masked Markdown (a sentence
ends before a capital or digit, never inside a link or code span), for chunking; `sentence_spans` cuts a
passage's clean text into sentences and lines (an abbreviation such as "St." or "Lt." stays inside its
sentence), for sentence vectors, highlights and reading windows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from qa.ingest.markdown import clean_block, protected_spans

_BLANK_SPLIT = re.compile(r"\n[ \t\r]*\n")
_PARAGRAPH_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'’”)\]]*\s+(?=[\"'‘“(\[]?[A-Z0-9])")

_SENTENCE_END = re.compile(r"[.!?]+[\"'’”)\]]*(?=\s|$)|\n")
_ABBREV = re.compile(r"(?:\b(?:St|Mr|Mrs|Ms|Dr|Lt|Col|Gen|Gov|Sgt|Capt|Maj|Jr|Sr|No|vs|etc|approx|e\.g|i\.e)|\b[A-Za-z])\.$")


@dataclass(frozen=True)
class Unit:
    """A piece of text with its span in the raw file."""

    start: int
    end: int
    text: str
    sentence: bool = False  # part of a split paragraph (so overlap may repeat it)
    synthetic: bool = False  # text rendered from front matter, not cut from the masked body


def blocks(masked: str, start: int, end: int) -> Iterator[Unit]:
    """Paragraph-level blocks of a section (split at blank lines), cleaned; empty ones dropped."""
    region = masked[start:end]
    pos = 0
    for m in list(_BLANK_SPLIT.finditer(region)) + [None]:
        stop = m.start() if m else len(region)
        raw = region[pos:stop]
        text = clean_block(raw)
        if text:
            lead = len(raw) - len(raw.lstrip())
            tail = len(raw.rstrip())
            yield Unit(start + pos + lead, start + pos + tail, text)
        if m:
            pos = m.end()


def split_sentences(masked: str, unit: Unit) -> list[Unit]:
    region = masked[unit.start : unit.end]
    out: list[Unit] = []
    pos = 0
    guarded = protected_spans(region)
    ends = [m for m in _PARAGRAPH_SENTENCE_END.finditer(region) if not any(a < m.start() < b for a, b in guarded)]
    for m in ends + [None]:
        stop = m.start() if m else len(region)
        text = clean_block(region[pos:stop])
        if text:
            out.append(Unit(unit.start + pos, unit.start + stop, text, sentence=True))
        if m:
            pos = m.end()
    return out


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line, whitespace trimmed; an abbreviation does not end a sentence."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.group() != "\n" and _ABBREV.search(text[start : m.start() + 1]):
            continue
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out or [(0, len(text))]


def longest(start: int, stop: int, fits: Callable[[int, int], bool]) -> int:
    """End (exclusive) of the longest window start..end, end <= stop, with fits(start, end), where fits holds
    up to some end and fails beyond it (more words never take fewer tokens); one item is taken as given.
    Gallops (2, 3, 5, 9, ... items) then bisects: O(log n) token counts per window, not one per word."""
    good, step = start + 1, 1
    while good < stop:
        probe = min(good + step, stop)
        if not fits(start, probe):
            break
        good, step = probe, step * 2
    else:
        return good
    bad = probe
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(start, mid):
            good = mid
        else:
            bad = mid
    return good


def words(masked: str, unit: Unit, fits: Callable[[str], bool]) -> list[Unit]:
    """Last resort for one over-long sentence: windows of whole words."""
    out: list[Unit] = []
    words = list(re.finditer(r"\S+", masked[unit.start : unit.end]))

    def span(i: int, j: int) -> tuple[int, int]:  # words i..j-1
        return unit.start + words[i].start(), unit.start + words[j - 1].end()

    def window_fits(i: int, j: int) -> bool:
        s, e = span(i, j)
        return fits(clean_block(masked[s:e]))

    i = 0
    while i < len(words):
        j = longest(i, len(words), window_fits)
        s, e = span(i, j)
        text = clean_block(masked[s:e])
        if text and not fits(text):  # one "word" over budget (a URL, a run of symbols): cut it
            out += characters(masked, s, e, fits)
        elif text:
            out.append(Unit(s, e, text, sentence=True))
        i = j
    return out


def characters(masked: str, start: int, end: int, fits: Callable[[str], bool]) -> list[Unit]:
    out: list[Unit] = []
    while start < end:
        lo, hi = start + 1, end
        while lo < hi:  # longest prefix that fits
            mid = (lo + hi + 1) // 2
            if fits(clean_block(masked[start:mid])):
                lo = mid
            else:
                hi = mid - 1
        text = clean_block(masked[start:lo])
        if text:
            out.append(Unit(start, lo, text, sentence=True))
        start = lo
    return out


def text_windows(unit: Unit, fits: Callable[[str], bool]) -> list[Unit]:
    """Split rendered (front-matter) text by words; every part keeps the unit's span."""
    words = unit.text.split()
    out: list[Unit] = []

    def window_fits(i: int, j: int) -> bool:
        return fits(" ".join(words[i:j]))

    i = 0
    while i < len(words):
        j = longest(i, len(words), window_fits)
        out.append(Unit(unit.start, unit.end, " ".join(words[i:j]), sentence=True, synthetic=True))
        i = j
    return out
