"""Build steps 4 and 5: write the new version (store, BM25, records, raw regions, manifest) into a temp folder, then
publish it with one atomic link swap (qa/index/folder.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa import __version__
from qa.build.chunk import Corpus
from qa.build.report import Reporter
from qa.embed.sentences import SentenceVectors
from qa.index import folder as ix
from qa.index.contract import chunker_settings, lexical_entry, lexical_text, model_entry
from qa.index.lexical import LexicalIndex
from qa.records import Chunk
from qa.settings import Settings


@dataclass(frozen=True)
class Written:
    """The store's and the lexical index's manifest entries."""

    store: dict[str, Any]
    lexical: dict[str, Any]


def write_store(
    settings: Settings,
    tmp: Path,
    index_dir: Path,
    previous: ix.Manifest | None,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    removed: Sequence[str],
    force: bool,
    reporter: Reporter,
    regions: Sequence[str] | None = None,
) -> Written:
    """Vectors and BM25: FAISS + bm25s files in `tmp`, or the index's not-live Milvus collection brought up to
    date (qa/index/stores/milvus_build.py)."""
    texts = [lexical_text(c) for c in chunks]
    if settings.store == "milvus":
        from qa.index.stores import milvus_build

        reporter.stage("milvus upsert", None)
        store = milvus_build.build(
            settings.milvus_uri, index_dir, previous.store if previous else None, chunks, vectors, texts, removed,
            force, reporter.advance, settings.milvus_token, regions, tmp / ix.IDF,
        )
        return Written(store, lexical_entry("milvus-bm25"))
    from qa.index.stores.faiss_store import FaissStore

    faiss = FaissStore.build(vectors, settings.faiss_index, settings.hnsw_threshold)
    faiss.save(tmp)
    LexicalIndex.build(texts).save(tmp)
    return Written({"kind": "faiss", "index_type": faiss.index_type}, lexical_entry("bm25s"))


def manifest(settings: Settings, corpus: Corpus, written: Written, retrieval: dict[str, object]) -> ix.Manifest:
    m = ix.Manifest(
        model=model_entry(settings),
        chunker=chunker_settings(settings),
        lexical=written.lexical,
        store=written.store,
        corpus_hash=corpus.corpus_hash,
        articles=corpus.hashes,
        counts={"articles": len(corpus.infos), "chunks": len(corpus.chunks)},
        built_at=ix.utc_now(),
        package_version=__version__,
        retrieval=retrieval,
    )
    m.id = f"{m.corpus_hash[:8]}-{m.built_at.replace(':', '').replace('-', '')}"
    return m


def write_and_publish(
    index_dir: Path,
    write: Callable[[Path], ix.Manifest],
    vectors: np.ndarray,
    sentences: SentenceVectors,
    corpus: Corpus,
    on_written: Callable[[Path], None] | None = None,
) -> Path:
    """A new version folder: `write` fills the store and returns the manifest, the records go beside it,
    then it is published. Nothing is left behind on failure. Returns the published version folder."""
    tmp = ix.new_version_dir(index_dir)
    try:
        m = write(tmp)
        ix.write_records(tmp, corpus.chunks, corpus.infos, vectors)
        ix.write_regions(tmp, corpus.regions)
        ix.write_sentences(tmp, sentences)
        ix.write_manifest(tmp, m)
        if on_written:
            on_written(tmp)
        return ix.publish(tmp, index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
