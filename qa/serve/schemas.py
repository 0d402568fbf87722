"""Pydantic request/response models of the HTTP API (DESIGN.md "HTTP"). Used by the API layer only.

Requests are strict (no "5" for 5, no unknown fields) so that what `/openapi.json` documents is exactly
what the server accepts. Responses describe the dicts `qa.serialize` builds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MAX_QUERY_CHARS = 2000
MAX_K = 50
MAX_CONTEXT_TOKENS = 100_000
MAX_ARTICLE_FILTER = 100

Mode = Literal["hybrid", "dense", "lexical"]
Answerability = Literal["answered", "unsure", "not_answered"]
ANSWERABILITY_DOC = (
    "Three-way verdict from `confidence`: `answered` (≥ the answer threshold; same as `answerable`), "
    "`not_answered` (below the unsure edge: the articles very likely do not answer it), or `unsure` in between "
    "(show the passages, assert nothing). Thresholds are the index's calibration (README, 'Answerability')."
)
# Some character Python's str.strip() keeps: JSON Schema's `\S` differs from Python's idea of space
# (U+001C–U+001F, U+0085), so the class is spelled out; the server trims the query with str.strip().
NOT_ONLY_SPACE = r"[^\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _json_integer(value: Any) -> Any:
    # JSON Schema's "integer" includes 5.0 but not "5" or true; pydantic strict mode would refuse 5.0
    # and lax mode would take "5" and true, so let only numbers through to a lax int.
    # ValueError, not TypeError (TRY004): pydantic turns only ValueError into a validation error (a 422).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be an integer")  # noqa: TRY004
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]

_QUERY = Field(
    min_length=1,
    max_length=MAX_QUERY_CHARS,
    pattern=NOT_ONLY_SPACE,
    description="The question, 1–2000 characters; must contain a non-space character (it is trimmed).",
    examples=["How many troops did Russia say it withdrew?"],
)
_DEFAULT_MODE: Mode = "hybrid"  # typed, so the fields' default is a Mode to mypy, not a str
_READ = Field(
    None,
    description="Whether the reader reads the top passages (answer span, reordering, calibrated `confidence`); "
    "default: the server's setting `QA_READ` (on). `false` is the fast path; with no reader installed it changes "
    "nothing.",
)
_FILTER = Field(
    None,
    description="Only search articles whose metadata passes: a JSON object of field conditions, all of which "
    'must hold — `{"tags": "x"}` equality, `{"tags": {"any": ["a", "b"]}}`, `{"tags": {"all": [...]}}`, '
    '`{"date": {"gte": "2022-01-01", "lt": "2023-01-01"}}` (numbers and dates), `{"path": {"prefix": "news/"}}` '
    '(article id), `{"draft": {"exists": false}}`. Fields and types: `GET /v1/fields`. An unknown field, '
    "operator or wrongly typed value is a 422 `invalid_filter`.",
    examples=[{"path": {"prefix": "liberation"}}],
)
_MODE = Field(
    _DEFAULT_MODE,
    description="`hybrid` fuses dense (MiniLM) and lexical (BM25) ranks; `dense` or `lexical` use one alone.",
)


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class SearchRequest(_Request):
    """A question and how many passages to return."""

    query: str = _QUERY
    k: JsonInt = Field(5, ge=1, le=MAX_K, strict=False, description="Number of passages to return, 1–50.")
    mode: Mode = _MODE
    articles: list[str] | None = Field(
        None,
        max_length=MAX_ARTICLE_FILTER,
        description="Only search within these article ids (see `GET /v1/articles`); an unknown id is a 404.",
        examples=[["liberation_of_kherson"]],
    )
    read: bool | None = _READ
    filter: dict[str, Any] | None = _FILTER

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"query": "How many troops did Russia say it withdrew?", "k": 5, "mode": "hybrid"}]
        }
    )


class ContextRequest(_Request):
    """A question and the token budget of the context to pack for an LLM prompt."""

    query: str = _QUERY
    max_tokens: JsonInt = Field(
        1000,
        ge=1,
        le=MAX_CONTEXT_TOKENS,
        strict=False,
        description="Budget in `cl100k_base` tokens; never exceeded.",
    )
    mode: Mode = _MODE
    read: bool | None = _READ
    filter: dict[str, Any] | None = _FILTER

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"query": "When was Kherson liberated?", "max_tokens": 1000}]}
    )


# -- responses -------------------------------------------------------------------------------------------


class IndexInfo(BaseModel):
    id: str = Field(description="Identifier of the index version that answered.")
    model: str | None = Field(
        description="Embedding model the index was built with.", examples=["all-MiniLM-L6-v2"]
    )
    built_at: str = Field(description="UTC build time, ISO 8601.", examples=["2026-11-25T14:00:00Z"])


class Scores(BaseModel):
    dense: float | None = Field(description="Cosine similarity from the dense retriever (null if not used).")
    lexical: float | None = Field(description="BM25 score from the lexical retriever (null if not used).")
    reader: float | None = Field(
        None, description="Reader relevance (answer-span logit minus no-answer logit; > 0: it answers), when read."
    )


class ArticleRef(BaseModel):
    id: str = Field(description="Article id: file path under the seeds folder without `.md`.")
    title: str


class SectionRef(BaseModel):
    path: list[str] = Field(
        description='Heading path from the top; `[]` for the lead, `["Infobox"]` for front-matter infoboxes.',
        examples=[["Withdrawal and liberation", "Russian withdrawal efforts"]],
    )
    anchor: str = Field(description="GitHub-style anchor of the section heading.")


class Span(BaseModel):
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class SourceSpan(Span):
    file: str = Field(description="File of the article, relative to the seeds folder.")


class Passage(BaseModel):
    """One ranked passage with its citation."""

    rank: int = Field(ge=1, description="1 for the best passage.")
    score: float = Field(description="Fused (or single-retriever) score; higher is better.")
    scores: Scores
    text: str = Field(description="Clean passage text.")
    article: ArticleRef
    section: SectionRef
    citation: str = Field(
        description="Human-readable citation.",
        examples=["Liberation of Kherson § Withdrawal and liberation › Russian withdrawal efforts"],
    )
    source: SourceSpan = Field(
        description="`raw_text[start:end]` of the file is the region the passage came from."
    )
    highlight: Span = Field(description="The best-answering sentence, as offsets into `text`.")
    passage_id: str = Field(description="Stable id of the passage (unchanged text keeps its id).")
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="The article's front-matter fields (strings, numbers, booleans, dates as ISO strings, lists).",
        examples=[{"tags": ["ukraine"], "date": "2022-11-11"}],
    )


class AnswerSource(BaseModel):
    file: str = Field(description="File of the article, relative to the seeds folder.")
    start: int | None = Field(description="`raw_text[start:end]` is the answer; null where the server cannot see "
                              "the indexed file or markup splits the answer's words.")
    end: int | None


class AnswerSpan(BaseModel):
    """The reader's best answer span over the passages it read."""

    text: str = Field(examples=["approximately 30,000"])
    score: float = Field(ge=0, le=1, description="The reader's chance that this passage answers the question.")
    rank: int = Field(ge=1, description="The result holding the answer.")
    passage_id: str
    start: int = Field(ge=0, description="Offset into that result's `text`.")
    end: int = Field(ge=0)
    source: AnswerSource
    citation: str


