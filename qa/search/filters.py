"""Metadata filters: a small JSON language, parsed into typed conditions and evaluated per article.

A filter is a JSON object; every field named must hold (an `and`)::

    {"tags": "ukraine"}                                   equality (a list field: holds the value)
    {"tags": {"any": ["ukraine", "syria"]}}               any of (a list field: holds at least one)
    {"tags": {"all": ["ukraine", "drones"]}}              all of (a list field: holds every one)
    {"date": {"gte": "2022-01-01", "lt": "2023-01-01"}}   ranges for numbers and dates (gt, gte, lt, lte)
    {"path": {"prefix": "news/"}}                         `path` is the article id (its file path without .md)
    {"draft": {"exists": false}}                          whether the article has the field at all

Several operators in one object must all hold. Values must have the field's type (`GET /v1/fields`):
strings, numbers, booleans, or ISO dates (`2022-01-01`, `2022-01-01T10:00:00`) for date fields. An unknown
field, operator or wrongly typed value is an `InvalidRequest` (422 `invalid_filter`). Dates compare by day for
equality and as ISO text for ranges (so `{"lt": "2023-01-01"}` excludes 2023-01-01T10:00). A filter selects
articles, so it is applied as the set of their passages before any top-k (qa/search/retriever.py).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from qa.errors import InvalidRequest
from qa.records import ArticleInfo
from qa.search.fields import PATH, Catalogue, as_type

EQ_OPS = ("eq", "any", "all")
RANGE_OPS = ("gt", "gte", "lt", "lte")
OPS = (*EQ_OPS, *RANGE_OPS, "prefix", "exists")
MAX_FIELDS = 32
MAX_VALUES = 1000


@dataclass(frozen=True)
class Condition:
    """One test on one field: `value` is a typed scalar, a tuple of them (`any`, `all`) or a bool (`exists`)."""

    field: str
    op: str
    value: Any
    type: str  # the field's type in the catalogue ("string" for `path`)

    @functools.cached_property
    def keys(self) -> frozenset[Any]:
        """The values of `eq`, `any`, `all` as equality compares them (`_key`), once."""
        values = self.value if self.op in ("any", "all") else (self.value,)
        return frozenset(_key(v, self.type) for v in values)

    def holds(self, present: bool, values: list[Any]) -> bool:
        """Whether the condition holds for an article whose field has `values` (`present`: it has the field)."""
        if self.op == "exists":
            return present == self.value
        if self.op in EQ_OPS:
            have = {_key(v, self.type) for v in values}
            return self.keys <= have if self.op == "all" else not self.keys.isdisjoint(have)
        if self.op == "prefix":
            return any(isinstance(v, str) and v.startswith(self.value) for v in values)
        return any(_compare(v, self.op, self.value) for v in values)


@dataclass(frozen=True)
class Filter:
    """Conditions that must all hold for an article to be searched."""

    conditions: tuple[Condition, ...]

    def matches(self, article: ArticleInfo) -> bool:
        meta = article.metadata.values if article.metadata is not None else {}
        for c in self.conditions:
            if c.field == PATH:
                present, raw = True, [article.id]
            else:
                present = c.field in meta
                value = meta.get(c.field)
                raw = value if isinstance(value, list) else ([] if value is None else [value])
            if not c.holds(present, [as_type(v, c.type) for v in raw]):
                return False
        return True

    def articles(self, articles: Mapping[str, ArticleInfo]) -> list[str]:
        """The ids of the articles that pass, in id order."""
        return sorted(a for a, info in articles.items() if self.matches(info))


def _key(value: Any, kind: str) -> Any:
    """What equality compares: the day of a date (a day matches every time of that day — a date-time value in a
    filter is compared by its day too), numbers as numbers (1 == 1.0), anything else by type and value."""
    if kind == "date" and isinstance(value, str):
        return value[:10]
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return (type(value).__name__, value)


def _compare(have: Any, op: str, bound: Any) -> bool:
    if isinstance(have, bool) or type(have) is not type(bound) and not (
        isinstance(have, (int, float)) and isinstance(bound, (int, float))
    ):
        return False
    if op == "gt":
        return bool(have > bound)
    if op == "gte":
        return bool(have >= bound)
    if op == "lt":
        return bool(have < bound)
    return bool(have <= bound)


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="invalid_filter")


def _date(value: Any, where: str) -> str:
    """An ISO date or date-time as stored (qa/ingest/metadata.py): dates as `YYYY-MM-DD`, date-times naive UTC."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text).isoformat()
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(UTC).replace(tzinfo=None)
            return parsed.isoformat()
    raise _bad(f"filter {where}: expected an ISO date such as \"2022-01-31\", got {_show(value)}")


