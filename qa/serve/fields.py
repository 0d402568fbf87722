"""`GET /v1/fields`: the index's metadata fields, their types and most common values (for filters and the page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from qa.serve.deps import V1_ERRORS, CurrentRetriever
from qa.serve.schemas import FieldList

fields = APIRouter(prefix="/v1", tags=["answers"], responses=V1_ERRORS)


def field_list(retriever: Any, max_values: int = 50) -> dict[str, Any]:
    """The `FieldList` of a Retriever's catalogue (the route's body; a collection's route can call it too)."""
    entries = retriever.catalogue.to_list(max_values)
    return {"count": len(entries), "articles": len(retriever.articles), "fields": entries}


@fields.get("/fields", response_model=FieldList, summary="The metadata fields filters can use")
async def list_fields(
    retriever: CurrentRetriever,
    max_values: Annotated[int, Query(ge=0, le=1000, description="Values listed per field, most common first.")] = 50,
) -> dict[str, Any]:
    """Every front-matter field the index's articles carry: type (`string`, `number`, `boolean`, `date`), whether
    it holds lists, how many articles have it, its most common values with article counts, and min/max for
    numbers and dates. Use them in the `filter` of `POST /v1/search` and `POST /v1/context`."""
    return field_list(retriever, max_values)