class SearchResponse(BaseModel):
    query: str = Field(description="The query as searched (trimmed).")
    mode: Mode
    answerable: bool = Field(
        description="Whether the top passage likely answers the question (confidence ≥ threshold)."
    )
    answerability: Answerability = Field(description=ANSWERABILITY_DOC)
    confidence: float = Field(
        ge=0, le=1, description="Calibrated chance that the top passage answers the question."
    )
    took_ms: float = Field(description="Time spent searching, in milliseconds.")
    answer: AnswerSpan | None = Field(
        None, description="When the reader read: its best answer span (show it only when `answerable`); else null."
    )
    index: IndexInfo
    results: list[Passage]


class ContextResponse(BaseModel):
    query: str
    context: str = Field(
        description="Numbered passages `[1] <citation>\\n<text>` with blank lines between; for a prompt.",
    )
    tokens: int = Field(ge=0, description="`cl100k_base` tokens in `context`; never more than `max_tokens`.")
    max_tokens: int
    answerable: bool
    answerability: Answerability = Field(description=ANSWERABILITY_DOC)
    confidence: float = Field(ge=0, le=1)
    index: IndexInfo
    passages: list[Passage] = Field(description="The passages in `context`, in the order numbered.")


class OutlineEntry(BaseModel):
    path: list[str]
    anchor: str
    level: int = Field(description="Heading level (2 for `##`, 3 for `###`, …).")


