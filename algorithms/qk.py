"""Integer QK kernels for the QK unit: int8 queries and keys, int32 scores."""

from __future__ import annotations

import numpy as np

from hls import Array, i8, i32, kernel, pipeline, prange, unroll


@kernel
def qk_dense(q: Array[i8, "M", "D"], k: Array[i8, "N", "D"], s: Array[i32, "M", "N"]):
    """s[i, j] = sum_d q[i, d] * k[j, d] for every query i and key j."""
    for i in prange(q.shape[0]):
        for j in pipeline(range(k.shape[0]), ii=1):
            acc = i32(0)
            for d in unroll(range(q.shape[1])):
                acc += q[i, d] * k[j, d]
            s[i, j] = acc


@kernel
def qk_masked(q: Array[i8, "M", "D"], k: Array[i8, "N", "D"], mask: Array[bool, "M", "N"], s: Array[i32, "M", "N"]):
    """Like qk_dense, but only where mask[i, j]; masked scores are 0 and cost no multiplies."""
    for i in prange(q.shape[0]):
        for j in pipeline(range(k.shape[0]), ii=1):
            acc = i32(0)
            if mask[i, j]:
                for d in unroll(range(q.shape[1])):
                    acc += q[i, d] * k[j, d]
            s[i, j] = acc


def qk_reference(q: np.ndarray, k: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """numpy reference: exact int64 products, wrapped to int32 like the kernels."""
    s = (q.astype(np.int64) @ k.astype(np.int64).T).astype(np.int32)
    return s if mask is None else np.where(mask, s, 0).astype(np.int32)
