"""qa: question-answering retrieval over Markdown articles, with exact citations.

Python API for backends that embed `qa` in-process::

    from qa import Retriever
    retriever = Retriever.load("index/default")
    result = retriever.search("How many troops withdrew?", k=5)
    context = retriever.context("How many troops withdrew?", max_tokens=1000)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("qa")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from qa.search.retriever import Retriever

__all__ = ["Retriever", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import qa` (and `qa --help`) never loads torch or faiss.
    if name == "Retriever":
        from qa.search.retriever import Retriever

        return Retriever
    raise AttributeError(name)
