"""The shared part of the backends that run generated Python source (python, numba-cpu)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from backends._source import function_name, module_source
from hls.cache import load_source
from hls.lang import Kernel
from hls.runtime import Backend, Bound, RunResult
from hls.types import ArrayType, ScalarType, decode_value


class SourceBackend(Backend):
    """Compile a kernel to a module of generated source once, then call it."""

    name = ""
    flavor = ""

    def __init__(self) -> None:
        self._compiled: dict[Kernel, Callable[..., Any]] = {}

    def source(self, kernel: Kernel, dims: dict[str, int] | None = None) -> str:
        """The generated module source for `kernel` (readable; dims are bound per call, not here)."""
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
        return self.call(self.compile(bound.kernel), bound)

    def call(self, fn: Callable[..., Any], bound: Bound) -> RunResult:
        """Call the generated `fn` on the checked arguments of `bound`; decode its return value."""
        params = bound.kernel.ir.params
        args = [v if isinstance(p.type, ArrayType) else self.scalar(v, p.type) for p, v in zip(params, bound.values)]
        t0 = time.perf_counter()
        raw = fn(*args)
        seconds = time.perf_counter() - t0
        return RunResult(self.name, decode_value(raw, bound.kernel.ir.ret), seconds=seconds)
