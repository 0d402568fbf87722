"""Embedding: the bundled MiniLM model turning passages, sentences and queries into unit vectors."""
