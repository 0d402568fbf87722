from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from qa.ingest.articles import find_files, load_folder, parse
from qa.ingest.chunk_files import chunk_files
from qa.ingest.chunker import Chunker, ChunkerConfig, outline
from qa.ingest.markdown import clean_block, slugify
from qa.ingest.splitting import longest
from qa.ingest.tokens import count_model_tokens, count_tokens
from qa.records import Article, Chunk
from tests.conftest import FRONTLINES, NEWS, SEEDS, need_corpus

WORD = re.compile(r"[^\W_]+")


def words_in_order(words: list[str], haystack: str) -> bool:
    """Every word of the passage occurs in the raw span, in order (gaps allowed)."""
    pos = 0
    for w in words:
        found = haystack.find(w, pos)
        if found < 0:
            return False
        pos = found + len(w)
    return True


def article(text: str, id: str = "t") -> Article:
    a, problems = parse(text, id, f"{id}.md")
    assert a is not None, problems
    return a


@pytest.fixture(scope="module")
def corpus_chunks() -> list[tuple[Article, list[Chunk]]]:
    need_corpus()
    chunker = Chunker()
    out = []
    for folder in (SEEDS, FRONTLINES, NEWS):
        for a in load_folder(folder).articles:
            out.append((a, chunker.chunk(a)))
    return out


@pytest.mark.slow
def test_no_passage_over_either_budget(corpus_chunks) -> None:  # type: ignore[no-untyped-def]
    for _, chunks in corpus_chunks:
        for c in chunks:
            assert c.tokens == count_tokens(c.text) <= 200, c.id
            assert count_model_tokens(c.embed_text) <= 256, c.id


@pytest.mark.slow
def test_passage_words_are_found_in_order_in_the_source_span(corpus_chunks) -> None:  # type: ignore[no-untyped-def]
    bad = []
    for a, chunks in corpus_chunks:
        for c in chunks:
            span = a.raw_text[c.start : c.end]
            if not (0 <= c.start < c.end <= len(a.raw_text)) or not words_in_order(WORD.findall(c.text), span):
                bad.append((a.id, c.section_path, c.text[:80]))
    assert bad == []


@pytest.mark.slow
def test_every_section_with_text_yields_a_passage(corpus_chunks) -> None:  # type: ignore[no-untyped-def]
    for a, chunks in corpus_chunks:
        paths = {c.section_path for c in chunks}
        sections, masked = outline(a)
        for s in sections:
            if clean_block(masked[s.start : s.end]).strip():
                assert s.path in paths, (a.id, s.path)


@pytest.mark.slow
def test_anchors_unique_per_article(corpus_chunks) -> None:  # type: ignore[no-untyped-def]
    for a, _ in corpus_chunks:
        anchors = [s.anchor for s in outline(a)[0] if s.path]
        assert len(anchors) == len(set(anchors)), a.id
        assert "infobox" not in anchors


def test_seed_sections_lead_and_infobox() -> None:
    (a,) = load_folder(SEEDS).articles
    chunks = Chunker().chunk(a)
    paths = [c.section_path for c in chunks]
    assert paths[0] == ()
    assert ("Infobox",) in paths
    assert ("Withdrawal and liberation", "Russian withdrawal efforts") in paths
    # a heading with no text of its own makes no passage
    assert ("Withdrawal and liberation",) not in paths
    box = next(c for c in chunks if c.section_path == ("Infobox",))
    assert "date: 9 to 11 November 2022" in box.text
    lead = chunks[0]
    assert lead.embed_text.startswith("Liberation of Kherson\n")
    withdrawal = next(c for c in chunks if c.anchor == "russian-withdrawal-efforts")
    assert withdrawal.embed_text.startswith("Liberation of Kherson > Withdrawal and liberation > Russian withdrawal efforts\n")
    assert "30,000" in withdrawal.text
    assert "**" not in "".join(c.text for c in chunks)


def test_markdown_noise_is_stripped_and_link_text_kept() -> None:
    text = (
        "---\ntitle: T\n---\n## Sec\n![A photo](https://x/y.jpg?) The *quick* **brown** [fox](./Fox) jumps.\n"
        "<!-- hidden comment -->\n- item one\n- item [two][ref]\n\n[ref]: https://example.com\n"
    )
    (c,) = Chunker().chunk(article(text))
    assert c.text == "The quick brown fox jumps.\n- item one\n- item two"


def test_hard_wrapped_crlf_lines_join_and_offsets_hold() -> None:
    text = "---\r\ntitle: T\r\n---\r\n## Sec\r\nfirst line\r\nsecond line\r\n"
    a = article(text)
    (c,) = Chunker().chunk(a)
    assert c.text == "first line second line"
    assert a.raw_text[c.start : c.end] == "first line\r\nsecond line"


