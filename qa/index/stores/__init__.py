"""Vector stores behind one interface (`VectorStore`): FAISS (default, in-process files) and Milvus."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import IndexCorrupt, IndexMismatch
from qa.index.stores.base import LexicalSearch, VectorStore

if TYPE_CHECKING:
    from qa.index.folder import Manifest
    from qa.records import Chunk
    from qa.settings import Settings

__all__ = ["LexicalSearch", "VectorStore", "open_store"]


def open_store(
    folder: Path, manifest: Manifest, settings: Settings, chunks: Sequence[Chunk] | None
) -> VectorStore:
    """The store a manifest names: FAISS files in `folder`, or a Milvus collection.

    A Milvus index is opened at the URI recorded by the build, unless `QA_MILVUS_URI` is set explicitly
    (replicas may reach the same cluster under another host name). `chunks` None: the records are read on
    demand from the collection (`QA_RECORDS=store`; the store's `chunks` is then a `StorePassages`).
    """
    kind = manifest.store.get("kind", "faiss")
    if kind == "faiss":
        from qa.index.stores.faiss_store import FaissStore

        if chunks is None:
            raise IndexMismatch("QA_RECORDS=store reads passages from Milvus, and this index is in FAISS: build it "
                                "with QA_STORE=milvus, or serve with QA_RECORDS=memory")
        return FaissStore.load(folder, manifest.store.get("index_type", "flat"))
    if kind == "milvus":
        from qa.index.stores.milvus_store import MilvusStore

        uri = settings.milvus_uri if "milvus_uri" in settings.model_fields_set else None
        if chunks is None:
            store = MilvusStore.open_on_demand(manifest.store, int(manifest.counts.get("chunks", 0)), uri=uri,
                                               token=settings.milvus_token)
        else:
            store = MilvusStore.open(manifest.store, chunks, uri=uri, token=settings.milvus_token)
        store.idf_file = folder / "idf.json"
        store.native_hybrid = settings.milvus_fusion == "milvus"
        return store
    raise IndexCorrupt(f"unknown vector store {kind!r} in the index manifest: run `qa build`")
