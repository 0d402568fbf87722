"""Run an eval set through one loaded Retriever, in-process, and score it.

    from qa import Retriever
    from qa.evaluation import load_questions, run_eval, split_questions

    retriever = Retriever.load("index/default")                      # load once
    questions = split_questions(load_questions("eval/kherson.jsonl"), "tune")
    vectors = encode_questions(retriever, questions)                  # optional: embed once per sweep
    for rrf_k in (10, 30, 60):
        retriever.config = retriever.config.replace(rrf_k=rrf_k)       # the runner reads config at run time
        report = run_eval(retriever, questions, modes=("hybrid",), vectors=vectors)
        print(rrf_k, report.modes["hybrid"].metrics["section_mrr@10"])
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from qa.evaluation import answerability as am
from qa.evaluation import metrics as m
from qa.evaluation.calibrate import kind
from qa.evaluation.questions import Question
from qa.evaluation.report import (
    KS,
    EvalReport,
    HitRecord,
    ModeReport,
    QuestionInfo,
    QuestionResult,
    headline_names,
)
from qa.evaluation.text import normalize_answer, token_f1
from qa.records import SearchResult
from qa.stats import auroc

if TYPE_CHECKING:
    from qa.search.retriever import Retriever

READ_SUFFIX = "+read"
TAG_METRICS = (
    "n", "n_answerable", "section_recall@1", "section_recall@5", "section_mrr@10", "answer_in_passage@5",
    "mean_confidence", "answerable_rate",
)


def encode_questions(retriever: Retriever, questions: Sequence[Question]) -> dict[str, Any]:
    """Query vectors by question id, embedded once — pass to `run_eval(vectors=...)` across a sweep."""
    vecs = retriever.embedder.encode([q.question for q in questions])
    return {q.id: vecs[i] for i, q in enumerate(questions)}


def score_result(question: Question, result: SearchResult, latency_ms: float) -> QuestionResult:
    """Reduce one SearchResult to ranks against the question's gold (restrict it first: `Question.for_index`).

    Any gold section counts (main article or `also`), any gold article, and any gold answer text.
    """
    sections = [(h.chunk.article_id, h.chunk.section_path) for h in result.hits]
    articles = [h.chunk.article_id for h in result.hits]
    texts = [h.chunk.text for h in result.hits]
    gold = question.gold_sections
    answers = question.answers
    hits = tuple(
        HitRecord(
            rank=h.rank,
            article=h.chunk.article_id,
            section=h.chunk.section_path,
            score=round(h.score, 6),
            dense=None if h.dense is None else round(h.dense, 6),
            lexical=None if h.lexical is None else round(h.lexical, 6),
            has_answer=None if not answers else _answer_rank(answers, [h.chunk.text]) is not None,
            reader=h.reader,
        )
        for h in result.hits
    )
    return QuestionResult(
        id=question.id,
        section_rank=m.first_rank(gold, sections) if gold else None,
        article_rank=m.first_rank(question.gold_articles, articles) if question.answerable else None,
        answer_rank=_answer_rank(answers, texts) if answers else None,
        confidence=round(result.confidence, 6),
        predicted_answerable=result.answerable,
        latency_ms=round(latency_ms, 3),
        top_citation=result.hits[0].chunk.citation if result.hits else None,
        hits=hits,
        answer=shown_answer(result),
        answerability=result.answerability,
    )


def shown_answer(result: SearchResult) -> str | None:
    """What a user is shown as the answer: the reader's span, or without reading the top highlight."""
    if result.answer is not None:
        return result.answer.text
    if not result.hits:
        return None
    top = result.hits[0]
    return top.chunk.text[top.highlight[0]:top.highlight[1]]


def split_mode(mode: str) -> tuple[str, bool]:
    """`hybrid+read` → ("hybrid", True): a mode with the reader reading; plain modes never read."""
    return (mode[: -len(READ_SUFFIX)], True) if mode.endswith(READ_SUFFIX) else (mode, False)


def _answer_rank(answers: Sequence[str], texts: Sequence[str]) -> int | None:
    """Rank of the first passage holding any of the gold answer texts."""
    ranks = [r for r in (m.answer_rank(a, texts) for a in answers) if r is not None]
    return min(ranks) if ranks else None


def restrict_questions(retriever: Retriever, questions: Sequence[Question]) -> list[Question]:
    """Each question's gold restricted to the retriever's articles (see `Question.for_index`)."""
    ids = set(retriever.articles)
    return [q.for_index(ids) for q in questions]


