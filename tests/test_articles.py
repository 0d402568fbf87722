from __future__ import annotations

from pathlib import Path

import pytest

from qa.ingest.articles import decode, load_folder, parse, scan_file
from tests.conftest import FRONTLINES, NEWS, SEEDS, need_corpus


def load_one(tmp_path: Path, data: bytes, name: str = "a.md"):  # type: ignore[no-untyped-def]
    (tmp_path / name).write_bytes(data)
    return load_folder(tmp_path)


def test_seed_article_fields() -> None:
    result = load_folder(SEEDS)
    assert result.problems == []
    (a,) = result.articles
    assert a.id == "liberation_of_kherson"
    assert a.title == "Liberation of Kherson"
    assert a.short_description == "Event in 2022 Russia–Ukraine war"
    assert a.description.startswith("The Russian withdrawal from Kherson")
    assert a.infoboxes and "conflict" in a.infoboxes[0]
    assert a.raw_text[a.body_start:].lstrip().startswith("The **Russian withdrawal")
    assert len(a.content_hash) == 64


@pytest.mark.parametrize("folder", [FRONTLINES, NEWS])
def test_every_shared_file_loads_or_is_reported(folder: Path) -> None:
    need_corpus()
    files = sorted(folder.rglob("*.md"))
    result = load_folder(folder)
    reported = {p.file for p in result.problems if p.skipped}
    loaded = {a.file for a in result.articles}
    assert loaded | reported == {f.relative_to(folder).as_posix() for f in files}
    assert all(p.reason for p in result.problems)
    assert all(a.title for a in result.articles)


def test_missing_title_falls_back_to_first_heading_then_file_name(tmp_path: Path) -> None:
    r = load_one(tmp_path, b"---\nauthor: 'x'\n---\n\nintro\n\n## First heading\ntext\n", "some_article.md")
    assert r.articles[0].title == "First heading"
    other = tmp_path / "other"
    other.mkdir()
    r2 = load_one(other, b"just text\n", "other_name.md")
    assert r2.articles[0].title == "other name"


def test_quoted_values_crlf_bom_and_no_front_matter(tmp_path: Path) -> None:
    text = '\ufeff---\r\ntitle: "Quoted: title"\r\ndescription: \'single\'\r\n---\r\nBody line\r\n'
    (a,) = load_one(tmp_path, text.encode("utf-8")).articles
    assert a.title == "Quoted: title" and a.description == "single"
    assert a.raw_text.startswith("---") and a.body.startswith("Body line")


def test_empty_file_is_reported_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "good.md").write_text("# Good\n\ntext\n")
    r = load_folder(tmp_path)
    assert [a.id for a in r.articles] == ["good"]
    assert r.problems[0].file == "empty.md" and "empty" in r.problems[0].reason


def test_malformed_yaml_reports_file_and_line(tmp_path: Path) -> None:
    r = load_one(tmp_path, b"---\ntitle: ok\ndescription: [unclosed\nother: 1\n---\nbody\n", "bad.md")
    assert r.articles == []
    (p,) = r.problems
    assert p.file == "bad.md" and p.line is not None and 2 <= p.line <= 5 and "YAML" in p.reason
    assert str(p).startswith(f"bad.md:{p.line}:")


def test_non_utf8_bytes_are_replaced_with_a_warning() -> None:
    text, problems = decode(b"---\ntitle: x\n---\ncaf\xe9 au lait\n", "latin.md")
    assert "\ufffd" in text
    assert problems[0].line == 4 and not problems[0].skipped
    article, more = parse(text, "latin", "latin.md")
    assert article is not None and more == []


def test_binary_file_is_skipped(tmp_path: Path) -> None:
    r = load_one(tmp_path, b"\x00\x01\x02binary", "blob.md")
    assert r.articles == [] and "binary" in r.problems[0].reason


def test_nested_folders_give_relative_ids(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.md").write_text("# Deep\n\ntext\n")
    assert [a.id for a in load_folder(tmp_path).articles] == ["sub/deep"]


def test_scan_file_hashes_as_parsing_does_and_reports_decoding(tmp_path: Path) -> None:
    good = tmp_path / "a.md"
    good.write_text("---\ntitle: a\n---\nText of a.\n")
    bad = tmp_path / "sub" / "b.md"
    bad.parent.mkdir()
    bad.write_bytes(b"---\ntitle: b\n---\nCaf\xe9 text.\n")
    by_id = {a.id: a for a in load_folder(tmp_path).articles}
    assert scan_file(good, tmp_path) == ("a", by_id["a"].content_hash, [])
    article_id, h, problems = scan_file(bad, tmp_path)
    assert (article_id, h) == ("sub/b", by_id["sub/b"].content_hash)
    assert [(p.file, p.line, p.skipped) for p in problems] == [("sub/b.md", 4, False)]
    assert scan_file(tmp_path / "gone.md", tmp_path) == ("gone", None, [])
