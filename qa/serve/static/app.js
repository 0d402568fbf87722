// The search page of `qa serve`: a plain client of the public HTTP API (DESIGN.md), no framework.
// Everything the API returns is inserted as text (textContent / text nodes), never as HTML.
"use strict";

(() => {
  const KEY_STORE = "qa.apiKey";
  const $ = (id) => document.getElementById("qa-" + id);
  const ui = {
    form: $("ask"), q: $("q"), mode: $("mode"), k: $("k"), key: $("key"), keybox: $("keybox"),
    status: $("status"), error: $("error"), notice: $("notice"), results: $("results"),
    noticeTitle: $("notice-title"), noticeText: $("notice-text"),
    answer: $("answer"), answerLabel: $("answer-label"), answerText: $("answer-text"), answerCite: $("answer-cite"),
    searchView: $("search-view"), articleView: $("article-view"), back: $("back"),
    article: $("article"), articleError: $("article-error"), footer: $("footer"), filters: $("filters"),
  };

  /** Build an element; string children become text nodes, so API data can never become markup. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  // -- talking to the API ----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** Call the API; resolve with the JSON body or reject with an ApiError built from the error shape. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) headers.Authorization = "Bearer " + key;
    let response;
    try {
      response = await fetch(scoped(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiError(0, "unreachable", "Could not reach the server. Is `qa serve` still running? (" + err.message + ")");
    }
    const raw = await response.text();
    let data = null;
    try {
      data = raw ? JSON.parse(raw) : null;
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const e = data && data.error;
      if (e && typeof e.message === "string") throw new ApiError(e.status || response.status, e.code || "error", e.message);
      if (data && Array.isArray(data.detail)) {
        throw new ApiError(response.status, "invalid_request", data.detail.map((d) => d.msg || String(d)).join("; "));
      }
      throw new ApiError(response.status, "http_" + response.status,
        ("The server answered " + response.status + " " + response.statusText).trim() + ".");
    }
    if (data === null) throw new ApiError(response.status, "bad_response", "The server's answer was not JSON.");
    return data;
  }

  function showError(box, err) {
    const status = err instanceof ApiError ? err.status : 0;
    const code = err instanceof ApiError ? err.code : "client_error";
    box.replaceChildren(
      el("strong", { text: err.message || "Something went wrong." }),
      " ",
      el("span", { class: "code", text: status ? "(" + status + " " + code + ")" : "(" + code + ")" }),
    );
    if (status === 401) {
      box.append(el("span", { text: " Enter the server's API key under “API key” and ask again." }));
      ui.keybox.open = true;
    }
    box.hidden = false;
  }

  // -- search -----------------------------------------------------------------------------------------

  let searchSeq = 0;
  let indexId = null; // the index that gave the last answer
  let lastOpened = null; // the "read in context" link last followed, to return focus to it

  /** Offsets from the API count code points (Python); JavaScript strings count UTF-16 units. */
  function cut(text, start, end) {
    const points = Array.from(text);
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= points.length)) {
      return null;
    }
    if (points.length === text.length) return [text.slice(0, start), text.slice(start, end), text.slice(end)];
    return [points.slice(0, start).join(""), points.slice(start, end).join(""), points.slice(end).join("")];
  }

  /** Passage text with the [start, end) sentence wrapped in <mark>. */
  function markedText(container, text, span) {
    const parts = span ? cut(text, span.start, span.end) : null;
    if (!parts || !parts[1]) {
      container.append(text);
      return container;
    }
    container.append(parts[0], el("mark", { class: "best", text: parts[1] }), parts[2]);
    return container;
  }

  function crumbs(hit) {
    const names = [hit.article.title, ...hit.section.path];
    const box = el("div", { class: "crumbs" });
    names.forEach((name, i) => {
      if (i) box.append(el("span", { class: "sep", "aria-hidden": "true", text: " › " }));
      box.append(el("span", { class: i === 0 ? "crumb article" : "crumb", text: name }));
    });
    if (hit.section.path.length === 0) box.append(el("span", { class: "sep", text: " · introduction" }));
    return box;
  }

  function contextHref(hit) {
    const p = new URLSearchParams();
    if (hit.section.anchor) p.set("section", hit.section.anchor);
    p.set("start", hit.source.start);
    p.set("end", hit.source.end);
    if (hit.highlight) p.set("hl", hit.highlight.start + "-" + hit.highlight.end);
    return "#/article/" + encodeURIComponent(hit.article.id) + "?" + p.toString();
  }

  function fmt(x, digits) {
    return typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "–";
  }

  function resultItem(hit) {
    const detail = "dense " + fmt(hit.scores && hit.scores.dense, 3) + " · lexical " + fmt(hit.scores && hit.scores.lexical, 2);
    const link = el("a", { class: "open", href: contextHref(hit) }, "Read in context",
      el("span", { class: "visually-hidden", text: ": " + hit.citation }));
    link.addEventListener("click", () => { lastOpened = link; });
    return el("li", { class: "hit", "data-rank": hit.rank },
      el("div", { class: "hit-head" },
        crumbs(hit),
        el("span", { class: "score", title: detail, text: "score " + fmt(hit.score, 4) })),
      markedText(el("p", { class: "passage" }), hit.text, hit.highlight),
      el("p", { class: "hit-foot" }, link, el("span", { class: "detail", text: detail })));
  }

  function setBusy(busy) {
    ui.results.classList.toggle("stale", busy);
    ui.results.setAttribute("aria-busy", busy ? "true" : "false");
    ui.form.classList.toggle("busy", busy);
    if (busy) ui.status.textContent = "Searching…";
  }

  function renderResults(data) {
    const n = data.results.length;
    if (data.index && data.index.id !== indexId) { // a new index: articles read before may have changed
      indexId = data.index.id;
      articles.clear();
    }
    ui.status.textContent = n + (n === 1 ? " passage" : " passages") + " · confidence " +
      Math.round(data.confidence * 100) + "% · " + fmt(data.took_ms, 0) + " ms";
    renderNotice(data.answerability || (data.answerable ? "answered" : "not_answered"));
    renderAnswer(data);
    ui.results.replaceChildren(...data.results.map(resultItem));
    if (!n) ui.results.append(el("li", { class: "empty", text: "No passages found." }));
    if (data.index) {
      ui.footer.textContent = "Index " + data.index.id + " · " + (data.index.model || "?") + " · built " + data.index.built_at;
    }
  }

  // "answered": no notice; "unsure": say so, assert nothing; "not_answered": the articles very likely hold no answer
  const NOTICES = {
    unsure: ["Not sure these articles answer this.",
             "The closest passages are below; check them before relying on them."],
    not_answered: ["No answer in these articles.",
                   "These are the closest passages found; check them before relying on them."],
  };

  function renderNotice(verdict) {
    const notice = NOTICES[verdict];
    ui.notice.hidden = !notice;
    ui.notice.dataset.verdict = verdict;
    if (!notice) return;
    ui.noticeTitle.textContent = notice[0];
    ui.noticeText.textContent = notice[1];
  }

  // the reader's answer, on top with its citation: "Answer" when answered, "Possible answer" when unsure
  function renderAnswer(data) {
    const a = data.answer;
    const verdict = data.answerability || (data.answerable ? "answered" : "not_answered");
    ui.answer.hidden = !(a && (verdict === "answered" || verdict === "unsure"));
    if (ui.answer.hidden) return;
    ui.answerLabel.textContent = verdict === "answered" ? "Answer" : "Possible answer";
    ui.answerText.textContent = a.text;
    ui.answerCite.textContent = "[" + a.rank + "] " + a.citation;
    ui.answerCite.dataset.rank = String(a.rank);
  }

  // the answer's citation leads to the result holding it (no hash change: the hash routes the article view)
  ui.answerCite.addEventListener("click", (event) => {
    event.preventDefault();
    const item = ui.results.querySelector('li[data-rank="' + ui.answerCite.dataset.rank + '"]');
    const link = item && item.querySelector("a.open");
    if (item) item.scrollIntoView({ block: "center" });
    if (link) link.focus();
  });

  function readK() {
    const raw = ui.k.value.trim();
    if (raw === "") return undefined; // the API's default
    const n = Number(raw);
    return Number.isInteger(n) ? n : raw; // not a whole number: let the API say why
  }

  async function search() {
    const seq = ++searchSeq;
    const body = { query: ui.q.value, mode: ui.mode.value };
    const k = readK();
    if (k !== undefined) body.k = k;
    const filter = currentFilter();
    if (filter) body.filter = filter;
    const url = new URLSearchParams({ q: ui.q.value, mode: ui.mode.value, k: ui.k.value });
    if (collection) url.set("c", collection); // the picked collection (see "collections" below)
    history.replaceState(null, "", "?" + url.toString() + location.hash);
    setBusy(true);
    let data;
    try {
      data = await api("POST", "/v1/search", body);
    } catch (err) {
      if (seq !== searchSeq) return;
      setBusy(false);
      ui.status.textContent = "";
      ui.notice.hidden = true;
      ui.answer.hidden = true;
      ui.results.replaceChildren(); // the old passages answered another question
      showError(ui.error, err);
      return;
    }
    if (seq !== searchSeq) return; // a newer question was asked meanwhile
    setBusy(false);
    ui.error.hidden = true;
    renderResults(data);
  }

  // -- filter chips: the index's metadata fields (GET /v1/fields) as chips and date ranges -----------------

  const MAX_CHIPS = 12; // a string field with more values than this gets no chips
  const MAX_CHIP_CHARS = 40; // nor one with longer values (URLs, sentences)
  const chosen = new Map(); // field name -> Set of chosen values (chips), or {from, to} (dates)
  let fieldsSeq = 0;

  function nextDay(iso) {
    const d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  /** The `filter` of the chosen chips and ranges: values of one field any-of, fields and-ed; null for none. */
  function currentFilter() {
    const filter = {};
    for (const [name, pick] of chosen) {
      if (pick instanceof Set) {
        if (pick.size === 1) filter[name] = [...pick][0];
        else if (pick.size > 1) filter[name] = { any: [...pick] };
      } else {
        const range = {};
        if (pick.from) range.gte = pick.from;
        if (pick.to) range.lt = nextDay(pick.to); // the whole end day, date-times included
        if (Object.keys(range).length) filter[name] = range;
      }
    }
    return Object.keys(filter).length ? filter : null;
  }

  function rerun() {
    if (ui.q.value.trim()) search();
  }

  function chipGroup(field) {
    const pick = new Set();
    chosen.set(field.name, pick);
    const group = el("fieldset", { class: "chips", "data-field": field.name }, el("legend", { text: field.name }));
    for (const { value, articles } of field.values) {
      const chip = el("button", { type: "button", class: "chip", "aria-pressed": "false", "data-value": String(value),
                                  title: articles + " article" + (articles === 1 ? "" : "s") }, String(value));
      chip.addEventListener("click", () => {
        const on = !pick.has(value);
        if (on) pick.add(value);
        else pick.delete(value);
        chip.setAttribute("aria-pressed", String(on));
        rerun();
      });
      group.append(chip);
    }
    return group;
  }

  function dateRange(field) {
    const pick = { from: "", to: "" };
    chosen.set(field.name, pick);
    const day = (v) => (v ? String(v).slice(0, 10) : "");
    const input = (which) => {
      const box = el("input", { type: "date", "data-range": which, min: day(field.min), max: day(field.max),
                                "aria-label": field.name + " " + which });
      box.addEventListener("change", () => {
        pick[which] = box.value;
        rerun();
      });
      return box;
    };
    return el("fieldset", { class: "chips range", "data-field": field.name }, el("legend", { text: field.name }),
              input("from"), " – ", input("to"));
  }

  /** Chips for the fields at `path` (a collection's fields endpoint may be passed instead). */
  async function loadFields(path) {
    const seq = ++fieldsSeq;
    let data;
    try {
      data = await api("GET", path || "/v1/fields?max_values=" + MAX_CHIPS);
    } catch (_) {
      data = { fields: [], articles: 0 }; // no key yet, or an older server: no chips
    }
    if (seq !== fieldsSeq) return;
    chosen.clear();
    const groups = [];
    for (const field of data.fields) {
      // chips only where they narrow: a few short values, not one value every article has
      const narrows = field.distinct > 1 || field.articles < data.articles;
      const short = field.values.every((v) => String(v.value).length <= MAX_CHIP_CHARS);
      if (field.type === "date" && field.min && narrows) groups.push(dateRange(field));
      else if ((field.type === "string" || field.type === "boolean") && field.distinct <= MAX_CHIPS && narrows && short) {
        groups.push(chipGroup(field));
      }
    }
    ui.filters.replaceChildren(...groups);
    ui.filters.hidden = groups.length === 0;
  }

  // -- the article, in context ------------------------------------------------------------------------

  const articles = new Map(); // id -> Promise of [detail, passages]
  let articleSeq = 0;

  function loadArticle(id) {
    if (!articles.has(id)) {
      const p = Promise.all([
        api("GET", "/v1/articles/" + id.split("/").map(encodeURIComponent).join("/")), // nested ids keep their `/`
        api("GET", "/v1/passages?article=" + encodeURIComponent(id)),
      ]);
      p.catch(() => articles.delete(id)); // retry next time
      articles.set(id, p);
    }
    return articles.get(id);
  }

  function heading(level, text, id) {
    return el("h" + Math.min(Math.max(level, 2), 6), { id: id || null, class: "section" }, text);
  }

  const isTarget = (p, target) => Boolean(target) && p.source.start === target.start && p.source.end === target.end;

  /** Length of the longest end of `prev` that `next` starts with: the sentence the chunker repeats. */
  function overlap(prev, next) {
    for (let n = Math.min(prev.length, next.length - 1, 1000); n >= 12; n--) {
      if (prev.endsWith(next.slice(0, n))) return n;
    }
    return 0;
  }

  /** One section's passages; a repeated sentence is shown once (the opened passage is always whole). */
  function passageNodes(list, target) {
    const text = list.map((p) => p.text);
    for (let i = 1; i < list.length; i++) {
      const n = overlap(list[i - 1].text, list[i].text);
      if (!n) continue;
      if (isTarget(list[i], target)) {
        if (!isTarget(list[i - 1], target)) text[i - 1] = text[i - 1].slice(0, text[i - 1].length - n).trimEnd();
      } else {
        text[i] = list[i].text.slice(n).trimStart();
      }
    }
    return list.map((p, i) => {
      if (!isTarget(p, target)) return el("p", { class: "passage", "data-start": p.source.start }, text[i]);
      const where = p.section.path.length ? p.section.path.join(" › ") : "Introduction";
      const node = el("p", { class: "passage target", "data-start": p.source.start, tabindex: "-1" },
        el("span", { class: "target-label", text: "The passage you opened · " + where }));
      return markedText(node, p.text, target.hl);
    });
  }

  /** Render the article: infobox, lead, then every section of the outline with its passages in order. */
  function renderArticle(detail, passages, target) {
    const byPath = new Map();
    for (const p of passages) {
      const key = JSON.stringify(p.section.path);
      if (!byPath.has(key)) byPath.set(key, []);
      byPath.get(key).push(p);
    }
    const take = (path) => {
      const key = JSON.stringify(path);
      const list = byPath.get(key) || [];
      byPath.delete(key);
      return list;
    };
    const nodes = [el("h1", { text: detail.title })];
    if (detail.short_description) nodes.push(el("p", { class: "short", text: detail.short_description }));
    const infobox = take(["Infobox"]);
    if (infobox.length) {
      nodes.push(el("aside", { class: "infobox", "aria-label": "Infobox" },
        el("h2", { text: "Infobox" }), ...passageNodes(infobox, target)));
    }
    nodes.push(...passageNodes(take([]), target));
    for (const s of detail.sections || []) {
      nodes.push(heading(s.level || s.path.length + 1, s.path[s.path.length - 1], s.anchor));
      nodes.push(...passageNodes(take(s.path), target));
    }
    for (const list of byPath.values()) { // passages of sections missing from the outline
      const s = list[0].section;
      nodes.push(heading(s.path.length + 1, s.path.join(" › "), s.anchor), ...passageNodes(list, target));
    }
    ui.article.replaceChildren(...nodes);
  }

  function parseArticleRoute(hash) {
    const rest = hash.slice("#/article/".length);
    const q = rest.indexOf("?");
    const id = decodeURIComponent(q < 0 ? rest : rest.slice(0, q));
    const p = new URLSearchParams(q < 0 ? "" : rest.slice(q + 1));
    const hl = (p.get("hl") || "").split("-").map(Number);
    return {
      id,
      section: p.get("section") || "",
      start: p.has("start") ? Number(p.get("start")) : null,
      end: p.has("end") ? Number(p.get("end")) : null,
      hl: hl.length === 2 ? { start: hl[0], end: hl[1] } : null,
    };
  }

  async function showArticle(route) {
    const seq = ++articleSeq;
    ui.searchView.hidden = true;
    ui.articleView.hidden = false;
    ui.articleError.hidden = true;
    ui.article.setAttribute("aria-busy", "true");
    ui.article.replaceChildren(el("p", { class: "loading", text: "Loading the article…" }));
    let detail, passages;
    try {
      [detail, passages] = await loadArticle(route.id);
    } catch (err) {
      if (seq !== articleSeq) return;
      ui.article.replaceChildren();
      showError(ui.articleError, err);
      ui.back.focus();
      return;
    }
    if (seq !== articleSeq) return;
    renderArticle(detail, passages.passages, route);
    ui.article.setAttribute("aria-busy", "false");
    document.title = detail.title + " — qa";
    const target = ui.article.querySelector(".passage.target");
    const anchor = route.section && ui.article.querySelector('[id="' + CSS.escape(route.section) + '"]');
    if (anchor) anchor.scrollIntoView({ block: "start" });
    if (target) {
      const box = target.getBoundingClientRect();
      if (box.top < 0 || box.bottom > window.innerHeight) target.scrollIntoView({ block: box.height > window.innerHeight ? "start" : "center" });
      target.focus({ preventScroll: true });
    } else if (!anchor) {
      window.scrollTo(0, 0);
      ui.article.focus({ preventScroll: true });
    }
  }

  function showSearch() {
    articleSeq++;
    ui.articleView.hidden = true;
    ui.searchView.hidden = false;
    document.title = "qa — ask the articles";
    if (lastOpened && lastOpened.isConnected) lastOpened.focus();
  }

  function route() {
    if (location.hash.startsWith("#/article/")) showArticle(parseArticleRoute(location.hash));
    else showSearch();
  }

  // -- collections: a picker when the server serves several; `?c=name` in the URL -----------------------

  const picker = { box: $("collection-box"), select: $("collection") };
  let collection = new URLSearchParams(location.search).get("c") || ""; // "": the server's default

  /** `/v1/x` of the picked collection: `/v1/collections/<name>/x` (paths naming a collection stay). */
  function scoped(path) {
    if (!collection || !path.startsWith("/v1/") || path.startsWith("/v1/collections")) return path;
    return "/v1/collections/" + encodeURIComponent(collection) + path.slice(3);
  }

  async function loadCollections() {
    let data;
    try {
      data = await api("GET", "/v1/collections");
    } catch (_) {
      picker.box.hidden = true; // e.g. 401 until the key is typed; the search shows the error itself
      return;
    }
    const names = data.collections.map((c) => c.name);
    picker.select.replaceChildren(...data.collections.map((c) => el("option", { value: c.name },
      c.name + (typeof c.articles === "number" ? " (" + c.articles + (c.articles === 1 ? " article)" : " articles)") : ""))));
    const pick = collection && names.includes(collection) ? collection
      : names.includes(data.default) ? data.default : names[0] || "";
    picker.select.value = pick;
    // an unknown ?c=, or a key that may not read the default collection: ask the one shown
    if (collection !== pick && !(collection === "" && pick === data.default)) collection = pick;
    picker.box.hidden = data.collections.length < 2;
    loadFields(); // chips for the collection shown
  }

  picker.select.addEventListener("change", () => {
    collection = picker.select.value;
    articles.clear(); // an article id names another article in another collection
    indexId = null;
    const p = new URLSearchParams(location.search);
    p.set("c", collection);
    history.replaceState(null, "", "?" + p.toString() + location.hash);
    loadFields(); // the picked collection's own fields; chosen chips are cleared
    if (ui.q.value.trim()) search();
  });
  ui.key.addEventListener("change", loadCollections); // a key may see other collections
  loadCollections();

  // -- wiring -----------------------------------------------------------------------------------------

  let cameFromSearch = false;
  ui.results.addEventListener("click", (e) => {
    if (e.target.closest && e.target.closest("a.open")) cameFromSearch = true;
  });
  ui.back.addEventListener("click", (e) => {
    e.preventDefault();
    if (cameFromSearch) {
      cameFromSearch = false;
      history.back();
    } else {
      location.hash = "#/";
    }
  });
  ui.form.addEventListener("submit", (e) => {
    e.preventDefault();
    search();
  });
  ui.key.addEventListener("input", () => {
    const key = ui.key.value.trim();
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
    loadFields(); // the fields may need the key
  });
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement && document.activeElement.tagName);
    if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      if (!ui.articleView.hidden) location.hash = "#/";
      ui.q.focus();
      ui.q.select();
    } else if (e.key === "Escape" && !ui.articleView.hidden) {
      ui.back.click();
    }
  });
  window.addEventListener("hashchange", route);

  ui.key.value = sessionStorage.getItem(KEY_STORE) || "";
  loadFields();
  const params = new URLSearchParams(location.search);
  if (params.has("mode")) ui.mode.value = params.get("mode");
  if (params.has("k")) ui.k.value = params.get("k");
  if (params.get("q")) {
    ui.q.value = params.get("q");
    search();
  }
  route();
})();
