"""The eval report as rich tables: metrics per mode, per tag, per question, and the baseline comparison."""

from __future__ import annotations

from typing import Any

from qa.evaluation.gate import Comparison
from qa.evaluation.report import LATENCY_METRICS, EvalReport, QuestionInfo, QuestionResult, headline_names

FOUND_AT = 5


def render(report: EvalReport, console: Any, comparison: Comparison | None = None, verbose: bool = False) -> None:
    """Print the whole report to a rich Console."""
    idx = report.index
    n_ans = sum(q.answerable for q in report.questions)
    console.print(
        f"[bold]qa eval[/] {report.questions_file or '(questions)'} · split [bold]{report.split}[/] · "
        f"{len(report.questions)} questions ({n_ans} answerable, {len(report.questions) - n_ans} unanswerable) · "
        f"index {idx.get('name')} ({idx.get('articles')} articles, {idx.get('passages')} passages) · k={report.k}"
    )
    console.print(_metrics_table(report, comparison))
    console.print(_tag_table(report))
    console.print(_question_table(report, verbose))
    if comparison is not None:
        render_comparison(comparison, console)


def _metrics_table(report: EvalReport, comparison: Comparison | None) -> Any:
    from rich.table import Table

    modes = list(report.modes)
    deltas = {(d.mode, d.metric): d for d in comparison.metrics} if comparison else {}
    table = Table(title="Metrics per mode (section = gold article and section; article = gold article)")
    table.add_column("metric")
    for mode in modes:
        table.add_column(mode, justify="right")
    for name in headline_names():
        row = [name]
        for mode in modes:
            value = report.modes[mode].metrics.get(name)
            cell = _fmt(name, value)
            d = deltas.get((mode, name))
            if d is not None and d.delta is not None and abs(d.delta) >= 0.0005:
                colour = "red" if d.regressed else ("green" if d.delta > 0 else "yellow")
                cell += f" [{colour}]({d.delta:+.3f})[/]"
            elif d is not None and d.regressed:
                cell += f" [red](was {d.baseline:.3f})[/]"
            row.append(cell)
        table.add_row(*row)
    return table


def _tag_table(report: EvalReport) -> Any:
    from rich.table import Table

    modes = list(report.modes)
    tags = Table(title="Per tag (R@k on section level; 'said ans.' = share of the tag's questions flagged answerable)")
    tags.add_column("tag")
    tags.add_column("n", justify="right")
    for mode in modes:
        tags.add_column(f"{mode} R@1", justify="right")
        tags.add_column(f"{mode} R@5", justify="right")
        tags.add_column(f"{mode} said ans.", justify="right")
    for tag in sorted(report.modes[modes[0]].tags):
        first_tags = report.modes[modes[0]].tags[tag]
        row = [tag, f"{int(first_tags['n'] or 0)}"]
        for mode in modes:
            t = report.modes[mode].tags[tag]
            row += [_fmt("", t["section_recall@1"]), _fmt("", t["section_recall@5"]), _fmt("", t["answerable_rate"])]
        tags.add_row(*row)
    return tags


def _question_table(report: EvalReport, verbose: bool) -> Any:
    from rich.table import Table

    modes = list(report.modes)
    rows = [q for q in report.questions if verbose or _trouble(q, [report.modes[m].by_id()[q.id] for m in modes])]
    title = "Every question" if verbose else f"Misses: gold section not in the top {FOUND_AT}, or answerability wrong"
    per_q = Table(title=f"{title} ({len(rows)} of {len(report.questions)}; rank = first gold section)")
    per_q.add_column("id")
    per_q.add_column("question", max_width=48)
    for mode in modes:
        per_q.add_column(mode, justify="right")
    per_q.add_column(f"top citation ({modes[0]})", max_width=40)
    per_q.add_column("conf.", justify="right")
    per_q.add_column("outcome")
    by_mode = {m: report.modes[m].by_id() for m in modes}
    for q in rows:
        results = [by_mode[m][q.id] for m in modes]
        first = results[0]
        per_q.add_row(
            q.id, q.question, *[_rank_cell(q, r) for r in results], first.top_citation or "—",
            f"{first.confidence:.2f}", _outcome(q, first),
        )
    return per_q


def render_comparison(comparison: Comparison, console: Any) -> None:
    for note in comparison.notes:
        console.print(f"[yellow]note:[/] {note}")
    for c in comparison.lost:
        console.print(f"[red]lost[/]   {c.mode:8} {c.id} {c.what}: rank {_r(c.rank_before)} → {_r(c.rank_after)}")
    for c in comparison.gained:
        console.print(f"[green]gained[/] {c.mode:8} {c.id} {c.what}: rank {_r(c.rank_before)} → {_r(c.rank_after)}")
    if comparison.passed:
        console.print(f"[green bold]PASS[/] no metric dropped more than {comparison.tolerance} against the baseline")
    else:
        for d in comparison.regressions:
            now = "undefined" if d.current is None else f"{d.current:.3f}"
            console.print(f"[red bold]REGRESSION[/] {d.mode} {d.metric}: {d.baseline:.3f} → {now}")
        console.print(f"[red bold]FAIL[/] {len(comparison.regressions)} metric(s) dropped more than "
                      f"{comparison.tolerance} against the baseline")


def _trouble(q: QuestionInfo, results: list[QuestionResult]) -> bool:
    if q.answerable:
        return any(not r.found(FOUND_AT) for r in results)
    return any(r.predicted_answerable for r in results)


def _outcome(q: QuestionInfo, r: QuestionResult) -> str:
    if not q.answerable:
        return "[red]answered (should not)[/]" if r.predicted_answerable else "[green]declined[/]"
    found = "hit@1" if r.found(1) else f"hit@{FOUND_AT}" if r.found(FOUND_AT) else "miss"
    colour = "green" if r.found(1) else "yellow" if r.found(FOUND_AT) else "red"
    flag = "" if r.predicted_answerable else " · said unanswerable"
    return f"[{colour}]{found}[/]{flag}"


def _rank_cell(q: QuestionInfo, r: QuestionResult) -> str:
    if not q.answerable:
        return "[red]ans[/]" if r.predicted_answerable else "[green]—[/]"
    if r.section_rank is None:
        return "[red]✗[/]"
    colour = "green" if r.section_rank == 1 else "yellow" if r.section_rank <= FOUND_AT else "red"
    return f"[{colour}]{r.section_rank}[/]"


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return "—"
    if name in LATENCY_METRICS:
        return f"{value:.1f} ms"
    return f"{value:.3f}"


def _r(rank: int | None) -> str:
    return "—" if rank is None else str(rank)
