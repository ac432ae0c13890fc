"""The backends: python, numba-cpu, numba-cuda, myhdl, verilator, behind one entry point `run`.

Each is a `hls.runtime.Backend`. The packaging's entry point (group `attnhls.backends`) names
`builtin_backends`, so `hls` finds them without importing this package; importing it registers
them too (for a checkout used without installing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backends.hdl import MyhdlBackend, VerilatorBackend
from backends.numba_cpu import NumbaCpuBackend
from backends.numba_cuda import NumbaCudaBackend
from backends.python import PythonBackend
from hls import runtime
from hls.lang import Kernel
from hls.runtime import Backend, BackendUnavailable, Bound, RunResult

__all__ = [
    "Backend",
    "BackendUnavailable",
    "Bound",
    "RunResult",
    "available",
    "builtin_backends",
    "get",
    "names",
    "prebuild",
    "run",
]


def builtin_backends() -> list[Backend]:
    """One instance of each backend of this package, in the order `names()` lists them."""
    return [PythonBackend(), NumbaCpuBackend(), NumbaCudaBackend(), MyhdlBackend(), VerilatorBackend()]


def _registered() -> None:
    if "python" not in runtime._REGISTRY:
        runtime.register_all(builtin_backends())


def names() -> list[str]:
    """Every registered backend name, in registry order."""
    _registered()
    return runtime.names()


def get(name: str) -> Backend:
    """The backend called `name`; ValueError lists the known names."""
    _registered()
    return runtime.get(name)


def available(name: str) -> str | None:
    """None when backend `name` can run here, else the reason it cannot."""
    return get(name).unavailable()


def prebuild(items: Sequence[tuple[Kernel, dict[str, int]]], backend: str = "verilator") -> None:
    """Build the designs of many (kernel, dims) in one batch on `backend`, when it can run here."""
    impl = get(backend)
    if impl.unavailable() is None:
        impl.prebuild(items)


def run(kernel: Kernel, *args: Any, backend: str = "python", **params: Any) -> RunResult:
    """Run `kernel` on `backend`; arrays are updated in place only if the run succeeds (see `hls.runtime.run`)."""
    _registered()
    return runtime.run(kernel, *args, backend=backend, **params)
