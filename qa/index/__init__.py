"""The index: the versioned folder and its manifest contract, the vector stores and the BM25 index."""
