"""The article catalogue on disk (records on demand): the same records as `read_articles`, read per article,
for ids and text in any script; a broken file is a clear error; the replica holds far less than the records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from qa.errors import IndexCorrupt
from qa.index import folder as ix
from qa.index.articles_on_disk import ArticlesOnDisk
from qa.search.fields import Catalogue
from tests.conftest import FRONTLINES, need_corpus


def _write(folder: Path, records: list[dict], indent: int | None = 1) -> Path:
    path = folder / ix.ARTICLES
    path.write_text(json.dumps(records, ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


def test_same_records_as_the_whole_file(seed_index: Path, tmp_path: Path) -> None:
    infos = ix.read_articles(ix.resolve(seed_index))
    # odd ids and text in other scripts: byte spans must follow UTF-8, not characters
    odd = [dataclasses.replace(infos[0], id=f"{name}", title=f"Заголовок {n} — 東京 ✓")
           for n, name in enumerate(["doc/with slash", "Київ", "tab\there", "emoji 🚀 id", "100%"])]
    records = [a.to_dict() for a in infos + odd]
    for indent in (1, None):  # as `qa build` writes it, and on one line
        lazy = ArticlesOnDisk(_write(tmp_path, records, indent), cache=2)
        assert list(lazy) == [r["id"] for r in records] and len(lazy) == len(records)
        for info in infos + odd + list(reversed(infos + odd)):  # past the cache's size, and back
            assert info.id in lazy and lazy[info.id] == info
        assert "no such article" not in lazy and lazy.get("no such article") is None
        with pytest.raises(KeyError):
            lazy["no such article"]
        assert Catalogue.of(lazy.values()) == Catalogue.of(infos + odd)


def test_frontlines_catalogue_from_disk(tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.build import build

    need_corpus()
    folder = tmp_path / "articles"
    folder.mkdir()
    for path in sorted(FRONTLINES.glob("*.md"))[:12]:
        (folder / path.name).write_bytes(path.read_bytes())
    build(settings_factory(index=tmp_path / "idx"), folder, tmp_path / "idx", embedder=embedder)
    infos = ix.read_articles(ix.resolve(tmp_path / "idx"))
    lazy = ArticlesOnDisk(ix.resolve(tmp_path / "idx") / ix.ARTICLES)
    assert dict(lazy) == {a.id: a for a in infos}


@pytest.mark.parametrize("text", ["", "{}", "[{\"title\": \"no id\"}]", "[{\"id\": \"a\"} {\"id\": \"b\"}]", "[{\"id\":"])
def test_a_broken_catalogue_is_a_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / ix.ARTICLES).write_text(text, encoding="utf-8")
    with pytest.raises(IndexCorrupt, match="cannot read articles"):
        ArticlesOnDisk(tmp_path / ix.ARTICLES)
