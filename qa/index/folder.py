"""The index folder: manifest + vectors + lexical index + passage records, replaced atomically.

`index/<name>` is a symlink to a versioned sibling folder `index/.<name>.<stamp>`. A build writes a new
version completely, then swaps the symlink with one `rename` — a reader sees the old index or the new one,
never a half-written one. A lock file keeps two builds of the same index from running at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qa.embed.sentences import SentenceVectors
from qa.errors import IndexCorrupt, IndexMismatch, IndexMissing, QAError
from qa.records import ArticleInfo, Chunk

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
ARTICLES = "articles.json"
VECTORS = "vectors.npy"
SENTENCES = "sentences.npz"  # sentence vectors per passage (qa/embed/sentences.py); optional: older indexes lack it
REGIONS = "regions.jsonl"  # each passage's raw region (raw_text[start:end]), in chunks.jsonl's order; optional: older
# indexes lack it (their answers then carry no source offsets)
IDF = "idf.json"  # BM25 idf per analysed term, beside a Milvus index (highlights weigh terms without the records)
KEEP_VERSIONS = 2


@dataclass
class Manifest:
    """What an index was built from and with. Compared with the running settings on load."""

    model: dict[str, Any]
    chunker: dict[str, Any]
    lexical: dict[str, Any]
    store: dict[str, Any]
    corpus_hash: str
    articles: dict[str, str]  # article id → content hash
    counts: dict[str, int]
    built_at: str
    package_version: str
    format_version: int = FORMAT_VERSION
    retrieval: dict[str, Any] = field(default_factory=dict)  # fusion weights, calibration, thresholds
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve(index_dir: Path) -> Path:
    """The concrete version folder an index name points at (what a reader should open, once)."""
    if not index_dir.exists():
        raise IndexMissing(f"no index at {index_dir}: run `qa build --index {index_dir}`")
    return index_dir.resolve()


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.exists():
        raise IndexCorrupt(f"{folder} has no {MANIFEST}: run `qa build --index {folder}`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"cannot read {path}: {exc}; run `qa build`") from exc
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexMismatch(
            f"index format {data.get('format_version')} at {folder}, this qa reads {FORMAT_VERSION}: run `qa build`"
        )
    return Manifest.from_dict(data)


def check_compatible(manifest: Manifest, expected: dict[str, dict[str, Any]]) -> None:
    """Refuse an index whose model or chunker settings differ from the running ones, saying why."""
    diffs: list[str] = []
    for section, values in expected.items():
        have = getattr(manifest, section)
        for key, want in values.items():
            if have.get(key) != want:
                diffs.append(f"{section}.{key} is {have.get(key)!r} in the index, {want!r} in the settings")
    if diffs:
        raise IndexMismatch("index does not match the settings (" + "; ".join(diffs) + "): run `qa build`")


def read_chunks(folder: Path) -> list[Chunk]:
    try:
        with open(folder / CHUNKS, encoding="utf-8") as f:
            return [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise IndexCorrupt(f"cannot read passages in {folder}: {exc}; run `qa build`") from exc


def read_articles(folder: Path) -> list[ArticleInfo]:
    try:
        data = json.loads((folder / ARTICLES).read_text(encoding="utf-8"))
        return [ArticleInfo.from_dict(a) for a in data]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise IndexCorrupt(f"cannot read articles in {folder}: {exc}; run `qa build`") from exc


def read_vectors(folder: Path) -> np.ndarray:
    return np.load(folder / VECTORS, mmap_mode="r")


def write_records(folder: Path, chunks: list[Chunk], articles: list[ArticleInfo], vectors: np.ndarray) -> None:
    with open(folder / CHUNKS, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in chunks)
    (folder / ARTICLES).write_text(
        json.dumps([a.to_dict() for a in articles], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    np.save(folder / VECTORS, np.ascontiguousarray(vectors, dtype=np.float32))


def write_regions(folder: Path, regions: Sequence[str]) -> None:
    """Each passage's raw region, one JSON string a line, row for row with chunks.jsonl: what answers' offsets into
    the raw files are found in, so that serving needs nothing but the index folder."""
    with open(folder / REGIONS, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in regions)


def read_regions(folder: Path, chunks: Sequence[Chunk]) -> list[str] | None:
    """The passages' raw regions, or None when the index has none (built before they were stored) or they do not
    fit its passages (count, or a region's length against the passage's `end - start`)."""
    try:
        with open(folder / REGIONS, encoding="utf-8") as f:
            regions = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return None
    if len(regions) != len(chunks):
        return None
    if any(not isinstance(r, str) or len(r) != c.end - c.start for r, c in zip(regions, chunks, strict=True)):
        return None
    return regions


def read_idf(folder: Path) -> dict[str, float] | None:
    """The index's saved BM25 idf, or None when it has none (a FAISS index, or built before it was saved)."""
    try:
        data = json.loads((folder / IDF).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else None


def write_sentences(folder: Path, sentences: SentenceVectors) -> None:
    np.savez(folder / SENTENCES, vectors=sentences.vectors, offsets=sentences.offsets)


def read_sentences(folder: Path, passages: int) -> SentenceVectors | None:
    """The index's sentence vectors, or None when it has none (built before they existed) or they don't fit."""
    try:
        with np.load(folder / SENTENCES) as z:
            found = SentenceVectors(z["vectors"], z["offsets"])
    except (OSError, KeyError, ValueError):
        return None
    if found.passages != passages or int(found.offsets[-1]) != len(found.vectors):
        return None
    return found


def write_manifest(folder: Path, manifest: Manifest) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive lock per index name; a second build fails fast instead of racing the first."""
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = index_dir.parent / f".{index_dir.name}.lock"
    with open(lock_path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise QAError(
                f"another build of {index_dir} is running (lock {lock_path}); wait for it to finish",
                code="build_locked",
                status=409,
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def new_version_dir(index_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    tmp = index_dir.parent / f".{index_dir.name}.{stamp}.tmp"
    tmp.mkdir(parents=True)
    return tmp


def publish(tmp: Path, index_dir: Path) -> Path:
    """fsync the new version, then atomically point `index_dir` at it. Returns the version folder."""
    final = tmp.with_suffix("")  # drop .tmp: a complete version
    for p in tmp.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    os.rename(tmp, final)
    link_tmp = index_dir.parent / f".{index_dir.name}.link.{os.getpid()}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    os.symlink(final.name, link_tmp)
    if index_dir.exists() and not index_dir.is_symlink():
        # A plain folder from elsewhere: move it aside first (the only non-atomic case).
        shutil.move(str(index_dir), str(index_dir.parent / f".{index_dir.name}.legacy-{int(time.time())}"))
    os.replace(link_tmp, index_dir)
    dir_fd = os.open(index_dir.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    _prune(index_dir, keep=final)
    return final


def _prune(index_dir: Path, keep: Path) -> None:
    """Remove old versions (keeping the newest few for readers still using them) and stale temp folders."""
    prefix = f".{index_dir.name}."
    versions = sorted(
        (p for p in index_dir.parent.iterdir() if p.name.startswith(prefix) and p.is_dir() and p != keep),
        key=lambda p: p.name,
    )
    complete = [p for p in versions if not p.name.endswith(".tmp")]
    for old in complete[: max(0, len(complete) - (KEEP_VERSIONS - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    for tmp in (p for p in versions if p.name.endswith(".tmp")):
        shutil.rmtree(tmp, ignore_errors=True)  # an interrupted build's leftovers (we hold the lock)
