"""The field's retrieval measures, computed by pytrec_eval (trec_eval's own C code) under its conventions.

Conventions (trec_eval's): a query's documents are ordered by score, ties by docid descending; a document
is relevant at relevance ≥ 1, and nDCG's gain is the graded relevance (negative counts as 0); the mean is
over the queries that have at least one relevant document, and such a query absent from the run scores 0
(trec_eval `-c`). MRR@10 is trec_eval's `recip_rank` over each query's top 10 (as ir_measures' RR@10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qa.evaluation.runs import Ranking, ordered

# our name → (trec_eval measure, cut the run at this depth first, or None)
MEASURES: dict[str, tuple[str, int | None]] = {
    "nDCG@10": ("ndcg_cut_10", None),
    "R@10": ("recall_10", None),
    "R@100": ("recall_100", None),
    "MRR@10": ("recip_rank", 10),
    "MAP@100": ("map_cut_100", None),
    "P@10": ("P_10", None),
}
HEADLINE = ("nDCG@10", "R@100", "MRR@10")


@dataclass(frozen=True)
class Scores:
    """Per-query values of each measure (the judged queries only) and their means."""

    per_query: dict[str, dict[str, float]]  # measure → query id → value

    def mean(self, measure: str) -> float:
        values = self.per_query[measure]
        return sum(values.values()) / len(values) if values else 0.0

    def means(self) -> dict[str, float]:
        return {m: round(self.mean(m), 6) for m in self.per_query}

    @property
    def queries(self) -> list[str]:
        first = next(iter(self.per_query.values()), {})
        return list(first)


def evaluate(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Sequence[tuple[str, float]]],
    measures: Sequence[str] = tuple(MEASURES),
) -> Scores:
    """Each measure for each judged query (one with a relevant document), through pytrec_eval."""
    import pytrec_eval

    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}: use {', '.join(MEASURES)}")
    judged = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items() if any(r > 0 for r in docs.values())}
    per: dict[str, dict[str, float]] = {m: dict.fromkeys(judged, 0.0) for m in measures}
    by_depth: dict[int | None, list[str]] = {}
    for m in measures:
        by_depth.setdefault(MEASURES[m][1], []).append(m)
    for depth, names in by_depth.items():
        cut = {q: _as_dict(run[q], depth) for q in judged if run.get(q)}
        if not cut:
            continue
        evaluator = pytrec_eval.RelevanceEvaluator({q: judged[q] for q in cut}, {MEASURES[m][0] for m in names})
        for q, values in evaluator.evaluate(cut).items():
            for m in names:
                per[m][q] = float(values[MEASURES[m][0]])
    return Scores(per)


def _as_dict(ranking: Sequence[tuple[str, float]], depth: int | None) -> dict[str, float]:
    best_first: Ranking = ordered(ranking)
    return {d: float(s) for d, s in (best_first[:depth] if depth else best_first)}
