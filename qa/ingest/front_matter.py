"""Front-matter text for passages: a key's span in the raw file, and the infobox as `field: value` units."""

from __future__ import annotations

import re

from qa.ingest.markdown import clean_inline
from qa.ingest.splitting import Unit
from qa.records import Article

_SKIP_INFOBOX_FIELDS = re.compile(r"image|caption|map|logo|flag|signature|alt$|size$|width$", re.IGNORECASE)


def key_span(article: Article, key: str) -> tuple[int, int] | None:
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


def infobox_units(article: Article) -> list[Unit]:
    """Infobox fields as readable `field: value` lines, all spanning the front matter's `infoboxes`."""
    span = key_span(article, "infoboxes")
    if not article.infoboxes or span is None:
        return []
    units: list[Unit] = []
    for box in article.infoboxes:
        for field, value in box.items():
            name = str(field)
            if _SKIP_INFOBOX_FIELDS.search(name):
                continue
            text = _value_text(value)
            if text:
                units.append(Unit(span[0], span[1], f"{name.replace('_', ' ')}: {text}", synthetic=True))
    return units
