"""Which reader a Retriever uses (`QA_READER`), loaded on which runtime (`QA_READER_RUNTIME`)."""

from __future__ import annotations

from pathlib import Path

from qa.errors import QAError
from qa.reader.model import Reader
from qa.settings import Settings

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "reader"


def reader_folder(setting: str) -> Path | None:
    """`auto`: the shipped `models/reader` when present; `off`: none; anything else: that folder."""
    if setting == "off":
        return None
    if setting == "auto":
        return SHIPPED if (SHIPPED / "config.json").exists() else None
    folder = Path(setting)
    if not (folder / "config.json").exists():
        raise QAError(f"QA_READER={setting!r} is not a model folder (no config.json): point it at a "
                      "transformers question-answering model, or set it to `off`", code="bad_reader")
    return folder


def load_model(folder: Path, settings: Settings) -> Reader:
    """The reader's weights on the runtime the settings ask for (`QA_READER_RUNTIME`)."""
    return Reader.load(folder, precision=settings.precision, runtime=settings.reader_runtime,
                       cache_dir=settings.cache_dir, threads=settings.threads)