def _scalar(value: Any, kind: str, where: str) -> Any:
    """`value` checked against the field's type (dates normalised)."""
    if kind == "date":
        return _date(value, where)
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }.get(kind, False)
    if not ok:
        raise _bad(f"filter {where}: expected a {kind}, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _conditions(name: str, spec: Any, kind: str) -> list[Condition]:
    if not isinstance(spec, dict):
        if isinstance(spec, list):
            raise _bad(f"filter {name}: a list is not a value; use {{\"any\": [...]}} or {{\"all\": [...]}}")
        return [Condition(name, "eq", _scalar(spec, kind, name), kind)]
    if not spec:
        raise _bad(f"filter {name}: an empty object; give a value or operators ({', '.join(OPS)})")
    out: list[Condition] = []
    for op, value in spec.items():
        where = f"{name}.{op}"
        if op not in OPS:
            raise _bad(f"filter {name}: unknown operator {str(op)[:40]!r}; use one of {', '.join(OPS)}")
        if op in ("any", "all"):
            if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
                raise _bad(f"filter {where}: expected a list of 1 to {MAX_VALUES} values")
            out.append(Condition(name, op, tuple(_scalar(v, kind, where) for v in value), kind))
        elif op in RANGE_OPS:
            if kind not in ("number", "date"):
                raise _bad(f"filter {where}: ranges apply to number and date fields; {name} is a {kind} field")
            out.append(Condition(name, op, _scalar(value, kind, where), kind))
        elif op == "prefix":
            if kind != "string":
                raise _bad(f"filter {where}: prefix applies to string fields and path; {name} is a {kind} field")
            out.append(Condition(name, op, _scalar(value, kind, where), kind))
        elif op == "exists":
            if name == PATH or not isinstance(value, bool):
                raise _bad(f"filter {where}: expected true or false (on a metadata field)")
            out.append(Condition(name, op, value, kind))
        else:
            out.append(Condition(name, op, _scalar(value, kind, where), kind))
    return out


def parse(raw: Any, catalogue: Catalogue) -> Filter | None:
    """A filter from its JSON form, checked against the index's fields; None for none (null or {})."""
    if raw is None:
        return None
    if isinstance(raw, Filter):
        return raw
    if not isinstance(raw, dict):
        raise _bad('filter must be a JSON object of field conditions, e.g. {"tags": "news"}')
    if len(raw) > MAX_FIELDS:
        raise _bad(f"filter names more than {MAX_FIELDS} fields")
    conditions: list[Condition] = []
    for name, spec in raw.items():
        if name == PATH:
            kind = "string"
        elif name in catalogue.fields:
            kind = catalogue.fields[name].type
        else:
            known = ", ".join([PATH, *catalogue.fields][:20])
            hint = "" if catalogue.complete else " (this index was built before metadata was kept: run `qa build`)"
            raise _bad(f"filter: unknown field {str(name)[:50]!r}; this index has {known}{hint}")
        conditions.extend(_conditions(name, spec, kind))
    return Filter(tuple(conditions)) if conditions else None
