"""Thread settings for the numeric libraries, set once per process (see docs/performance.md).

On the 2-core target machine every library defaults to its own pool of one thread per core; PyTorch,
ONNX Runtime and FAISS each sized at the core count is right for one large batch (build), and the server
keeps at most a few encodes in flight through the micro-batcher, so the pools do not multiply.
`QA_THREADS` (0 = the number of cores) sets all of them.
"""

from __future__ import annotations

import os

_done: int | None = None


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure(threads: int = 0) -> int:
    """Set OMP/MKL env vars, torch and FAISS thread counts once; returns the count used. Idempotent."""
    global _done
    if _done is not None:
        return _done
    n = threads if threads > 0 else cpu_count()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)  # one inter-op thread: we never run graph branches in parallel
    except RuntimeError:  # already set (torch allows this once, before any parallel work)
        pass
    import faiss

    faiss.omp_set_num_threads(n)
    _done = n
    return n
