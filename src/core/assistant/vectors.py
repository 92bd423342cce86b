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
from attrs import frozen

from townsquare.core.assistant.models import MemoryVectors
from townsquare.core.assistant.speed import dot_rows

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


@frozen(eq=False)
class PreparedVectors:
    """A user's embeddings ready to rank: one float32 matrix and the expiries as seconds."""

    ids: tuple[str, ...]
    matrix: npt.NDArray[np.float32]
    expiry: npt.NDArray[np.float64]
    dims: int


def prepare(vectors: MemoryVectors) -> PreparedVectors:
    """Decode the stored bytes once (what the recall cache keeps)."""
    matrix = np.frombuffer(vectors.data, dtype=_FLOAT32).reshape(len(vectors.ids), vectors.dims)
    expiry = np.array([math.inf if at is None else at.timestamp() for at in vectors.expires_at], dtype=np.float64)
    return PreparedVectors(vectors.ids, matrix, expiry, vectors.dims)


def top_k(vectors: MemoryVectors | PreparedVectors, query: bytes, k: int, now: datetime) -> list[tuple[str, float]]:
    """The ``k`` live memories most similar to ``query``: exact, by score then id.

    Scores every memory in float32 (one matrix-vector product), keeps every candidate within
    twice float32's worst-case error of the k-th best, and ranks those by their exact float64
    scores: the result is the exact float64 ranking, at float32 speed.

    Args:
        vectors: the user's stored embeddings.
        query: the query's unit embedding.
        k: how many (>= 1).
        now: memories that expired at or before it are left out.
    """
    prepared = vectors if isinstance(vectors, PreparedVectors) else prepare(vectors)
    if not prepared.ids or dims_of(query) != prepared.dims:
        return []
    q32 = np.frombuffer(query, dtype=_FLOAT32)
    rough = dot_rows(prepared.matrix, q32)
    rough[prepared.expiry <= now.timestamp()] = -np.inf
    live = int(np.count_nonzero(rough > -np.inf))
    take = min(k, live)
    if take == 0:
        return []
    kth = float(np.partition(rough, len(rough) - take)[len(rough) - take])
    # A unit-vector dot product in float32 is off by at most ~dims * 2**-24 (summation error).
    margin = 4 * prepared.dims * 2.0**-24 + 1e-6
    candidates = np.nonzero(rough >= kth - margin)[0]
    exact = dot_rows(prepared.matrix[candidates].astype(np.float64), as_array(query))
    ranked = sorted(
        ((float(score), prepared.ids[i]) for score, i in zip(exact, candidates, strict=True)),
        key=lambda pair: (-pair[0], pair[1]),
    )
    return [(memory_id, score) for score, memory_id in ranked[:take]]
