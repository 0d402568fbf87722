"""Print the docs/quality.md table: each mode and each kept idea against the reference points.

    .venv/bin/python eval/retrieval_table.py --index index/default --index index/frontlines \\
        [--sections index/seed-sections --sections index/frontlines-sections] [--split tune --split heldout]

Every row runs the real Retriever through the `qa eval` runner (qa/evaluation) with one retrieval config.
Questions are embedded once per index (one batch), so `latency_p50_ms` is the search after embedding;
`qa eval` (no pre-embedded vectors) gives the p50 with the query embedding included. `--sections` indexes are the
"whole sections as passages" reference (build them with QA_MAX_TOKENS=2000 QA_MODEL_MAX_TOKENS=512
QA_OVERLAP_TOKENS=0; the model still reads only its first 256 word-pieces of each).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.evaluation import encode_questions, load_questions, run_eval, split_questions
from qa.evaluation import metrics as m
from qa.index.retrieval import RetrievalConfig
from qa.settings import Settings

PLAIN = {"fusion": "rrf", "rrf_k": 60, "dense_weight": 1.0, "lexical_weight": 1.0, "article_weight": 0.0,
         "sentence_weight": 0.0, "max_overlap": 1.0}
COLUMNS = ("section_recall@1", "section_recall@3", "section_recall@5", "answer_in_passage@5",
           "answerability_auroc", "auroc_vs_off_topic", "latency_p50_ms")


def rows(tuned: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, mode, config overrides) in table order; the last is what ships."""
    fusion = {k: tuned[k] for k in ("fusion", "rrf_k", "dense_weight", "lexical_weight", "alpha") if k in tuned}
    return [
        ("dense only", "dense", PLAIN),
        ("BM25 only", "lexical", PLAIN),
        ("dense + BM25, plain RRF k=60", "hybrid", PLAIN),
        (f"+ tuned fusion ({_fusion_label(tuned)})", "hybrid", PLAIN | fusion),
        (f"+ best-sentence ranking (weight {tuned.get('sentence_weight', 0.0)})", "hybrid",
         PLAIN | fusion | {"sentence_weight": tuned.get("sentence_weight", 0.0)}),
        (f"shipped: + article prior (weight {tuned.get('article_weight', 0.0)})", "hybrid", tuned),
    ]


def _fusion_label(c: dict[str, Any]) -> str:
    if c.get("fusion") == "weighted":
        return f"weighted, alpha={c.get('alpha')}"
    return f"RRF k={c.get('rrf_k')}, dense weight {c.get('dense_weight')}"


def highlight_rate(retriever: Any, questions: list[Any], vectors: dict[str, Any]) -> tuple[float, float]:
    """Top-1 hybrid hits: share whose highlight holds the answer, overall and among top-1 passages holding it."""
    n = in_passage = in_highlight = 0
    for q in questions:
        if not q.answerable:
            continue
        n += 1
        hit = retriever.search(q.question, k=1, mode="hybrid", query_vector=vectors.get(q.id)).hits[0]
        s, e = hit.highlight
        answers = [m.normalise_text(a) for a in q.answers]
        if any(a in m.normalise_text(hit.chunk.text) for a in answers):
            in_passage += 1
            in_highlight += any(a in m.normalise_text(hit.chunk.text[s:e]) for a in answers)
    return in_highlight / max(n, 1), in_highlight / max(in_passage, 1)


def main() -> None:
    from qa.index.contract import load_retrieval_file as load_file
    from qa.search.retriever import Retriever

    ap = argparse.ArgumentParser()
    ap.add_argument("--index", action="append", required=True)
    ap.add_argument("--sections", action="append", default=[])
    ap.add_argument("--split", action="append", default=None)
    ap.add_argument("--questions", default=str(ROOT / "eval" / "kherson.jsonl"))
    ap.add_argument("--json", help="write every figure here too")
    args = ap.parse_args()
    splits = args.split or ["tune", "heldout"]
    tuned = load_file(ROOT / "eval" / "retrieval.json")
    all_q = load_questions(args.questions)
    out: dict[str, Any] = {}
    print("| corpus | split | ranking | " + " | ".join(COLUMNS) + " |")
    print("| --- | --- | --- |" + " --- |" * len(COLUMNS))
    sections = args.sections + [None] * (len(args.index) - len(args.sections))
    for index_dir, sections_dir in zip(args.index, sections):
        retriever = Retriever.load(index_dir)
        base = retriever.config
        name = Path(index_dir).name
        for split in splits:
            questions = [q.for_index(retriever.articles) for q in split_questions(all_q, split)]
            table: list[tuple[str, str, dict[str, Any]]] = []
            if sections_dir:
                table.append(("whole sections, dense only", "dense", PLAIN))
                table.append(("whole sections, dense + BM25 RRF k=60", "hybrid", PLAIN))
            table += rows(tuned)
            for label, mode, config in table:
                r = retriever
                if label.startswith("whole sections"):
                    r = _sections_retriever(sections_dir)
                r.config = base.replace(**config)
                key = (id(r), split)
                if key not in _VECTORS:
                    _VECTORS[key] = encode_questions(r, questions)
                report = run_eval(r, questions, modes=(mode,), vectors=_VECTORS[key]).modes[mode]
                metrics = dict(report.metrics)
                metrics["auroc_vs_off_topic"] = _auroc_off_topic(questions, report.questions)
                out[f"{name}/{split}/{label}"] = metrics
                print(f"| {name} | {split} | {label} | " + " | ".join(_fmt(metrics.get(c)) for c in COLUMNS) + " |")
            retriever.config = RetrievalConfig.from_manifest(tuned)
            overall, given = highlight_rate(retriever, questions, _VECTORS[(id(retriever), split)])
            out[f"{name}/{split}/answer_in_highlight@1"] = {"overall": overall, "when_in_passage": given}
            print(f"| {name} | {split} | answer in top-1 highlight: {overall:.3f} of answerable, "
                  f"{given:.3f} of top-1 passages holding the answer |" + " |" * (len(COLUMNS) - 1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


_SECTIONS: dict[str, Any] = {}
_VECTORS: dict[tuple[int, str], Any] = {}


def _sections_retriever(folder: str) -> Any:
    from qa.search.retriever import Retriever

    if folder not in _SECTIONS:
        settings = Settings(max_tokens=2000, model_max_tokens=512, overlap_tokens=0)
        _SECTIONS[folder] = Retriever.load(folder, settings)
    return _SECTIONS[folder]


def _auroc_off_topic(questions: list[Any], results: list[Any]) -> float | None:
    """AUROC of answerable questions against only the off-topic unanswerable ones (tag `off-topic`)."""
    from qa.stats import auroc

    pos = [r.confidence for q, r in zip(questions, results) if q.answerable]
    neg = [r.confidence for q, r in zip(questions, results) if "off-topic" in q.tags]
    return auroc(pos + neg, [1] * len(pos) + [0] * len(neg)) if pos and neg else None


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}" if v <= 1.0 else f"{v:.1f}"


if __name__ == "__main__":
    main()
