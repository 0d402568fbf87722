"""The search page at `/`, end to end: a real `qa serve` on 127.0.0.1 driven by headless Chromium.

Chromium is Debian's (`/usr/bin/chromium`, installed by `.ci/run`), driven by Playwright for Python;
`playwright install` cannot download browsers here. A missing browser fails these tests, loudly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, SEED_ARTICLE
from tests.live_server import serve
from tests.test_server import server  # noqa: F401  (`server`: the API's real `qa serve` fixture)

CHROMIUM = Path(os.environ.get("QA_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
QUESTION = "How many soldiers did Russia say it withdrew across the Dnipro?"
UNANSWERABLE = "Who won the 2018 FIFA World Cup?"
ANCHOR = "russian-withdrawal-efforts"
API_KEY = "page-test-key"


# -- real servers: `server` (tests/test_server.py) for most tests, one with an API key here ----------


def api(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30)


# -- a real browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`, as .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@dataclass
class Tab:
    """A page plus what it did: every URL it requested, every script error."""

    page: Any
    base: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def ask(self, question: str) -> None:
        self.page.fill("#qa-q", question)
        self.page.press("#qa-q", "Enter")


def open_tab(browser: Any, base: str, width: int = 1200, height: int = 900) -> Tab:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(20_000)
    tab = Tab(page, base)
    page.on("request", lambda r: tab.requests.append(r.url))
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    page.goto(base + "/")
    return tab


@pytest.fixture
def tab(browser: Any, server: str) -> Iterator[Tab]:  # noqa: F811
    t = open_tab(browser, server)
    yield t
    assert not t.errors, f"script errors on the page: {t.errors}"
    outside = [u for u in t.requests if not u.startswith((server + "/", "data:"))]
    assert not outside, f"the page fetched from outside the server: {outside}"
    t.page.context.close()


def wait_for_results(tab: Tab) -> None:
    tab.page.wait_for_selector("#qa-results .hit")
    # functions, not bare expressions: Playwright evals expressions, which the page's CSP forbids
    tab.page.wait_for_function("() => document.getElementById('qa-results').getAttribute('aria-busy') === 'false'")


def in_viewport(page: Any, selector: str) -> bool:
    return bool(page.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                      return r.top >= 0 && r.top < window.innerHeight && r.bottom > 0; }""",
        selector,
    ))


# -- tests ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_question_shows_the_right_section_first_with_its_highlight(tab: Tab) -> None:
    page = tab.page
    assert page.evaluate("document.activeElement.id") == "qa-q"  # the question box has the focus
    tab.ask(QUESTION)
    wait_for_results(tab)
    first = page.locator("#qa-results .hit").first
    crumbs = first.locator(".crumbs").inner_text()
    assert crumbs.startswith("Liberation of Kherson") and crumbs.rstrip().endswith("Russian withdrawal efforts"), crumbs
    assert "30,000" in first.locator("mark.best").inner_text()
    assert page.locator("#qa-results .hit").count() == 5
    assert "score" in first.locator(".score").inner_text()
    assert page.locator("#qa-notice").is_hidden() and page.locator("#qa-error").is_hidden()
    assert "5 passages" in page.inner_text("#qa-status")
    # the question is in the address, so a reload (or a shared link) asks it again
    assert "q=How+many+soldiers" in page.url


