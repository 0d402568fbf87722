"""Property-based tests of the loader and the chunker on generated Markdown and front matter.

Hypothesis builds articles from the pieces real files are made of (headings of every level, lists, links,
images, HTML comments, emphasis, tables, fences, CRLF, a BOM, unicode, garbage YAML, binary junk) and
checks what every file must get: a reported problem or passages, never an exception; every passage
within both token budgets; every `source` span inside the file and holding the passage's words in order;
the same ids when chunked twice. The example budget is fixed and the run derandomized, so CI time and
results do not drift.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.ingest.articles import decode, load_folder, parse
from qa.ingest.chunker import Chunker, ChunkerConfig
from qa.ingest.tokens import count_model_tokens, count_tokens
from qa.records import Article, Chunk
from tests.test_chunker import WORD, words_in_order

# CI budget; for a bug hunt run e.g. QA_HYPOTHESIS_EXAMPLES=3000 QA_HYPOTHESIS_RANDOM=1 pytest tests/test_properties.py
EXAMPLES = int(os.environ.get("QA_HYPOTHESIS_EXAMPLES", "300"))
FIXED = not os.environ.get("QA_HYPOTHESIS_RANDOM")
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=FIXED,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ------------------------------------------------------------------------------------------

_words = st.sampled_from(
    [
        "the",
        "river",
        "Kherson",
        "city",
        "troops",
        "bridge",
        "30,000",
        "Dnipro",
        "withdrew",
        "November",
        "2022",
        "Kyiv's",
        "naïve",
        "café",
        "Ελλάδα",
        "Київ",
        "東京",
        "emoji🙂",
        "x",
        "A1",
        "e.g.",
        "U.S.",
        "1.5km",
        "(left)",
        "[note]",
        "a_b",
        "*star*",
        "#tag",
    ]
)
_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30
)  # any unicode, controls included


@st.composite
def sentence(draw: st.DrawFn) -> str:
    words = draw(st.lists(_words, min_size=1, max_size=25))
    out = []
    for w in words:
        kind = draw(
            st.sampled_from(
                ["plain"] * 8
                + ["em", "strong", "link", "image", "code", "comment", "html", "wiki", "ref", "auto", "junk"]
            )
        )
        out.append(
            {
                "plain": w,
                "em": f"*{w}*",
                "strong": f"**{w}**",
                "link": f"[{w}](https://example.org/{w.strip('()[]')})",
                "image": f'![{w}](img/{w}.png "title")',
                "code": f"`{w}`",
                "comment": f"<!-- {w} -->",
                "html": f'<span class="x">{w}</span>',
                "wiki": f"[[Page|{w}]]",
                "ref": f"[{w}][r1]",
                "auto": "<https://example.org/a>",
                "junk": draw(_text),
            }[kind]
        )
    return " ".join(out) + draw(st.sampled_from([".", "!", "?", "", '."', ";"]))


@st.composite
def block(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            ["para"] * 4
            + ["heading"] * 3
            + ["list", "table", "fence", "quote", "comment", "refdef", "rule", "junk", "long"]
        )
    )
    if kind == "para":
        return " ".join(draw(st.lists(sentence(), min_size=1, max_size=6)))
    if kind == "heading":
        level = draw(st.integers(1, 6))
        closing = draw(st.sampled_from(["", " #", " ###"]))
        return "#" * level + " " + draw(sentence()).rstrip('.!?;"') + closing
    if kind == "list":
        items = draw(st.lists(sentence(), min_size=1, max_size=5))
        bullet = draw(st.sampled_from(["-", "*", "+", "1."]))
        return "\n".join(f"{bullet} {i}" for i in items)
    if kind == "table":
        rows = draw(st.lists(st.lists(_words, min_size=1, max_size=4), min_size=1, max_size=4))
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    if kind == "fence":
        return "```\n" + draw(sentence()) + "\n## not a heading\n```"
    if kind == "quote":
        return "> " + draw(sentence())
    if kind == "comment":
        return "<!--\n" + draw(sentence()) + "\n## hidden heading\n-->"
    if kind == "refdef":
        return '[r1]: https://example.org/ref "Ref"'
    if kind == "rule":
        return draw(st.sampled_from(["---", "***", "* * *"]))
    if kind == "junk":
        return draw(_text)
    # one sentence or one "word" far over any budget (a word without markup: `[a][a]` is one link by design)
    word = draw(_words.filter(lambda w: w.isalnum()))
    return draw(st.sampled_from([" ".join([word] * 400), word * 300, "https://example.org/" + "a" * 2000]))


@st.composite
def front_matter(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["none", "full", "full", "empty", "garbage", "unclosed", "list", "dots"]))
    if kind == "none":
        return ""
    if kind == "empty":
        return "---\n---\n"
    if kind == "garbage":
        return (
            "---\n"
            + draw(st.sampled_from(["title: [oops", "a: b: c", "- x\n y: [", "\t: :", "{{", "title: *x"]))
            + draw(_text)
            + "\n---\n"
        )
    if kind == "unclosed":
        return "---\ntitle: Never closed\n"
    if kind == "list":
        return "---\n- one\n- two\n---\n"
    title = " ".join(draw(st.lists(_words, min_size=0, max_size=draw(st.sampled_from([4, 4, 60])))))
    lines = [f'title: "{title}"' if draw(st.booleans()) else f"title: {title}"]
    if draw(st.booleans()):
        lines.append("description: " + " ".join(draw(st.lists(_words, min_size=1, max_size=30))))
    if draw(st.booleans()):
        lines.append("infoboxes:")
        fields = draw(
            st.lists(
                st.sampled_from(
                    ["date", "place", "result", "open_to_public", "strength", "image", "commander"]
                ),
                min_size=1,
                max_size=5,
                unique=True,
            )
        )
        lines.append(f"  - {fields[0]}: " + " ".join(draw(st.lists(_words, min_size=1, max_size=8))))
        for f in fields[1:]:
            value = draw(st.sampled_from(["plain", "long", "list"]))
            if value == "list":
                lines.append(f"    {f}:")
                lines += [f"      - {w}" for w in draw(st.lists(_words, min_size=1, max_size=3))]
            else:
                n = 300 if value == "long" else 6
                lines.append(f"    {f}: " + " ".join(draw(st.lists(_words, min_size=1, max_size=n))))
    end = "..." if kind == "dots" else "---"
    return "---\n" + "\n".join(lines) + f"\n{end}\n"


@st.composite
def markdown_file(draw: st.DrawFn) -> bytes:
    text = draw(front_matter()) + "\n\n".join(draw(st.lists(block(), min_size=0, max_size=14))) + "\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 9)) == 0:  # binary junk somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at:]
    return data


configs = st.sampled_from(
    [
        ChunkerConfig(),
        ChunkerConfig(max_tokens=40, overlap_tokens=10, model_max_tokens=64),
        ChunkerConfig(max_tokens=64, overlap_tokens=0, model_max_tokens=48),
    ]
)

# -- properties -------------------------------------------------------------------------------------------


def load(data: bytes, name: str = "gen.md") -> Article | None:
    """decode + parse never raise; a file that cannot be used comes back as a reported, skipped problem."""
    text, warnings = decode(data, name)
    assert all(not p.skipped for p in warnings)
    article, problems = parse(text, "gen", name)
    if article is None:
        assert problems and all(p.skipped and p.reason and p.file == name for p in problems)
    else:
        assert article.title and 0 <= article.body_start <= len(article.raw_text)
    return article


def check_passages(article: Article, chunks: list[Chunk], config: ChunkerConfig) -> None:
    raw = article.raw_text
    for c in chunks:
        assert c.text.strip(), c
        assert c.tokens == count_tokens(c.text) <= config.max_tokens, (c.tokens, c.text[:80])
        assert count_model_tokens(c.embed_text) <= config.model_max_tokens, c.embed_text[:120]
        assert 0 <= c.start < c.end <= len(raw), (c.start, c.end, len(raw))
        # a code span glued to a word renders glued, as in CommonMark (`0`0 reads 00): drop backticks here
        span = raw[c.start : c.end].replace("`", "")
        assert words_in_order(WORD.findall(c.text), span), (c.text[:80], span[:80])
        assert c.article_id == article.id and c.file == article.file


@pytest.mark.slow
@BUDGET
@given(data=markdown_file(), config=configs)
def test_generated_markdown_loads_or_is_reported_and_passages_hold(
    data: bytes, config: ChunkerConfig
) -> None:
    article = load(data)
    if article is None:
        return
    chunks = Chunker(config).chunk(article)
    check_passages(article, chunks, config)
    again = Chunker(config).chunk(article)
    assert [c.id for c in again] == [c.id for c in chunks]
    assert len({c.id for c in chunks}) == len(chunks), "two passages of one article share an id"
    assert [(c.start, c.end, c.text) for c in again] == [(c.start, c.end, c.text) for c in chunks]


@BUDGET
@given(data=st.one_of(st.binary(max_size=300), _text.map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    article = load(data)
    if article is not None:
        check_passages(article, Chunker().chunk(article), ChunkerConfig())


@settings(
    max_examples=max(10, EXAMPLES // 6),
    deadline=None,
    derandomize=FIXED,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(files=st.lists(markdown_file(), min_size=1, max_size=4))
def test_load_folder_reports_every_file_it_skips(files: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = {f"f{i}.md" for i in range(len(files))}
        for i, data in enumerate(files):
            (root / f"f{i}.md").write_bytes(data)
        result = load_folder(root)
        skipped = {p.file for p in result.problems if p.skipped}
        loaded = {a.file for a in result.articles}
        assert loaded | skipped == names and not loaded & skipped


# -- regressions found by the properties above ------------------------------------------------------------


def _one(text: str, config: ChunkerConfig | None = None) -> list[Chunk]:
    config = config or ChunkerConfig()
    article = load(text.encode("utf-8"))
    assert article is not None
    chunks = Chunker(config).chunk(article)
    check_passages(article, chunks, config)
    return chunks


def test_huge_heading_path_is_cut_so_text_still_fits_the_model() -> None:
    title = " ".join(["[Ελλάδα](https://example.org/Ελλάδα) the"] * 20)
    chunks = _one(
        f"# {title}\n## {title}\nThe river.\n",
        ChunkerConfig(max_tokens=40, overlap_tokens=10, model_max_tokens=64),
    )
    assert chunks and all(c.embed_text.split("\n")[0].endswith(" …") for c in chunks)
    assert chunks[-1].text == "The river."


def test_lone_backtick_and_stray_bracket_do_not_glue_words() -> None:
    (c,) = _one("0`0 alone.\n\nRun ``qa `build` `` now.\n")
    assert c.text == "0`0 alone.\nRun qa `build` now."
    (c,) = _one("0[0 the. [the][r1] and a[b [c](https://x.org) d.\n")
    assert c.text == "0[0 the. the and a[b c d."


def test_identical_sections_get_distinct_ids() -> None:
    chunks = _one("# T\n\n## Notes\nSame text.\n\n## Notes\nSame text.\n\n## Infobox\nSame text.\n")
    assert [c.anchor for c in chunks] == ["notes", "notes-1", "infobox-1"]
    assert len({c.id for c in chunks}) == 3
    assert [c.id for c in chunks] == [
        c.id
        for c in Chunker().chunk(
            load(b"# T\n\n## Notes\nSame text.\n\n## Notes\nSame text.\n\n## Infobox\nSame text.\n")
        )
    ]