def test_long_section_splits_at_sentences_with_overlap_never_mid_word() -> None:
    sentences = [f"Sentence number {i} talks about the river crossing near Kherson city." for i in range(60)]
    a = article("---\ntitle: Long\n---\n## Big\n" + " ".join(sentences) + "\n")
    chunks = Chunker(ChunkerConfig(max_tokens=80, overlap_tokens=20)).chunk(a)
    assert len(chunks) > 3
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.start < prev.end  # overlap
        assert nxt.text.split(". ")[0] + "." in prev.text
    for c in chunks:
        assert c.tokens <= 80
        assert c.text.endswith(".") and c.text[0].isupper()
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_sentence_without_stops_splits_into_word_windows_each_as_long_as_fits() -> None:
    words = [f"word{i}" for i in range(400)]
    a = article("---\ntitle: Run-on\n---\n## Run\n" + " ".join(words) + "\n")
    chunks = Chunker(ChunkerConfig(max_tokens=50, overlap_tokens=0)).chunk(a)
    assert " ".join(c.text for c in chunks).split() == words  # every word once, in order, none cut
    for c, nxt in itertools.pairwise(chunks):
        assert count_tokens(c.text) <= 50
        assert count_tokens(c.text + " " + nxt.text.split()[0]) > 50  # one more word would not fit


def test_longest_window_matches_a_linear_scan() -> None:
    for start in (0, 3):
        for stop in range(start + 1, 40):
            for limit in range(45):  # windows of up to `limit` items fit
                expected = min(max(start + limit, start + 1), stop)
                assert longest(start, stop, lambda i, j, limit=limit: j - i <= limit) == expected  # type: ignore[misc]


def test_ids_stable_across_builds_and_change_only_for_edited_text() -> None:
    (a,) = load_folder(SEEDS).articles
    first, second = Chunker().chunk(a), Chunker().chunk(a)
    assert [c.id for c in first] == [c.id for c in second]
    target = "Satellite images from Maxar"
    edited = article(a.raw_text.replace(target, "Satellite pictures from Maxar"), a.id)
    changed = Chunker().chunk(edited)
    diff = [(o.section_path, o.ordinal) for o, n in zip(first, changed) if o.id != n.id]
    assert diff == [(("Aftermath", "Damage to infrastructure and logistics"), 0)]


def test_slugs_match_github() -> None:
    assert slugify("Withdrawal and liberation") == "withdrawal-and-liberation"
    assert slugify("2022–23: Kherson's front (south)") == "202223-khersons-front-south"


def test_duplicate_headings_get_numbered_anchors() -> None:
    a = article("---\ntitle: D\n---\n## Notes\na\n## Notes\nb\n## Infobox\nc\n")
    anchors = [c.anchor for c in Chunker().chunk(a)]
    assert anchors == ["notes", "notes-1", "infobox-1"]


def test_description_used_as_lead_when_body_has_none(tmp_path: Path) -> None:
    text = "---\ntitle: X\ndescription: A short summary of X.\n---\n## Only\nbody\n"
    a = article(text)
    lead = Chunker().chunk(a)[0]
    assert lead.section_path == () and lead.text == "A short summary of X."
    assert "A short summary of X." in a.raw_text[lead.start : lead.end]


class _FailsOnCasualties(Chunker):
    """A chunker with a bug that shows on one kind of article (module level: worker processes import it)."""

    def chunk(self, article: Article) -> list[Chunk]:
        if "casualt" in article.raw_text.lower():
            raise ValueError("boom")
        return super().chunk(article)


@pytest.mark.slow
def test_chunking_in_worker_processes_gives_what_one_process_gives() -> None:
    need_corpus()
    files = find_files(FRONTLINES)[:40]
    called = []
    serial = list(chunk_files(files, FRONTLINES, Chunker(), processes=1))
    parallel = list(chunk_files(files, FRONTLINES, Chunker(), processes=2, meanwhile=lambda: called.append(1)))
    assert called == [1]
    assert parallel == serial
    assert all(f.article is not None and f.chunks for f in parallel)


def test_a_chunker_failure_is_that_files_error_in_workers_too() -> None:
    need_corpus()
    files = find_files(FRONTLINES)[:40]
    for processes in (1, 2):
        out = list(chunk_files(files, FRONTLINES, _FailsOnCasualties(), processes=processes))
        failed = [f for f in out if f.article is None]
        assert failed and all(not f.chunks and "could not be split" in f.problems[-1].reason for f in failed)
        assert all("boom" in f.problems[-1].reason for f in failed)
        assert len(failed) < len(out) and all(f.chunks for f in out if f.article is not None)