def arithmetic(retriever: Retriever) -> str:
    """What computed the query vectors and the reader's logits on this machine, e.g. "embedder torch bf16,
    reader onnx-int8, cpu amx_bf16 avx512_bf16 avx512_vnni avx512f avx2": the gate says when a baseline's
    differs (`qa.evaluation.gate.compare`)."""
    from qa.embed.model import cpu_arithmetic

    embedder = retriever.embedder
    parts = [f"embedder {embedder.backend}" + (f" {embedder.precision}" if embedder.backend == "torch" else "")]
    if retriever.reader is not None:
        parts.append(f"reader {retriever.reader.arithmetic}")
    return ", ".join(parts + [f"cpu {cpu_arithmetic()}"])


def run_eval(
    retriever: Retriever,
    questions: Sequence[Question],
    modes: Iterable[str] = ("hybrid", "dense", "lexical"),
    k: int = 10,
    *,
    vectors: dict[str, Any] | None = None,
    split: str = "all",
    questions_file: str = "",
) -> EvalReport:
    """Ask every question in every mode (top k) and score the answers. Reuses `retriever` as it is.

    Gold is restricted to the index's articles first (`Question.for_index`): `also` gold counts only
    where its article is indexed, and a question with no gold left is scored as unanswerable.
    Latency is wall time around `Retriever.search` for each question, after one untimed warm-up query;
    with `vectors` (see `encode_questions`) it leaves out query embedding, which the report records.
    """
    if not questions:
        raise ValueError("no questions to evaluate")
    questions = restrict_questions(retriever, questions)  # gold = what this index holds
    modes = tuple(modes)
    if k < max(KS):
        raise ValueError(f"k must be at least {max(KS)} (the deepest metric cut-off)")
    retriever.search(questions[0].question, k=k, mode=split_mode(modes[0])[0])  # warm-up: lazy loads, caches
    reports: dict[str, ModeReport] = {}
    for mode in modes:
        results: list[QuestionResult] = []
        for q in questions:
            qv = vectors.get(q.id) if vectors is not None and not mode.startswith("lexical") else None
            t0 = time.perf_counter()
            base, read = split_mode(mode)
            res = retriever.search(q.question, k=k, mode=base, query_vector=qv, read=read)
            latency = (time.perf_counter() - t0) * 1000
            results.append(score_result(q, res, latency))
        reports[mode] = ModeReport(
            mode=mode, metrics=summarise(questions, results), tags=by_tag(questions, results), questions=results
        )
    manifest = retriever.manifest
    return EvalReport(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        questions_file=questions_file,
        split=split,
        k=k,
        index={
            "id": manifest.id,
            "name": index_name(retriever.folder),
            "folder": str(retriever.folder),
            "corpus_hash": manifest.corpus_hash,
            "articles": len(retriever.articles),
            "passages": len(retriever.chunks),
            "model": manifest.model.get("name"),
            "built_at": manifest.built_at,
        },
        retrieval=retriever.config.to_dict(),
        latency_includes_embedding=vectors is None,
        questions=[_info(q) for q in questions],
        arithmetic=arithmetic(retriever),
        modes=reports,
    )


def index_name(folder: Any) -> str:
    """`index/.default.<stamp>` (a published version folder) → `default`; any other folder → its name."""
    name = str(getattr(folder, "name", folder))
    return name[1:].rsplit(".", 1)[0] if name.startswith(".") and name.count(".") >= 2 else name


