"""Milvus store: dense vectors + Milvus' own BM25 full-text function, fused inside Milvus.

`QA_STORE=milvus` with `QA_MILVUS_URI`: a local path ending in `.db` is an embedded Milvus Lite database
(development, tests); `http://host:19530` is a Milvus server or cluster.

One collection holds what a hit needs to be cited (passage id, article id, section path, anchor, source
offsets, text), the dense vector (inner product over unit vectors = cosine) and a sparse BM25 vector that
Milvus computes itself from `bm25_text` — so a cluster needs no lexical index of ours.

`bm25_text` is the passage's heading path and text already lower-cased, stop-worded and stemmed by the same
code as our bm25s index (`qa.index.lexical`), and queries get the same treatment: Milvus' analyzer then only
splits on spaces, so lexical results agree with bm25s on Lite (whose analyzer ignores filters) and on a
server alike.

Versioning without serving a half-done build ("blue/green"): each index name owns two collections,
`<base>_0` and `<base>_1`. A build brings the one the live manifest does *not* name up to date — upsert by
passage id of what is new or changed, delete of removed articles' and stale passages — and only then is
the manifest naming it published. Readers of the live index never see the collection being written.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qa.errors import MilvusError, QAError

if TYPE_CHECKING:
    from qa.index.retrieval import RetrievalConfig


class Rows(Protocol):
    """Passage id ↔ row: `qa.index.passages.RowIndex` (records in memory) or `StorePassages` (on demand)."""

    def row(self, pid: str, record: str | None = None) -> int | None: ...

    def article(self, row: int) -> str: ...

    def __len__(self) -> int: ...

SCHEMA_VERSION = "qa-milvus-1"  # the collection description (a server keeps it; Lite drops it)
BATCH = 512  # rows per insert/upsert call: well under gRPC's message limit for 384-d vectors + text
MAX_TEXT = 65_535  # Milvus VARCHAR limit (bytes)
LITE_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 2**31 - 1, "grpc.keepalive_permit_without_calls": 0}
SEARCH_TIMEOUT_S = 10.0  # a Milvus that does not answer becomes a 503, not a hung request
Progress = Callable[[int, int, float], None]


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "unix:"))


def check_uri(uri: str) -> str:
    if is_server(uri):
        return uri
    if not uri.endswith(".db"):
        raise QAError(
            f"QA_MILVUS_URI={uri!r}: use a local file ending in .db (Milvus Lite) or http://host:19530",
            code="bad_milvus_uri",
            status=400,
        )
    Path(uri).parent.mkdir(parents=True, exist_ok=True)
    return str(Path(uri).absolute())


def connect(uri: str, token: str | None = None) -> Any:
    """A MilvusClient for the URI (Milvus Lite runs in-process for a `.db` path)."""
    from pymilvus import MilvusClient

    uri = check_uri(uri)
    # Milvus Lite's in-process gRPC server allows a keepalive ping every 5 min; pymilvus pings every 10 s,
    # and a long-lived idle client then gets "Too many pings" and breaks the shared connection.
    options = {} if is_server(uri) else {"grpc_options": LITE_GRPC_OPTIONS}
    try:
        return MilvusClient(uri=uri, token=token or "", **options)
    except Exception as exc:  # pymilvus raises its own and grpc errors
        raise MilvusError(f"cannot connect to Milvus at {uri}: {exc}") from exc


def collection_base(index_dir: Path) -> str:
    """`qa_<index name>_<hash of its path>`: distinct per index folder, legal as a Milvus name."""
    name = re.sub(r"[^0-9a-zA-Z_]", "_", index_dir.name)[:40] or "index"
    digest = hashlib.sha1(str(index_dir.absolute()).encode()).hexdigest()[:8]
    return f"qa_{name}_{digest}"


def analyse(texts: Sequence[str]) -> list[str]:
    """Texts as bm25s sees them (lower-case, stop words out, stemmed), joined by spaces."""
    import bm25s

    from qa.index.lexical import STOPWORDS, _stemmer

    if not texts:
        return []
    tokens = bm25s.tokenize(
        list(texts), stopwords=STOPWORDS, stemmer=_stemmer(), return_ids=False, show_progress=False
    )
    return [" ".join(t) for t in tokens]


def clip(text: str) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= MAX_TEXT else data[: MAX_TEXT - 4].decode("utf-8", "ignore")


def quote(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


# -- serving ----------------------------------------------------------------------------------------


class MilvusStore:
    """Searches one collection; maps Milvus' passage ids back to rows of `chunks.jsonl`."""

    kind = "milvus"
    native_hybrid = True

    def __init__(self, client: Any, collection: str, ids: Sequence[str], article_ids: Sequence[str],
                 rows: Rows | None = None) -> None:
        from qa.index.passages import RowIndex

        self.client = client
        self.collection = collection
        self.rows: Rows = rows if rows is not None else RowIndex(ids, article_ids)
        self.size = len(self.rows)
        # with records on demand, hits bring their records along (no second round trip for the hits' text)
        self.fields = ["pid", "record"] if rows is not None else ["pid"]
        self.chunks: Sequence[Any] = ()  # set by `open`: the records, for the highlight idf
        self.idf_file: Path | None = None  # the build's saved idf (qa/index/folder.py `idf.json`), when present

    @classmethod
    def open(cls, store: dict[str, Any], chunks: Sequence[Any], uri: str | None = None,
             token: str | None = None) -> MilvusStore:
        """Open the collection a manifest names (at `uri` when given: replicas may reach it by another name)."""
        client, name = cls._connect(store, uri, token)
        opened = cls(client, name, [c.id for c in chunks], [c.article_id for c in chunks])
        opened.chunks = chunks
        return opened

    @classmethod
    def open_on_demand(cls, store: dict[str, Any], count: int, uri: str | None = None,
                       token: str | None = None) -> MilvusStore:
        """Open the collection with its passage records read on demand (`QA_RECORDS=store`): `chunks` is then
        a `qa.index.passages.StorePassages` over it."""
        from qa.index.passages import StorePassages

        client, name = cls._connect(store, uri, token)
        fields = {f.get("name") for f in client.describe_collection(name).get("fields", [])}
        if "record" not in fields:
            client.close()
            raise MilvusError(f"Milvus collection {name} has no `record` field (built before records were stored "
                              "in Milvus): run `qa build` once, or serve with QA_RECORDS=memory",
                              code="index_mismatch", status=409)
        passages = StorePassages(client, name, count)
        opened = cls(client, name, (), (), rows=passages)
        opened.chunks = passages
        return opened

    @staticmethod
    def _connect(store: dict[str, Any], uri: str | None, token: str | None) -> tuple[Any, str]:
        client = connect(uri or store["uri"], token)
        name = store["collection"]
        try:
            if not client.has_collection(name):
                raise MilvusError(
                    f"Milvus collection {name} named by the index is missing at {uri or store['uri']}: run `qa build`",
                    code="index_missing",
                )
            client.load_collection(name)
        except BaseException:
            client.close()
            raise
        return client, name

    def close(self) -> None:
        self.client.close()

    def lexical_index(self) -> MilvusLexical:
        """BM25 served by Milvus too: an index in Milvus has no bm25s folder."""
        return MilvusLexical(self)

    def __len__(self) -> int:
        return self.size

    def save(self, folder: Path) -> None:
        """Nothing to write: the vectors live in Milvus (the manifest names the collection)."""

    # filters ---------------------------------------------------------------------------------------

    def _filter(self, allowed: np.ndarray | None) -> str:
        if allowed is None:
            return ""
        articles = sorted({self.rows.article(int(r)) for r in allowed})
        return f"article_id in {quote(articles)}"

    def _rows(self, hits: list[dict[str, Any]], allowed: np.ndarray | None) -> tuple[list[int], list[dict[str, Any]]]:
        ok = None if allowed is None else {int(r) for r in allowed}
        rows, kept = [], []
        for h in hits:
            entity = h.get("entity") or {}
            row = self.rows.row(h["pid"] if "pid" in h else h["id"], entity.get("record"))
            if row is None or (ok is not None and row not in ok):
                continue  # a passage this index version does not know
            rows.append(row)
            kept.append(h)
        return rows, kept

    def _call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, timeout=SEARCH_TIMEOUT_S, **kw)
        except QAError:
            raise
        except Exception as exc:
            raise MilvusError(f"Milvus search on {self.collection} failed: {exc}") from exc

    # searches --------------------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (inner-product scores, rows) for one unit query vector."""
        k = min(k, self.size)
        if k <= 0 or (allowed is not None and len(allowed) == 0):
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        res = self._call(
            self.client.search, self.collection, data=[np.asarray(query, np.float32).ravel().tolist()],
            anns_field="dense", limit=k, filter=self._filter(allowed), output_fields=self.fields,
            search_params={"metric_type": "IP"},
        )
        rows, hits = self._rows(list(res[0]), allowed)
        return np.asarray([h["distance"] for h in hits], np.float32), np.asarray(rows, np.int64)

    def lexical(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (BM25 scores, rows) from Milvus' full-text index."""
        text = analyse([query])[0]
        k = min(k, self.size)
        if not text or k <= 0 or (allowed is not None and len(allowed) == 0):
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        res = self._call(
            self.client.search, self.collection, data=[text], anns_field="sparse", limit=k,
            filter=self._filter(allowed), output_fields=self.fields, search_params={"metric_type": "BM25"},
        )
        rows, hits = self._rows(list(res[0]), allowed)
        # Milvus Lite reports BM25 as a negated distance; a server as a positive score.
        return np.asarray([abs(h["distance"]) for h in hits], np.float32), np.asarray(rows, np.int64)

    def hybrid(
        self, query_vector: np.ndarray, query: str, k: int, allowed: np.ndarray | None, config: RetrievalConfig
    ) -> tuple[list[tuple[int, float]], tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Dense + BM25 fused inside Milvus (`hybrid_search`, RRF or weighted ranker).

        Returns the fused (row, score) list and, for the fused hits, their own dense and BM25 scores
        (dense from the returned vectors; BM25 from one more full-text search limited to those passages).
        """
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        empty = (np.zeros(0, np.float32), np.zeros(0, np.int64))
        n = min(max(k, config.candidates), self.size)
        if n <= 0 or (allowed is not None and len(allowed) == 0):
            return [], empty, empty
        expr = self._filter(allowed)
        qv = np.asarray(query_vector, np.float32).ravel()
        text = analyse([query])[0]
        reqs = [AnnSearchRequest(data=[qv.tolist()], anns_field="dense", param={"metric_type": "IP"}, limit=n, expr=expr)]
        if text:
            reqs.append(
                AnnSearchRequest(data=[text], anns_field="sparse", param={"metric_type": "BM25"}, limit=n, expr=expr)
            )
        weighted = config.fusion == "weighted" and text
        ranker = WeightedRanker(config.alpha, 1.0 - config.alpha) if weighted else RRFRanker(config.rrf_k)
        res = self._call(
            self.client.hybrid_search, self.collection, reqs, ranker=ranker, limit=n,
            output_fields=[*self.fields, "dense"]
        )
        rows, hits = self._rows(list(res[0]), allowed)
        fused = [(r, float(h["distance"])) for r, h in zip(rows, hits)]
        if not rows:
            return [], empty, empty
        vecs = np.asarray([h["entity"]["dense"] for h in hits], np.float32)
        dscores = vecs @ qv
        order = np.argsort(-dscores, kind="stable")
        dense = (dscores[order].astype(np.float32), np.asarray(rows, np.int64)[order])
        lexical = empty
        if text:
            top_ids = [h["pid"] if "pid" in h else h["id"] for h in hits[:k]]
            res = self._call(
                self.client.search, self.collection, data=[text], anns_field="sparse", limit=len(top_ids),
                filter=f"pid in {quote(top_ids)}", output_fields=["pid"], search_params={"metric_type": "BM25"},
            )
            lrows, lhits = self._rows(list(res[0]), allowed)
            lexical = (np.asarray([abs(h["distance"]) for h in lhits], np.float32), np.asarray(lrows, np.int64))
        return fused, dense, lexical


class MilvusLexical:
    """The lexical side of a Milvus index, shaped like `qa.index.lexical.LexicalIndex` for the retriever."""

    kind = "milvus-bm25"

    def __init__(self, store: MilvusStore) -> None:
        self.store = store

    def __len__(self) -> int:
        return len(self.store)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.store.lexical(query, k, allowed)

    def idf(self) -> dict[str, float]:
        """BM25 idf of every stemmed term, as `LexicalIndex.idf` (weights highlights): the build's saved idf,
        else (an index built before it was saved) from the records."""
        from collections import Counter

        if self.store.idf_file is not None:
            from qa.index.folder import read_idf

            saved = read_idf(self.store.idf_file.parent)
            if saved is not None:
                return saved

        from qa.index.contract import lexical_text

        texts = analyse([lexical_text(c) for c in self.store.chunks])
        df = Counter(t for text in texts for t in set(text.split()))
        n = float(len(texts))
        return {t: float(np.log1p((n - d + 0.5) / (d + 0.5))) for t, d in df.items()}
