"""Which model embeds, with which arithmetic: its name, dimensions, the hash of its weights and the key of an
embedded text. Light (no torch): the index contract and the build read these without loading the model."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from qa.errors import QAError
from qa.ingest.tokens import model_path

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384


@lru_cache(maxsize=1)
def weights_hash() -> str:
    """sha256 of the bundled weights file: an index is only valid for the exact weights that built it."""
    return files_hash([model_path() / "model.safetensors"])


def files_hash(paths: list[Path]) -> str:
    """A short sha256 of the files' bytes, in order, read a block at a time."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


PRECISIONS = ("auto", "fp32", "bf16")

@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from /proc/cpuinfo; None where it cannot be read (not Linux)."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text(errors="replace").split())
    except OSError:
        return None


def native_bf16() -> bool:
    """True when the CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), where bf16 is about 2x fp32."""
    flags = cpu_flags()  # None (not Linux): stay on fp32
    return flags is not None and ("avx512_bf16" in flags or "amx_bf16" in flags)


def cpu_arithmetic() -> str:
    """The CPU features that change low-precision results (bf16 autocast, int8 dot products), for reports:
    two machines that differ here can score a few questions differently with the same code and data."""
    flags = cpu_flags()
    if flags is None:
        return "unknown"
    found = [f for f in ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2") if f in flags]
    return " ".join(found) or "none of avx2, avx512, amx"


def resolve_precision(backend: str, precision: str) -> str:
    """The arithmetic the torch backend runs in: bf16 autocast where the CPU has it natively, else fp32.

    Vectors from bf16 autocast match fp32 to cosine >= 0.9999 on the frontlines passages (weights and
    outputs stay fp32; only matrix products run in bf16), so indexes built either way are interchangeable.
    """
    if precision not in PRECISIONS:
        raise QAError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}", code="bad_setting")
    if backend != "torch":
        if precision == "bf16":
            raise QAError(f"precision bf16 needs backend torch (got {backend!r}); ONNX backends run fp32 or int8",
                          code="bad_setting")
        return "fp32"
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision
