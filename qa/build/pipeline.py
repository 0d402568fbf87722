"""`qa build`: plan → chunk → embed → write the store → publish, into a new version folder swapped in.

Incremental: passages of articles whose content hash is unchanged are reused with their vectors; only
new or edited text is embedded (vectors are keyed by model weights and the hash of the embedded text).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from qa.build.chunk import Corpus, chunk
from qa.build.embed import Encoder, embed, stacked
from qa.build.plan import Previous, plan
from qa.build.report import BuildReport, Reporter
from qa.build.write import manifest, write_and_publish, write_store
from qa.embed.embedder import Embedder
from qa.embed.model import text_key
from qa.errors import QAError
from qa.index import folder as ix
from qa.index.contract import LEXICAL_TEXT_VERSION, retrieval_entry
from qa.ingest.documents import documents_file
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.build.ray_engine import RayEngine


def build(
    settings: Settings,
    seeds: Path | None = None,
    index_dir: Path | None = None,
    reporter: Reporter | None = None,
    embedder: Embedder | None = None,
    force: bool = False,
    on_written: Callable[[Path], None] | None = None,
    processes: int = 1,
    engine: RayEngine | None = None,
) -> BuildReport:
    """Build or update the index; returns what was done. Problems in files are reported, not raised.

    processes > 1 (what `qa build` passes: the number of cores) reads and chunks the files in that many worker
    processes when something is to be embedded, while this thread loads the model. Worker processes are
    started with `spawn`, which re-imports the caller's main module: a script calling this with processes > 1
    needs the usual `if __name__ == "__main__":` guard, so the default is 1.

    With `engine` (`qa build --ray`: a connected `qa.build.ray_engine.RayEngine`) the files are read and split,
    and the passages embedded, on a Ray cluster; planning, reuse, the store writes and the publish stay here."""
    seeds = seeds or settings.seeds
    index_dir = index_dir or settings.index
    reporter = reporter or Reporter()
    t0 = time.perf_counter()
    if not seeds.is_dir() and documents_file(seeds) is None:
        raise QAError(f"seeds folder {seeds} does not exist: pass --seeds DIR (a folder of *.md, a BEIR folder or "
                      "a *.jsonl file of documents)", code="no_seeds", status=400)
    report = BuildReport(index_dir=index_dir)
    model = _Model(settings, embedder)

    with ix.build_lock(index_dir):
        previous = plan(settings, index_dir, force)
        # From scratch, the files are parsed and split in worker processes while this thread loads the model.
        from_scratch = not previous.reuse() and not previous.vectors and engine is None
        corpus = chunk(settings, seeds, previous, report, reporter, processes if from_scratch else 1,
                       model.preload if from_scratch else None, engine.chunk_files if engine else None)
        old = previous.manifest
        report.removed = sorted(set(old.articles) - set(corpus.hashes)) if old else []
        report.articles, report.chunks = len(corpus.infos), len(corpus.chunks)
        retrieval = retrieval_entry(settings, old)
        if up_to_date(settings, previous, corpus, report, retrieval):
            report.up_to_date = True
            report.seconds = time.perf_counter() - t0
            return report

        encoder: Callable[[], Encoder] = model.get if engine is None else partial(_same, engine)
        report.embedded = embed(corpus.chunks, previous.vectors, encoder, reporter)
        vectors, sentences = stacked(corpus.chunks, previous.vectors)
        reporter.stage("index", None)

        def write(tmp: Path) -> ix.Manifest:
            written = write_store(settings, tmp, index_dir, old, corpus.chunks, vectors, report.removed, force,
                                  reporter, corpus.regions)
            return manifest(settings, corpus, written, retrieval)

        write_and_publish(index_dir, write, vectors, sentences, corpus, on_written)
    report.seconds = time.perf_counter() - t0
    return report


def up_to_date(
    settings: Settings, previous: Previous, corpus: Corpus, report: BuildReport, retrieval: dict[str, object]
) -> bool:
    """Nothing to write: same articles, store, retrieval settings and BM25 text, every vector (sentence vectors
    too) at hand, and the passages' raw regions stored (an index built before they were is written again)."""
    old = previous.manifest
    return (
        previous.reusable
        and previous.regions
        and old is not None
        and old.corpus_hash == corpus.corpus_hash
        and not report.added
        and not report.changed
        and not report.removed
        and same_store(old.store, settings)
        and old.retrieval == retrieval
        and old.lexical.get("text_version", 1) == LEXICAL_TEXT_VERSION
        and all(text_key(c.embed_text) in previous.vectors for c in corpus.chunks)
    )


def same_store(store: dict[str, object], settings: Settings) -> bool:
    """Whether the index already lives in the store the settings ask for (else a build moves it)."""
    if store.get("kind", "faiss") != settings.store:
        return False
    if settings.store == "milvus":
        from qa.index.stores.milvus_store import check_uri

        # a collection from before rows carried their records is written again, once
        return store.get("uri") == check_uri(settings.milvus_uri) and bool(store.get("records"))
    return True


def _same(engine: RayEngine) -> Encoder:
    return engine


class _Model:
    """The embedder, created on first need (an up-to-date build never loads the model)."""

    def __init__(self, settings: Settings, embedder: Embedder | None) -> None:
        self.settings = settings
        self.embedder = embedder

    def get(self) -> Embedder:
        if self.embedder is None:
            self.embedder = Embedder.from_settings(self.settings)
        return self.embedder

    def preload(self) -> None:
        self.get().model  # noqa: B018  (loads the weights)
