"""`qa eval --beir DIR` / `--queries F --qrels F`: rank documents for judged queries in each mode, score them
with the field's measures, and keep the runs (TREC files beside the JSON report)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.evaluation.ir_runner import encode_queries, rank_documents
from qa.evaluation.judgements import Judgements
from qa.evaluation.measures import MEASURES, evaluate
from qa.evaluation.runs import Run, write_qrels, write_run

if TYPE_CHECKING:
    from qa.search.retriever import Retriever


@dataclass
class JudgedReport:
    """Means of each measure per mode over the judged queries, the runs, and search time per mode."""

    name: str
    index: str
    depth: int
    queries: int
    measures: dict[str, dict[str, float]] = field(default_factory=dict)  # mode → measure → mean
    seconds: dict[str, float] = field(default_factory=dict)  # mode → search seconds (embedding excluded)
    runs: dict[str, Run] = field(default_factory=dict)
    retrieval: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "name": self.name,
                "index": self.index, "depth": self.depth, "queries": self.queries, "measures": self.measures,
                "search_seconds": self.seconds, "retrieval": self.retrieval,
                "conventions": "pytrec_eval (trec_eval): relevant at rel ≥ 1, graded nDCG gain, mean over queries "
                               "with a relevant document, MRR@10 = recip_rank over the top 10"}

    def save(self, stem: Path, qrels: dict[str, dict[str, int]] | None = None) -> list[Path]:
        """`<stem>.json`, `<stem>-<mode>.run` per mode (and `<stem>.qrels` when given); returns the paths."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        json_path = stem.with_name(stem.name + ".json")
        json_path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        paths = [json_path]
        for mode, run in self.runs.items():
            paths.append(write_run(run_path(stem, mode), run, tag=f"qa-{mode}"))
        if qrels is not None:
            paths.append(write_qrels(stem.with_name(stem.name + ".qrels"), qrels))
        return paths


def run_path(stem: Path, mode: str) -> Path:
    return stem.with_name(f"{stem.name}-{mode.replace('+', '-')}.run")


def run_judged(retriever: Retriever, judgements: Judgements, modes: Sequence[str], depth: int = 100,
               measures: Sequence[str] = tuple(MEASURES)) -> JudgedReport:
    """Every judged query searched in every mode; the report keeps each mode's run."""
    queries = judgements.judged
    vectors = encode_queries(retriever, queries) if any(m != "lexical" for m in modes) else None
    report = JudgedReport(judgements.name, str(retriever.folder), depth, len(queries),
                          retrieval={k: v for k, v in retriever.config.to_dict().items()
                                     if k not in ("calibrations", "read")})
    for mode in modes:
        result = rank_documents(retriever, queries, mode, depth, vectors)
        report.runs[mode] = result.run
        report.seconds[mode] = round(result.seconds, 3)
        report.measures[mode] = evaluate(judgements.qrels, result.run, measures).means()
    return report


def render(report: JudgedReport, console: Any) -> None:
    """A rich table: one row per mode, one column per measure."""
    from rich.table import Table

    names = list(next(iter(report.measures.values()), {}))
    table = Table(title=f"{report.name}: {report.queries} judged queries, documents ranked {report.depth} deep "
                        "(pytrec_eval, trec_eval conventions)")
    table.add_column("mode")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("search s", justify="right")
    for mode, values in report.measures.items():
        table.add_row(mode, *(f"{values[n]:.4f}" for n in names), f"{report.seconds[mode]:.1f}")
    console.print(table)
