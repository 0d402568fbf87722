"""The HTML report's inline SVG charts, drawn by hand: metric bars, where the gold section ranked, and
confidence per question against each mode's threshold."""

from __future__ import annotations

import html

from qa.evaluation.report import EvalReport
from qa.evaluation.runner import split_mode

BAR_METRICS = [
    ("section_recall@1", "R@1"), ("section_recall@5", "R@5"), ("section_mrr@10", "MRR@10"),
    ("section_ndcg@10", "nDCG@10"), ("answer_in_passage@1", "answer@1"), ("answer_in_passage@5", "answer@5"),
    ("answerability_auroc", "AUROC"),
]
RANK_BUCKETS = ["1", "2", "3", "4", "5", "6–10", "miss"]


def bars(report: EvalReport, colours: dict[str, str]) -> str:
    modes = list(report.modes)
    w, h, left, bottom, top = 1100, 260, 40, 36, 12
    group = (w - left) / len(BAR_METRICS)
    bar = min(34.0, (group - 18) / len(modes))
    plot_h = h - bottom - top
    out = [f"<svg viewBox='0 0 {w} {h}' width='100%' role='img' aria-label='metrics per mode'>"]
    out += y_grid(left, w, top, plot_h)
    for gi, (name, label) in enumerate(BAR_METRICS):
        x0 = left + gi * group + (group - bar * len(modes)) / 2
        for mi, mode in enumerate(modes):
            v = report.modes[mode].metrics.get(name)
            if v is None:
                continue
            bh = plot_h * v
            x = x0 + mi * bar
            out.append(f"<rect x='{x:.1f}' y='{top + plot_h - bh:.1f}' width='{bar - 3:.1f}' height='{bh:.1f}' "
                       f"rx='2' fill='{colours[mode]}'><title>{esc(mode)} {esc(name)} = {v:.3f}</title></rect>")
            out.append(f"<text x='{x + (bar - 3) / 2:.1f}' y='{top + plot_h - bh - 3:.1f}' text-anchor='middle' "
                       f"style='font-size:10px'>{v:.2f}</text>")
        out.append(f"<text x='{left + gi * group + group / 2:.1f}' y='{h - 12}' text-anchor='middle'>{esc(label)}</text>")
    out.append("</svg>")
    return "".join(out)


def rank_chart(report: EvalReport, colours: dict[str, str]) -> str:
    modes = list(report.modes)
    answerable = {q.id for q in report.questions if q.answerable}
    counts = {m: dict.fromkeys(RANK_BUCKETS, 0) for m in modes}
    for m in modes:
        for r in report.modes[m].questions:
            if r.id in answerable:
                counts[m][rank_bucket(r.section_rank)] += 1
    peak = max([1] + [c for m in modes for c in counts[m].values()])
    w, h, left, bottom, top = 1100, 240, 40, 30, 14
    group = (w - left) / len(RANK_BUCKETS)
    bar = min(40.0, (group - 24) / len(modes))
    plot_h = h - bottom - top
    out = [f"<svg viewBox='0 0 {w} {h}' width='100%' role='img' aria-label='rank distribution'>"]
    for i in range(5):
        y = top + plot_h * i / 4
        out.append(f"<line x1='{left}' x2='{w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eceef2'/>")
        out.append(f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{round(peak * (4 - i) / 4)}</text>")
    for bi, bucket in enumerate(RANK_BUCKETS):
        x0 = left + bi * group + (group - bar * len(modes)) / 2
        for mi, mode in enumerate(modes):
            c = counts[mode][bucket]
            bh = plot_h * c / peak
            x = x0 + mi * bar
            fill = colours[mode] if bucket != "miss" else "#c92a2a"
            opacity = "1" if bucket != "miss" else str(0.45 + 0.55 * (mi + 1) / len(modes))
            out.append(f"<rect x='{x:.1f}' y='{top + plot_h - bh:.1f}' width='{bar - 3:.1f}' height='{bh:.1f}' "
                       f"rx='2' fill='{fill}' fill-opacity='{opacity}'><title>{esc(mode)}: {c} at rank "
                       f"{esc(bucket)}</title></rect>")
            if c:
                out.append(f"<text x='{x + (bar - 3) / 2:.1f}' y='{top + plot_h - bh - 3:.1f}' "
                           f"text-anchor='middle' style='font-size:10px'>{c}</text>")
        label = f"rank {bucket}" if bucket != "miss" else f"not in top {report.k}"
        out.append(f"<text x='{left + bi * group + group / 2:.1f}' y='{h - 8}' text-anchor='middle'>{label}</text>")
    out.append("</svg>")
    return "".join(out)


def confidence_chart(report: EvalReport) -> str:
    """One row per mode: answerable questions as green dots, unanswerable as red, the threshold as a line."""
    modes = list(report.modes)
    answerable = {q.id: q.answerable for q in report.questions}
    w, row_h, left, right = 1100, 56, 90, 20
    h = row_h * len(modes) + 30
    span = w - left - right
    out = [f"<svg viewBox='0 0 {w} {h}' width='100%' role='img' aria-label='confidence per question'>"]
    for i in range(11):
        x = left + span * i / 10
        out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='0' y2='{h - 24}' stroke='#eceef2'/>")
        out.append(f"<text x='{x:.1f}' y='{h - 8}' text-anchor='middle'>{i / 10:.1f}</text>")
    from qa.index.retrieval import for_mode

    for mi, mode in enumerate(modes):
        y0 = mi * row_h
        threshold = for_mode(report.retrieval, calibration_key(mode)).get("threshold")  # each mode has its own
        if isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0:
            x = left + span * float(threshold)
            out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{y0 + 2}' y2='{y0 + row_h - 2}' stroke='#1d2330' "
                       f"stroke-dasharray='4 3'><title>{esc(mode)} threshold {threshold}</title></line>")
        out.append(f"<text x='{left - 10}' y='{y0 + row_h / 2 + 4:.1f}' text-anchor='end'>{esc(mode)}</text>")
        for j, r in enumerate(report.modes[mode].questions):
            ok = answerable.get(r.id, False)
            jitter = ((j * 37) % 17) / 17  # deterministic spread so equal confidences stay visible
            y = y0 + (8 + jitter * 16 if ok else 30 + jitter * 16)
            x = left + span * max(0.0, min(1.0, r.confidence))
            colour = "#2f9e44" if ok else "#e03131"
            out.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3.6' fill='{colour}' fill-opacity='0.65'>"
                       f"<title>{esc(r.id)} ({'answerable' if ok else 'unanswerable'}): {r.confidence:.3f}"
                       "</title></circle>")
    out.append("</svg>")
    legend = ("<div class='legend'><span><i style='background:#2f9e44'></i>answerable (upper band)</span>"
              "<span><i style='background:#e03131'></i>unanswerable (lower band)</span>"
              "<span>dashed line: the answerable threshold</span></div>")
    return legend + "".join(out)


