"""The `@kernel` decorator, loop markers and constant tables.

Outside a compiled backend the markers behave like `range`, so a kernel's
source stays ordinary Python.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np

from hls.types import FloatType, ScalarType, Stream, as_type, numpy_dtype

__all__ = [
    "Kernel",
    "Stream",
    "Table",
    "exp",
    "kernel",
    "log",
    "pipeline",
    "prange",
    "sqrt",
    "stream",
    "table",
    "unroll",
    "zeros",
]


def prange(*args: int) -> range:
    """A loop whose iterations are independent: threads on CPU/GPU, replicated in hardware."""
    return range(*args)


def unroll(loop: range, factor: int | None = None) -> range:
    """Unroll `loop` fully (or by `factor`) in hardware; a plain loop elsewhere."""
    return loop


def pipeline(loop: range, ii: int = 1) -> range:
    """Pipeline `loop` with initiation interval `ii` in hardware; a plain loop elsewhere."""
    return loop


def zeros(dtype: Any, *dims: int) -> np.ndarray:
    """A local array of `dtype` filled with zeros: `buf = zeros(f32, 64)` inside a kernel."""
    return np.zeros(dims, dtype=numpy_dtype(as_type(dtype)))


def stream(dtype: Any, depth: int) -> Any:
    """A FIFO of `dtype` holding at most `depth` values, declared in a dataflow region: `a = stream(i16, depth=2)`.

    Only the compiler gives it meaning (the backends run regions); called outside a kernel it raises.
    """
    raise RuntimeError("stream() declares a FIFO inside a @kernel dataflow region; run the region with a backend")


def exp(x: float) -> float:
    """e**x (float kernels only)."""
    return float(np.exp(x))


def log(x: float) -> float:
    """Natural logarithm (float kernels only)."""
    return float(np.log(x))


def sqrt(x: float) -> float:
    """Square root (float kernels only)."""
    return float(np.sqrt(x))


class Table:
    """A read-only constant table a kernel may index (a ROM in hardware)."""

    def __init__(self, dtype: Any, values: Any) -> None:
        self.elem: ScalarType = as_type(dtype)
        data = np.asarray(values)
        if (
            not isinstance(self.elem, FloatType)
            and data.size
            and (data.min() < self.elem.lo or data.max() > self.elem.hi)
        ):
            raise ValueError(f"table values do not fit {self.elem.name}")
        self.array = data.astype(numpy_dtype(self.elem))
        self.array.setflags(write=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    def __getitem__(self, index: Any) -> Any:
        return self.array[index]

    def __repr__(self) -> str:
        return f"table({self.elem.name}, shape={self.shape})"


def table(dtype: Any, values: Any) -> Table:
    """Make a constant table of `dtype` from `values` (any array-like)."""
    return Table(dtype, values)


FASTMATH = ("contract",)  # the values `@kernel(fastmath=...)` accepts (None: off, the default)


class Kernel:
    """A function written in the kernel language.

    Calling it runs the Python reference backend and returns the kernel's
    return value (arrays are updated in place). `backends.run` runs it
    elsewhere; `hls.check` compares backends.

    `fastmath="contract"` lets numba-cpu's LLVM fuse a float multiply and add into one FMA
    (one rounding instead of two) in this kernel and the kernels it calls, as compiled for it:
    float results change by about an ulp per fused pair, within `hls.check`'s float tolerance.
    It is LLVM's `contract` flag alone: no reassociation, no assumption that values are finite
    (the attention kernels rely on -inf). Integer code is never touched (the flag goes only on
    functions that compute with floats). The python, myhdl and verilator backends ignore it,
    and so does numba-cuda, whose NVVM already contracts multiply-adds by default.
    """

    __name__: str  # set from the function by functools.update_wrapper, like __doc__ and __qualname__
    __qualname__: str

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        strategy: Any = None,
        dims: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
        fastmath: str | None = None,
        clock_ns: float | None = None,
    ) -> None:
        if not inspect.isfunction(fn):
            raise TypeError(f"@kernel decorates a function, got {fn!r}")
        if fastmath is not None and (not isinstance(fastmath, str) or fastmath not in FASTMATH):
            raise ValueError(
                f'@kernel(fastmath={fastmath!r}) is not supported; use fastmath="contract" (fuse float '
                "multiply-adds on numba-cpu) or leave it out: other fast-math flags (reassociation, no-inf, "
                "no-NaN) would change what the kernel computes"
            )
        if clock_ns is not None and not (isinstance(clock_ns, int | float) and clock_ns > 0):
            raise ValueError(f"@kernel(clock_ns={clock_ns!r}): the clock period is a positive number of ns")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.strategy = strategy  # a Hypothesis strategy of argument tuples
        self.dims = dict(dims or {})  # symbol -> int or strategy, for hls.check
        self.values = dict(values or {})  # parameter -> element/value strategy
        self.fastmath = fastmath  # None, or "contract": float multiply-adds may fuse on numba-cpu
        self.clock_ns = clock_ns  # the clock hardware is scheduled for when lower() names none (None: its default)
        self.ir_name = re.sub(r"\W", "_", f"{fn.__module__}.{fn.__qualname__}").strip("_")
        if fn.__closure__:  # NOTE: kernels from one factory share a qualname; their closed-over values tell them apart
            cells = repr(tuple(_cell_repr(c) for c in fn.__closure__))
            self.ir_name += "_" + hashlib.sha256(cells.encode()).hexdigest()[:8]

    @cached_property
    def ir(self):  # -> hls.ir.Function
        """The kernel's typed IR (parsed on first use; raises KernelError)."""
        from hls.errors import KernelError
        from hls.frontend import parse_kernel

        try:
            return parse_kernel(self)
        except KernelError as err:
            raise err.with_traceback(None) from None

    @cached_property
    def callees(self) -> dict[str, Kernel]:
        """Kernels called directly, by IR name (filled in by the frontend)."""
        self.ir  # noqa: B018 - parsing fills the dict
        return self.__dict__["callees"]

    @property
    def is_region(self) -> bool:
        """True when the kernel is a dataflow region: it declares streams and calls kernels (its processes)."""
        self.ir  # noqa: B018 - parsing decides it
        return bool(self.__dict__["is_region"])

    @cached_property
    def stream_dirs(self) -> dict[str, str | None]:
        """How the kernel uses each stream parameter: "read", "write" or None (unused)."""
        from hls._streams import stream_directions

        return dict(stream_directions(self.ir, self.callees))

    @cached_property
    def written_arrays(self) -> frozenset[str]:
        """Names of the array parameters this kernel (or a kernel it calls) may write."""
        from hls import ir
        from hls.ir.walk import statements, stmt_exprs, subexpressions

        out: set[str] = {name for name, d in self.stream_dirs.items() if d == "write"}  # output stream ports
        for s in statements(self.ir.body):
            if isinstance(s, ir.Store):
                out.add(s.array)
            for e in (e for top in stmt_exprs(s) for e in subexpressions(top)):
                if isinstance(e, ir.Call):
                    callee = self.callees[e.callee]
                    for param, arg in zip(callee.ir.params, e.args):
                        if isinstance(arg, ir.ArrayArg) and param.name in callee.written_arrays:
                            out.add(arg.array)
        return frozenset(out)

    def with_options(self, **options: Any) -> Kernel:
        """A kernel of the same function with some `@kernel` options replaced: `k.with_options(fastmath="contract")`."""
        current = {"strategy": self.strategy, "dims": self.dims, "values": self.values, "fastmath": self.fastmath}
        current["clock_ns"] = self.clock_ns
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(
                f"with_options() got unknown option(s) {sorted(unknown)}; the options are {sorted(current)}"
            )
        return Kernel(self.fn, **{**current, **options})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from hls.runtime import run

        return run(self, *args, backend="python", **kwargs).value

    def __repr__(self) -> str:
        return f"<kernel {self.fn.__module__}.{self.fn.__qualname__}>"


def _cell_repr(cell: Any) -> str:
    try:
        value = cell.cell_contents
    except ValueError:  # an empty cell
        return "<empty>"
    if isinstance(value, np.ndarray):
        return f"ndarray{value.shape}{value.dtype}{hashlib.sha256(value.tobytes()).hexdigest()[:8]}"
    return repr(value) if not callable(value) or isinstance(value, Kernel) else getattr(value, "__qualname__", "fn")


def kernel(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Mark a function as a kernel: `@kernel` or `@kernel(strategy=..., dims=..., values=..., fastmath=...)`."""
    if fn is None:
        return lambda f: Kernel(f, **options)
    return Kernel(fn, **options)
