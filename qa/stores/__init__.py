"""Vector stores behind one interface: FAISS (default, in-process files) and Milvus."""

from qa.stores.base import VectorStore

__all__ = ["VectorStore"]
