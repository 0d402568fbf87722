"""The index contract: what a manifest records and what a reader checks, shared by build and query.

Below both sides (it imports neither `qa.build` nor `qa.search`), so the build writes and the retriever
reads the same keys:

- compatibility keys: the model and chunker settings an index is valid for (`expected`), and which vector
  families may share an index (`vector_family`);
- settings → manifest: the model entry (`model_entry`), the lexical entry (`lexical_entry`) and the tuned
  retrieval settings copied in at build time (`retrieval_entry`, from `settings.retrieval_file`);
- the text BM25 indexes (`lexical_text`, with the infobox labels spelled out), versioned so a change of it
  rebuilds the BM25 index (`LEXICAL_TEXT_VERSION`).

The retrieval settings a reader runs with are typed in `qa.index.retrieval` (`RetrievalConfig`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.embed.model import DIM, MODEL_NAME, resolve_precision, weights_hash
from qa.errors import QAError

if TYPE_CHECKING:
    from qa.index.folder import Manifest
    from qa.records import Chunk
    from qa.settings import Settings

# Infobox field names as Wikipedia shows them, for BM25 (so "part of" or "location" in a question matches).
INFOBOX_LABELS = {
    "partof": "Part of", "place": "Location", "territory": "Territorial changes", "combatant": "Belligerents",
    "commander": "Commanders and leaders", "units": "Units involved", "casualties": "Casualties and losses",
}
# Bumped whenever lexical_text changes, so a build over an unchanged corpus still rewrites the BM25 index.
LEXICAL_TEXT_VERSION = 2
STEMMER = "english"  # what both BM25 implementations stem and drop (qa.index.lexical, the Milvus store)
STOPWORDS = "en"


def chunker_settings(settings: Settings) -> dict[str, int]:
    return {
        "max_tokens": settings.max_tokens,
        "overlap_tokens": settings.overlap_tokens,
        "model_max_tokens": settings.model_max_tokens,
    }


def model_settings(settings: Settings) -> dict[str, object]:
    return {"name": MODEL_NAME, "weights_hash": weights_hash(), "dim": DIM}


def expected(settings: Settings) -> dict[str, dict[str, Any]]:
    """The manifest values an index must carry to be read (or reused) under these settings."""
    return {"model": model_settings(settings), "chunker": chunker_settings(settings)}


def model_entry(settings: Settings) -> dict[str, object]:
    """The manifest's `model`: the compatibility keys plus how the vectors were computed."""
    return model_settings(settings) | {
        "backend": settings.backend, "precision": resolve_precision(settings.backend, settings.precision),
    }


def lexical_entry(library: str) -> dict[str, object]:
    return {"library": library, "stemmer": STEMMER, "stopwords": STOPWORDS, "text_version": LEXICAL_TEXT_VERSION}


def vector_family(backend: str) -> str:
    """Backends whose vectors are interchangeable: PyTorch and ONNX fp32 agree to ~1e-6 (same eval to 0.001),
    so switching between them reuses every vector; dynamic int8 differs (cosine ≈ 0.98) and re-embeds all."""
    return "int8" if backend.endswith("int8") else "fp32"


def load_retrieval_file(path: Path) -> dict[str, Any]:
    """The tuned retrieval settings in `path` (without the `tuned` and `calibrated` provenance blocks); {} if absent."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise QAError(f"cannot read retrieval settings {path}: {exc}", code="bad_retrieval_file", status=400) from exc
    return {k: v for k, v in data.items() if k not in ("tuned", "calibrated")}  # provenance, not settings


def retrieval_entry(settings: Settings, old_manifest: Manifest | None) -> dict[str, object]:
    """The tuned retrieval settings for the manifest: `settings.retrieval_file` when it exists (see
    `qa tune`), else what the previous index carried, else {} (the reader's defaults apply)."""
    tuned = load_retrieval_file(settings.retrieval_file)
    if tuned:
        return tuned
    return dict(old_manifest.retrieval) if old_manifest else {}


def lexical_text(chunk: Chunk) -> str:
    """What BM25 indexes: the heading path gives section words their weight too; infobox field names are
    spelled out (`partof: …` → `Part of: …`)."""
    text = chunk.text
    if tuple(chunk.section_path) == ("Infobox",):
        text = re.sub(r"(?m)^([a-z_]+?)(\d*):", _spell_label, text)
    return " ".join((chunk.article_title, *chunk.section_path, text))


def _spell_label(m: re.Match[str]) -> str:
    label = INFOBOX_LABELS.get(m.group(1))
    return f"{label}:" if label else m.group(0)
