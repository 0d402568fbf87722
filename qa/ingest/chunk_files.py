"""Reading and splitting many files, in worker processes when there are many (`qa build`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from qa.ingest.articles import load_file
from qa.ingest.chunker import Chunker
from qa.records import Article, Chunk, Problem


@dataclass(frozen=True)
class ChunkedFile:
    """One file read and split. `article` is None when the file cannot be used (it did not load, or the
    chunker failed on it); `problems` then says why."""

    article: Article | None
    problems: list[Problem]
    chunks: list[Chunk]


def chunk_file(path: Path, root: Path, chunker: Chunker) -> ChunkedFile:
    """Load one file and split it; a chunker failure is that file's problem (one odd file must not sink a
    build)."""
    article, problems = load_file(path, root)
    if article is None:
        return ChunkedFile(None, problems, [])
    try:
        return ChunkedFile(article, problems, chunker.chunk(article))
    except Exception as exc:  # noqa: BLE001
        failed = Problem(article.file, None, f"could not be split into passages: {exc!r}")
        return ChunkedFile(None, [*problems, failed], [])


def chunk_article(article: Article, chunker: Chunker) -> ChunkedFile:
    """Split one loaded article (a JSONL document); a chunker failure is that article's problem."""
    try:
        return ChunkedFile(article, [], chunker.chunk(article))
    except Exception as exc:  # noqa: BLE001
        return ChunkedFile(None, [Problem(article.file, None, f"could not be split into passages: {exc!r}")], [])


def chunk_articles(
    articles: Sequence[Article],
    chunker: Chunker,
    processes: int = 1,
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[ChunkedFile]:
    """`chunk_article` over loaded articles, in order; in worker processes as `chunk_files` does."""
    if processes <= 1 or len(articles) < 2 * processes:
        if meanwhile:
            meanwhile()
        for article in articles:
            yield chunk_article(article, chunker)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        job = partial(chunk_article, chunker=chunker)
        results = pool.map(job, articles, chunksize=max(1, len(articles) // (8 * processes)))
        if meanwhile:
            meanwhile()
        yield from results


def chunk_files(
    files: Sequence[Path],
    root: Path,
    chunker: Chunker,
    processes: int = 1,
    meanwhile: Callable[[], object] | None = None,
) -> Iterator[ChunkedFile]:
    """`chunk_file` over files, in order. With processes > 1 the files are read and split in worker
    processes while this thread runs `meanwhile` (the build loads the embedding model then)."""
    if processes <= 1 or len(files) < 2 * processes:
        if meanwhile:
            meanwhile()
        for path in files:
            yield chunk_file(path, root, chunker)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: forking a process that has loaded torch, or is loading it, can hang the child
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        job = partial(chunk_file, root=root, chunker=chunker)
        results = pool.map(job, files, chunksize=max(1, len(files) // (8 * processes)))  # all submitted now
        if meanwhile:
            meanwhile()
        yield from results
