"""Retriever: loads one index folder and answers queries (dense, lexical or hybrid) with cited hits.

This is the Python API for backends that embed `qa`::

    retriever = Retriever.load("index/default")
    result = retriever.search("How many troops withdrew?", k=5, mode="hybrid")
    ctx = retriever.context("How many troops withdrew?", max_tokens=1000)
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from qa.embed.embedder import Embedder
from qa.embed.sentences import SentenceVectors
from qa.errors import InvalidRequest, NotFound
from qa.index import folder as ix
from qa.index.articles_on_disk import ArticlesOnDisk
from qa.index.contract import expected
from qa.index.lexical import LexicalIndex
from qa.index.passages import StorePassages
from qa.index.retrieval import MODES, RetrievalConfig
from qa.index.stores import LexicalSearch, VectorStore, open_store
from qa.ingest.tokens import count_tokens
from qa.reader.model import Reader
from qa.records import ArticleInfo, Chunk, Context, Hit, SearchResult
from qa.search.candidates import ms
from qa.search.fields import Catalogue
from qa.search.filters import Filter, parse
from qa.search.pipeline import STAGES
from qa.search.ranking import ArticleVectors
from qa.search.reading import load_reader
from qa.search.sources import Regions, SourceRegions
from qa.search.stages import SearchState, Stage
from qa.settings import Settings, get_settings

__all__ = ["MODES", "Retriever"]
MAX_QUERY_CHARS = 2000
FILTER_CACHE = 256  # filters whose passing articles are remembered


class Retriever:
    """Read-only view of one index version; safe to share between threads."""

    def __init__(
        self,
        folder: Path,
        manifest: ix.Manifest,
        chunks: Sequence[Chunk],
        articles: Sequence[ArticleInfo] | Mapping[str, ArticleInfo],
        store: VectorStore,
        lexical: LexicalSearch,
        embedder: Embedder,
        stages: tuple[Stage, ...] = STAGES,
        reader: Reader | None = None,
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self.chunks = chunks
        # a list is held as a dict; a mapping (ArticlesOnDisk, records on demand) is kept as it is
        self.articles: Mapping[str, ArticleInfo] = (articles if isinstance(articles, Mapping)
                                                    else {a.id: a for a in articles})
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.stages = stages
        self.reader = reader
        self.read_default = reader is not None  # `read` when a query does not say (QA_READ)
        self.config = RetrievalConfig.from_manifest(manifest.retrieval)  # `qa tune` swaps in other settings
        self.idf: dict[str, float] | None = lexical.idf()  # weights for highlights
        self.article_vectors: ArticleVectors | None = None
        self.sentences: SentenceVectors | None = None
        self._rows_by_article: dict[str, np.ndarray] = {}
        self.catalogue = Catalogue.of(self.articles.values())  # the metadata fields filters are checked against
        self._filter_cache: OrderedDict[Filter, list[str]] = OrderedDict()
        self._filter_lock = threading.Lock()
        if isinstance(chunks, StorePassages):
            # records on demand (QA_RECORDS=store): nothing that needs every passage in memory; the
            # best-sentence ranking and the article prior are off (docs/operations.md)
            self.on_demand = True
            self.sources: Regions = chunks
            return
        self.on_demand = False
        self.sources = SourceRegions(folder, chunks)  # answers' raw regions, from the index folder only
        rows: dict[str, list[int]] = {}
        for i, c in enumerate(chunks):
            rows.setdefault(c.article_id, []).append(i)
        self._rows_by_article = {k: np.asarray(v, dtype=np.int64) for k, v in rows.items()}
        try:
            self.article_vectors = ArticleVectors(chunks, np.asarray(ix.read_vectors(folder)))
        except (OSError, ValueError):
            self.article_vectors = None
        self.sentences = ix.read_sentences(folder, len(chunks))

    @classmethod
    def load(
        cls, index_dir: str | Path | None = None, settings: Settings | None = None, embedder: Embedder | None = None,
        reader: Reader | None | Literal["load"] = "load",
    ) -> Retriever:
        """Open the index (following the `index/<name>` link once) and check it suits the settings. `reader`:
        an already loaded reader to share (or None: no reader); default: load the one the settings name."""
        settings = settings or get_settings()
        folder = ix.resolve(Path(index_dir) if index_dir is not None else settings.index)
        manifest = ix.read_manifest(folder)
        ix.check_compatible(manifest, expected(settings))
        on_demand = settings.records == "store"
        chunks: Sequence[Chunk] | None = None if on_demand else ix.read_chunks(folder)
        # records on demand: the article catalogue stays on disk too, parsed per article when asked for
        articles = ArticlesOnDisk(folder / ix.ARTICLES) if on_demand else ix.read_articles(folder)
        store = open_store(folder, manifest, settings, chunks)
        if chunks is None:
            chunks = cast(StorePassages, getattr(store, "chunks"))  # noqa: B009  (a Milvus store's, on demand)
        lexical = store.lexical_index() or LexicalIndex.load(folder, len(chunks))
        embedder = embedder or Embedder.from_settings(settings)
        reader = load_reader(settings) if isinstance(reader, str) else reader
        retriever = cls(folder, manifest, chunks, articles, store, lexical, embedder, STAGES, reader)
        retriever.read_default = reader is not None and settings.read
        retriever.config = (retriever.config.with_edges(settings.answer_threshold, settings.unsure_threshold)
                            .with_read(settings.reader_passages, settings.reader_window))
        return retriever

    # -- queries -------------------------------------------------------------------------------------

    def validate(self, query: str, k: int, mode: str, articles: list[str] | None) -> str:
        query = query.strip() if isinstance(query, str) else ""
        if not query:
            raise InvalidRequest("query must not be empty", code="invalid_query")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidRequest(f"query is longer than {MAX_QUERY_CHARS} characters", code="invalid_query")
        if not 1 <= k <= 50:
            raise InvalidRequest("k must be between 1 and 50", code="invalid_k")
        if mode not in MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(MODES)}", code="invalid_mode")
        if articles is not None:
            unknown = [a for a in articles if a not in self.articles]
            if unknown:
                raise NotFound(f"unknown article id(s): {', '.join(unknown[:10])}", code="unknown_article")
        return query

    def parse_filter(self, filter: Mapping[str, Any] | Filter | None) -> Filter | None:
        """A metadata filter (qa/search/filters.py) checked against this index's fields; 422 if it does not fit."""
        return parse(filter, self.catalogue)

    def allowed_articles(self, articles: list[str] | None, filter: Filter | None) -> list[str] | None:
        """The article ids a query may return: the `articles` list and the filter's articles, both; None = all."""
        if filter is None:
            return articles
        passing = self._passing(filter)
        if articles is None:
            return passing
        wanted = set(articles)
        return [a for a in passing if a in wanted]

    def _passing(self, filter: Filter) -> list[str]:
        """The articles a filter passes, remembered for the last few filters (a page's chips repeat them; an index
        version never changes, so nothing goes stale)."""
        with self._filter_lock:
            passing = self._filter_cache.get(filter)
            if passing is not None:
                self._filter_cache.move_to_end(filter)
                return passing
        passing = filter.articles(self.articles)
        with self._filter_lock:
            self._filter_cache[filter] = passing
            while len(self._filter_cache) > FILTER_CACHE:
                self._filter_cache.popitem(last=False)
        return passing

    def _allowed(self, articles: list[str] | None) -> np.ndarray | None:
        if articles is None:
            return None
        parts = [self._article_rows(a) for a in articles]
        parts = [p for p in parts if len(p)]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def _article_rows(self, article_id: str) -> np.ndarray:
        if isinstance(self.chunks, StorePassages):
            return self.chunks.rows_of(article_id)
        return self._rows_by_article.get(article_id, np.zeros(0, np.int64))

    def passages_of(self, article_id: str) -> list[Chunk]:
        """One article's passages, in index order (read on demand with QA_RECORDS=store)."""
        return [self.chunks[int(r)] for r in self._article_rows(article_id)]

    def search(
        self,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        articles: list[str] | None = None,
        query_vector: np.ndarray | None = None,
        read: bool | None = None,
        filter: Mapping[str, Any] | Filter | None = None,
    ) -> SearchResult:
        """Top-k passages for a question, with citations, highlight and calibrated confidence. With `read`
        (default: on where a reader is installed) the reader reorders the top passages and gives the answer;
        with no reader installed `read` changes nothing (`answer` stays None). `articles` and `filter`
        (metadata, qa/search/filters.py) limit the passages searched, before any top-k: k hits when k match."""
        t0 = time.perf_counter()
        query = self.validate(query, k, mode, articles)
        allowed = self._allowed(self.allowed_articles(articles, self.parse_filter(filter)))
        reading = self.reader is not None and (self.read_default if read is None else bool(read))
        depth = max(k, self.config.read.passages) if reading else k
        state = SearchState(query, k, mode, allowed, query_vector, read=reading, depth=depth)
        for stage in self.stages:
            t = time.perf_counter()
            state = stage.run(self, state)
            if stage.timer:
                state.timings[stage.timer] = round(state.timings.get(stage.timer, 0.0) + ms(t), 3)
        return SearchResult(
            query=query,
            mode=mode,
            hits=[dataclasses.replace(h, metadata=self.metadata(h.chunk.article_id)) for h in state.hits],
            answerable=bool(state.answerable),
            confidence=float(state.confidence or 0.0),
            took_ms=ms(t0),
            answerability=state.answerability or ("answered" if state.answerable else "not_answered"),
            timings=state.timings,
            features=state.features,
            answer=state.answer,
            read=reading,
        )

    def context(self, query: str, max_tokens: int = 1000, mode: str = "hybrid", k: int = 20,
                read: bool | None = None, filter: Mapping[str, Any] | Filter | None = None) -> Context:
        """The best passages, numbered with citations, packed whole into at most `max_tokens` tokens (in the
        reader's order when it reads); `filter` limits them as in `search`."""
        if not 1 <= max_tokens <= 100_000:
            raise InvalidRequest("max_tokens must be between 1 and 100000", code="invalid_max_tokens")
        result = self.search(query, k=min(k, 50), mode=mode, read=read, filter=filter)
        parts: list[str] = []
        used: list[Hit] = []
        for hit in result.hits:
            block = f"[{len(used) + 1}] {hit.chunk.citation}\n{hit.chunk.text}"
            candidate = "\n\n".join(parts + [block])
            if count_tokens(candidate) <= max_tokens:
                parts.append(block)
                used.append(hit)
        text = "\n\n".join(parts)
        return Context(query=result.query, text=text, tokens=count_tokens(text), max_tokens=max_tokens,
                       hits=used, search=result)

    def article(self, article_id: str) -> ArticleInfo:
        try:
            return self.articles[article_id]
        except KeyError:
            raise NotFound(f"no article with id {article_id!r}", code="unknown_article") from None

    def metadata(self, article_id: str) -> dict[str, Any]:
        """An article's front-matter fields (typed values; dates as ISO strings), {} where it has none."""
        info = self.articles.get(article_id)
        return dict(info.metadata.values) if info is not None and info.metadata is not None else {}

    def close(self) -> None:
        """Release the store's connection (a Milvus client); FAISS holds nothing to release."""
        self.store.close()

    def disabled(self) -> list[str]:
        """Search stages off for this replica: with records on demand, those needing every passage in memory."""
        off = []
        if self.sentences is None:
            off.append("sentence_ranking")
        if self.article_vectors is None:
            off.append("article_prior")
        return off

    def info(self) -> dict[str, Any]:
        return {"id": self.manifest.id, "model": self.manifest.model.get("name"), "built_at": self.manifest.built_at}