class ArticleSummary(BaseModel):
    id: str = Field(examples=["liberation_of_kherson"])
    title: str = Field(examples=["Liberation of Kherson"])
    short_description: str
    description: str
    sections: list[OutlineEntry] = Field(description="The article's section outline, in order.")


class ArticleList(BaseModel):
    count: int
    articles: list[ArticleSummary]


class ArticleDetail(ArticleSummary):
    file: str = Field(description="File of the article, relative to the seeds folder.")
    content_hash: str
    passages: int = Field(ge=0, description="Number of passages indexed from this article.")


class ArticlePassage(BaseModel):
    """One indexed passage of an article, as stored (no scores)."""

    passage_id: str
    text: str
    section: SectionRef
    citation: str
    source: SourceSpan


class ArticlePassages(BaseModel):
    article: ArticleRef
    count: int = Field(ge=0)
    passages: list[ArticlePassage] = Field(description="Every passage of the article, in reading order.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    index: IndexInfo


class PackageInfo(BaseModel):
    name: str
    version: str


class IndexSummary(IndexInfo):
    format_version: int
    package_version: str = Field(description="Version of `qa` that built the index.")
    corpus_hash: str
    counts: dict[str, int] = Field(description="Articles, passages, … in the index.")
    store: str = Field(description="Vector store kind.", examples=["faiss"])
    records: Literal["memory", "store"] = Field(
        "memory", description="Where passage records are read from: all in memory, or on demand from the store "
        "(QA_RECORDS=store).")
    disabled: list[str] = Field(
        default_factory=list, description="Search stages off for this replica (with records on demand: "
        "`sentence_ranking`, `article_prior`, which need every passage in memory).")


class VersionInfo(BaseModel):
    package: PackageInfo
    index: IndexSummary | None = Field(description="The serving index, or null while none is loaded.")


class ErrorBody(BaseModel):
    status: int = Field(description="The HTTP status, repeated.")
    code: str = Field(description="Stable machine-readable code.", examples=["invalid_query"])
    message: str = Field(description="What went wrong and what to do.", examples=["query must not be empty"])


class ErrorResponse(BaseModel):
    """The one shape of every error response."""

    error: ErrorBody


# -- fields (metadata filters) ---------------------------------------------------------------------------


class FieldValue(BaseModel):
    value: str | bool | int | float = Field(description="A value the field takes (a list field: one element).")
    articles: int = Field(ge=0, description="Articles holding it.")


class FieldEntry(BaseModel):
    """One metadata field of the index, for building filters."""

    name: str = Field(examples=["tags"])
    type: Literal["string", "number", "boolean", "date"]
    is_list: bool = Field(description="Whether some article holds a list of values.")
    articles: int = Field(ge=0, description="Articles that have the field.")
    distinct: int = Field(ge=0, description="Distinct values (elements, for lists).")
    values: list[FieldValue] = Field(description="The most common values first (at most `max_values`).")
    min: str | int | float | None = Field(description="Smallest value of a number or date field; else null.")
    max: str | int | float | None = Field(description="Largest value of a number or date field; else null.")


class FieldList(BaseModel):
    count: int = Field(ge=0, description="Number of fields.")
    articles: int = Field(ge=0, description="Articles in the index (a field that every article has with one value "
                          "narrows nothing).")
    fields: list[FieldEntry] = Field(
        description="Metadata fields by name; `path` (the article id: `eq`, `any`, `prefix`) is always there too."
    )
