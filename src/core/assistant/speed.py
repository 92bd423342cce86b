"""The assistant's speed work, kept apart from the rules it speeds up (docs/benchmarks/assistant.md).

* **Scoring in one thread.** Recall's float32 pass over a user's matrix (10,000 x 256) and
  the float64 rescoring of the candidates near the k-th run in numpy's own einsum loop, not
  BLAS. OpenBLAS spreads a matrix-vector product over every core; on a busy two-core host its
  threads wait behind the request threads, and the product took 11.6 ms (p50, load 5)
  against 0.7 ms for the single-threaded loop, p99 93 ms against 9 ms. The loop's float32
  sum has the same error bound as any summation order (``dims * 2**-24`` for unit
  vectors), which is the margin :func:`townsquare.core.assistant.vectors.top_k` keeps, so
  recall stays exact.
* **One transaction per read of many sources.** The next-best actions and the context
  compiler read five to seven services for one user; each service opens its own
  transaction, and a transaction inside another joins it. ``ActionService.suggest`` and
  ``ContextCompiler.compile`` open one, as the user, around all of them: seven sets of
  BEGIN / SET ROLE / COMMIT round trips become one. Every source reads that user's own rows,
  so running it in the user's transaction changes no answer: row-level security shows it
  exactly what its own transaction would.
* **A turn's reads beside its write.** ``ChatService.turn`` stores the message (locking the
  conversation, checking the rate limit) in one transaction while another thread compiles
  the context and recalls memories (:func:`beside`): the first token waits for the longer of
  the two, not their sum. The reads need nothing the write makes (the new message is not in
  the context, and the history is read by the write). A thread starts with no unit of work,
  so the reads open their own transaction (on a second pooled connection; in memory mode
  they wait for the store's lock). A caller already inside a unit of work gets the reads in
  its own thread, first, joining its block (another thread could wait for that block's
  locks while the caller waits for it). When the write fails (rate limit, not found), the
  reads' answer is dropped once they end (:func:`settle`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")
_BESIDE = ThreadPoolExecutor(max_workers=8, thread_name_prefix="assistant-beside")


def dot_rows(matrix: npt.NDArray[np.floating], vector: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """Each row of ``matrix`` dotted with ``vector``, in this thread (numpy's einsum loop, never BLAS)."""
    scores: npt.NDArray[np.floating] = np.einsum("ij,j->i", matrix, vector)
    return scores


def beside(call: Callable[[], T], *, inline: bool = False) -> Future[T]:
    """Start ``call`` in another thread, with no unit of work of the caller's (it opens its own).

    ``inline`` runs it now in this thread instead (for a caller inside a unit of work, whose
    locks the other thread could wait for while the caller waits for it).
    """
    if not inline:
        return _BESIDE.submit(call)
    done: Future[T] = Future()
    try:
        done.set_result(call())
    except Exception as error:
        done.set_exception(error)
    return done


def settle(future: Future[T]) -> None:
    """Wait for ``future`` to end, its answer and its failure unwanted."""
    try:
        future.result()
    except Exception:
        return
