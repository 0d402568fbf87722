"""Load articles: Markdown files with optional YAML front matter.

A file that cannot be used is reported as a `Problem` (file, line, reason) and skipped; loading goes on.
All offsets index into `Article.raw_text`: the file decoded as UTF-8 with a leading BOM removed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from qa.ingest.metadata import typed_metadata
from qa.records import Article, Problem

_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE
)
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*\r?$", re.MULTILINE)
_MAX_BYTES = 20 * 1024 * 1024


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. In YAML 1.1 `No`, `yes`, `on` turn into booleans,
    which mangles infobox values such as `open_to_public: No`."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _text(value: Any) -> str:
    """Front-matter values are usually strings; tolerate numbers, dates and lists."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return _text(value.get("text", ""))
    return str(value).strip()


def decode(data: bytes, file: str) -> tuple[str, list[Problem]]:
    """UTF-8 with a BOM removed; invalid bytes are replaced and reported as a warning."""
    problems: list[Problem] = []
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), problems
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        text = data.decode("utf-8", errors="replace")
        problems.append(
            Problem(file, line, f"invalid UTF-8 byte 0x{data[exc.start]:02x}; replaced with U+FFFD", False)
        )
        return text, problems


def parse(raw_text: str, article_id: str, file: str) -> tuple[Article | None, list[Problem]]:
    """Parse decoded text into an Article, or report why it cannot be used."""
    problems: list[Problem] = []
    if not raw_text.strip():
        return None, [Problem(file, None, "empty file")]
    if "\x00" in raw_text:
        return None, [Problem(file, _line_of(raw_text, raw_text.index("\x00")), "binary file (NUL byte)")]
    if raw_text.count("\ufffd") > max(8, len(raw_text) // 100):
        return None, [Problem(file, None, "not UTF-8 text (too many undecodable bytes)")]

    meta: dict[str, Any] = {}
    body_start = 0
    fm_span: tuple[int, int] | None = None
    m = _FRONT_MATTER.match(raw_text)
    if m:
        try:
            loaded = frontmatter.YAMLHandler().load(m.group(1), Loader=_Loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 1  # +1 for 0-based, +1 for the opening ---
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            return None, [Problem(file, line, f"malformed YAML front matter: {problem}")]
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            return None, [Problem(file, 2, "front matter is not a mapping of fields")]
        meta = loaded
        body_start = m.end()
        fm_span = (m.start(1), m.end(1))
    elif raw_text.startswith("---"):
        problems.append(Problem(file, 1, "front matter opened with --- but never closed; read as body", False))

    body = raw_text[body_start:]
    title = _text(meta.get("title"))
    if not title:
        h = _ATX_HEADING.search(body)
        title = h.group(1).strip() if h else Path(file).stem.replace("_", " ").replace("-", " ").strip()
    infoboxes = meta.get("infoboxes") or []
    if not isinstance(infoboxes, list):
        infoboxes = [infoboxes] if isinstance(infoboxes, dict) else []
    infoboxes = [box for box in infoboxes if isinstance(box, dict)]

    article = Article(
        id=article_id,
        file=file,
        title=title,
        short_description=_text(meta.get("shortDescription") or meta.get("short_description")),
        description=_text(meta.get("description")),
        infoboxes=infoboxes,
        raw_text=raw_text,
        body_start=body_start,
        front_matter_span=fm_span,
        content_hash=text_hash(raw_text),
        metadata=typed_metadata(meta),
    )
    return article, problems


def text_hash(raw_text: str) -> str:
    return hashlib.sha256(raw_text.encode("utf-8", "surrogatepass")).hexdigest()


def scan_file(path: Path, root: Path) -> tuple[str, str | None, list[Problem]]:
    """(article id, content hash or None if unreadable, decoding problems): a quick look before parsing."""
    article_id, text, problems = read_text(path, root)
    return article_id, None if text is None else text_hash(text), problems


def read_text(path: Path, root: Path) -> tuple[str, str | None, list[Problem]]:
    """(article id, the decoded text (`Article.raw_text`) or None if unreadable, decoding problems), unparsed."""
    article_id = article_id_for(path, root)
    try:
        text, problems = decode(path.read_bytes(), path.relative_to(root).as_posix())
    except OSError:
        return article_id, None, []
    return article_id, text, problems


def article_id_for(path: Path, root: Path) -> str:
    """The file's path relative to the seeds folder, without `.md`, with `/` separators."""
    return path.relative_to(root).with_suffix("").as_posix()


def load_file(path: Path, root: Path) -> tuple[Article | None, list[Problem]]:
    file = path.relative_to(root).as_posix()
    try:
        if path.stat().st_size > _MAX_BYTES:
            return None, [Problem(file, None, f"file larger than {_MAX_BYTES // 2**20} MiB")]
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(file, None, f"cannot read: {exc.strerror or exc}")]
    text, problems = decode(data, file)
    article, more = parse(text, article_id_for(path, root), file)
    return article, problems + more


def find_files(root: Path) -> list[Path]:
    """Every `*.md` under root (recursively, hidden folders skipped), in a stable order."""
    return sorted(
        p
        for p in root.rglob("*.md")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def iter_articles(root: Path, files: Iterable[Path] | None = None) -> Iterator[tuple[Article | None, list[Problem]]]:
    for path in files if files is not None else find_files(root):
        yield load_file(path, root)


def load_folder(root: Path) -> LoadResult:
    """Load every article under root; problems are collected, never raised."""
    result = LoadResult()
    for article, problems in iter_articles(root):
        result.problems.extend(problems)
        if article is not None:
            result.articles.append(article)
    return result
