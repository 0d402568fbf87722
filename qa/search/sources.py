"""The raw regions answers are located in: an answer's offsets into its raw file are found in the region its
passage was cut from (`raw_text[chunk.start:chunk.end]`), stored in the index folder at build time
(`regions.jsonl`, qa/index/folder.py). Serving reads nothing but the index folder: no seeds, and an edited
seed file changes nothing until the next build."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from qa.index import folder as ix
from qa.records import Chunk


class Regions(Protocol):
    """What the read stage asks for a passage's raw region: `SourceRegions`, or the records read on demand
    (`qa.index.passages.StorePassages`)."""

    def region(self, chunk: Chunk) -> str | None: ...


class SourceRegions:
    """Each passage's raw region, read from the index folder on first use (only a query that reads needs them);
    None for every passage of an index built before regions were stored (its answers carry no source offsets)."""

    def __init__(self, folder: Path, chunks: Sequence[Chunk]) -> None:
        self.folder = folder
        self.chunks = chunks
        self._by_id: dict[str, str] | None = None
        self._lock = threading.Lock()

    def _regions(self) -> dict[str, str]:
        if self._by_id is None:
            with self._lock:
                if self._by_id is None:
                    found = ix.read_regions(self.folder, self.chunks)
                    self._by_id = {} if found is None else {c.id: r for c, r in zip(self.chunks, found, strict=True)}
        return self._by_id

    def region(self, chunk: Chunk) -> str | None:
        return self._regions().get(chunk.id)
