"""The float tolerance rule of DESIGN.md, shared by every float test.

A result passes when its max error against a float64 reference is at most
twice the max error of a naive implementation in the same precision, plus a
small absolute floor (the FlashAttention rule). Never "95% of elements".
"""

from __future__ import annotations

import numpy as np

FLOOR = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-13}


def max_error(got: np.ndarray, ref64: np.ndarray) -> float:
    """Max |got - ref64| in float64; infinite when NaN appears where the reference has none."""
    got64 = np.asarray(got, dtype=np.float64)
    if np.isnan(got64).any() and not np.isnan(ref64).any():
        return float("inf")
    return float(np.nanmax(np.abs(got64 - ref64))) if got64.size else 0.0


def assert_within_naive_error(got: np.ndarray, ref64: np.ndarray, naive: np.ndarray, what: str = "result") -> None:
    """Assert max|got - ref64| <= 2 * max|naive - ref64| + floor(dtype of naive)."""
    assert got.shape == ref64.shape == naive.shape, (got.shape, ref64.shape, naive.shape)
    err, base = max_error(got, ref64), max_error(naive, ref64)
    bound = 2 * base + FLOOR[np.dtype(naive.dtype)]
    assert err <= bound, f"{what}: max error {err:.3e} exceeds 2 x naive {base:.3e} + floor = {bound:.3e}"
