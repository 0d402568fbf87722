"""Split an Article into passages (Chunks) by section, within two token budgets.

Sections come from ATX headings; text before the first heading is the lead (path `[]`); the front
matter's `infoboxes` become passages under `["Infobox"]`. A passage never exceeds `max_tokens`
cl100k_base tokens, and its embedded text never exceeds what the model reads (`model_max_tokens`).
Long sections split at paragraphs, then sentences, then words, with a small overlap.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from qa.ingest.articles import load_file
from qa.ingest.markdown import ATX_HEADING, Slugger, clean_block, clean_inline, mask, protected_spans
from qa.ingest.tokens import count_model_tokens, count_tokens
from qa.records import Article, Chunk, Problem, Section

INFOBOX = "Infobox"
_BLANK_SPLIT = re.compile(r"\n[ \t\r]*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'’”)\]]*\s+(?=[\"'‘“(\[]?[A-Z0-9])")
_SKIP_INFOBOX_FIELDS = re.compile(r"image|caption|map|logo|flag|signature|alt$|size$|width$", re.IGNORECASE)


@dataclass(frozen=True)
class ChunkerConfig:
    max_tokens: int = 200
    overlap_tokens: int = 40
    model_max_tokens: int = 256


@dataclass(frozen=True)
class _Unit:
    """A piece of text with its span in the raw file."""

    start: int
    end: int
    text: str
    sentence: bool = False  # part of a split paragraph (so overlap may repeat it)
    synthetic: bool = False  # text rendered from front matter, not cut from the masked body


@dataclass(frozen=True)
class _RawSection:
    path: tuple[str, ...]
    anchor: str
    level: int
    start: int  # content span (after the heading line)
    end: int


def outline(article: Article) -> tuple[list[_RawSection], str]:
    """The article's sections in order (lead first, path `()`), and the masked text used to cut them."""
    masked = mask(article.raw_text)
    slugger = Slugger(reserved=(INFOBOX.lower(),))
    sections: list[_RawSection] = []
    stack: list[tuple[int, str]] = []
    pos = article.body_start
    cur_path: tuple[str, ...] = ()
    cur_anchor, cur_level, cur_start = "", 0, pos
    in_fence = False
    for line in masked[article.body_start :].splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        m = None if in_fence else ATX_HEADING.match(line.rstrip("\n"))
        if m:
            sections.append(_RawSection(cur_path, cur_anchor, cur_level, cur_start, pos))
            level = len(m.group(1))
            title = clean_inline(m.group(2) or "") or "Untitled"
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            cur_path = tuple(t for _, t in stack)
            cur_anchor, cur_level, cur_start = slugger.slug(title), level, pos + len(line)
        pos += len(line)
    sections.append(_RawSection(cur_path, cur_anchor, cur_level, cur_start, pos))
    return sections, masked


def sections_of(article: Article) -> list[Section]:
    """The outline for the API: every heading (and the lead), with anchors."""
    return [Section(s.path, s.anchor, s.level) for s in outline(article)[0] if s.path]


def _blocks(masked: str, start: int, end: int) -> Iterator[_Unit]:
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
            yield _Unit(start + pos + lead, start + pos + tail, text)
        if m:
            pos = m.end()


def _sentences(masked: str, unit: _Unit) -> list[_Unit]:
    region = masked[unit.start : unit.end]
    out: list[_Unit] = []
    pos = 0
    guarded = protected_spans(region)
    ends = [m for m in _SENTENCE_END.finditer(region) if not any(a < m.start() < b for a, b in guarded)]
    for m in ends + [None]:
        stop = m.start() if m else len(region)
        text = clean_block(region[pos:stop])
        if text:
            out.append(_Unit(unit.start + pos, unit.start + stop, text, sentence=True))
        if m:
            pos = m.end()
    return out


def _longest(start: int, stop: int, fits: Callable[[int, int], bool]) -> int:
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


def _words(masked: str, unit: _Unit, fits: Callable[[str], bool]) -> list[_Unit]:
    """Last resort for one over-long sentence: windows of whole words."""
    out: list[_Unit] = []
    words = list(re.finditer(r"\S+", masked[unit.start : unit.end]))

    def span(i: int, j: int) -> tuple[int, int]:  # words i..j-1
        return unit.start + words[i].start(), unit.start + words[j - 1].end()

    def window_fits(i: int, j: int) -> bool:
        s, e = span(i, j)
        return fits(clean_block(masked[s:e]))

    i = 0
    while i < len(words):
        j = _longest(i, len(words), window_fits)
        s, e = span(i, j)
        text = clean_block(masked[s:e])
        if text and not fits(text):  # one "word" over budget (a URL, a run of symbols): cut it
            out += _characters(masked, s, e, fits)
        elif text:
            out.append(_Unit(s, e, text, sentence=True))
        i = j
    return out


