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
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def dot_rows(matrix: npt.NDArray[np.floating], vector: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """Each row of ``matrix`` dotted with ``vector``, in this thread (numpy's einsum loop, never BLAS)."""
    scores: npt.NDArray[np.floating] = np.einsum("ij,j->i", matrix, vector)
    return scores
