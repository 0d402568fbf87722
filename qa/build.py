"""`qa build`: load → chunk → embed → index, written to a new version folder and swapped in.

Incremental: passages of articles whose content hash is unchanged are reused with their vectors; only
new or edited text is embedded (vectors are keyed by model weights and the hash of the embedded text).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from qa import __version__
from qa.embed.embedder import Embedder
from qa.embed.model import DIM, text_key, weights_hash
from qa.embed.sentences import SentenceVectors, spans_in
from qa.errors import QAError
from qa.index import folder as ix
from qa.index.contract import (
    LEXICAL_TEXT_VERSION,
    chunker_settings,
    expected,
    lexical_entry,
    lexical_text,
    model_entry,
    retrieval_entry,
    vector_family,
)
from qa.index.lexical import LexicalIndex
from qa.ingest.articles import find_files, scan_file
from qa.ingest.chunker import Chunker, ChunkerConfig, chunk_files, sections_of
from qa.records import ArticleInfo, Chunk, Problem
from qa.settings import Settings


@dataclass
class BuildReport:
    index_dir: Path
    articles: int = 0
    chunks: int = 0
    embedded: int = 0  # passages embedded in this build (the rest came from the previous index)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False

    @property
    def skipped(self) -> int:
        return len({p.file for p in self.problems if p.skipped})

    def summary(self) -> str:
        if self.up_to_date:
            return (
                f"index {self.index_dir} is up to date: {self.articles} articles, {self.chunks} passages "
                f"({self.seconds:.1f} s)"
            )
        return (
            f"built {self.index_dir}: {self.articles} articles, {self.chunks} passages, "
            f"{self.skipped} skipped files, {self.seconds:.1f} s "
            f"(added {len(self.added)}, changed {len(self.changed)}, removed {len(self.removed)}, "
            f"unchanged {self.unchanged}; embedded {self.embedded} passages)"
        )


class Reporter:
    """Callbacks for progress; the CLI shows them with rich, tests ignore them."""

    def stage(self, name: str, total: int | None = None) -> None: ...

    def advance(self, done: int, total: int, seconds: float) -> None: ...

    def problem(self, problem: Problem) -> None: ...


Vectors = dict[str, tuple[np.ndarray, np.ndarray]]  # embedded-text key → (passage vector, sentence vectors)


def _previous(index_dir: Path) -> tuple[ix.Manifest | None, dict[str, list[Chunk]], dict[str, ArticleInfo], Vectors]:
    """The current index's manifest, passages and record per article, and vectors per embedded-text key, if
    readable (records that cannot be read only mean those articles are split again).

    Passages of an index without sentence vectors (built before they existed) get no cached vectors, so the
    next build embeds them again and the index gains its sentence vectors."""
    try:
        folder = ix.resolve(index_dir)
        manifest = ix.read_manifest(folder)
        chunks = ix.read_chunks(folder)
        vectors = np.asarray(ix.read_vectors(folder))
    except (QAError, OSError, ValueError):
        return None, {}, {}, {}
    if len(vectors) != len(chunks):
        return None, {}, {}, {}
    try:
        infos = {a.id: a for a in ix.read_articles(folder)}
    except (QAError, OSError, ValueError):
        infos = {}
    sentences = ix.read_sentences(folder, len(chunks))
    by_article: dict[str, list[Chunk]] = {}
    cache: Vectors = {}
    for row, (c, v) in enumerate(zip(chunks, vectors)):
        by_article.setdefault(c.article_id, []).append(c)
        if sentences is not None:
            cache[text_key(c.embed_text)] = (v, sentences.of(row))
    return manifest, by_article, infos, cache


def build(
    settings: Settings,
    seeds: Path | None = None,
    index_dir: Path | None = None,
    reporter: Reporter | None = None,
    embedder: Embedder | None = None,
    force: bool = False,
    on_written: Callable[[Path], None] | None = None,
    processes: int = 1,
) -> BuildReport:
    """Build or update the index; returns what was done. Problems in files are reported, not raised.

    processes > 1 (what `qa build` passes: the number of cores) reads and chunks the files in that many worker
    processes when something is to be embedded, while this thread loads the model. Worker processes are
    started with `spawn`, which re-imports the caller's main module: a script calling this with processes > 1
    needs the usual `if __name__ == "__main__":` guard, so the default is 1."""
    seeds = seeds or settings.seeds
    index_dir = index_dir or settings.index
    reporter = reporter or Reporter()
    t0 = time.perf_counter()
    if not seeds.is_dir():
        raise QAError(f"seeds folder {seeds} does not exist: pass --seeds DIR", code="no_seeds", status=400)
    report = BuildReport(index_dir=index_dir)

    with ix.build_lock(index_dir):
        old_manifest, old_chunks, old_infos, vector_cache = _previous(index_dir)
        reusable = old_manifest is not None and not force
        if reusable and old_manifest is not None:
            try:
                ix.check_compatible(old_manifest, expected(settings))
            except QAError:
                reusable = False
        if old_manifest is not None and vector_family(old_manifest.model.get("backend", "torch")) != vector_family(
            settings.backend
        ):  # int8 vectors are not the fp32 ones (cosine ≈ 0.98): never mix them in one index
            reusable, vector_cache = False, {}
        if not reusable:
            old_chunks = {}
            if old_manifest is None or old_manifest.model.get("weights_hash") != weights_hash():
                vector_cache = {}

        chunker = Chunker(ChunkerConfig(**chunker_settings(settings)))
        files = find_files(seeds)
        reporter.stage("load + chunk", len(files))
        chunks: list[Chunk] = []
        infos: list[ArticleInfo] = []
        hashes: dict[str, str] = {}
        start = time.perf_counter()
        old_hashes = old_manifest.articles if old_manifest else {}
        # An article whose file has the content hash the index has is not parsed or split again: its passages
        # and record come from the index (a quick read + hash of every file tells).
        reuse = {a: h for a, h in old_hashes.items() if a in old_chunks and a in old_infos} if reusable else {}
        scanned = {path: scan_file(path, seeds) for path in files} if reuse else {}
        unchanged = {p for p, (aid, h, _) in scanned.items() if h and reuse.get(aid) == h}
        to_split = [p for p in files if p not in unchanged]
        # From scratch, the files are parsed and split in worker processes while this thread loads the model.
        load_model = None
        if not reuse and not vector_cache:
            embedder = embedder or Embedder.from_settings(settings)
            load_model = partial(getattr, embedder, "model")
        results = chunk_files(to_split, seeds, chunker, processes if load_model else 1, load_model)

        def tell(problems: list[Problem]) -> None:
            report.problems.extend(problems)
            for p in problems:
                reporter.problem(p)

        for n, path in enumerate(files, 1):
            reporter.advance(n, len(files), time.perf_counter() - start)
            if path in unchanged:
                article_id, _, problems = scanned[path]
                tell(problems)
                hashes[article_id] = old_hashes[article_id]
                chunks.extend(old_chunks[article_id])
                infos.append(old_infos[article_id])
                report.unchanged += 1
                continue
            article, problems, article_chunks = next(results)
            tell(problems)
            if article is None:
                continue
            hashes[article.id] = article.content_hash
            if isinstance(article_chunks, str):  # the chunker failed on this file
                tell([Problem(article.file, None, f"could not be split into passages: {article_chunks}")])
                hashes.pop(article.id)
                continue
            (report.changed if article.id in old_hashes else report.added).append(article.id)
            chunks.extend(article_chunks)
            infos.append(
                ArticleInfo(
                    id=article.id,
                    title=article.title,
                    short_description=article.short_description,
                    description=article.description,
                    file=article.file,
                    content_hash=article.content_hash,
                    sections=sections_of(article),
                )
            )
        report.removed = sorted(set(old_manifest.articles) - set(hashes)) if old_manifest else []
        report.articles = len(infos)
        report.chunks = len(chunks)
        corpus_hash = hashlib.sha256(
            "\n".join(f"{k}:{v}" for k, v in sorted(hashes.items())).encode()
        ).hexdigest()[:16]

        retrieval = retrieval_entry(settings, old_manifest)
        if (
            reusable
            and old_manifest is not None
            and old_manifest.corpus_hash == corpus_hash
            and not report.added
            and not report.changed
            and not report.removed
            and _same_store(old_manifest.store, settings)
            and old_manifest.retrieval == retrieval
            and old_manifest.lexical.get("text_version", 1) == LEXICAL_TEXT_VERSION
            and all(text_key(c.embed_text) in vector_cache for c in chunks)  # sentence vectors too
        ):
            report.up_to_date = True
            report.seconds = time.perf_counter() - t0
            return report

        # embed what is new
        keys = [text_key(c.embed_text) for c in chunks]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in vector_cache}.values())
        report.embedded = len(missing)
        if missing:
            embedder = embedder or Embedder.from_settings(settings)
            reporter.stage("embed", len(missing))
            fresh, per_sentence = embedder.encode_with_sentences(
                [chunks[i].embed_text for i in missing],
                [spans_in(chunks[i].embed_text, chunks[i].text) for i in missing],
                progress=reporter.advance,
            )
            for i, v, sv in zip(missing, fresh, per_sentence):
                vector_cache[keys[i]] = (v, sv)
        vectors = np.stack([vector_cache[k][0] for k in keys]) if chunks else np.zeros((0, DIM), np.float32)
        sentences = SentenceVectors.from_lists([vector_cache[k][1] for k in keys], DIM)

        reporter.stage("index", None)
        tmp = ix.new_version_dir(index_dir)
        try:
            if settings.store == "milvus":  # vectors + BM25 in a Milvus collection (see qa/index/stores/milvus_store.py)
                from qa.index.stores import milvus_store

                reporter.stage("milvus upsert", None)
                store_entry = milvus_store.build(
                    settings.milvus_uri, index_dir, old_manifest.store if old_manifest else None, chunks, vectors,
                    [lexical_text(c) for c in chunks], report.removed, force, reporter.advance,
                    settings.milvus_token,
                )
                lexical = lexical_entry("milvus-bm25")
            else:
                from qa.index.stores.faiss_store import FaissStore

                store = FaissStore.build(vectors, settings.faiss_index, settings.hnsw_threshold)
                store.save(tmp)
                LexicalIndex.build([lexical_text(c) for c in chunks]).save(tmp)
                store_entry = {"kind": "faiss", "index_type": store.index_type}
                lexical = lexical_entry("bm25s")
            ix.write_records(tmp, chunks, infos, vectors)
            ix.write_sentences(tmp, sentences)
            manifest = ix.Manifest(
                model=model_entry(settings),
                chunker=chunker_settings(settings),
                lexical=lexical,
                store=store_entry,
                corpus_hash=corpus_hash,
                articles=hashes,
                counts={"articles": len(infos), "chunks": len(chunks)},
                built_at=ix.utc_now(),
                package_version=__version__,
                retrieval=retrieval,
            )
            manifest.id = f"{corpus_hash[:8]}-{manifest.built_at.replace(':', '').replace('-', '')}"
            ix.write_manifest(tmp, manifest)
            if on_written:
                on_written(tmp)
            ix.publish(tmp, index_dir)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
    report.seconds = time.perf_counter() - t0
    return report


def _same_store(store: dict[str, object], settings: Settings) -> bool:
    """Whether the index already lives in the store the settings ask for (else a build moves it)."""
    if store.get("kind", "faiss") != settings.store:
        return False
    if settings.store == "milvus":
        from qa.index.stores.milvus_store import check_uri

        return store.get("uri") == check_uri(settings.milvus_uri)
    return True
