"""Records → the JSON shapes of DESIGN.md, shared by `qa search --json`, the HTTP API and eval reports."""

from __future__ import annotations

from typing import Any

from qa.records import Answer, Chunk, Context, Hit, SearchResult


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    c = hit.chunk
    scores: dict[str, float | None] = {"dense": hit.dense, "lexical": hit.lexical, "reader": hit.reader}
    return {
        "rank": hit.rank,
        "score": round(hit.score, 6),
        "scores": {k: (round(v, 6) if v is not None else None) for k, v in scores.items()},
        "text": c.text,
        "article": {"id": c.article_id, "title": c.article_title},
        "section": {"path": list(c.section_path), "anchor": c.anchor},
        "citation": c.citation,
        "source": {"file": c.file, "start": c.start, "end": c.end},
        "highlight": {"start": hit.highlight[0], "end": hit.highlight[1]},
        "passage_id": c.id,
        "metadata": dict(hit.metadata),
    }


def chunk_to_dict(c: Chunk) -> dict[str, Any]:
    """A stored passage without scores: what `GET /v1/passages` returns for each passage of an article."""
    return {
        "passage_id": c.id,
        "text": c.text,
        "section": {"path": list(c.section_path), "anchor": c.anchor},
        "citation": c.citation,
        "source": {"file": c.file, "start": c.start, "end": c.end},
    }


def answer_to_dict(answer: Answer | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {
        "text": answer.text,
        "score": answer.score,
        "rank": answer.rank,
        "passage_id": answer.passage_id,
        "start": answer.start,
        "end": answer.end,
        "source": {"file": answer.file, "start": answer.source_start, "end": answer.source_end},
        "citation": answer.citation,
    }


def result_to_dict(result: SearchResult, index_info: dict[str, Any]) -> dict[str, Any]:
    return {
        "query": result.query,
        "mode": result.mode,
        "answerable": result.answerable,
        "answerability": result.answerability,
        "confidence": round(result.confidence, 4),
        "took_ms": round(result.took_ms, 3),
        "answer": answer_to_dict(result.answer),
        "index": index_info,
        "results": [hit_to_dict(h) for h in result.hits],
    }


def context_to_dict(ctx: Context, index_info: dict[str, Any]) -> dict[str, Any]:
    return {
        "query": ctx.query,
        "context": ctx.text,
        "tokens": ctx.tokens,
        "max_tokens": ctx.max_tokens,
        "answerable": ctx.search.answerable,
        "answerability": ctx.search.answerability,
        "confidence": round(ctx.search.confidence, 4),
        "index": index_info,
        "passages": [hit_to_dict(h) for h in ctx.hits],
    }
