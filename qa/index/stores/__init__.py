"""Vector stores behind one interface (`VectorStore`): FAISS (default, in-process files) and Milvus."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import IndexCorrupt
from qa.index.stores.base import LexicalSearch, VectorStore

if TYPE_CHECKING:
    from qa.index.folder import Manifest
    from qa.records import Chunk
    from qa.settings import Settings

__all__ = ["LexicalSearch", "VectorStore", "open_store"]


def open_store(folder: Path, manifest: Manifest, settings: Settings, chunks: Sequence[Chunk]) -> VectorStore:
    """The store a manifest names: FAISS files in `folder`, or a Milvus collection.

    A Milvus index is opened at the URI recorded by the build, unless `QA_MILVUS_URI` is set explicitly
    (replicas may reach the same cluster under another host name).
    """
    kind = manifest.store.get("kind", "faiss")
    if kind == "faiss":
        from qa.index.stores.faiss_store import FaissStore

        return FaissStore.load(folder, manifest.store.get("index_type", "flat"))
    if kind == "milvus":
        from qa.index.stores.milvus_store import MilvusStore

        uri = settings.milvus_uri if "milvus_uri" in settings.model_fields_set else None
        store = MilvusStore.open(manifest.store, chunks, uri=uri, token=settings.milvus_token)
        store.native_hybrid = settings.milvus_fusion == "milvus"
        return store
    raise IndexCorrupt(f"unknown vector store {kind!r} in the index manifest: run `qa build`")
