"""Our JSONL eval sets on the field's measures: section-path gold → qrels, returned passages → runs.

A "document" is a section: its id is `<article id>#<section path joined with ' › '>` (`#` alone for the
lead). Every gold section (the main article's and the `also` ones) is relevant at grade 1; an unanswerable
question has no qrels, so trec_eval's mean leaves it out. A run lists each question's sections in the
order of their best passage among the hits the eval returned (k deep, so R@100 means R@k here).
"""

from __future__ import annotations

from qa.evaluation.judgements import Qrels
from qa.evaluation.report import EvalReport, ModeReport
from qa.evaluation.runs import Run, strictly_falling


def section_id(article: str, path: tuple[str, ...] | list[str]) -> str:
    return f"{article}#{' › '.join(path)}"


def section_qrels(report: EvalReport) -> Qrels:
    """Gold sections of the report's answerable questions, relevance 1."""
    return {q.id: {section_id(a, s): 1 for a, s in sorted(q.gold_keys())} for q in report.questions if q.answerable}


def section_run(mode: ModeReport) -> Run:
    """Each question's sections, ranked by their best returned passage (score: that passage's)."""
    run: Run = {}
    for result in mode.questions:
        seen: dict[str, float] = {}
        for hit in sorted(result.hits, key=lambda h: h.rank):
            seen.setdefault(section_id(hit.article, hit.section), float(hit.score))
        run[result.id] = strictly_falling(list(seen.items()))  # rank order, as trec_eval will read it
    return run
