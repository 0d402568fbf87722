"""The interface the retriever uses; it never knows which store it talks to."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VectorStore(Protocol):
    """Dense vectors addressed by row number (the position of the chunk in `chunks.jsonl`)."""

    kind: str

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) by inner product for one unit query vector; rows limited to `allowed`."""
        ...

    def save(self, folder: Path) -> None: ...

    def __len__(self) -> int: ...
