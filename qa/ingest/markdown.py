"""Markdown → readable plain text, with offsets kept by masking rather than deleting.

`mask` blanks out what never becomes text (HTML comments, reference-link definitions) with spaces of the
same length, so every offset into the masked text is still an offset into the raw file.
"""

from __future__ import annotations

import re
import unicodedata

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_REF_DEF = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*\S+.*$", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(```|~~~)")

_URL = r"(?:<[^>\n]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+\"[^\"]*\")?"
_IMAGE = re.compile(r"!\[[^\]]*\]\(" + _URL + r"\)")
_WIKI_FILE = re.compile(r"\[\[(?:File|Image|Media):[^\]]*\]\]", re.IGNORECASE)
_WIKI_LINK = re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]")
_LINK = re.compile(r"\[([^\[\]]*)\]\(" + _URL + r"\)")  # link text holds no bracket: `a[b [c](u)` links `c`
_REF_LINK = re.compile(r"\[([^\[\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(?:https?|mailto|ftp):[^>\s]*>")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_EM_UNDER = re.compile(r"(?<![\w])_(?=\S)(.+?)(?<=\S)_(?![\w])")
_CODE = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")  # a code span; a lone backtick is text
_LIST = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+")
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t:|-]*-[ \t:|-]*\|?[ \t]*$")
_HRULE = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$")
_ENTITIES = {"&amp;": "&", "&nbsp;": " ", "&quot;": '"', "&lt;": "<", "&gt;": ">", "&#39;": "'", "&ndash;": "–"}
_ENTITY = re.compile("|".join(map(re.escape, _ENTITIES)))
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")

ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*(?:[ \t]#+)?[ \t]*\r?$")


def mask(text: str) -> str:
    """Blank out HTML comments and reference-link definitions, keeping length and newlines."""

    def blank(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    return _REF_DEF.sub(blank, _COMMENT.sub(blank, text))


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of images and links, inside which a sentence must not be split."""
    return [m.span() for rx in (_IMAGE, _LINK, _WIKI_FILE) for m in rx.finditer(text)]


def clean_inline(text: str) -> str:
    """Strip inline Markdown: embeds go, link text stays, emphasis markers go."""
    text = _WIKI_FILE.sub("", text)
    text = _IMAGE.sub("", text)
    text = _WIKI_LINK.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub("", text)
    text = _BREAK.sub(" ", text)
    text = _HTML_TAG.sub("", text)
    for _ in range(2):  # nested emphasis
        text = _STRONG.sub(r"\2", text)
        text = _EM_STAR.sub(r"\1", text)
        text = _EM_UNDER.sub(r"\1", text)
    text = _CODE.sub(r"\2", text)
    text = _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], text)
    return _SPACES.sub(" ", text).strip()


def clean_block(block: str) -> str:
    """A block of lines (paragraph, list, table) → plain text. Lists and tables keep one line per item."""
    lines: list[str] = []
    last_was_table = False
    for raw_line in block.splitlines():
        if _HRULE.match(raw_line) or _FENCE.match(raw_line):
            continue
        line = _QUOTE.sub("", raw_line)
        is_item = bool(_LIST.match(line))
        if line.lstrip().startswith("|"):
            if _TABLE_RULE.match(line):
                continue
            cells = [clean_inline(c) for c in line.strip().strip("|").split("|")]
            cells = [c for c in cells if c]
            text = ": ".join(cells) if len(cells) == 2 else "; ".join(cells)
            if text:
                lines.append(text)
                last_was_table = True
            continue
        text = clean_inline(_LIST.sub("", line))
        if not text:
            continue
        if is_item:
            lines.append("- " + text)
        elif lines and not last_was_table:
            lines[-1] += " " + text  # hard-wrapped paragraph or item continuation: one line
        else:
            lines.append(text)
        last_was_table = False
    return "\n".join(lines)


def slugify(heading: str) -> str:
    """GitHub-style anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKC", heading).lower().strip()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return re.sub(r" ", "-", text)


class Slugger:
    """Unique anchors within one article: a repeated heading gets `-1`, `-2`, … as on GitHub."""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self._seen: dict[str, int] = {r: 0 for r in reserved}

    def slug(self, heading: str) -> str:
        base = slugify(heading) or "section"
        if base not in self._seen:
            self._seen[base] = 0
            return base
        while True:
            self._seen[base] += 1
            candidate = f"{base}-{self._seen[base]}"
            if candidate not in self._seen:
                self._seen[candidate] = 0
                return candidate
