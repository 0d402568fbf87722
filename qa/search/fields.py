"""The index's field catalogue: every metadata field its articles carry, with its type and values.

What filters are checked against (qa/search/filters.py) and what `GET /v1/fields` lists for the search
page's filter chips. A field's type is its values' type across articles; where articles disagree (a number
in one, a string in another) the field is `string` and values compare as text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qa.records import ArticleInfo

PATH = "path"  # the pseudo-field of every article: its id (file path under the seeds folder, without .md)


@dataclass(frozen=True)
class FieldInfo:
    """One field: its type, whether some article holds a list, and how many articles hold each value."""

    name: str
    type: str  # "string" | "number" | "boolean" | "date"
    is_list: bool
    articles: int  # articles that have the field
    values: Counter[Any] = field(default_factory=Counter)  # value → articles holding it

    def to_dict(self, max_values: int = 50) -> dict[str, Any]:
        """The `GET /v1/fields` entry: the most common values first (at most `max_values`), min and max."""
        top = sorted(self.values.items(), key=lambda kv: (-kv[1], str(kv[0])))[:max_values]
        ordered = sorted(self.values) if self.type != "boolean" else []
        return {
            "name": self.name,
            "type": self.type,
            "is_list": self.is_list,
            "articles": self.articles,
            "distinct": len(self.values),
            "values": [{"value": v, "articles": n} for v, n in top],
            "min": ordered[0] if ordered and self.type in ("number", "date") else None,
            "max": ordered[-1] if ordered and self.type in ("number", "date") else None,
        }


def as_type(value: Any, kind: str) -> Any:
    """A stored value as its field's type: text where the field is `string` but the value is not."""
    if kind == "string" and not isinstance(value, str):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


@dataclass(frozen=True)
class Catalogue:
    """The fields of one index (`path` excluded: every article has it). `complete` is False for an index
    built before metadata was kept."""

    fields: Mapping[str, FieldInfo]
    complete: bool = True

    @classmethod
    def of(cls, articles: Iterable[ArticleInfo]) -> Catalogue:
        types: dict[str, set[str]] = {}
        lists: set[str] = set()
        raw: dict[str, list[Any]] = {}
        complete = True
        for a in articles:
            if a.metadata is None:
                complete = False
                continue
            for name, value in a.metadata.values.items():
                types.setdefault(name, set()).add(a.metadata.types.get(name, "string"))
                raw.setdefault(name, []).append(value)
                if isinstance(value, list):
                    lists.add(name)
        fields: dict[str, FieldInfo] = {}
        for name, kinds in types.items():
            kind = kinds.pop() if len(kinds) == 1 else "string"
            counts: Counter[Any] = Counter()
            for value in raw[name]:
                counts.update({as_type(v, kind) for v in (value if isinstance(value, list) else [value])})
            fields[name] = FieldInfo(name, kind, name in lists, len(raw[name]), counts)
        return cls(dict(sorted(fields.items())), complete)

    def to_list(self, max_values: int = 50) -> list[dict[str, Any]]:
        return [f.to_dict(max_values) for f in self.fields.values()]
