"""Build step 3, embed: only passages whose embedded text has no vector yet, with their sentence vectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from qa.build.plan import Vectors
from qa.build.report import Reporter
from qa.embed.embedder import Progress
from qa.embed.model import DIM, text_key
from qa.embed.sentences import SentenceVectors, spans_in
from qa.records import Chunk


class Encoder(Protocol):
    """What embeds a build's passages: an `Embedder` here, or `RayEngine` on a cluster."""

    def encode_with_sentences(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], progress: Progress | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]: ...


def missing(chunks: Sequence[Chunk], vectors: Vectors) -> list[int]:
    """Positions of the passages to embed: the first of each embedded text the cache lacks."""
    keys = [text_key(c.embed_text) for c in chunks]
    return sorted({k: i for i, k in enumerate(keys) if k not in vectors}.values())


def embed(chunks: Sequence[Chunk], vectors: Vectors, embedder: Callable[[], Encoder], reporter: Reporter) -> int:
    """Adds the missing passages' vectors to `vectors` (loading the model only if any); returns how many."""
    todo = missing(chunks, vectors)
    if not todo:
        return 0
    reporter.stage("embed", len(todo))
    fresh, per_sentence = embedder().encode_with_sentences(
        [chunks[i].embed_text for i in todo],
        [spans_in(chunks[i].embed_text, chunks[i].text) for i in todo],
        progress=reporter.advance,
    )
    for i, v, sv in zip(todo, fresh, per_sentence):
        vectors[text_key(chunks[i].embed_text)] = (v, sv)
    return len(todo)


def stacked(chunks: Sequence[Chunk], vectors: Vectors) -> tuple[np.ndarray, SentenceVectors]:
    """The passage vectors in passage order, and their sentence vectors."""
    keys = [text_key(c.embed_text) for c in chunks]
    matrix = np.stack([vectors[k][0] for k in keys]) if keys else np.zeros((0, DIM), np.float32)
    return matrix, SentenceVectors.from_lists([vectors[k][1] for k in keys], DIM)
