"""`qa build --ray`: reading + chunking and embedding as Ray Data stages on a Ray cluster.

Only the heavy, per-file and per-passage work goes to the cluster; the build's plan, incremental reuse, store
writes (Milvus upserts), manifest and atomic publish stay in `qa.build.pipeline`, so a Ray build yields the
same index as a local one. Two stages, each a `map_batches` over an actor pool:

- read + chunk: every file to (re)split is read and split on a worker (`chunk_file`, the local code). The
  seeds folder must be readable at the same path on every node (a shared or synced folder).
- embed: the passages the build lacks vectors for, with the same sentence-transformers model loaded once per
  actor (on a GPU where the cluster has GPUs), passage and sentence vectors from one pass, as locally.

Actors are not restarted and tasks not retried: a worker lost mid-build fails the build with `RayBuildError`
before anything is written, and the served index stays as it was (the publish is the last step).

Ray is imported only here, and only when a build asks for it (the optional extra `qa[ray]`).
"""

from __future__ import annotations

import logging
import pickle
import socket
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from qa.embed.embedder import Progress
from qa.embed.model import DIM
from qa.errors import QAError
from qa.index.contract import chunker_settings
from qa.ingest.chunk_files import ChunkedFile
from qa.ingest.chunker import Chunker
from qa.settings import Settings

FILES_PER_BATCH = 8
PASSAGES_PER_BATCH = 256  # at most, per embedding call on a worker (sorted by length within, batch_size at a time)
BATCHES_PER_WORKER = 4  # at least, where passages allow: every actor gets work, and a slow one holds up less


