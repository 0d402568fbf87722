"""Which reader a Retriever uses (`QA_READER`), and the raw files answers are located in."""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

from qa.errors import QAError
from qa.ingest.articles import load_file
from qa.reader.model import Reader
from qa.reader.stage import ReadConfig
from qa.records import Chunk
from qa.settings import Settings

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "reader"


def reader_folder(setting: str) -> Path | None:
    """`auto`: the shipped `models/reader` when present; `off`: none; anything else: that folder."""
    if setting == "off":
        return None
    if setting == "auto":
        return SHIPPED if (SHIPPED / "config.json").exists() else None
    folder = Path(setting)
    if not (folder / "config.json").exists():
        raise QAError(f"QA_READER={setting!r} is not a model folder (no config.json): point it at a "
                      "transformers question-answering model, or set it to `off`", code="bad_reader")
    return folder


def load_reader(settings: Settings) -> tuple[Reader | None, ReadConfig | None]:
    folder = reader_folder(settings.reader)
    if folder is None:
        return None, None
    config = ReadConfig.load(folder)
    if settings.reader_passages:
        config = dataclasses.replace(config, passages=settings.reader_passages)
    if settings.reader_window >= 0:
        config = dataclasses.replace(config, window_chars=settings.reader_window)
    return load_model(folder, settings), config


def load_model(folder: Path, settings: Settings) -> Reader:
    """The reader's weights on the runtime the settings ask for (`QA_READER_RUNTIME`)."""
    return Reader.load(folder, precision=settings.precision, runtime=settings.reader_runtime,
                       cache_dir=settings.cache_dir, threads=settings.threads)


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