def _characters(masked: str, start: int, end: int, fits: Callable[[str], bool]) -> list[_Unit]:
    out: list[_Unit] = []
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
            out.append(_Unit(start, lo, text, sentence=True))
        start = lo
    return out


def _text_windows(unit: _Unit, fits: Callable[[str], bool]) -> list[_Unit]:
    """Split rendered (front-matter) text by words; every part keeps the unit's span."""
    words = unit.text.split()
    out: list[_Unit] = []

    def window_fits(i: int, j: int) -> bool:
        return fits(" ".join(words[i:j]))

    i = 0
    while i < len(words):
        j = _longest(i, len(words), window_fits)
        out.append(_Unit(unit.start, unit.end, " ".join(words[i:j]), sentence=True, synthetic=True))
        i = j
    return out


class Chunker:
    """Turns Articles into Chunks. Counting functions are injectable for tests."""

    def __init__(
        self,
        config: ChunkerConfig | None = None,
        count: Callable[[str], int] = count_tokens,
        count_model: Callable[[str], int] = count_model_tokens,
    ) -> None:
        self.config = config or ChunkerConfig()
        self.count = count
        self.count_model = count_model

    def chunk(self, article: Article) -> list[Chunk]:
        sections, masked = outline(article)
        chunks: list[Chunk] = []
        lead_units = list(_blocks(masked, sections[0].start, sections[0].end))
        if not lead_units and article.description:
            span = _front_matter_key_span(article, "description")
            if span:
                lead_units = [_Unit(span[0], span[1], clean_inline(article.description), synthetic=True)]
        chunks += self._pack(article, (), "", lead_units, masked)
        box_units = _infobox_units(article)
        chunks += self._pack(article, (INFOBOX,), INFOBOX.lower(), box_units, masked)
        for sec in sections[1:]:
            chunks += self._pack(article, sec.path, sec.anchor, list(_blocks(masked, sec.start, sec.end)), masked)
        return _unique_ids(chunks)

    # -- packing ---------------------------------------------------------------------------------

    def _prefix(self, article: Article, path: tuple[str, ...]) -> str:
        """`Title > Section > Sub`, cut (with `…`) to half the model budget so text always has room."""
        prefix = " > ".join((article.title, *path))
        limit = self.config.model_max_tokens // 2
        if self.count_model(prefix + "\n") <= limit:
            return prefix + "\n"
        lo, hi = 0, len(prefix)
        while lo < hi:  # longest cut that fits
            mid = (lo + hi + 1) // 2
            if self.count_model(prefix[:mid].rstrip() + " …\n") <= limit:
                lo = mid
            else:
                hi = mid - 1
        return prefix[:lo].rstrip() + " …\n"

    def _fits(self, prefix: str, text: str) -> bool:
        return (
            self.count(text) <= self.config.max_tokens
            and self.count_model(prefix + text) <= self.config.model_max_tokens
        )

    def _split(self, masked: str, unit: _Unit, fits: Callable[[str], bool]) -> list[_Unit]:
        if fits(unit.text):
            return [unit]
        if unit.synthetic:
            return _text_windows(unit, fits)
        out: list[_Unit] = []
        sentences = _sentences(masked, unit)
        if len(sentences) <= 1:
            return _words(masked, unit, fits)
        for s in sentences:
            out += [s] if fits(s.text) else _words(masked, s, fits)
        return out

    def _pack(
        self, article: Article, path: tuple[str, ...], anchor: str, units: list[_Unit], masked: str
    ) -> list[Chunk]:
        if not units:
            return []
        prefix = self._prefix(article, path)

        def fits(text: str) -> bool:
            return self._fits(prefix, text)

        pieces: list[_Unit] = []
        for u in units:
            pieces += self._split(masked, u, fits)
        groups: list[list[_Unit]] = []
        current: list[_Unit] = []
        for piece in pieces:
            if current and not fits(_join(current + [piece])):
                groups.append(current)
                last = current[-1]
                overlap = last.sentence and piece.sentence and self.count(last.text) <= self.config.overlap_tokens
                current = [last] if overlap and fits(_join([last, piece])) else []
            current.append(piece)
        if current:
            groups.append(current)
        return [self._make(article, path, anchor, i, g, prefix) for i, g in enumerate(groups)]

    def _make(
        self, article: Article, path: tuple[str, ...], anchor: str, ordinal: int, group: list[_Unit], prefix: str
    ) -> Chunk:
        text = _join(group)
        key = "\x1f".join((article.id, "\x1e".join(path), str(ordinal), text))
        return Chunk(
            id=hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:16],
            article_id=article.id,
            article_title=article.title,
            section_path=path,
            anchor=anchor,
            ordinal=ordinal,
            file=article.file,
            start=min(u.start for u in group),
            end=max(u.end for u in group),
            text=text,
            embed_text=prefix + text,
            tokens=self.count(text),
        )


