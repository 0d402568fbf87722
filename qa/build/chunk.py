"""Build step 2, chunk: every article file read and split — or, when its content hash is the one the index
has, its passages and record taken from the index without parsing it again (a quick read + hash tells).

Each passage's raw region (`raw_text[start:end]`, what answers' source offsets are found in) is cut from the
text just read, whether the article was split again or not: the index folder carries it, serving reads no seeds."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa.build.plan import Previous
from qa.build.report import BuildReport, Reporter
from qa.index.contract import chunker_settings
from qa.ingest.articles import find_files, read_text, text_hash
from qa.ingest.chunk_files import ChunkedFile, chunk_articles, chunk_files
from qa.ingest.chunker import Chunker, ChunkerConfig, sections_of
from qa.ingest.documents import documents_file, read_documents
from qa.records import Article, ArticleInfo, Chunk, Problem
from qa.settings import Settings

Split = Callable[[Sequence[Path], Path, Chunker], Iterator[ChunkedFile]]  # files, root, chunker → in order


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
    split: Split | None = None,
) -> Corpus:
    """All articles under `seeds`, in file order; fills the report's added / changed / unchanged / problems.

    Files are split in `processes` worker processes while this thread runs `meanwhile` (loading the model), or
    by `split` when given (a Ray cluster: `RayEngine.chunk_files`).
    `seeds` may also be a JSONL file of documents or a BEIR folder (qa/ingest/documents.py)."""
    chunker = Chunker(ChunkerConfig(**chunker_settings(settings)))
    jsonl = documents_file(seeds)
    if jsonl is not None:
        return chunk_documents(jsonl, chunker, previous, report, reporter, processes, meanwhile)
    files = find_files(seeds)
    reporter.stage("load + chunk", len(files))
    reuse = previous.reuse()
    scanned = {path: read_text(path, seeds) for path in files} if reuse else {}
    unchanged = {p for p, (aid, text, _) in scanned.items() if text is not None and reuse.get(aid) == text_hash(text)}
    todo = [p for p in files if p not in unchanged]
    results = split(todo, seeds, chunker) if split else chunk_files(todo, seeds, chunker, processes, meanwhile)
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


def chunk_documents(
    path: Path,
    chunker: Chunker,
    previous: Previous,
    report: BuildReport,
    reporter: Reporter,
    processes: int = 1,
    meanwhile: Callable[[], object] | None = None,
) -> Corpus:
    """Every document of a JSONL file, in line order: a document whose line hashes as the index's is taken
    from the index; the others are split in `processes` worker processes while this thread runs `meanwhile`,
    as Markdown files are."""
    reuse = previous.reuse()
    old_hashes = previous.manifest.articles if previous.manifest else {}
    documents = list(read_documents(path))
    fresh = [a for a, _ in documents if a is not None and reuse.get(a.id) != a.content_hash]
    results = chunk_articles(fresh, chunker, processes, meanwhile)
    corpus = Corpus()
    reporter.stage("load + chunk", len(documents))
    start = time.perf_counter()
    for n, (article, problems) in enumerate(documents, 1):
        reporter.advance(n, len(documents), time.perf_counter() - start)
        if article is not None and reuse.get(article.id) == article.content_hash:
            chunks, record = previous.chunks[article.id], previous.infos[article.id]
            report.unchanged += 1
        elif article is not None:
            done: ChunkedFile = next(results)
            problems = problems + done.problems
            if done.article is None:
                article = None
            else:
                chunks, record = done.chunks, info(article)
                (report.changed if article.id in old_hashes else report.added).append(article.id)
        report.problems.extend(problems)
        for p in problems:
            reporter.problem(p)
        if article is None:
            continue
        corpus.hashes[article.id] = article.content_hash
        corpus.chunks.extend(chunks)
        corpus.regions.extend(regions(article.raw_text, chunks))
        corpus.infos.append(record)
    if meanwhile and not fresh:
        meanwhile()
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
