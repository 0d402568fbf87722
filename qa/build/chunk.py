"""Build step 2, chunk: every article file read and split — or, when its content hash is the one the index
has, its passages and record taken from the index without parsing it again (a quick read + hash tells).

Each passage's raw region (`raw_text[start:end]`, what answers' source offsets are found in) is cut from the
text just read, whether the article was split again or not: the index folder carries it, serving reads no seeds."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.build.plan import Previous
from qa.build.report import BuildReport, Reporter
from qa.index.contract import chunker_settings
from qa.ingest.articles import find_files, read_text, text_hash
from qa.ingest.chunk_files import ChunkedFile, chunk_files
from qa.ingest.chunker import Chunker, ChunkerConfig, sections_of
from qa.records import Article, ArticleInfo, Chunk, Problem
from qa.settings import Settings


@dataclass
class Corpus:
    """The passages and article records of this build, each passage's raw region, and each article's content
    hash."""

    chunks: list[Chunk] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)  # raw_text[start:end] of each passage, row for row
    infos: list[ArticleInfo] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # article id → content hash

    @property
    def corpus_hash(self) -> str:
        return hashlib.sha256("\n".join(f"{k}:{v}" for k, v in sorted(self.hashes.items())).encode()).hexdigest()[:16]


def chunk(
    settings: Settings,
    seeds: Path,
    previous: Previous,
    report: BuildReport,
    reporter: Reporter,
    processes: int = 1,
    meanwhile: Callable[[], object] | None = None,
) -> Corpus:
    """All articles under `seeds`, in file order; fills the report's added / changed / unchanged / problems.

    Files are split in `processes` worker processes while this thread runs `meanwhile` (loading the model)."""
    chunker = Chunker(ChunkerConfig(**chunker_settings(settings)))
    files = find_files(seeds)
    reporter.stage("load + chunk", len(files))
    reuse = previous.reuse()
    scanned = {path: read_text(path, seeds) for path in files} if reuse else {}
    unchanged = {p for p, (aid, text, _) in scanned.items() if text is not None and reuse.get(aid) == text_hash(text)}
    results = chunk_files([p for p in files if p not in unchanged], seeds, chunker, processes, meanwhile)
    old_hashes = previous.manifest.articles if previous.manifest else {}
    corpus = Corpus()
    start = time.perf_counter()

    def tell(problems: list[Problem]) -> None:
        report.problems.extend(problems)
        for p in problems:
            reporter.problem(p)

    for n, path in enumerate(files, 1):
        reporter.advance(n, len(files), time.perf_counter() - start)
        if path in unchanged:
            article_id, raw, problems = scanned.pop(path)
            tell(problems)
            corpus.hashes[article_id] = old_hashes[article_id]
            corpus.chunks.extend(previous.chunks[article_id])
            corpus.regions.extend(regions(raw or "", previous.chunks[article_id]))
            corpus.infos.append(previous.infos[article_id])
            report.unchanged += 1
            continue
        done: ChunkedFile = next(results)
        tell(done.problems)
        if done.article is None:
            continue
        (report.changed if done.article.id in old_hashes else report.added).append(done.article.id)
        corpus.hashes[done.article.id] = done.article.content_hash
        corpus.chunks.extend(done.chunks)
        corpus.regions.extend(regions(done.article.raw_text, done.chunks))
        corpus.infos.append(info(done.article))
    return corpus


def regions(raw_text: str, chunks: list[Chunk]) -> list[str]:
    """Each passage's raw region: the part of the file it was cut from."""
    return [raw_text[c.start:c.end] for c in chunks]


def info(article: Article) -> ArticleInfo:
    return ArticleInfo(
        id=article.id,
        title=article.title,
        short_description=article.short_description,
        description=article.description,
        file=article.file,
        content_hash=article.content_hash,
        sections=sections_of(article),
        metadata=article.metadata,
    )