def summarise(questions: Sequence[Question], results: Sequence[QuestionResult]) -> dict[str, float | None]:
    """Headline metrics of one mode (see `report.headline_names`); None where undefined (no such questions)."""
    pairs = list(zip(questions, results))
    ans = [(q, r) for q, r in pairs if q.answerable]
    out: dict[str, float | None] = {name: None for name in headline_names()}
    if ans:
        deepest = max(KS)
        for level, rank_of in (("section", _section_rank), ("article", _article_rank)):
            for k in KS:
                out[f"{level}_recall@{k}"] = m.mean([_hit(rank_of(r), k) for _, r in ans])
            out[f"{level}_mrr@{deepest}"] = m.mean([_rr(rank_of(r), deepest) for _, r in ans])
        out[f"section_ndcg@{deepest}"] = m.mean(
            [m.ndcg_at_k(q.gold_sections, [(h.article, h.section) for h in r.hits], deepest) for q, r in ans]
        )
        out[f"article_ndcg@{deepest}"] = m.mean(
            [m.ndcg_at_k(q.gold_articles, [h.article for h in r.hits], deepest) for q, r in ans]
        )
        for k in KS:
            out[f"answer_in_passage@{k}"] = m.mean([_hit(r.answer_rank, k) for _, r in ans])
        with_gold = [(q, r) for q, r in ans if q.answers]
        if with_gold:
            out["answer_f1"] = m.mean([max(token_f1(r.answer or "", a) for a in q.answers) for q, r in with_gold])
            out["answer_exact_match"] = m.mean(
                [max(float(normalize_answer(r.answer or "") == normalize_answer(a)) for a in q.answers)
                 for q, r in with_gold])
            out["answer_holds_gold"] = m.mean(
                [float(any(normalize_answer(a) in normalize_answer(r.answer or "") for a in q.answers))
                 for q, r in with_gold])
    pos = [r.confidence for q, r in pairs if q.answerable]
    neg = [r.confidence for q, r in pairs if not q.answerable]
    if pos and neg:
        out["answerability_auroc"] = auroc(pos + neg, [1] * len(pos) + [0] * len(neg))
    predicted = [r.predicted_answerable for _, r in pairs]
    actual = [q.answerable for q, _ in pairs]
    if any(predicted):
        out["answerable_precision"] = am.precision(predicted, actual)
    if any(actual):
        out["answerable_recall"] = am.recall(predicted, actual)
    out |= verdict_metrics(pairs)
    latencies = [r.latency_ms for r in results]
    out["latency_p50_ms"] = round(m.percentile(latencies, 50), 3)
    out["latency_p95_ms"] = round(m.percentile(latencies, 95), 3)
    return out


def verdict_metrics(pairs: Sequence[tuple[Question, QuestionResult]]) -> dict[str, float | None]:
    """The three-way verdict against the kind of question (qa/evaluation/calibrate.py `kind`)."""
    by_kind: dict[str, list[QuestionResult]] = {}
    for q, r in pairs:
        by_kind.setdefault(kind(q), []).append(r)
    pos = [r.confidence for r in by_kind.get("answerable", [])]
    out: dict[str, float | None] = {}
    for negative, name in (("off-topic", "off_topic"), ("nearby", "nearby")):
        neg = [r.confidence for r in by_kind.get(negative, [])]
        out[f"auroc_{name}"] = auroc(pos + neg, [1] * len(pos) + [0] * len(neg)) if pos and neg else None
        rs = by_kind.get(negative, [])
        out[f"rejected_{name}"] = m.mean([float(not r.predicted_answerable) for r in rs]) if rs else None
    rs = by_kind.get("answerable", [])
    known = [r for r in rs if r.answerability]
    out["answerable_not_denied"] = m.mean([float(r.answerability != "not_answered") for r in known]) if known else None
    return out


def by_tag(questions: Sequence[Question], results: Sequence[QuestionResult]) -> dict[str, dict[str, float | None]]:
    """A few metrics per tag (TAG_METRICS), tags in alphabetical order."""
    tags = sorted({t for q in questions for t in q.tags})
    out: dict[str, dict[str, float | None]] = {}
    for tag in tags:
        pairs = [(q, r) for q, r in zip(questions, results) if tag in q.tags]
        ans = [r for q, r in pairs if q.answerable]
        row: dict[str, float | None] = {name: None for name in TAG_METRICS}
        row["n"] = float(len(pairs))
        row["n_answerable"] = float(len(ans))
        if ans:
            row["section_recall@1"] = m.mean([_hit(r.section_rank, 1) for r in ans])
            row["section_recall@5"] = m.mean([_hit(r.section_rank, 5) for r in ans])
            row["section_mrr@10"] = m.mean([_rr(r.section_rank, 10) for r in ans])
            row["answer_in_passage@5"] = m.mean([_hit(r.answer_rank, 5) for r in ans])
        row["mean_confidence"] = m.mean([r.confidence for _, r in pairs])
        row["answerable_rate"] = m.mean([1.0 if r.predicted_answerable else 0.0 for _, r in pairs])
        out[tag] = row
    return out


def _section_rank(r: QuestionResult) -> int | None:
    return r.section_rank


def _article_rank(r: QuestionResult) -> int | None:
    return r.article_rank


def _hit(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def _rr(rank: int | None, k: int) -> float:
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def _info(q: Question) -> QuestionInfo:
    return QuestionInfo(
        id=q.id, question=q.question, answerable=q.answerable, article=q.article, sections=q.sections,
        answer=q.answer, tags=q.tags, split=q.split,
        also=tuple({"article": a.article, "sections": a.sections, "answer": a.answer} for a in q.also_gold),
    )
