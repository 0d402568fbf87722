"""The raw files answers are located in: an answer's offsets into its raw file are found in the region its
passage was cut from."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from qa.ingest.articles import load_file
from qa.records import Chunk


class SourceFiles:
    """The raw text of articles, read from the seeds folder when the file there is the one indexed (same
    content hash); None otherwise (a replica without the seeds, an edited file)."""

    def __init__(self, seeds: Path | None, hashes: dict[str, str]) -> None:
        self.seeds = seeds
        self.hashes = hashes
        self._raw = lru_cache(maxsize=64)(self._load)

    def _load(self, file: str, article_id: str) -> str | None:
        if self.seeds is None or not (self.seeds / file).is_file():
            return None
        try:
            article, _ = load_file(self.seeds / file, self.seeds)
        except OSError:
            return None
        if article is None or article.content_hash != self.hashes.get(article_id):
            return None
        return article.raw_text

    def region(self, chunk: Chunk) -> str | None:
        raw = self._raw(chunk.file, chunk.article_id)
        return None if raw is None else raw[chunk.start:chunk.end]