class RayBuildError(QAError):
    """The Ray cluster could not be reached, or a stage failed on it (a worker lost, an error in a task)."""

    status = 503
    code = "ray_build_failed"


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: the cluster address, embedding actors (0: one per alive node), CPUs per actor."""

    address: str = "auto"
    workers: int = 0
    worker_cpus: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings, address: str | None = None) -> RayOptions:
        return cls(address or settings.ray_address or "auto", settings.ray_workers, settings.ray_worker_cpus)


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayBuildError("`qa build --ray` needs Ray: pip install 'qa[ray]'", code="ray_missing",
                            status=400) from exc
    return ray


class _Chunk:
    """Ray actor: reads and splits files with the local chunker (rows: path → pickled ChunkedFile)."""

    def __init__(self, root: str, chunker: dict[str, Any]) -> None:
        from qa.ingest.chunker import ChunkerConfig

        self.root = Path(root)
        self.chunker = Chunker(ChunkerConfig(**chunker))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        from qa.ingest.chunk_files import chunk_file

        done = [chunk_file(Path(str(p)), self.root, self.chunker) for p in batch["path"]]
        return {"i": batch["i"], "done": np.array([pickle.dumps(d) for d in done], dtype=object)}


class _Embed:
    """Ray actor: the embedding model loaded once; passage vectors and flattened sentence vectors per row."""

    def __init__(self, backend: str, batch_size: int, precision: str, threads: int, gpu: bool) -> None:
        from qa.embed.embedder import Embedder
        from qa.threads import configure

        configure(threads)
        self.embedder = Embedder(backend, batch_size, precision=precision, device="cuda" if gpu else "cpu")
        self.embedder.model  # noqa: B018  (load now, once per actor)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        spans = [pickle.loads(s) for s in batch["spans"]]
        vectors, per = self.embedder.encode_with_sentences(texts, spans)
        import ray

        node = ray.get_runtime_context().get_node_id()
        return {"i": batch["i"], "vector": vectors, "node": np.array([node] * len(texts), dtype=object),
                "sentences": np.array([np.ascontiguousarray(s, np.float32).tobytes() for s in per], dtype=object)}


class RayEngine:
    """One connection to a Ray cluster for one build (`with RayEngine(...) as engine`)."""

    def __init__(self, settings: Settings, options: RayOptions) -> None:
        self.settings = settings
        self.options = options
        self.ray: Any = None
        self.nodes = 0
        self.gpus = 0.0
        self.embedded_on: set[str] = set()  # ids of the nodes whose actors have returned vectors

    def __enter__(self) -> Self:
        ray = _ray()
        reachable(self.options.address)
        try:
            ray.init(address=self.options.address, ignore_reinit_error=True, log_to_driver=False,
                     logging_level="ERROR", include_dashboard=False)
        except Exception as exc:  # ConnectionError, and ray's own
            raise RayBuildError(f"cannot reach the Ray cluster at {self.options.address!r}: {exc} "
                                "(start one with `ray start --head`, or set QA_RAY_ADDRESS)") from exc
        self.ray = ray
        self.nodes = sum(1 for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0)
        self.gpus = float(ray.cluster_resources().get("GPU", 0.0))
        import ray.data

        logging.getLogger("ray.data").setLevel(logging.WARNING)  # the build's own reporter tells progress
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.execution_options.preserve_order = True
        # an actor lost while it loads the model fails the build too (Ray Data would start another, on
        # whatever node is left, and the build would go on with a node gone)
        ctx.max_consecutive_actor_init_deaths = 0
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ray is not None:
            self.ray.shutdown()
            self.ray = None

    @property
    def workers(self) -> int:
        return self.options.workers or max(1, self.nodes)

    def _pool(self, blocks: int) -> Any:
        import ray.data

        return ray.data.ActorPoolStrategy(size=max(1, min(self.workers, blocks)))

    def _run(self, stage: str, ds: Any) -> list[dict[str, Any]]:
        try:
            return list(ds.iter_rows())
        except QAError:
            raise
        except Exception as exc:  # RayActorError, RayTaskError, ObjectLostError, …
            raise failed(stage, exc) from exc

    # -- stages --------------------------------------------------------------------------------------

    def chunk_files(self, files: Sequence[Path], root: Path, chunker: Chunker) -> Iterator[ChunkedFile]:
        """`chunk_file` over files on the cluster, in the files' order (as `qa.ingest.chunk_files`); the
        workers split with the settings' chunker, which is `chunker`'s."""
        if not files:
            return iter(())
        import ray.data

        blocks = -(-len(files) // FILES_PER_BATCH)
        ds: Any = ray.data.from_items([{"i": i, "path": str(p)} for i, p in enumerate(files)],
                                      override_num_blocks=blocks)
        ds = _quietly(
            ds.map_batches,
            _Chunk, fn_constructor_kwargs={"root": str(root), "chunker": chunker_settings(self.settings)},
            batch_size=FILES_PER_BATCH, compute=self._pool(blocks), num_cpus=self.options.worker_cpus,
            ray_remote_args_fn=no_retries,
        )
        rows = sorted(self._run("read + chunk", ds), key=lambda r: int(r["i"]))
        if len(rows) != len(files):
            raise RayBuildError(f"Ray returned {len(rows)} of {len(files)} files; run the build again")
        return (pickle.loads(r["done"]) for r in rows)

    def encode_with_sentences(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], progress: Progress | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """As `Embedder.encode_with_sentences`, on the cluster's embedding actors."""
        out = np.zeros((len(texts), DIM), np.float32)
        per: list[np.ndarray] = [np.zeros((0, DIM), np.float32)] * len(texts)
        if not texts:
            return out, per
        import ray.data

        # similar lengths travel together, so the workers' batches pad little (as the local build sorts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        per_batch = max(1, min(PASSAGES_PER_BATCH, -(-len(texts) // (BATCHES_PER_WORKER * self.workers))))
        blocks = -(-len(texts) // per_batch)
        ds: Any = ray.data.from_items([{"i": i, "text": texts[i], "spans": pickle.dumps(list(spans[i]))}
                                       for i in order], override_num_blocks=blocks)
        gpu = self.gpus > 0
        s = self.settings
        ds = _quietly(
            ds.map_batches,
            _Embed,
            fn_constructor_kwargs={"backend": s.backend, "batch_size": s.batch_size, "precision": s.precision,
                                   "threads": max(1, int(self.options.worker_cpus)), "gpu": gpu},
            batch_size=per_batch, compute=self._pool(blocks), num_cpus=self.options.worker_cpus,
            num_gpus=1 if gpu else None, ray_remote_args_fn=no_retries,
        )
        t0 = time.perf_counter()
        done = 0
        try:
            for row in ds.iter_rows():
                i = int(row["i"])
                out[i] = row["vector"]
                per[i] = np.frombuffer(row["sentences"], np.float32).reshape(-1, DIM).copy()
                self.embedded_on.add(str(row["node"]))
                done += 1
                if progress and done % 8 == 0:
                    progress(done, len(texts), time.perf_counter() - t0)
        except QAError:
            raise
        except Exception as exc:
            raise failed("embed", exc) from exc
        if done != len(texts):
            raise RayBuildError(f"Ray returned {done} of {len(texts)} passage vectors; run the build again")
        if progress:
            progress(done, len(texts), time.perf_counter() - t0)
        return out, per


def reachable(address: str, timeout: float = 5.0) -> None:
    """Fails fast on a `host:port` nothing listens on (`ray.init` would wait for it for minutes)."""
    if address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as exc:
        raise RayBuildError(f"cannot reach the Ray cluster at {address!r}: {exc} (start one with "
                            "`ray start --head`, or set QA_RAY_ADDRESS)") from exc


def no_retries() -> dict[str, Any]:
    """Actors are not restarted nor their calls retried (Ray Data's default is forever): a lost worker fails
    the build rather than leaving it waiting or half-done. (Ray 2.60 takes these only through
    `ray_remote_args_fn` or `**ray_remote_args`, both marked for removal in 2.64: revisit when moving the pin.)"""
    return {"max_restarts": 0, "max_task_retries": 0}


def _quietly(call: Any, *args: Any, **kwargs: Any) -> Any:
    """`call` without Ray's deprecation warning for `ray_remote_args_fn` (see `no_retries`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        return call(*args, **kwargs)


def failed(stage: str, exc: BaseException) -> RayBuildError:
    """One clear message for a stage that failed on the cluster."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RayBuildError(f"Ray build failed in stage {stage!r} ({type(exc).__name__}: {first[:300]}); "
                         "nothing was written and the served index is unchanged: check the cluster "
                         "(`ray status`) and run the build again")
