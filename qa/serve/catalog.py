"""Which indexes one `qa serve` serves, under which names, and which API key may read which of them.

- `QA_COLLECTIONS` (or `qa serve --collections`): `name=path,name=path`, or the path of a `.toml`, `.yaml`/`.yml`
  or `.json` file holding `{"collections": {"name": "path", ...}, "default": "name"}` (paths in a file are
  relative to the file's folder). Unset: one collection, `default`, at `QA_INDEX` — today's single-index server.
- `QA_DEFAULT_COLLECTION`: the collection today's routes (`/v1/search`, …) answer from; default the first listed.
- `QA_API_KEYS`: JSON `{"key": ["name", ...]}` or `{"key": "*"}` (every collection); `QA_API_KEY` is a key for
  every collection. No key at all: every route is open, as before.

Everything is checked when the server starts (`load_catalog`): a mistake stops it with a message saying what
to fix (a `ConfigError`), never a half-configured server.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import ConfigError
from qa.settings import Settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SINGLE = "default"  # the one collection's name when QA_COLLECTIONS is unset
ALL = "*"
FILE_SUFFIXES = (".toml", ".yaml", ".yml", ".json")


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    index: Path


@dataclass(frozen=True)
class Catalog:
    """The served collections (in the order given), the default one, and each key's allowed names
    (None: every collection)."""

    collections: tuple[CollectionSpec, ...]
    default: str
    keys: dict[str, frozenset[str] | None]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.collections]

    @property
    def open(self) -> bool:
        """No key configured: every route is open."""
        return not self.keys


def _check_name(name: str, where: str) -> str:
    if not NAME.match(name):
        raise ConfigError(
            f"{where}: collection name {name[:80]!r} is not allowed: use 1-64 letters, digits, `_`, `-` or `.`, "
            "starting with a letter or digit"
        )
    return name


def _from_pairs(spec: str) -> tuple[list[CollectionSpec], str | None]:
    out: list[CollectionSpec] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, eq, path = part.partition("=")
        if not eq or not name.strip() or not path.strip():
            raise ConfigError(
                f"QA_COLLECTIONS: {part[:120]!r} is not `name=path`: write `name=path,name=path` or give the path "
                "of a .toml/.yaml/.json file"
            )
        out.append(CollectionSpec(_check_name(name.strip(), "QA_COLLECTIONS"), Path(path.strip())))
    return out, None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"QA_COLLECTIONS: cannot read {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parser's error is a config mistake to report
        raise ConfigError(f"QA_COLLECTIONS: {path.name} is not valid {path.suffix[1:]}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"QA_COLLECTIONS: {path.name} must hold a table/object with a `collections` key")
    return data


def _from_file(path: Path) -> tuple[list[CollectionSpec], str | None]:
    data = _read_file(path)
    unknown = set(data) - {"collections", "default"}
    if unknown:
        raise ConfigError(f"QA_COLLECTIONS: {path.name}: unknown key(s) {', '.join(sorted(unknown))}: "
                          "only `collections` and `default`")
    table = data.get("collections")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"QA_COLLECTIONS: {path.name} needs `collections`: a table of name = index folder")
    out = []
    for name, folder in table.items():
        if not isinstance(folder, str) or not folder.strip():
            raise ConfigError(f"QA_COLLECTIONS: {path.name}: collection {str(name)[:80]!r} needs an index folder "
                              "(a string)")
        index = Path(folder)
        out.append(CollectionSpec(_check_name(str(name), path.name), index if index.is_absolute()
                                  else path.parent / index))
    default = data.get("default")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"QA_COLLECTIONS: {path.name}: `default` must be a collection name")
    return out, default


def parse_collections(spec: str) -> tuple[list[CollectionSpec], str | None]:
    """The collections a `QA_COLLECTIONS` value names, and the default a file names (if any)."""
    spec = spec.strip()
    if spec.endswith(FILE_SUFFIXES) and "=" not in spec:
        specs, default = _from_file(Path(spec))
    else:
        specs, default = _from_pairs(spec)
    if not specs:
        raise ConfigError("QA_COLLECTIONS names no collection: write `name=path,name=path`")
    seen: set[str] = set()
    for c in specs:
        if c.name in seen:
            raise ConfigError(f"QA_COLLECTIONS: collection {c.name!r} is named twice")
        seen.add(c.name)
    return specs, default


def parse_keys(keys: dict[str, Any], names: list[str], single_key: str | None) -> dict[str, frozenset[str] | None]:
    """Each key's allowed collections (None: all). `single_key` is `QA_API_KEY`: every collection."""
    out: dict[str, frozenset[str] | None] = {}
    for key, allowed in keys.items():
        if not key:
            raise ConfigError("QA_API_KEYS: a key must not be empty")
        if allowed == ALL:
            out[key] = None
            continue
        if not isinstance(allowed, list) or not allowed or not all(isinstance(a, str) for a in allowed):
            raise ConfigError(f"QA_API_KEYS: key …{key[-4:]} must map to a list of collection names or \"*\"")
        unknown = [a for a in allowed if a not in names]
        if unknown:
            raise ConfigError(f"QA_API_KEYS: key …{key[-4:]} names unknown collection(s) {', '.join(unknown[:10])}; "
                              f"served: {', '.join(names)}")
        out[key] = frozenset(allowed)
    if single_key:
        out[single_key] = None
    return out


def load_catalog(settings: Settings) -> Catalog:
    """The catalog the settings describe, checked; a mistake raises `ConfigError` with what to fix."""
    if settings.collections:
        specs, file_default = parse_collections(settings.collections)
    else:
        specs, file_default = [CollectionSpec(SINGLE, settings.index)], None
    names = [c.name for c in specs]
    default = settings.default_collection or file_default or names[0]
    if default not in names:
        raise ConfigError(f"QA_DEFAULT_COLLECTION: {default[:80]!r} is not a served collection: one of {', '.join(names)}")
    keys = parse_keys(settings.api_keys, names, settings.api_key)
    return Catalog(tuple(specs), default, keys)