def _unique_ids(chunks: list[Chunk]) -> list[Chunk]:
    """Two sections with the same heading path and text (`## Notes` twice) would hash to one id, and a
    store keyed by id would keep only one of them: a repeat takes its (unique) anchor into the hash.
    Every other id stays as it was."""
    seen: set[str] = set()
    out: list[Chunk] = []
    for c in chunks:
        if c.id in seen:
            key = f"{c.id}\x1f{c.anchor}".encode("utf-8", "surrogatepass")
            c = replace(c, id=hashlib.sha1(key).hexdigest()[:16])
        seen.add(c.id)
        out.append(c)
    return out


def _join(units: list[_Unit]) -> str:
    out = ""
    for u in units:
        if not out:
            out = u.text
        else:
            out += (" " if u.sentence else "\n") + u.text
    return out


def _front_matter_key_span(article: Article, key: str) -> tuple[int, int] | None:
    """Span of a top-level front-matter key and its (possibly multi-line) value."""
    if not article.front_matter_span:
        return None
    fs, fe = article.front_matter_span
    fm = article.raw_text[fs:fe]
    m = re.search(rf"^{re.escape(key)}[ \t]*:", fm, re.MULTILINE)
    if not m:
        return None
    nxt = re.compile(r"^[^\s#-][^:\n]*:", re.MULTILINE).search(fm, m.end())
    return fs + m.start(), fs + (nxt.start() if nxt else len(fm))


def _value_text(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("text", "")
    if isinstance(value, list):
        return "; ".join(filter(None, (_value_text(v) for v in value)))
    if value is None:
        return ""
    if isinstance(value, bool):  # YAML `false` should read as written
        return str(value).lower()
    lines = [clean_inline(re.sub(r"^\s*[*-]\s+", "", ln)) for ln in str(value).splitlines()]
    return "; ".join(ln for ln in lines if ln)


def _infobox_units(article: Article) -> list[_Unit]:
    """Infobox fields as readable `field: value` lines, all spanning the front matter's `infoboxes`."""
    span = _front_matter_key_span(article, "infoboxes")
    if not article.infoboxes or span is None:
        return []
    units: list[_Unit] = []
    for box in article.infoboxes:
        for field, value in box.items():
            name = str(field)
            if _SKIP_INFOBOX_FIELDS.search(name):
                continue
            text = _value_text(value)
            if text:
                units.append(_Unit(span[0], span[1], f"{name.replace('_', ' ')}: {text}", synthetic=True))
    return units


# -- reading and chunking many files -------------------------------------------------------------------

ChunkedFile = tuple[Article | None, list[Problem], list[Chunk] | str]


def chunk_file(path: Path, root: Path, chunker: Chunker) -> ChunkedFile:
    """Load one file and split it: (article, problems, passages), passages being the error text when the
    chunker failed on it (one odd file must not sink a build)."""
    article, problems = load_file(path, root)
    if article is None:
        return article, problems, []
    try:
        return article, problems, chunker.chunk(article)
    except Exception as exc:  # noqa: BLE001
        return article, problems, repr(exc)


def chunk_files(
    files: Sequence[Path],
    root: Path,
    chunker: Chunker,
    processes: int = 1,
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[ChunkedFile]:
    """`chunk_file` over files, in order. With processes > 1 the files are read and split in worker
    processes while this thread runs `meanwhile` (the build loads the embedding model then)."""
    if processes <= 1 or len(files) < 2 * processes:
        if meanwhile:
            meanwhile()
        for path in files:
            yield chunk_file(path, root, chunker)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: forking a process that has loaded torch, or is loading it, can hang the child
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        job = partial(chunk_file, root=root, chunker=chunker)
        results = pool.map(job, files, chunksize=max(1, len(files) // (8 * processes)))  # all submitted now
        if meanwhile:
            meanwhile()
        yield from results
