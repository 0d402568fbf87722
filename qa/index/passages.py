"""Passage records read on demand from the Milvus collection (`QA_RECORDS=store`): a replica that holds no corpus.

With the default `QA_RECORDS=memory` a replica reads all of `chunks.jsonl` into a list and a passage's row is
its position there. `StorePassages` is the same `Sequence[Chunk]` without the list: the collection's `record`
field (JSON of `Chunk.to_dict()` + the raw region, written by qa/index/stores/milvus_build.py) is read by
passage id when a stage needs it, and rows are handed out as passage ids are first seen (search hits bring
their records along, so a query usually reads nothing more). What a replica keeps grows with the passages
it has returned, not with the corpus: the row numbers of the passages seen (~100 bytes each) and a bounded
cache of records.

Stages that need every passage at once are off in this mode: the best-sentence ranking (sentence vectors of
the whole corpus) and the article prior (article vectors from every passage vector) — see docs/operations.md.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np

from qa.errors import IndexCorrupt, QAError
from qa.records import Chunk

CACHE = 20_000  # records kept (LRU): a few MB; a query touches at most ~100 candidates
FETCH = 512  # passage ids per query by id
TIMEOUT_S = 10.0  # as the store's searches (qa/index/stores/milvus_store.py SEARCH_TIMEOUT_S): a 503, not a hang


class RowIndex:
    """Passage id ↔ row for the in-memory records (a row is the position in `chunks.jsonl`)."""

    def __init__(self, ids: Sequence[str], article_ids: Sequence[str]) -> None:
        self.row_of = {pid: i for i, pid in enumerate(ids)}
        self.articles = list(article_ids)

    def row(self, pid: str, record: str | None = None) -> int | None:
        return self.row_of.get(pid)

    def article(self, row: int) -> str:
        return self.articles[row]

    def __len__(self) -> int:
        return len(self.articles)


class StorePassages(Sequence[Chunk]):
    """The passages of one Milvus collection, read by id on demand. Thread-safe."""

    on_demand = True

    def __init__(self, client: Any, collection: str, count: int, cache: int = CACHE) -> None:
        self.client = client
        self.collection = collection
        self.total = count
        self.cache = cache
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._article: dict[int, str] = {}
        self._records: OrderedDict[int, tuple[Chunk, str | None]] = OrderedDict()
        self._by_article: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    # rows ------------------------------------------------------------------------------------------

    def row(self, pid: str, record: str | None = None) -> int:
        """The row of a passage id (a new one the first time it is seen); `record`, when the hit brought it,
        is cached."""
        with self._lock:
            r = self._rows.get(pid)
            if r is None:
                r = self._rows[pid] = len(self._ids)
                self._ids.append(pid)
        if record is not None and r not in self._records:
            self._remember(r, record)
        return r

    def article(self, row: int) -> str:
        known = self._article.get(row)
        return known if known is not None else self[row].article_id

    def rows_of(self, article_id: str) -> np.ndarray:
        """The rows of one article's passages (one query by article id, then cached)."""
        with self._lock:
            found = self._by_article.get(article_id)
        if found is not None:
            return found
        hits = self._query(f"article_id == {json.dumps(article_id)}", ["pid", "record"])
        rows = np.asarray([self.row(h["pid"], h["record"]) for h in hits], np.int64)
        with self._lock:
            for r in rows.tolist():
                self._article[r] = article_id
            self._by_article[article_id] = rows
            while len(self._by_article) > 1024:
                self._by_article.popitem(last=False)
        return rows

    def of_article(self, article_id: str) -> list[Chunk]:
        return [self[int(r)] for r in self.rows_of(article_id)]

    # records ---------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.total

    @overload
    def __getitem__(self, row: int) -> Chunk: ...

    @overload
    def __getitem__(self, row: slice) -> Sequence[Chunk]: ...

    def __getitem__(self, row: int | slice) -> Chunk | Sequence[Chunk]:
        if isinstance(row, slice):
            raise TypeError("StorePassages reads passages by row, not by slice")
        return self._entry(int(row))[0]

    def __iter__(self) -> Iterator[Chunk]:
        raise QAError("QA_RECORDS=store reads passages on demand: nothing may iterate over all of them",
                      code="records_on_demand")

    def region(self, chunk: Chunk) -> str | None:
        """The passage's raw region (answers' source offsets are found in it), from its record."""
        r = self._rows.get(chunk.id)
        return None if r is None else self._entry(r)[1]

    def fetch(self, rows: Iterable[int]) -> None:
        """Reads the records of `rows` not cached yet, in as few queries as possible."""
        with self._lock:
            todo = sorted({int(r) for r in rows} - set(self._records))
            pids = [self._ids[r] for r in todo if r < len(self._ids)]
        for i in range(0, len(pids), FETCH):
            part = pids[i : i + FETCH]
            for h in self._query(f"pid in {json.dumps(part)}", ["pid", "record"]):
                self.row(h["pid"], h["record"])

    def _entry(self, row: int) -> tuple[Chunk, str | None]:
        with self._lock:
            found = self._records.get(row)
            if found is not None:
                self._records.move_to_end(row)
                return found
            if not 0 <= row < len(self._ids):
                raise IndexError(row)
        self.fetch([row])
        with self._lock:
            found = self._records.get(row)
        if found is None:
            raise IndexCorrupt(f"passage {self._ids[row]} is missing from Milvus collection {self.collection}: "
                               "run `qa build`")
        return found

    def _remember(self, row: int, record: str) -> None:
        data = json.loads(record)
        region = data.pop("region", None)
        entry = (Chunk.from_dict(data), region)
        with self._lock:
            self._records[row] = entry
            self._article[row] = entry[0].article_id
            while len(self._records) > self.cache:
                self._records.popitem(last=False)

    def _query(self, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        try:
            return list(self.client.query(self.collection, filter=expr, output_fields=fields, timeout=TIMEOUT_S))
        except Exception as exc:  # pymilvus' and grpc's own
            raise QAError(f"reading passages from Milvus collection {self.collection} failed: {exc}",
                          code="store_unavailable", status=503) from exc
