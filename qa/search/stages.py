"""The typed records search stages pass along, and what a stage is.

A stage is a function `(index: SearchIndex, state: SearchState) -> SearchState`: it reads the fields earlier
stages filled and returns a copy (`dataclasses.replace`) with its own filled in. `SearchIndex` is the
read-only index a stage may use (the `Retriever` is one). The list of stages is `qa.search.pipeline.STAGES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

if TYPE_CHECKING:
    from qa.embed.embedder import Embedder
    from qa.embed.sentences import SentenceVectors
    from qa.index.retrieval import RetrievalConfig
    from qa.index.stores.base import LexicalSearch, VectorStore
    from qa.reader.model import Reader
    from qa.records import Answer, Chunk, Hit
    from qa.search.ranking import ArticleVectors
    from qa.search.sources import Regions


class Scored(NamedTuple):
    """One retriever's candidates, best first: scores and the passages' row numbers."""

    scores: np.ndarray
    rows: np.ndarray

    @classmethod
    def empty(cls) -> Scored:
        return cls(np.zeros(0, np.float32), np.zeros(0, np.int64))


Ranked = list[tuple[int, float]]  # (row, score), best first


@dataclass(frozen=True)
class SearchState:
    """One query on its way through the stages. The first block is the input (validated); each later
    block is filled by one stage, in order."""

    query: str
    k: int
    mode: str
    allowed: np.ndarray | None  # rows the query may return (an article filter), None = all
    vector: np.ndarray | None = None  # the query's embedding (given, or computed by `candidates`)
    read: bool = False  # whether the `read` stage reads
    depth: int = 0  # how many hits `hits` makes (0: k); more than k when the reader reads
    # candidates: each retriever's list, or the store's own fused list (`native`)
    dense: Scored = field(default_factory=Scored.empty)
    lexical: Scored = field(default_factory=Scored.empty)
    native: Ranked | None = None
    # fuse: one ranked list over the candidates
    sentence: Scored | None = None  # the candidates' best sentence similarity (rows, scores), if known
    ranked: Ranked = field(default_factory=list)
    top_article: float = 0.0
    # hits: the top k, cited and highlighted
    hits: list[Hit] = field(default_factory=list)
    # confidence: a stage that judges answerability itself (a reader) may set these before; else calibrated
    features: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None
    answerable: bool | None = None
    answerability: str | None = None  # "answered" / "unsure" / "not_answered" (Calibration.verdict)
    # read: the reader's answer span, when it read
    answer: Answer | None = None
    timings: dict[str, float] = field(default_factory=dict)  # ms per stage (or per retriever), for metrics


class SearchIndex(Protocol):
    """What stages may read: one loaded index version (`qa.search.retriever.Retriever` is one)."""

    chunks: Sequence[Chunk]
    store: VectorStore
    lexical: LexicalSearch
    embedder: Embedder
    config: RetrievalConfig
    reader: Reader | None
    sources: Regions

    @property
    def article_vectors(self) -> ArticleVectors | None: ...

    @property
    def sentences(self) -> SentenceVectors | None: ...

    @property
    def idf(self) -> dict[str, float] | None: ...


StageFn = Callable[[SearchIndex, SearchState], SearchState]


@dataclass(frozen=True)
class Stage:
    """A named step. Its run time is added to `state.timings[timer]` (None: the stage records its own, as
    `candidates` does per retriever)."""

    name: str
    run: StageFn
    timer: str | None
