"""Searching an index: candidates → fusion → ranking → hits → confidence, behind `Retriever`."""
