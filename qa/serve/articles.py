"""The article routes: `GET /v1/articles`, `GET /v1/articles/{id}`, `GET /v1/passages?article=ID`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from qa.records import ArticleInfo
from qa.serialize import chunk_to_dict
from qa.serve.deps import V1_ERRORS, CurrentRetriever
from qa.serve.schemas import ArticleDetail, ArticleList, ArticlePassages

articles = APIRouter(prefix="/v1", tags=["answers"], responses=V1_ERRORS)


def _summary(a: ArticleInfo) -> dict[str, Any]:
    d = a.to_dict()
    return {k: d[k] for k in ("id", "title", "short_description", "description", "sections")}


@articles.get("/articles", response_model=ArticleList, summary="List the indexed articles")
async def list_articles(retriever: CurrentRetriever) -> dict[str, Any]:
    """Every article in the index: id, title, descriptions and section outline, sorted by id."""
    articles = [_summary(retriever.articles[i]) for i in sorted(retriever.articles)]
    return {"count": len(articles), "articles": articles}


@articles.get("/articles/{article_id:path}", response_model=ArticleDetail, summary="One article's outline")
async def get_article(
    article_id: Annotated[
        str,
        Path(
            description="Article id; may contain `/` for nested folders.", examples=["liberation_of_kherson"]
        ),
    ],
    retriever: CurrentRetriever,
) -> dict[str, Any]:
    """One article by id (looked up in the index only; unknown ids are 404 `unknown_article`)."""
    info = retriever.article(article_id)
    passages = len(retriever.passages_of(info.id))
    return _summary(info) | {"file": info.file, "content_hash": info.content_hash, "passages": passages}


@articles.get("/passages", response_model=ArticlePassages, summary="Every passage of one article, in order")
async def article_passages(
    article: Annotated[str, Query(description="Article id.", examples=["liberation_of_kherson"])],
    retriever: CurrentRetriever,
) -> dict[str, Any]:
    """The article's indexed passages in reading order (by source offset): infobox, lead, then sections.
    Split sections repeat a short sentence at the start of the next part. Unknown ids are 404."""
    info = retriever.article(article)
    chunks = sorted(retriever.passages_of(info.id), key=lambda c: (c.start, c.ordinal))
    return {
        "article": {"id": info.id, "title": info.title},
        "count": len(chunks),
        "passages": [chunk_to_dict(c) for c in chunks],
    }
