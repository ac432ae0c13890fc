"""`numba-cpu`: njit-compiled kernels, `prange` loops run on all cores."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from backends._software import SourceBackend
from hls.types import FloatType, ScalarType


class NumbaCpuBackend(SourceBackend):
    """Compile the generated source with `numba.njit` (cached on disk per signature)."""

    name = "numba-cpu"
    flavor = "numba"

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("numba") is None:
            return "numba is not installed (pip install numba)"
        return None

    def scalar(self, value: Any, t: ScalarType) -> Any:
        if isinstance(t, FloatType):
            return np.float32(value) if t.width == 32 else np.float64(value)
        if isinstance(value, bool):
            return value
        # NOTE: u64 values above 2**63 - 1 travel as their int64 bit pattern, as inside the kernel.
        return np.int64(value - (1 << 64) if value >= 1 << 63 else value)