def calibration_key(mode: str) -> str:
    """The calibration a mode's confidence comes from: `read` for a mode that read ("hybrid+read")."""
    base, read = split_mode(mode)
    return "read" if read else base


def reliability_chart(report: EvalReport, colours: dict[str, str], bins: int = 10) -> str:
    """Predicted vs observed per mode: questions binned by confidence; each point is a bin's mean confidence
    against the share of its questions that were answerable (on the diagonal = calibrated for this corpus)."""
    answerable = {q.id: q.answerable for q in report.questions}
    w, h, left, top, bottom = 520, 300, 50, 12, 34
    plot_w, plot_h = w - left - 12, h - top - bottom
    out = [f"<svg viewBox='0 0 {w} {h}' width='520' role='img' aria-label='reliability of confidence'>"]
    out += y_grid(left, w - 12, top, plot_h)
    for i in range(0, 11, 2):
        x = left + plot_w * i / 10
        out.append(f"<text x='{x:.1f}' y='{h - 16}' text-anchor='middle'>{i / 10:.1f}</text>")
    out.append(f"<text x='{left + plot_w / 2:.1f}' y='{h - 2}' text-anchor='middle'>predicted (confidence)</text>")
    out.append(f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top}' stroke='#adb5bd' "
               "stroke-dasharray='4 3'/>")
    for mode, mr in report.modes.items():
        points = []
        for b in range(bins):
            lo, hi = b / bins, (b + 1) / bins
            inside = [r for r in mr.questions if lo <= r.confidence < hi or (b == bins - 1 and r.confidence == 1.0)]
            if inside:
                predicted = sum(r.confidence for r in inside) / len(inside)
                observed = sum(answerable.get(r.id, False) for r in inside) / len(inside)
                points.append((predicted, observed, len(inside)))
        xy = [(left + plot_w * p, top + plot_h * (1 - o), n) for p, o, n in points]
        if len(xy) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in xy)
            out.append(f"<polyline points='{path}' fill='none' stroke='{colours[mode]}' stroke-width='1.5'/>")
        for (x, y, n), (p, o, _) in zip(xy, points, strict=True):
            out.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{2.5 + min(n, 40) / 10:.1f}' fill='{colours[mode]}'>"
                       f"<title>{esc(mode)}: {n} questions, predicted {p:.2f}, observed {o:.2f}</title></circle>")
    out.append("</svg>")
    return legend(colours) + "".join(out) + ("<p class='muted'>Each point: the questions whose confidence falls in "
                                             "one tenth of [0, 1]; dot size grows with their number. On the dashed "
                                             "diagonal, confidence is calibrated for this corpus.</p>")


def y_grid(left: int, w: int, top: int, plot_h: float) -> list[str]:
    out = []
    for i in range(5):
        y = top + plot_h * i / 4
        out.append(f"<line x1='{left}' x2='{w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eceef2'/>")
        out.append(f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{1 - i / 4:.2f}</text>")
    return out


def legend(colours: dict[str, str]) -> str:
    return "<div class='legend'>" + "".join(
        f"<span><i style='background:{c}'></i>{esc(m)}</span>" for m, c in colours.items()) + "</div>"


# -- tables --------------------------------------------------------------------------------------------


def rank_bucket(rank: int | None) -> str:
    if rank is None:
        return "miss"
    return str(rank) if rank <= 5 else "6–10" if rank <= 10 else "miss"


def esc(text: str) -> str:
    return html.escape(text, quote=True)
