"""`python`: the reference backend; exact integers, checked indices; records coverage for `hls.check`.

Dataflow regions run with every FIFO bounded at its depth, the processes as coroutines
(`backends._dataflow.run_python`): a depth that deadlocks in hardware deadlocks here too.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from backends._dataflow import Lookup, run_python
from backends._software import SourceBackend
from backends._source import module_source
from hls.cache import load_source
from hls.coverage import Site, sites
from hls.lang import Kernel
from hls.runtime import Bound, RunResult
from hls.types import FloatType, ScalarType


class PythonBackend(SourceBackend):
    """Run the kernel as generated plain Python with explicit wrap-around at stores."""

    name = "python"
    flavor = "python"

    def __init__(self) -> None:
        super().__init__()
        self._covered: dict[Kernel, tuple[ModuleType, tuple[Site, ...]]] = {}

    def scalar(self, value: Any, t: ScalarType) -> Any:
        if isinstance(t, FloatType):  # NOTE: float32 arithmetic must round to float32, as compiled code does
            return np.float32(value) if t.width == 32 else np.float64(value)
        return value

    def run_dataflow(self, bound: Bound, lookup: Lookup) -> RunResult:
        return run_python(bound, lookup, self.scalar, self.name)

    def run_covered(self, bound: Bound) -> tuple[RunResult, frozenset[Site]]:
        """Run the generated code with a probe at every branch arm and loop body; return the sites it reached.

        NOTE: the probes live in the generated module, so two runs of one kernel must not overlap (threads).
        """
        kernel = bound.kernel
        if kernel not in self._covered:
            covered = sites(kernel)
            module = load_source(module_source(kernel, self.flavor, coverage=covered), "python_coverage")
            self._covered[kernel] = (module, covered)
        module, covered = self._covered[kernel]
        if not covered:
            return self.run_module(bound, module), frozenset()
        probes: bytearray = module._cov
        probes[:] = bytes(len(probes))
        result = self.run_module(bound, module)
        return result, frozenset(site for site, hit in zip(covered, probes) if hit)
