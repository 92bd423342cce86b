"""Embedding arithmetic: unit vectors as float32 bytes, cosine similarity, exact top-k.

Both adapters store the same float32 bytes and rank them with this one function, so memory
and Postgres mode return the same memories in the same order. Scores are computed in
float64 from the float32 components; ties are broken by memory id.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt

from townsquare.core.assistant.models import MemoryVectors

_FLOAT32 = np.dtype("<f4")


def unit_vector(values: Sequence[float] | npt.NDArray[np.floating]) -> bytes:
    """``values`` scaled to length 1, as little-endian float32 bytes (a zero vector stays zero)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("an embedding is a non-empty list of numbers")
    if not np.all(np.isfinite(array)):
        raise ValueError("an embedding must hold finite numbers only")
    norm = float(np.linalg.norm(array))
    if norm > 0:
        array = array / norm
    return array.astype(_FLOAT32).tobytes()


def dims_of(embedding: bytes) -> int:
    return len(embedding) // _FLOAT32.itemsize


def as_array(embedding: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(embedding, dtype=_FLOAT32).astype(np.float64)


def similarity(a: bytes, b: bytes) -> float:
    """Cosine similarity of two unit embeddings (their dot product); 0 when sizes differ."""
    if len(a) != len(b):
        return 0.0
    return float(as_array(a) @ as_array(b))


def top_k(vectors: MemoryVectors, query: bytes, k: int, now: datetime) -> list[tuple[str, float]]:
    """The ``k`` live memories most similar to ``query``: exact, by score then id.

    Args:
        vectors: the user's stored embeddings.
        query: the query's unit embedding.
        k: how many (>= 1).
        now: memories that expired at or before it are left out.
    """
    if not vectors.ids or dims_of(query) != vectors.dims:
        return []
    matrix = np.frombuffer(vectors.data, dtype=_FLOAT32).reshape(len(vectors.ids), vectors.dims)
    scores = matrix.astype(np.float64) @ as_array(query)
    now_s = now.timestamp()
    expiry = np.array([math.inf if at is None else at.timestamp() for at in vectors.expires_at], dtype=np.float64)
    scores[expiry <= now_s] = -math.inf
    live = int(np.count_nonzero(scores > -math.inf))
    take = min(k, live)
    if take == 0:
        return []
    # Everything scoring at least the k-th best score: the top k and every tie at its edge,
    # ordered exactly by (score descending, id ascending).
    kth = float(np.partition(scores, len(scores) - take)[len(scores) - take])
    candidates = np.nonzero(scores >= kth)[0]
    ranked = sorted(((float(scores[i]), vectors.ids[i]) for i in candidates), key=lambda pair: (-pair[0], pair[1]))
    return [(memory_id, score) for score, memory_id in ranked[:take]]