@pytest.mark.slow
def test_results_are_reachable_by_keyboard_with_visible_focus(tab: Tab) -> None:
    page = tab.page
    tab.ask(QUESTION)
    wait_for_results(tab)
    page.focus("#qa-q")
    for presses in range(1, 15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('#qa-results a.open')"):
            break
    else:
        pytest.fail("Tab never reached the first result's link")
    assert presses <= 7, f"{presses} Tab presses from the question box to the first result"
    style = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert style not in ("none", ""), "the focused result link has no visible outline"
    page.keyboard.press("Enter")  # follows the link: the article in context
    page.wait_for_selector(".passage.target")


@pytest.mark.slow
def test_no_layout_jump_while_a_question_is_answered(tab: Tab) -> None:
    page = tab.page
    tab.ask(QUESTION)
    wait_for_results(tab)
    before = page.evaluate("document.querySelector('#qa-results .hit').getBoundingClientRect().top")
    # submit and measure in the same task: the answer cannot have arrived yet
    during = page.evaluate(
        """() => { document.getElementById('qa-ask').requestSubmit();
                   const r = document.getElementById('qa-results');
                   return {top: r.querySelector('.hit').getBoundingClientRect().top,
                           stale: r.classList.contains('stale'), busy: r.getAttribute('aria-busy')}; }"""
    )
    assert during == {"top": before, "stale": True, "busy": "true"}
    wait_for_results(tab)
    assert page.locator("#qa-results.stale").count() == 0


@pytest.mark.slow
def test_open_the_passage_in_context(tab: Tab) -> None:
    page = tab.page
    tab.ask(QUESTION)
    wait_for_results(tab)
    page.locator("#qa-results .hit").first.locator("a.open").click()
    page.wait_for_selector("#qa-article .passage.target")
    assert page.locator("#qa-search-view").is_hidden()
    assert f"#/article/{SEED_ARTICLE}?" in page.url
    assert page.inner_text("#qa-article h1") == "Liberation of Kherson"
    # the whole article is there, in order, with headings carrying the API's anchors
    headings = page.eval_on_selector_all("#qa-article .section", "hs => hs.map(h => h.id)")
    assert headings[:3] == ["background", "withdrawal-and-liberation", "ukrainian-armed-forces-advancing"]
    assert ANCHOR in headings
    # scrolled to the section, the passage marked, focused and showing its best sentence
    assert page.evaluate("window.scrollY") > 0
    assert in_viewport(page, f"#{ANCHOR}")
    assert in_viewport(page, ".passage.target")
    target = page.locator(".passage.target")
    assert target.count() == 1 and "30,000" in target.locator("mark.best").inner_text()
    assert target.locator(".target-label").inner_text().endswith("Withdrawal and liberation › Russian withdrawal efforts")
    assert page.evaluate("document.activeElement.classList.contains('target')")
    heading_before_target = page.evaluate(
        f"""document.getElementById('{ANCHOR}').compareDocumentPosition(document.querySelector('.passage.target'))
            & Node.DOCUMENT_POSITION_FOLLOWING"""
    )
    assert heading_before_target
    # Escape goes back to the results, focus on the link that was followed
    page.keyboard.press("Escape")
    page.wait_for_selector("#qa-search-view", state="visible")
    assert page.locator("#qa-results .hit").count() == 5
    assert page.evaluate("document.activeElement.matches('#qa-results .hit a.open')")


@pytest.mark.slow
def test_unanswerable_question_shows_the_notice_and_the_closest_passages(tab: Tab, server: str) -> None:  # noqa: F811
    with api(server) as c:
        body = c.post("/v1/search", json={"query": UNANSWERABLE}).json()
    assert body["answerability"] == "not_answered", f"{UNANSWERABLE!r}: {body['answerability']} {body['confidence']}"
    page = tab.page
    tab.ask(QUESTION)  # first an answerable one: the notice must appear, not linger from page load
    wait_for_results(tab)
    assert page.locator("#qa-notice").is_hidden()
    tab.ask(UNANSWERABLE)
    page.wait_for_selector("#qa-notice", state="visible")
    assert "No answer in these articles" in page.inner_text("#qa-notice")
    wait_for_results(tab)
    assert page.locator("#qa-results .hit").count() == len(body["results"]) > 0


@pytest.mark.slow
def test_api_errors_are_shown_in_words(tab: Tab, server: str) -> None:  # noqa: F811
    page = tab.page
    long_query = "why " * 500 + "x"  # 2001 characters
    assert len(long_query) == 2001
    with api(server) as c:
        too_long = c.post("/v1/search", json={"query": long_query, "k": 5, "mode": "hybrid"}).json()["error"]
        bad_k = c.post("/v1/search", json={"query": QUESTION, "k": 99, "mode": "hybrid"}).json()["error"]
    tab.ask(QUESTION)
    wait_for_results(tab)
    tab.ask(long_query)
    page.wait_for_selector("#qa-error", state="visible")
    text = page.inner_text("#qa-error")
    assert too_long["message"] in text and str(too_long["status"]) in text, text
    assert page.locator("#qa-results .hit").count() == 0  # old passages answered another question
    # k out of range: the page leaves judging to the API and shows its words
    page.fill("#qa-k", "99")
    tab.ask(QUESTION)
    page.wait_for_function("(m) => document.getElementById('qa-error').innerText.includes(m)", arg=bad_k["message"])
    # fixed: the error goes away
    page.fill("#qa-k", "3")
    tab.ask(QUESTION)
    wait_for_results(tab)
    assert page.locator("#qa-error").is_hidden() and page.locator("#qa-results .hit").count() == 3


@pytest.mark.slow
def test_unknown_article_in_context_view_is_an_error_in_words(tab: Tab) -> None:
    page = tab.page
    page.goto(tab.base + "/#/article/no_such_article?section=x")
    page.wait_for_selector("#qa-article-error", state="visible")
    assert "no_such_article" in page.inner_text("#qa-article-error")
    assert "404" in page.inner_text("#qa-article-error")


@pytest.mark.slow
def test_readable_at_phone_width(browser: Any, server: str) -> None:  # noqa: F811
    t = open_tab(browser, server, width=375, height=740)
    try:
        t.ask(QUESTION)
        wait_for_results(t)
        page = t.page
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, "horizontal scrolling at 375 px"
        box = page.locator("#qa-results .hit").first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.passage')).fontSize)") >= 14
        page.locator("#qa-results .hit").first.locator("a.open").click()
        page.wait_for_selector(".passage.target")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert not t.errors
    finally:
        t.page.context.close()


@pytest.mark.slow
def test_api_key_typed_into_the_page_is_sent(browser: Any, seed_index: Path, tmp_path: Path) -> None:
    with serve(seed_index, tmp_path, QA_API_KEY=API_KEY) as keyed:
        t = open_tab(browser, keyed.url)
        page = t.page
        t.ask(QUESTION)
        page.wait_for_selector("#qa-error", state="visible")
        assert "401" in page.inner_text("#qa-error") and "API key" in page.inner_text("#qa-error")
        assert page.locator("#qa-keybox").get_attribute("open") is not None  # the key field is shown
        page.fill("#qa-key", API_KEY)
        t.ask(QUESTION)
        wait_for_results(t)
        assert page.locator("#qa-error").is_hidden()
        assert page.evaluate("sessionStorage.getItem('qa.apiKey')") == API_KEY
        t.page.context.close()


# -- what the page needs from the server -----------------------------------------------------------


def test_page_and_assets_are_served_with_a_strict_policy(server: str) -> None:  # noqa: F811
    with api(server) as c:
        r = c.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert '<form id="qa-ask"' in r.text
        for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
            asset = c.get(f"/static/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind), name
        missing = c.get("/static/secrets.txt")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert "/" not in c.get("/openapi.json").json()["paths"]  # the page is no part of the API


def test_page_inserts_api_data_as_text_only() -> None:
    script = (ROOT / "qa" / "serve" / "static" / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, f"app.js uses {sink}: API data must go in as text"


def test_passages_route_returns_the_article_in_reading_order(server: str) -> None:  # noqa: F811
    with api(server) as c:
        detail = c.get(f"/v1/articles/{SEED_ARTICLE}").json()
        r = c.get("/v1/passages", params={"article": SEED_ARTICLE})
        assert r.status_code == 200, r.text
        body = r.json()
        unknown = c.get("/v1/passages", params={"article": "no_such_article"})
        missing = c.get("/v1/passages")
    assert body["article"] == {"id": SEED_ARTICLE, "title": "Liberation of Kherson"}
    passages = body["passages"]
    assert body["count"] == len(passages) == detail["passages"]
    starts = [p["source"]["start"] for p in passages]
    assert starts == sorted(starts)
    assert passages[0]["section"]["path"] == ["Infobox"]
    # sections appear in the outline's order
    outline = [tuple(s["path"]) for s in detail["sections"]]
    seen = [tuple(p["section"]["path"]) for p in passages if tuple(p["section"]["path"]) in outline]
    assert [outline.index(s) for s in seen] == sorted(outline.index(s) for s in seen)
    assert any("30,000" in p["text"] and p["section"]["anchor"] == ANCHOR for p in passages)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_article"
    assert missing.status_code == 422 and set(missing.json()["error"]) == {"status", "code", "message"}


@pytest.mark.slow
def test_the_readers_answer_is_shown_on_top_when_answerable(browser: Any, seed_index: Path, tmp_path: Path) -> None:
    from qa.reader.load import SHIPPED

    if not (SHIPPED / "config.json").exists():
        pytest.fail(f"{SHIPPED} holds no reader: the shipped weights belong in models/reader")
    with serve(seed_index, tmp_path, QA_READER=str(SHIPPED), QA_READ="true") as reading:
        with api(reading.url) as c:
            body = c.post("/v1/search", json={"query": QUESTION}).json()
        assert body["answer"] is not None
        t = open_tab(browser, reading.url)
        t.ask(QUESTION)
        wait_for_results(t)
        page = t.page
        if body["answerable"]:
            page.wait_for_selector("#qa-answer", state="visible")
            assert page.inner_text("#qa-answer-text") == body["answer"]["text"]
            assert body["answer"]["citation"] in page.inner_text("#qa-answer-cite")
            assert page.locator("#qa-notice").is_hidden()
        else:
            page.wait_for_selector("#qa-notice", state="visible")
            assert page.locator("#qa-answer").is_hidden()
        assert not t.errors, t.errors
        t.page.context.close()


# -- filter chips (issue #30) -----------------------------------------------------------------------

NEWS_TITLES = ("River Crossing at Dawn", "Harbour Fire", "Drone Factory Opens", "Winter Power Grid")


def _titles(tab: Tab) -> list[str]:
    wait_for_results(tab)
    crumbs = tab.page.locator("#qa-results .hit .crumbs").all_inner_texts()
    return [re.split(r" [·›] ", c.strip())[0] for c in crumbs]  # "Title · introduction", "Title › Section"


@pytest.mark.slow
def test_filter_chips_narrow_the_results(browser: Any, tmp_path: Path, settings_factory, embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.index import folder as ix
    from tests.test_filters import _build

    index_dir, _ = _build(tmp_path / "filters", settings_factory, embedder)
    passages = [c.article_id for c in ix.read_chunks(ix.resolve(index_dir))]
    recent_news = sum(a in ("news/harbour_fire", "news/drone_factory") for a in passages)
    recent = recent_news + passages.count("guides/advanced/drone_maintenance")
    assert recent_news < 8 < len(passages)
    with serve(index_dir, tmp_path / "server") as live:
        tab = open_tab(browser, live.url)
        page = tab.page
        page.wait_for_selector("#qa-filters fieldset[data-field='categories'] .chip")
        fields = page.eval_on_selector_all("#qa-filters fieldset", "(fs) => fs.map((f) => f.dataset.field)")
        assert fields == ["author", "categories", "date", "draft", "tags"]  # rating is a number: no chips
        page.fill("#qa-k", "8")
        tab.ask("bridges, rivers and fire")
        everything = _titles(tab)
        assert len(everything) == 8 and not set(everything) <= set(NEWS_TITLES)
        page.click("#qa-filters fieldset[data-field='categories'] .chip[data-value='news']")
        page.wait_for_function("() => document.querySelector(\"#qa-filters .chip[data-value='news']\")"
                               ".getAttribute('aria-pressed') === 'true'")
        page.wait_for_function(
            "(titles) => [...document.querySelectorAll('#qa-results .hit .crumbs')]"
            ".every((c) => titles.some((t) => c.innerText.startsWith(t)))", arg=list(NEWS_TITLES))
        news = _titles(tab)
        assert len(news) == 8 and set(news) <= set(NEWS_TITLES)
        # a date range on top: only news of 2023 or later (Harbour Fire, 2023-03-14; Drone Factory, 2024-01-20)
        page.fill("#qa-filters fieldset[data-field='date'] input[data-range='from']", "2023-01-01")
        page.dispatch_event("#qa-filters fieldset[data-field='date'] input[data-range='from']", "change")
        page.wait_for_function(
            "(n) => [...document.querySelectorAll('#qa-results .hit .crumbs')].length === n && "
            "[...document.querySelectorAll('#qa-results .hit .crumbs')].every((c) => "
            "c.innerText.startsWith('Harbour Fire') || c.innerText.startsWith('Drone Factory Opens'))", arg=recent_news)
        assert set(_titles(tab)) == {"Harbour Fire", "Drone Factory Opens"}  # fewer than k passages pass: all of them
        page.click("#qa-filters fieldset[data-field='categories'] .chip[data-value='news']")  # chip off again
        page.wait_for_function("(n) => document.querySelectorAll('#qa-results .hit').length === n", arg=recent)
        assert "Drone Maintenance" in _titles(tab)
        assert not tab.errors, tab.errors
        tab.page.context.close()
