"""Typed records passed between the steps of the pipeline (load → chunk → index → retrieve)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """A file (or part of one) that could not be used, and why. Reported, never fatal."""

    file: str
    line: int | None
    reason: str
    skipped: bool = True

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        verb = "skipped" if self.skipped else "warning"
        return f"{where}: {verb}: {self.reason}"


@dataclass(frozen=True)
class Metadata:
    """An article's own front-matter fields, typed (qa/ingest/metadata.py): `values` as JSON (dates as ISO
    strings), `types` field → "string" | "number" | "boolean" | "date" (of the elements, for a list)."""

    values: dict[str, Any] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"metadata": dict(self.values), "metadata_types": dict(self.types)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metadata:
        return cls(dict(d.get("metadata") or {}), {str(k): str(v) for k, v in (d.get("metadata_types") or {}).items()})


@dataclass(frozen=True)
class Article:
    """One Markdown file with YAML front matter. Offsets index into `raw_text`."""

    id: str
    file: str  # path relative to the seeds folder, POSIX separators
    title: str
    short_description: str
    description: str
    infoboxes: list[dict[str, Any]]
    raw_text: str  # the whole file, decoded (a leading BOM removed)
    body_start: int  # offset in raw_text where the Markdown body starts
    front_matter_span: tuple[int, int] | None = None  # (start, end) of the YAML block
    content_hash: str = ""
    metadata: Metadata = field(default_factory=Metadata)  # the front matter's own scalar and list fields

    @property
    def body(self) -> str:
        return self.raw_text[self.body_start :]


@dataclass(frozen=True)
class Chunk:
    """A passage: the unit that is embedded, indexed, retrieved and cited."""

    id: str
    article_id: str
    article_title: str
    section_path: tuple[str, ...]
    anchor: str
    ordinal: int  # position of this passage within its section
    file: str
    start: int  # raw_text[start:end] is the region the passage was cut from
    end: int
    text: str  # clean text returned to users
    embed_text: str  # text given to the embedding model (with its heading path)
    tokens: int  # cl100k_base tokens of `text`

    @property
    def citation(self) -> str:
        if not self.section_path:
            return self.article_title
        return f"{self.article_title} § {' › '.join(self.section_path)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "article_id": self.article_id,
            "article_title": self.article_title,
            "section_path": list(self.section_path),
            "anchor": self.anchor,
            "ordinal": self.ordinal,
            "file": self.file,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "embed_text": self.embed_text,
            "tokens": self.tokens,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        return cls(
            id=d["id"],
            article_id=d["article_id"],
            article_title=d["article_title"],
            section_path=tuple(d["section_path"]),
            anchor=d["anchor"],
            ordinal=d["ordinal"],
            file=d["file"],
            start=d["start"],
            end=d["end"],
            text=d["text"],
            embed_text=d["embed_text"],
            tokens=d["tokens"],
        )


@dataclass(frozen=True)
class Section:
    """An entry of an article's outline."""

    path: tuple[str, ...]
    anchor: str
    level: int


@dataclass(frozen=True)
class ArticleInfo:
    """What the serving side knows of an article (kept in the index folder)."""

    id: str
    title: str
    short_description: str
    description: str
    file: str
    content_hash: str
    sections: list[Section] = field(default_factory=list)
    metadata: Metadata | None = None  # None: read from an index built before metadata was kept

    def to_dict(self) -> dict[str, Any]:
        return (self.metadata.to_dict() if self.metadata is not None else {}) | {
            "id": self.id,
            "title": self.title,
            "short_description": self.short_description,
            "description": self.description,
            "file": self.file,
            "content_hash": self.content_hash,
            "sections": [
                {"path": list(s.path), "anchor": s.anchor, "level": s.level} for s in self.sections
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArticleInfo:
        return cls(
            id=d["id"],
            title=d["title"],
            short_description=d.get("short_description", ""),
            description=d.get("description", ""),
            file=d["file"],
            content_hash=d.get("content_hash", ""),
            sections=[Section(tuple(s["path"]), s["anchor"], s["level"]) for s in d.get("sections", [])],
            metadata=Metadata.from_dict(d) if "metadata" in d else None,
        )


@dataclass(frozen=True)
class Hit:
    """One ranked passage in an answer."""

    rank: int
    score: float
    dense: float | None
    lexical: float | None
    chunk: Chunk
    highlight: tuple[int, int]  # offsets into chunk.text of the best-answering sentence
    reader: float | None = None  # the reader's relevance (span logit − no-answer logit), when it read this
    metadata: dict[str, Any] = field(default_factory=dict)  # the article's front-matter fields (Metadata.values)


@dataclass(frozen=True)
class Answer:
    """The reader's answer span: `start`/`end` into the passage text, `source_*` into the raw file."""

    text: str
    score: float  # the reader's chance that this passage answers (sigmoid of its relevance)
    rank: int  # the result holding it
    passage_id: str
    start: int
    end: int
    citation: str
    file: str
    source_start: int | None  # None where markup in the file splits the answer's words
    source_end: int | None


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    answerable: bool
    confidence: float
    took_ms: float
    # "answered" (confidence ≥ threshold: `answerable`), "unsure", or "not_answered" (below the unsure band)
    answerability: str = "not_answered"
    timings: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)  # what `confidence` was computed from
    answer: Answer | None = None  # the reader's answer, when it read (show it only when `answerable`)
    read: bool = False  # whether the reader read this result's passages


@dataclass(frozen=True)
class Context:
    """Passages packed into a token budget, numbered, ready to paste into a prompt."""

    query: str
    text: str
    tokens: int
    max_tokens: int
    hits: list[Hit]
    search: SearchResult
