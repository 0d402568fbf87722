"""Building a Milvus index: the collection schema, and bringing the index's not-live collection up to date.

See qa/index/stores/milvus_store.py for the layout (one collection per index version, blue/green).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import QAError
from qa.index.stores.milvus_store import (
    BATCH,
    MAX_TEXT,
    SCHEMA_VERSION,
    MilvusError,
    Progress,
    analyse,
    check_uri,
    clip,
    collection_base,
    connect,
    is_server,
    quote,
)
from qa.records import Chunk


def _create(client: Any, name: str, dim: int, server: bool) -> None:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False, description=SCHEMA_VERSION)
    schema.add_field("pid", DataType.VARCHAR, max_length=64, is_primary=True)
    schema.add_field("article_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("section", DataType.VARCHAR, max_length=4096)  # JSON list: the heading path
    schema.add_field("anchor", DataType.VARCHAR, max_length=1024)
    schema.add_field("file", DataType.VARCHAR, max_length=1024)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("h", DataType.VARCHAR, max_length=32)  # content hash: unchanged rows are not rewritten
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("bm25_text", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True)
    # the passage's whole record (`Chunk.to_dict()` + its raw region) as JSON: what replicas read on demand
    # (QA_RECORDS=store, qa/index/passages.py) instead of holding chunks.jsonl in memory
    schema.add_field("record", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["bm25_text"],
            output_field_names=["sparse"],
        )
    )
    index = client.prepare_index_params()
    if server:  # HNSW on a server; Lite searches exactly (FLAT) at development sizes
        index.add_index(field_name="dense", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 200})
    else:
        index.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
    index.add_index(  # bm25s' defaults, so both stores score alike
        field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
        params={"bm25_k1": 1.5, "bm25_b": 0.75},
    )
    index.add_index(field_name="article_id", index_type="INVERTED")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


FIELDS = {"pid", "article_id", "section", "anchor", "file", "start", "end", "h", "text", "bm25_text", "record", "dense",
          "sparse"}
log = logging.getLogger("qa.build")


def _compatible(client: Any, name: str, dim: int) -> bool:
    """Same fields and dimensions as `_create` makes (Milvus Lite keeps no collection description)."""
    fields = {f.get("name"): f for f in client.describe_collection(name).get("fields", [])}
    if set(fields) != FIELDS:
        return False
    return int(fields["dense"].get("params", {}).get("dim", -1)) == dim


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Milvus Lite lacks the timestamp call the query iterator tries first; hide that (harmless) noise."""
    loggers = [logging.getLogger(n) for n in ("pymilvus.client.iterator.query_iterator", "grpc._server")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _existing(client: Any, name: str) -> dict[str, tuple[str, str]]:
    """pid → (content hash, article id) of every row in the collection (streamed: fine for millions of rows)."""
    out: dict[str, tuple[str, str]] = {}
    with _quiet():
        it = client.query_iterator(name, batch_size=4096, filter="", output_fields=["pid", "h", "article_id"])
        try:
            while True:
                batch = it.next()
                if not batch:
                    break
                out.update((r["pid"], (r["h"], r["article_id"])) for r in batch)
        finally:
            it.close()
    return out


def _count(client: Any, name: str) -> int:
    res = client.query(name, filter="", output_fields=["count(*)"])
    return int(res[0]["count(*)"])


def build(
    uri: str,
    index_dir: Path,
    previous: dict[str, Any] | None,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    lexical_texts: Sequence[str],
    removed_articles: Sequence[str] = (),
    force: bool = False,
    progress: Progress | None = None,
    token: str | None = None,
    regions: Sequence[str] | None = None,
    idf_path: Path | None = None,
) -> dict[str, Any]:
    """Bring the not-live collection of this index up to date; returns the manifest's `store` entry.

    `previous` is the live manifest's store entry (or None). Rows are upserted by passage id only when new
    or changed; passages that are gone (removed articles, edited text) are deleted. Each row carries the
    passage's record with its raw region (`regions`, row for row); `idf_path` receives the BM25 idf of the
    analysed texts (what highlights weigh terms by, without the records in memory).
    """
    uri = check_uri(uri)
    base = collection_base(index_dir)
    live = (previous or {}).get("collection") if (previous or {}).get("kind") == "milvus" else None
    same_place = live is not None and (previous or {}).get("uri") == uri
    target = f"{base}_1" if same_place and live == f"{base}_0" else f"{base}_0"
    dim = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.shape[1] else 384
    client = connect(uri, token)
    t0 = time.perf_counter()
    try:
        if client.has_collection(target) and (force or not _compatible(client, target, dim)):
            if not force:
                log.warning("Milvus collection %s predates this schema (no `record` field, or other dimensions): "
                            "it is written again in full, once", target)
            client.drop_collection(target)
        if not client.has_collection(target):
            _create(client, target, dim, is_server(uri))
        else:
            client.load_collection(target)
        have = _existing(client, target)
        bm25 = analyse(lexical_texts)
        if idf_path is not None:
            write_idf(idf_path, bm25)
        regions = list(regions) if regions is not None else [""] * len(chunks)
        todo, want = _changed(chunks, vectors, bm25, regions, have)
        deleted = _delete_stale(client, target, have, want, removed_articles)
        for i in range(0, len(todo), BATCH):
            client.upsert(target, [_row(chunks[j], vectors[j], bm25[j], regions[j], h) for j, h in todo[i : i + BATCH]])
            if progress:
                progress(min(i + BATCH, len(todo)), len(todo), time.perf_counter() - t0)
        client.flush(target)  # seal the writes into segments (Lite searches an unsealed memtable row by row)
        n = _count(client, target)
        if n != len(want):
            raise MilvusError(f"collection {target} holds {n} passages after the build, expected {len(want)}")
    except QAError:
        raise
    except Exception as exc:
        raise MilvusError(f"Milvus build of {target} at {uri} failed: {exc}") from exc
    finally:
        client.close()
    return {
        "kind": "milvus",
        "uri": uri,
        "collection": target,
        "index_type": "HNSW" if is_server(uri) else "FLAT",
        "records": True,  # rows carry their `record` (QA_RECORDS=store); an entry without it names an older schema
        "upserted": len(todo),
        "deleted": deleted,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _changed(
    chunks: Sequence[Chunk], vectors: np.ndarray, bm25: Sequence[str], regions: Sequence[str],
    have: dict[str, tuple[str, str]],
) -> tuple[list[tuple[int, str]], set[str]]:
    """(position, content hash) of the passages to upsert (new or changed), and every passage id wanted."""
    todo: list[tuple[int, str]] = []
    want: set[str] = set()
    for i, (c, v, b, r) in enumerate(zip(chunks, vectors, bm25, regions)):
        h = hashlib.sha1(
            json.dumps([c.to_dict(), b, r]).encode()
            + np.asarray(v, dtype=np.float32).tobytes()
        ).hexdigest()[:32]
        want.add(c.id)
        if have.get(c.id, ("", ""))[0] != h:
            todo.append((i, h))
    return todo, want


def record(c: Chunk, region: str) -> str:
    """The `record` field: the passage's record and raw region, as JSON (qa/index/passages.py reads it)."""
    data = json.dumps(c.to_dict() | {"region": region}, ensure_ascii=False)
    if len(data.encode("utf-8")) > MAX_TEXT:  # a passage past 64 KB: keep the record, drop its region
        data = json.dumps(c.to_dict() | {"region": None}, ensure_ascii=False)
    if len(data.encode("utf-8")) > MAX_TEXT:
        raise QAError(f"passage {c.id} of {c.file} is too long for Milvus' {MAX_TEXT}-byte record field: "
                      "lower QA_MAX_TOKENS", code="passage_too_long", status=400)
    return data


def write_idf(path: Path, analysed: Sequence[str]) -> None:
    """BM25 idf of every analysed term (as `LexicalIndex.idf`), as JSON."""
    from collections import Counter

    df = Counter(t for text in analysed for t in set(text.split()))
    n = float(len(analysed))
    idf = {t: float(np.log1p((n - d + 0.5) / (d + 0.5))) for t, d in sorted(df.items())}
    path.write_text(json.dumps(idf, ensure_ascii=False), encoding="utf-8")


def _row(c: Chunk, vector: np.ndarray, bm25: str, region: str, h: str) -> dict[str, Any]:
    """One collection row (made per batch: millions of rows never sit in memory)."""
    return {
        "pid": c.id, "article_id": c.article_id, "section": json.dumps(list(c.section_path)),
        "anchor": c.anchor, "file": c.file, "start": int(c.start), "end": int(c.end), "h": h,
        "text": clip(c.text), "bm25_text": clip(bm25), "record": record(c, region),
        "dense": np.asarray(vector, np.float32).tolist(),
    }


def _delete_stale(
    client: Any, target: str, have: dict[str, tuple[str, str]], want: set[str], removed_articles: Sequence[str]
) -> int:
    """Deletes the passages no longer wanted; removed articles go by a filter expression, other stale
    passages (edited text) by id. Returns how many."""
    stale = set(have) - want
    gone = {have[p][1] for p in stale} & set(removed_articles)
    if gone:
        client.delete(target, filter=f"article_id in {quote(sorted(gone))}")
    rest = sorted(p for p in stale if have[p][1] not in gone)
    for i in range(0, len(rest), BATCH):
        client.delete(target, ids=rest[i : i + BATCH])
    return len(stale)
