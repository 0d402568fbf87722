"""Build step 1, plan: what the current index offers for reuse under the running settings.

Passages and article records are reused only from an index built with the same model and chunker settings
(and not under `--force`); vectors are reused by the hash of the embedded text as long as the weights are
the same and the vector family (fp32 or int8) matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.embed.model import text_key, weights_hash
from qa.errors import QAError
from qa.index import folder as ix
from qa.index.contract import expected, vector_family
from qa.records import ArticleInfo, Chunk
from qa.settings import Settings

Vectors = dict[str, tuple[np.ndarray, np.ndarray]]  # embedded-text key → (passage vector, sentence vectors)


@dataclass
class Previous:
    """The current index as a source of reuse. Empty when there is none (or it cannot be read)."""

    manifest: ix.Manifest | None = None
    chunks: dict[str, list[Chunk]] = field(default_factory=dict)  # per article id
    infos: dict[str, ArticleInfo] = field(default_factory=dict)
    vectors: Vectors = field(default_factory=dict)
    reusable: bool = False  # passages and records may be reused, not only vectors
    regions: bool = False  # the index holds its passages' raw regions (built after they were stored)

    def reuse(self) -> dict[str, str]:
        """article id → content hash, for the articles whose passages and record can be taken as they are."""
        if not self.reusable or self.manifest is None:
            return {}
        return {a: h for a, h in self.manifest.articles.items() if a in self.chunks and a in self.infos}


def read_previous(index_dir: Path) -> Previous:
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
        return Previous()
    if len(vectors) != len(chunks):
        return Previous()
    try:
        # a record without metadata (an index built before it was kept) is made again from its file
        infos = {a.id: a for a in ix.read_articles(folder) if a.metadata is not None}
    except (QAError, OSError, ValueError):
        infos = {}
    sentences = ix.read_sentences(folder, len(chunks))
    previous = Previous(manifest, infos=infos, reusable=True, regions=ix.read_regions(folder, chunks) is not None)
    for row, (c, v) in enumerate(zip(chunks, vectors)):
        previous.chunks.setdefault(c.article_id, []).append(c)
        if sentences is not None:
            previous.vectors[text_key(c.embed_text)] = (v, sentences.of(row))
    return previous


def plan(settings: Settings, index_dir: Path, force: bool = False) -> Previous:
    """What of the current index this build may reuse (the reuse policy above applied)."""
    previous = read_previous(index_dir)
    manifest = previous.manifest
    if manifest is None:
        return previous
    previous.reusable = not force
    if previous.reusable:
        try:
            ix.check_compatible(manifest, expected(settings))
        except QAError:
            previous.reusable = False
    # int8 vectors are not the fp32 ones (cosine ≈ 0.98): never mix them in one index
    same_family = vector_family(manifest.model.get("backend", "torch")) == vector_family(settings.backend)
    if not same_family:
        previous.reusable, previous.vectors = False, {}
    if not previous.reusable:
        previous.chunks = {}
        if manifest.model.get("weights_hash") != weights_hash():
            previous.vectors = {}
    return previous
