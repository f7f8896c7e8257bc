"""One native thread per request: FAISS's OpenMP team, torch's intra-op pool, numpy's BLAS.

The service runs several requests at once (BentoML hands each sync endpoint call to an AnyIO
worker thread) in one worker process per core. A native library that splits one small search
over every core then forks a team of spinning threads per request, and the teams of concurrent
requests fight over the same two cores. Measured (2026-12-04, `slotrec serve`, 2 workers, c8):
players mid-session got 134-173 recommendations a second with a p99 of 118-157 ms, and 52% of
a worker's samples were in `IndexFlat.search`; the same load with `OMP_NUM_THREADS=1` gave
463-597 a second, p99 31-32 ms.

Setting the pools once in `__init__` was not enough: OpenMP's team size (`omp_set_num_threads`)
belongs to the thread that sets it, and each worker thread starts from the default, every core.
FAISS and torch each carry their own copy of the OpenMP runtime, so both need setting.
`pin_this_thread` does it in the thread that serves the request, through threadpoolctl (which
finds every OpenMP and BLAS runtime loaded in the process), once per thread: pool threads are
reused, so after the first few requests it costs one attribute lookup.

`service_process.start_service` also starts the server with `OMP_NUM_THREADS=1` (and the BLAS
equivalents), which makes one the default from the start; the pin keeps it true however the
service was started.
"""

from __future__ import annotations

import threading

_local = threading.local()

# The environment of a service process (read by each runtime when it loads).
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def pin_this_thread() -> None:
    """Make every native thread pool run single-threaded when called from this thread."""
    if getattr(_local, "pinned", False):
        return
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # OpenMP: this thread's team size; BLAS: the whole process
    torch.set_num_threads(1)  # torch's intra-op pool
    _local.pinned = True


def openmp_threads_here() -> int:
    """The team size a FAISS search started from this thread would use."""
    import faiss

    return int(faiss.omp_get_max_threads())
