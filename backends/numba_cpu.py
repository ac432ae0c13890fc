"""`numba-cpu`: njit-compiled kernels, `prange` loops run on all cores.

Dataflow regions run their processes one after another, writers first, with unbounded
FIFOs (`backends._dataflow.run_sequential`): FIFO depths are not modeled here (the
python backend models them exactly, the hardware backends cycle by cycle), and a region
whose FIFOs make a cycle is unsupported.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from backends._dataflow import Lookup, cycle, run_sequential
from backends._software import SourceBackend
from hls.lang import Kernel
from hls.runtime import Bound, RunResult
from hls.types import FloatType, ScalarType


class NumbaCpuBackend(SourceBackend):
    """Compile the generated source with `numba.njit` (cached on disk per signature)."""

    name = "numba-cpu"
    flavor = "numba"

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("numba") is None:
            return "numba is not installed (pip install numba)"
        return None

    def __init__(self) -> None:
        super().__init__()
        self._capacities: dict[tuple[str, str], int] = {}  # FIFO buffer sizes earlier region runs needed

    def unsupported(self, kernel: Kernel) -> str | None:
        return cycle(kernel)

    def run_dataflow(self, bound: Bound, lookup: Lookup) -> RunResult:
        return run_sequential(bound, lookup, self.scalar, self.name, capacities=self._capacities)

    def scalar(self, value: Any, t: ScalarType) -> Any:
        if isinstance(t, FloatType):
            return np.float32(value) if t.width == 32 else np.float64(value)
        if isinstance(value, bool):
            return value
        # NOTE: u64 values above 2**63 - 1 travel as their int64 bit pattern, as inside the kernel.
        return np.int64(value - (1 << 64) if value >= 1 << 63 else value)
