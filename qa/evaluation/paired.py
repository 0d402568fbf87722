"""`qa compare A.run B.run`: two runs on the same judgements, measure by measure, with paired tests.

For each measure: both means, B − A, win / tie / loss counts over the judged queries, and two two-sided p
values — Fisher's randomization test (paired: each query's difference flips sign at random; exact over all
2^n flips for n ≤ 16 queries, else 10,000 seeded draws; p = share of flips whose mean difference is at least
as far from 0 as the observed one, counting the observed) and the paired t-test (`scipy.stats.ttest_rel`;
p = 1 where every difference is 0). The queries that moved most on the first measure are listed.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import InvalidRequest
from qa.evaluation.measures import HEADLINE, evaluate
from qa.evaluation.runs import Ranking

EXACT_UP_TO = 16
TEST_NAME = "Fisher randomization (paired sign flips, two-sided) and paired t-test (scipy.stats.ttest_rel)"


@dataclass(frozen=True)
class MeasureComparison:
    measure: str
    mean_a: float
    mean_b: float
    wins: int  # queries where B scores higher
    ties: int
    losses: int
    p_randomization: float
    p_t: float

    @property
    def diff(self) -> float:
        return self.mean_b - self.mean_a


@dataclass(frozen=True)
class Moved:
    query: str
    a: float
    b: float


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    queries: int
    permutations: str  # "exact (2^n)" or the number of draws
    measures: list[MeasureComparison]
    moved: list[Moved]  # by the first measure, largest |B − A| first
    missing: tuple[int, int] = (0, 0)  # judged queries absent from A, from B (each scores 0 there)


def randomization_p(diffs: np.ndarray, draws: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired randomization test of mean(diffs) = 0."""
    n = len(diffs)
    if n == 0 or not np.any(diffs):
        return 1.0
    observed = abs(float(diffs.mean())) - 1e-12
    if n <= EXACT_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        return float(np.mean(np.abs(signs @ diffs / n) >= observed))
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, draws, 1000):
        size = min(1000, draws - start)
        signs = rng.choice((-1.0, 1.0), size=(size, n))
        hits += int(np.sum(np.abs(signs @ diffs / n) >= observed))
    return (hits + 1) / (draws + 1)


