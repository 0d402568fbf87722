"""A self-contained HTML report: inline CSS and hand-drawn inline SVG charts, no scripts, no CDN."""

from __future__ import annotations

from pathlib import Path

from qa.evaluation.charts import bars, confidence_chart, esc, legend, rank_chart, reliability_chart
from qa.evaluation.gate import Comparison
from qa.evaluation.report import LATENCY_METRICS, EvalReport, QuestionInfo, QuestionResult, headline_names

COLOURS = {"hybrid": "#4c6ef5", "dense": "#f08c00", "lexical": "#2f9e44"}
EXTRA_COLOURS = ["#ae3ec9", "#1098ad", "#e8590c"]
CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1180px;margin:0 auto;padding:28px 24px 60px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:34px 0 10px}
.sub{color:#5c6577;margin-bottom:18px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border-radius:10px;padding:12px 16px;box-shadow:0 1px 3px #0001;min-width:150px}
.card b{display:block;font-size:26px}.card span{color:#5c6577;font-size:13px}
.panel{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 3px #0001;margin-top:12px;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th,td{padding:5px 8px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
th{background:#fafbfc;font-weight:600}th.n{text-align:right}td.n{text-align:right;font-variant-numeric:tabular-nums}
.r1{background:#d3f9d8}.r5{background:#fff3bf}.rx{background:#ffe3e3}.muted{color:#8a93a5}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.pass{color:#2b8a3e;font-weight:700}.fail{color:#c92a2a;font-weight:700}
.up{color:#2b8a3e}.down{color:#c92a2a}
details summary{cursor:pointer;color:#364fc7}
svg text{font:12px system-ui,sans-serif;fill:#3b4252}
"""


def write_html(report: EvalReport, path: str | Path, comparison: Comparison | None = None) -> Path:
    """Render the report to one HTML file (atomically) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_html(report, comparison), encoding="utf-8")
    tmp.replace(path)
    return path


def render_html(report: EvalReport, comparison: Comparison | None = None) -> str:
    modes = list(report.modes)
    colours = {m: COLOURS.get(m, EXTRA_COLOURS[i % len(EXTRA_COLOURS)]) for i, m in enumerate(modes)}
    n_ans = sum(q.answerable for q in report.questions)
    idx = report.index
    first = report.modes[modes[0]].metrics
    cards = [
        (first.get("section_recall@1"), f"section recall@1 ({modes[0]})"),
        (first.get("section_recall@5"), f"section recall@5 ({modes[0]})"),
        (first.get("section_mrr@10"), f"section MRR@10 ({modes[0]})"),
        (first.get("answer_in_passage@5"), f"answer in top 5 ({modes[0]})"),
        (first.get("answerability_auroc"), f"answerability AUROC ({modes[0]})"),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>qa eval — {esc(str(idx.get('name', '')))} — {esc(report.split)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<h1>Retrieval evaluation</h1>",
        (
            f"<div class='sub'>{esc(report.questions_file)} · split <b>{esc(report.split)}</b> · "
            f"{len(report.questions)} questions ({n_ans} answerable, {len(report.questions) - n_ans} "
            f"unanswerable) · index <code>{esc(str(idx.get('name')))}</code> "
            f"({idx.get('articles')} articles, {idx.get('passages')} passages) · k={report.k} · "
            f"{esc(report.created_at)}</div>"
        ),
    ]
    if comparison is not None:
        verdict = ("<span class='pass'>PASS</span>" if comparison.passed else "<span class='fail'>FAIL</span>")
        parts.append(f"<div class='sub'>Against the baseline (tolerance {comparison.tolerance}): {verdict} · "
                     f"{len(comparison.lost)} lost, {len(comparison.gained)} gained</div>")
    parts.append("<div class='cards'>" + "".join(
        f"<div class='card'><b>{_num(v)}</b><span>{esc(label)}</span></div>" for v, label in cards) + "</div>")
    parts.append("<h2>Modes side by side</h2><div class='panel'>" + legend(colours) + bars(report, colours) + "</div>")
    parts.append("<h2>Where the first gold section lands</h2><div class='panel'>" + legend(colours)
                 + rank_chart(report, colours)
                 + f"<div class='muted'>Rank of the first passage from a gold section, over the {n_ans} "
                 "answerable questions.</div></div>")
    parts.append("<h2>Confidence: answerable vs unanswerable</h2><div class='panel'>"
                 + confidence_chart(report) + "</div>")
    parts.append(f"<h2>Reliability on this corpus ({esc(report.index.get('name', '?'))}): predicted vs observed"
                 "</h2><div class='panel'>" + reliability_chart(report, colours) + "</div>")
    parts.append("<h2>All metrics</h2><div class='panel'>" + _metrics_table(report, comparison) + "</div>")
    if comparison is not None:
        parts.append("<h2>Against the baseline</h2><div class='panel'>" + _comparison(comparison) + "</div>")
    parts.append("<h2>Per tag</h2><div class='panel'>" + _tag_table(report) + "</div>")
    parts.append("<h2>Per question</h2><div class='panel'>" + _question_table(report) + "</div>")
    parts.append(f"<p class='muted'>Retrieval settings: <code>{esc(str(report.retrieval))}</code>. Latency is wall "
                 "time around <code>Retriever.search</code>"
                 + ("" if report.latency_includes_embedding else " (query embedding excluded)") + ".</p>")
    parts.append("</main></body></html>\n")
    return "".join(parts)


# -- charts --------------------------------------------------------------------------------------------


def _metrics_table(report: EvalReport, comparison: Comparison | None) -> str:
    modes = list(report.modes)
    deltas = {(d.mode, d.metric): d for d in comparison.metrics} if comparison else {}
    rows = ["<table><tr><th>metric</th>" + "".join(f"<th class='n'>{esc(m)}</th>" for m in modes) + "</tr>"]
    for name in headline_names():
        cells = []
        for m in modes:
            v = report.modes[m].metrics.get(name)
            text = (f"{v:.1f} ms" if v is not None else "—") if name in LATENCY_METRICS else _num(v)
            d = deltas.get((m, name))
            if d is not None and d.delta is not None and abs(d.delta) >= 0.0005:
                cls = "down" if d.delta < 0 else "up"
                text += f" <span class='{cls}'>({d.delta:+.3f})</span>"
            cells.append(f"<td class='n'>{text}</td>")
        rows.append(f"<tr><td>{esc(name)}</td>{''.join(cells)}</tr>")
    return "".join(rows) + "</table>"


def _comparison(comparison: Comparison) -> str:
    out = [f"<p>{esc(n)}</p>" for n in comparison.notes]
    if comparison.regressions:
        out.append("<p class='fail'>Regressions: " + ", ".join(
            f"{esc(d.mode)} {esc(d.metric)} {_num(d.baseline)} → {_num(d.current)}" for d in comparison.regressions)
            + "</p>")
    if not comparison.changes:
        out.append("<p>No question changed outcome.</p>")
        return "".join(out)
    out.append("<table><tr><th>mode</th><th>question</th><th>what</th><th>rank before</th><th>rank now</th>"
               "<th></th></tr>")
    for c in comparison.changes:
        verdict = "<span class='down'>lost</span>" if c.lost else "<span class='up'>gained</span>"
        out.append(f"<tr><td>{esc(c.mode)}</td><td>{esc(c.id)}</td><td>{esc(c.what)}</td>"
                   f"<td class='n'>{_rank_text(c.rank_before)}</td><td class='n'>{_rank_text(c.rank_after)}</td>"
                   f"<td>{verdict}</td></tr>")
    return "".join(out) + "</table>"


def _tag_table(report: EvalReport) -> str:
    modes = list(report.modes)
    head = "<tr><th>tag</th><th class='n'>n</th>" + "".join(
        f"<th class='n'>{esc(m)} R@1</th><th class='n'>{esc(m)} R@5</th><th class='n'>{esc(m)} answer@5</th>"
        f"<th class='n'>{esc(m)} said answerable</th>" for m in modes) + "</tr>"
    rows = ["<table>", head]
    for tag in sorted(report.modes[modes[0]].tags):
        n = report.modes[modes[0]].tags[tag]["n"] or 0
        cells = "".join(
            f"<td class='n'>{_num(t['section_recall@1'])}</td><td class='n'>{_num(t['section_recall@5'])}</td>"
            f"<td class='n'>{_num(t['answer_in_passage@5'])}</td><td class='n'>{_num(t['answerable_rate'])}</td>"
            for t in (report.modes[m].tags[tag] for m in modes))
        rows.append(f"<tr><td>{esc(tag)}</td><td class='n'>{int(n)}</td>{cells}</tr>")
    return "".join(rows) + "</table>"


def _question_table(report: EvalReport) -> str:
    modes = list(report.modes)
    by_mode = {m: report.modes[m].by_id() for m in modes}
    rows = ["<p class='muted'>Cells give the rank of the first gold-section passage (green 1, yellow 2–5, red later "
            "or missing); for unanswerable questions ✓ means the retriever declined, ✗ that it claimed an answer."
            "</p><table><tr><th>id</th><th>question</th><th>gold</th>"
            + "".join(f"<th class='n'>{esc(m)}</th>" for m in modes)
            + f"<th>top passages ({esc(modes[0])})</th></tr>"]
    for q in report.questions:
        results = [by_mode[m][q.id] for m in modes]
        gold = ("<br>".join(esc(" › ".join(s) or "(lead)") for s in q.sections)
                + (f"<br><span class='muted'>“{esc(q.answer or '')}”</span>" if q.answer else "")
                + "".join(f"<br>{esc(a['article'])} § " + "; ".join(esc(" › ".join(s) or "(lead)") for s in a["sections"])
                          + f" <span class='muted'>“{esc(a['answer'])}”</span>" for a in q.also)
                ) if q.answerable else "<span class='muted'>unanswerable</span>"
        cells = "".join(_rank_td(q, r) for r in results)
        rows.append(f"<tr><td>{esc(q.id)}</td><td>{esc(q.question)}<br><span class='muted'>{esc(', '.join(q.tags))}"
                    f"</span></td><td>{gold}</td>{cells}<td>{_hits_details(q, results[0])}</td></tr>")
    return "".join(rows) + "</table>"


def _hits_details(q: QuestionInfo, r: QuestionResult) -> str:
    if not r.hits:
        return esc(r.top_citation or "—")
    gold = q.gold_keys()
    items = []
    for h in r.hits[:5]:
        where = " › ".join(h.section) or "(lead)"
        mark = " ★" if (h.article, tuple(h.section)) in gold else ""
        ans = " ✎" if h.has_answer else ""
        items.append(f"<li>{esc(h.article)} § {esc(where)}{mark}{ans} <span class='muted'>{h.score:.3f}</span></li>")
    return (f"<details><summary>{esc(r.top_citation or '—')} · conf {r.confidence:.2f}</summary><ol>"
            + "".join(items) + "</ol><span class='muted'>★ gold section · ✎ holds the answer text</span></details>")


def _rank_td(q: QuestionInfo, r: QuestionResult) -> str:
    if not q.answerable:
        return "<td class='n rx'>✗</td>" if r.predicted_answerable else "<td class='n r1'>✓</td>"
    rank = r.section_rank
    cls = "r1" if rank == 1 else "r5" if rank is not None and rank <= 5 else "rx"
    return f"<td class='n {cls}'>{_rank_text(rank)}</td>"


def _rank_text(rank: int | None) -> str:
    return "—" if rank is None else str(rank)


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"
