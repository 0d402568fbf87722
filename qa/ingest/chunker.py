"""Split an Article into passages (Chunks) by section, within two token budgets.

Sections come from ATX headings; text before the first heading is the lead (path `[]`); the front
matter's `infoboxes` become passages under `["Infobox"]`. A passage never exceeds `max_tokens`
cl100k_base tokens, and its embedded text never exceeds what the model reads (`model_max_tokens`).
Long sections split at paragraphs, then sentences, then words, with a small overlap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace

from qa.ingest.front_matter import infobox_units, key_span
from qa.ingest.markdown import ATX_HEADING, Slugger, clean_inline, mask
from qa.ingest.splitting import Unit, blocks, split_sentences, text_windows, words
from qa.ingest.tokens import count_model_tokens, count_tokens
from qa.records import Article, Chunk, Section

INFOBOX = "Infobox"


@dataclass(frozen=True)
class ChunkerConfig:
    max_tokens: int = 200
    overlap_tokens: int = 40
    model_max_tokens: int = 256


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
        lead_units = list(blocks(masked, sections[0].start, sections[0].end))
        if not lead_units and article.description:
            span = key_span(article, "description")
            if span:
                lead_units = [Unit(span[0], span[1], clean_inline(article.description), synthetic=True)]
        chunks += self._pack(article, (), "", lead_units, masked)
        box_units = infobox_units(article)
        chunks += self._pack(article, (INFOBOX,), INFOBOX.lower(), box_units, masked)
        for sec in sections[1:]:
            chunks += self._pack(article, sec.path, sec.anchor, list(blocks(masked, sec.start, sec.end)), masked)
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

    def _split(self, masked: str, unit: Unit, fits: Callable[[str], bool]) -> list[Unit]:
        if fits(unit.text):
            return [unit]
        if unit.synthetic:
            return text_windows(unit, fits)
        out: list[Unit] = []
        sentences = split_sentences(masked, unit)
        if len(sentences) <= 1:
            return words(masked, unit, fits)
        for s in sentences:
            out += [s] if fits(s.text) else words(masked, s, fits)
        return out

    def _pack(
        self, article: Article, path: tuple[str, ...], anchor: str, units: list[Unit], masked: str
    ) -> list[Chunk]:
        if not units:
            return []
        prefix = self._prefix(article, path)

        def fits(text: str) -> bool:
            return self._fits(prefix, text)

        pieces: list[Unit] = []
        for u in units:
            pieces += self._split(masked, u, fits)
        groups: list[list[Unit]] = []
        current: list[Unit] = []
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
        self, article: Article, path: tuple[str, ...], anchor: str, ordinal: int, group: list[Unit], prefix: str
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


def _join(units: list[Unit]) -> str:
    out = ""
    for u in units:
        if not out:
            out = u.text
        else:
            out += (" " if u.sentence else "\n") + u.text
    return out