def t_test_p(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import ttest_rel

    if len(a) < 2 or not np.any(b - a):
        return 1.0
    p = float(ttest_rel(b, a).pvalue)
    return 0.0 if np.isnan(p) else p  # a constant nonzero difference: t is infinite


def compare_runs(
    qrels: Mapping[str, Mapping[str, int]], run_a: Mapping[str, Ranking], run_b: Mapping[str, Ranking],
    measures: Sequence[str] = HEADLINE, names: tuple[str, str] = ("A", "B"), draws: int = 10_000, seed: int = 0,
    top: int = 10,
) -> Comparison:
    """Both runs scored on the qrels' judged queries, each measure tested."""
    scores_a, scores_b = evaluate(qrels, run_a, measures), evaluate(qrels, run_b, measures)
    queries = scores_a.queries
    if not queries:
        raise InvalidRequest("no judged query (one with a relevant document) to compare on", code="bad_qrels")
    missing = (sum(1 for q in queries if not run_a.get(q)), sum(1 for q in queries if not run_b.get(q)))
    if max(missing) == len(queries):
        raise InvalidRequest(f"run {names[0] if missing[0] == len(queries) else names[1]} holds none of the "
                             f"{len(queries)} judged queries: wrong qrels?", code="bad_run")
    out = []
    for m in measures:
        a = np.array([scores_a.per_query[m][q] for q in queries])
        b = np.array([scores_b.per_query[m][q] for q in queries])
        d = b - a
        out.append(MeasureComparison(m, float(a.mean()), float(b.mean()), int(np.sum(d > 1e-12)),
                                     int(np.sum(np.abs(d) <= 1e-12)), int(np.sum(d < -1e-12)),
                                     randomization_p(d, draws, seed), t_test_p(a, b)))
    first = measures[0]
    moved = sorted((Moved(q, scores_a.per_query[first][q], scores_b.per_query[first][q]) for q in queries),
                   key=lambda mv: (-abs(mv.b - mv.a), mv.query))
    permutations = "exact (2^n)" if len(queries) <= EXACT_UP_TO else f"{draws} draws, seed {seed}"
    return Comparison(names[0], names[1], len(queries), permutations, out, [mv for mv in moved[:top] if mv.b != mv.a],
                      missing)


def find_qrels(run: Path) -> Path:
    """The qrels `qa eval` wrote beside a run: `<stem>.qrels` for `<stem>-<mode>.run`."""
    found = sorted((p for p in run.parent.glob("*.qrels") if run.stem.startswith(p.stem + "-")),
                   key=lambda p: -len(p.stem))
    if not found:
        raise InvalidRequest(f"no qrels beside {run} (qa eval writes <stem>.qrels): pass --qrels FILE", code="no_qrels")
    return found[0]


def render(comparison: Comparison, console: object) -> None:
    from rich.console import Console
    from rich.table import Table

    assert isinstance(console, Console)
    table = Table(title=f"A = {comparison.a}\nB = {comparison.b}\n{comparison.queries} judged queries")
    for col in ("measure", "A", "B", "B − A", "win/tie/loss", "p (randomization)", "p (paired t)"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    for m in comparison.measures:
        mark = " *" if m.p_randomization < 0.05 else ""
        table.add_row(m.measure, f"{m.mean_a:.4f}", f"{m.mean_b:.4f}", f"{m.diff:+.4f}{mark}",
                      f"{m.wins}/{m.ties}/{m.losses}", f"{m.p_randomization:.4f}", f"{m.p_t:.4f}")
    console.print(table)
    console.print(f"test: {TEST_NAME}; randomization over {comparison.permutations}; * p < 0.05")
    if any(comparison.missing):
        console.print(f"note: judged queries absent from A: {comparison.missing[0]}, from B: {comparison.missing[1]} "
                      "(scored 0, as trec_eval -c)")
    if comparison.moved:
        first = comparison.measures[0].measure
        console.print(f"moved most on {first}: " + ", ".join(f"{mv.query} {mv.a:.3f}→{mv.b:.3f}"
                                                              for mv in comparison.moved))


def write_html(comparison: Comparison, path: Path) -> Path:
    """A self-contained HTML page of the same tables."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(m.measure)}</td><td>{m.mean_a:.4f}</td><td>{m.mean_b:.4f}</td><td>{m.diff:+.4f}</td>"
        f"<td>{m.wins}/{m.ties}/{m.losses}</td><td>{m.p_randomization:.4f}</td><td>{m.p_t:.4f}</td></tr>"
        for m in comparison.measures)
    first = comparison.measures[0].measure
    moved = "".join(f"<tr><td>{e(mv.query)}</td><td>{mv.a:.4f}</td><td>{mv.b:.4f}</td><td>{mv.b - mv.a:+.4f}</td></tr>"
                    for mv in comparison.moved)
    page = f"""<!doctype html><html lang="en"><meta charset="utf-8"><title>qa compare</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
<h1>qa compare</h1><p>A = {e(comparison.a)}<br>B = {e(comparison.b)}<br>{comparison.queries} judged queries</p>
<table><tr><th>measure</th><th>A</th><th>B</th><th>B − A</th><th>win/tie/loss</th><th>p (randomization)</th>
<th>p (paired t)</th></tr>{rows}</table>
<p>Test: {e(TEST_NAME)}; randomization over {e(comparison.permutations)}.</p>
<h2>Queries that moved most on {e(first)}</h2>
<table><tr><th>query</th><th>A</th><th>B</th><th>B − A</th></tr>{moved}</table></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
