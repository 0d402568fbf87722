"""Vector stores behind one interface: FAISS (default, in-process files) and Milvus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qa.index.stores.base import VectorStore

__all__ = ["VectorStore", "open_store"]


def open_store(manifest: Any, settings: Any, chunks: Sequence[Any]) -> Any:
    """The store a manifest names, for store kinds other than FAISS (which reads files in the folder).

    A Milvus index is opened at the URI recorded by the build, unless `QA_MILVUS_URI` is set explicitly
    (replicas may reach the same cluster under another host name).
    """
    from qa.errors import IndexCorrupt

    kind = manifest.store.get("kind")
    if kind == "milvus":
        from qa.index.stores.milvus_store import MilvusStore

        uri = settings.milvus_uri if "milvus_uri" in settings.model_fields_set else None
        store = MilvusStore.open(manifest.store, chunks, uri=uri, token=getattr(settings, "milvus_token", None))
        store.native_hybrid = getattr(settings, "milvus_fusion", "milvus") == "milvus"
        return store
    raise IndexCorrupt(f"unknown vector store {kind!r} in the index manifest: run `qa build`")
