"""Load documents from JSON lines: a BEIR `corpus.jsonl`, or any file of `{"_id", "title", "text", "metadata"}`.

Each line is one article, split into passages like any Markdown article. Its id is the line's `_id`, kept
exactly (slashes, spaces, any Unicode). `Article.file` is `<file>:<line>` (the JSONL file's name and the
1-based line), and offsets (`raw_text`, passages' `start`/`end`, answers' `source`) index the decoded `text`
string of that line. A line that cannot be used is reported as a `Problem` naming file and line, and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa.ingest.articles import text_hash
from qa.ingest.metadata import typed_metadata
from qa.records import Article, Problem

CORPUS_FILE = "corpus.jsonl"


def documents_file(source: Path) -> Path | None:
    """The JSONL file a build reads, or None when `source` is a folder of Markdown articles: a `*.jsonl` file
    itself, or a BEIR dataset folder (one holding `corpus.jsonl`)."""
    if source.is_file() and source.suffix == ".jsonl":
        return source
    if source.is_dir() and (source / CORPUS_FILE).is_file():
        return source / CORPUS_FILE
    return None


def read_documents(path: Path) -> Iterator[tuple[Article | None, list[Problem]]]:
    """Each line of `path` as an Article (or None) and what was wrong with it; a repeated `_id` is skipped."""
    name = path.name
    seen: set[str] = set()
    with path.open("rb") as lines:
        for number, data in enumerate(lines, 1):
            if not data.strip():
                continue
            article, problem = parse_line(data, name, number)
            if article is not None:
                if article.id in seen:
                    yield None, [Problem(name, number, f"repeated _id {article.id!r}")]
                    continue
                seen.add(article.id)
            yield article, [problem] if problem else []


def parse_line(data: bytes, name: str, number: int) -> tuple[Article | None, Problem | None]:
    """One JSONL line → an Article, or the reason it cannot be one."""
    try:
        record: Any = json.loads(data.decode("utf-8-sig" if number == 1 else "utf-8"))
    except UnicodeDecodeError as exc:
        return None, Problem(name, number, f"invalid UTF-8 byte 0x{data[exc.start]:02x}")
    except json.JSONDecodeError as exc:
        return None, Problem(name, number, f"not JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(record, dict):
        return None, Problem(name, number, "not a JSON object")
    doc_id = record.get("_id", record.get("id"))
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or not str(doc_id).strip():
        return None, Problem(name, number, "no `_id` (a non-empty string)")
    text, title = record.get("text"), record.get("title") or ""
    if not isinstance(text, str) or not isinstance(title, str):
        return None, Problem(name, number, "`text` and `title` must be strings")
    if not text.strip():
        return None, Problem(name, number, "empty `text`")
    if "\x00" in text:
        return None, Problem(name, number, "NUL character in `text`")
    raw_metadata = record.get("metadata") or {}
    if not isinstance(raw_metadata, dict):
        return None, Problem(name, number, "`metadata` must be a JSON object")
    doc_id = str(doc_id)
    article = Article(
        id=doc_id,
        file=f"{name}:{number}",
        title=title.strip() or doc_id,
        short_description="",
        description="",
        infoboxes=[],
        raw_text=text,
        body_start=0,
        content_hash=text_hash(data.decode("utf-8", "replace")),
        metadata=typed_metadata(raw_metadata, skip=frozenset()),  # filters and hits, as front matter's
    )
    return article, None
