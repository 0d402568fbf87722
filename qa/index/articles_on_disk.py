"""The article catalogue read from disk on demand, for replicas with records on demand (`QA_RECORDS=store`).

`articles.json` holds one record per article (title, sections, anchors, metadata): as Python objects about
9 KiB an article (docs/operations.md), which at Wikipedia's millions of articles is most of a replica.
`ArticlesOnDisk` reads the file once at load to note where each article's record lies (its byte span) and
keeps only that; a record is parsed when asked for (a small LRU cache keeps the ones asked for lately). It is a
read-only `Mapping[str, ArticleInfo]`, so the retriever, filters and the API use it as they use a dict.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from qa.errors import IndexCorrupt
from qa.records import ArticleInfo

CACHE = 512  # parsed records kept (about 9 KiB each)


class ArticlesOnDisk(Mapping[str, ArticleInfo]):
    """Article id → its record, parsed from `path` (a JSON array of records) when asked for. Records are read
    with plain file reads, not a memory map, so walking them all (a filter, the catalogue) leaves nothing of
    the file in this process's memory (the kernel's page cache keeps it)."""

    def __init__(self, path: Path, cache: int = CACHE) -> None:
        try:
            ids, starts, ends = _spans(path.read_bytes())
            self._file = path.open("rb", buffering=0)
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(f"cannot read articles in {path.parent}: {exc}; run `qa build`") from exc
        self._row = {a: i for i, a in enumerate(ids)}
        self._starts = np.asarray(starts, dtype=np.int64)
        self._ends = np.asarray(ends, dtype=np.int64)
        self._cache: OrderedDict[str, ArticleInfo] = OrderedDict()
        self._size = cache
        self._lock = threading.Lock()  # the cache and the file's position

    def __getitem__(self, article_id: str) -> ArticleInfo:
        with self._lock:
            hit = self._cache.get(article_id)
            if hit is not None:
                self._cache.move_to_end(article_id)
                return hit
            row = self._row[article_id]  # KeyError for an unknown id, as a dict
            self._file.seek(int(self._starts[row]))
            raw = self._file.read(int(self._ends[row] - self._starts[row]))
        info = ArticleInfo.from_dict(json.loads(raw.decode("utf-8")))
        with self._lock:
            self._cache[article_id] = info
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return info

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._row

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)


def _spans(data: bytes) -> tuple[list[str], list[int], list[int]]:
    """Each record's id and byte span in a JSON array of objects, reading it one record at a time."""
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    ids: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    at = _skip(text, 0)
    if text[at:at + 1] != "[":
        raise ValueError("articles.json is not a JSON array")
    at = _skip(text, at + 1)
    byte_at, char_at = 0, 0  # a char offset's byte offset, advanced as the text is walked
    while text[at:at + 1] != "]":
        record, end = decoder.raw_decode(text, at)
        if not isinstance(record, dict) or "id" not in record:
            raise ValueError(f"an article record without an id at character {at}")
        byte_start = byte_at + len(text[char_at:at].encode("utf-8"))
        byte_end = byte_start + len(text[at:end].encode("utf-8"))
        byte_at, char_at = byte_end, end
        ids.append(str(record["id"]))
        starts.append(byte_start)
        ends.append(byte_end)
        at = _skip(text, end)
        if text[at:at + 1] == ",":
            at = _skip(text, at + 1)
        elif text[at:at + 1] != "]":
            raise ValueError(f"expected ',' or ']' at character {at}")
    return ids, starts, ends


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at

