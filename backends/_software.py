"""The shared part of the backends that run generated Python source (python, numba-cpu)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from backends._args import Bound
from backends._loader import load_source
from backends._result import RunResult
from backends._source import function_name, module_source
from hls.lang import Kernel
from hls.types import ArrayType, BoolType, FloatType, IntType, ScalarType


class SourceBackend:
    """Compile a kernel to a module of generated source once, then call it."""

    name = ""
    flavor = ""

    def __init__(self) -> None:
        self._compiled: dict[Kernel, Callable[..., Any]] = {}

    def unavailable(self) -> str | None:
        """Why this backend cannot run here, or None when it can."""
        return None

    def source(self, kernel: Kernel) -> str:
        """The generated module source for `kernel` (readable; useful when debugging)."""
        return module_source(kernel, self.flavor)

    def compile(self, kernel: Kernel) -> Callable[..., Any]:
        """The generated function for `kernel` (built once per kernel and cached)."""
        fn = self._compiled.get(kernel)
        if fn is None:
            module = load_source(self.source(kernel), self.name.replace("-", "_"))
            fn = self._compiled[kernel] = getattr(module, function_name(kernel))
        return fn

    def scalar(self, value: Any, t: ScalarType) -> Any:
        """A checked scalar argument as the generated code takes it."""
        return value

    def run(self, bound: Bound) -> RunResult:
        fn = self.compile(bound.kernel)
        params = bound.kernel.ir.params
        args = [v if isinstance(p.type, ArrayType) else self.scalar(v, p.type) for p, v in zip(params, bound.values)]
        t0 = time.perf_counter()
        raw = fn(*args)
        seconds = time.perf_counter() - t0
        return RunResult(self.name, _decode(raw, bound.kernel.ir.ret), seconds=seconds)


def _decode(raw: Any, t: ScalarType | None) -> Any:
    if t is None:
        return None
    if isinstance(t, FloatType):
        return float(np.float32(raw)) if t.width == 32 else float(raw)
    if isinstance(t, BoolType):
        return bool(raw)
    assert isinstance(t, IntType)
    return t.wrap(int(raw))
