"""An article's own metadata: the front matter's scalar and list fields, typed, for filters and for hits.

Kept: strings, numbers, booleans and dates (YAML dates and date-times, stored as ISO strings typed `date`),
and lists of those. Left out: what the article record already carries (`title`, the descriptions,
`infoboxes`), nested objects, lists holding objects, and empty values. A list mixing types is kept as strings.

`typed_metadata(raw)` is the one entry point: any mapping of raw values (YAML front matter, a JSONL document's
`metadata`) becomes a `Metadata` record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from qa.records import Metadata

# front-matter keys the article record holds already (qa/ingest/articles.py)
RECORD_KEYS = frozenset({"title", "shortDescription", "short_description", "description", "infoboxes"})
TYPES = ("string", "number", "boolean", "date")
MAX_STRING = 1000  # longer strings are body text, not metadata


def typed_value(value: Any) -> tuple[Any, str] | None:
    """(JSON value, type) of one scalar, or None when it is not one `qa` keeps."""
    if isinstance(value, bool):
        return value, "boolean"
    if isinstance(value, int):
        return value, "number"
    if isinstance(value, float):
        return (value, "number") if math.isfinite(value) else None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(), "date"
    if isinstance(value, date):
        return value.isoformat(), "date"
    if isinstance(value, str):
        text = value.strip()
        return (text, "string") if text and len(text) <= MAX_STRING else None
    return None


def _typed_list(items: list[Any]) -> tuple[list[Any], str] | None:
    typed = [typed_value(v) for v in items]
    if not typed or any(t is None for t in typed):
        return None
    kinds = {t[1] for t in typed if t is not None}
    if len(kinds) == 1:
        return [t[0] for t in typed if t is not None], kinds.pop()
    return [str(t[0]).lower() if t[1] == "boolean" else str(t[0]) for t in typed if t is not None], "string"


def typed_metadata(raw: Mapping[Any, Any], skip: frozenset[str] = RECORD_KEYS) -> Metadata:
    """The fields of `raw` that `qa` keeps, typed (see the module docstring); keys become strings."""
    values: dict[str, Any] = {}
    types: dict[str, str] = {}
    for key, value in raw.items():
        name = str(key).strip()
        if not name or name in skip:
            continue
        found = _typed_list(value) if isinstance(value, list) else typed_value(value)
        if found is not None:
            values[name], types[name] = found
    return Metadata(values, types)
