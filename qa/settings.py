"""All settings in one place, read from `QA_*` environment variables (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["hybrid", "dense", "lexical"]


class Settings(BaseSettings):
    """Every knob of `qa`. Each field is also the environment variable `QA_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="QA_", env_file=".env", extra="ignore")

    # where things are
    seeds: Path = Field(Path("seeds"), description="Folder of *.md articles to build from.")
    index: Path = Field(Path("index/default"), description="Index folder to build into / serve from.")
    cache_dir: Path = Field(
        Path(".cache/qa"), description="Embedding cache and exported model copies (safe to delete)."
    )

    # chunking
    max_tokens: int = Field(200, ge=32, le=2000, description="Passage budget in cl100k_base tokens.")
    overlap_tokens: int = Field(40, ge=0, le=200, description="Most tokens repeated between split parts.")
    model_max_tokens: int = Field(
        256, ge=16, le=512, description="Word-pieces the embedding model reads (CLS/SEP included)."
    )

    # embedding
    model: str = Field("all-MiniLM-L6-v2", description="Embedding model name (bundled offline).")
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "torch", description="Embedding runtime: PyTorch, ONNX Runtime fp32, or ONNX int8."
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Arithmetic of the torch backend: bf16 autocast (about 2x faster, same vectors to cosine 0.9999) "
        "or fp32; auto = bf16 where the CPU has native bf16 (AVX512-BF16/AMX).",
    )
    batch_size: int = Field(32, ge=1, le=1024, description="Passages per embedding batch.")
    threads: int = Field(
        0, ge=0, le=256, description="Threads for torch / ONNX Runtime / FAISS (0 = the number of cores)."
    )

    # stores
    store: Literal["faiss", "milvus"] = Field("faiss", description="Vector store backend.")
    milvus_uri: str = Field("index/milvus.db", description="Milvus Lite file or http(s):// server URI.")
    milvus_token: str | None = Field(None, description="Milvus credentials (`user:password` or API key), if any.")
    milvus_fusion: Literal["milvus", "qa"] = Field(
        "milvus", description="Hybrid on Milvus: RRF inside Milvus (hybrid_search), or its two lists fused by qa."
    )
    faiss_index: Literal["auto", "flat", "hnsw", "ivf"] = Field(
        "auto", description="FAISS index type; auto = flat below `hnsw_threshold` vectors."
    )
    hnsw_threshold: int = Field(50_000, ge=1, description="Vector count from which `auto` uses HNSW.")

    # distributed builds (`qa build --ray`, the optional extra qa[ray]; docs/operations.md)
    ray_address: str | None = Field(
        None, description="Ray cluster for `qa build --ray` without an address: `auto` (a cluster started on this "
        "machine with `ray start`), `host:6379`, or `ray://host:10001`.",
    )
    ray_workers: int = Field(
        0, ge=0, le=4096, description="Ray actors per build stage (0 = one per alive node with CPUs)."
    )
    ray_worker_cpus: float = Field(1.0, gt=0, le=256, description="CPUs each Ray actor reserves (and torch threads).")
    records: Literal["memory", "store"] = Field(
        "memory", description="Passage records: all of chunks.jsonl in memory, or read on demand from the Milvus "
        "collection (`store`: replicas hold no corpus; sentence ranking and the article prior are off).",
    )

    # retrieval
    mode: Mode = Field("hybrid", description="Default retrieval mode.")
    k: int = Field(5, ge=1, le=50, description="Default number of results.")
    retrieval_file: Path = Field(
        Path("eval/retrieval.json"),
        description="Tuned fusion/ranking/answerability settings (`qa tune`), copied into each built index.",
    )
    answer_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="Move the operating point: confidence at or above which a result is "
        "`answered` (`answerable`), for every mode; unset = the index's calibration (README, 'Answerability').",
    )
    unsure_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="Confidence below which a result is `not_answered` (between it and the "
        "answer threshold: `unsure`), for every mode; unset = the index's calibration.",
    )

    # reading (qa/reader): answer span, "no answer", reordering of the top passages
    reader: str = Field(
        "auto", description="Reader model folder (transformers question answering); auto = the shipped "
        "models/reader when present; off = no reader.",
    )
    read: bool = Field(
        True, description="Whether search reads when a request does not say (where a reader is installed); "
        "`read: false` in a request is the fast path.",
    )
    reader_passages: int | None = Field(
        None, ge=1, le=50, description="Passages the reader reads; unset = the index's tuned value "
        "(`read` in eval/retrieval.json, chosen by `qa tune-reader`).",
    )
    reader_window: int | None = Field(
        None, ge=0, le=10_000, description="Characters of whole sentences around each passage's best sentence that "
        "the reader reads (0 = the whole passage); unset = the index's tuned value.",
    )
    reader_runtime: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8", description="Reader runtime: ONNX Runtime int8 (fastest on CPU), ONNX fp32, or PyTorch "
        "(bf16 where native). The ONNX files are exported once into cache_dir.",
    )

    # serving
    host: str = Field("127.0.0.1", description="Address `qa serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `qa serve` listens on.")
    api_key: str | None = Field(None, description="When set, /v1/* needs `Authorization: Bearer <key>`.")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body accepted (413 past).")
    request_timeout_s: float = Field(10.0, gt=0, description="Per-request time limit (503 past).")
    workers: int = Field(4, ge=1, le=64, description="Threads for encoding and search.")
    batch_queries: bool = Field(
        False,
        description="Encode queries arriving within `batch_window_ms` of each other in one batch (off: slower "
        "than concurrent ONNX Runtime calls in bench/, see docs/performance.md).",
    )
    batch_window_ms: float = Field(2.0, ge=0, le=100, description="How long a query waits for batch-mates.")
    max_queue: int = Field(
        64, ge=0, le=10_000, description="Requests that may wait for a worker; past that, 503 `overloaded`."
    )
    reload_check_s: float = Field(
        5.0, ge=0, description="Check the index link for a new build at most this often, on requests (0 = off)."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (none by default).")

    # several collections in one server (qa/serve/catalog.py)
    collections: str | None = Field(
        None, description="Serve several indexes: `name=path,name=path`, or a .toml/.yaml/.json file of them "
        "(unset: one collection, `default`, at `index`).",
    )
    default_collection: str | None = Field(
        None, description="The collection today's routes (/v1/search, ...) answer from; unset = the first listed.",
    )
    api_keys: dict[str, list[str] | Literal["*"]] = Field(
        default_factory=dict, description='API keys limited to collections, as JSON: {"key": ["name", ...]} or '
        '{"key": "*"}; `api_key` is a key for every collection.',
    )

    @field_validator("api_key", "collections", "default_collection")
    @classmethod
    def _empty_key_is_none(cls, v: str | None) -> str | None:
        return v or None

    @field_validator("reader_passages", "reader_window", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v  # `QA_READER_WINDOW=` = unset

    @model_validator(mode="after")
    def _overlap_below_budget(self) -> Settings:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("overlap_tokens must be smaller than max_tokens")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests override with `get_settings.cache_clear()` or dependency overrides)."""
    return Settings()
