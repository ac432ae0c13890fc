"""Backends: one registry, one entry point `run(kernel, *args, backend=NAME, **params)`."""

from __future__ import annotations

from typing import Any, Protocol

from backends._args import Bound, bind, written_arrays
from backends._result import RunResult
from backends.hdl import MyhdlBackend, VerilatorBackend
from backends.numba_cpu import NumbaCpuBackend
from backends.numba_cuda import NumbaCudaBackend
from backends.python import PythonBackend
from hls.errors import ArgumentError, KernelError
from hls.lang import Kernel

__all__ = ["Backend", "BackendUnavailable", "RunResult", "available", "get", "names", "run"]


class Backend(Protocol):
    """What a backend provides: a name, whether it can run here, and `run`."""

    name: str

    def unavailable(self) -> str | None: ...

    def run(self, bound: Bound) -> RunResult: ...


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine; the message says what to install."""


_REGISTRY: dict[str, Backend] = {b.name: b for b in (PythonBackend(), NumbaCpuBackend(), NumbaCudaBackend(),
                                                    MyhdlBackend(), VerilatorBackend())}


def names() -> list[str]:
    """Every registered backend name, in registry order."""
    return list(_REGISTRY)


def get(name: str) -> Backend:
    """The backend called `name`; ValueError lists the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(_REGISTRY)}") from None


def available(name: str) -> str | None:
    """None when backend `name` can run here, else the reason it cannot."""
    return get(name).unavailable()


def run(kernel: Kernel, *args: Any, backend: str = "python", **params: Any) -> RunResult:
    """Run `kernel` on `backend`; arrays are updated in place only if the run succeeds.

    Arguments are checked against the annotations first (ArgumentError names
    the argument). Arrays the kernel writes are worked on as copies and copied
    back at the end, so an error part-way loses nothing.
    """
    if not isinstance(kernel, Kernel):
        raise TypeError(f"run() takes a @kernel function, got {kernel!r}")
    impl = get(backend)
    reason = impl.unavailable()
    if reason:
        raise BackendUnavailable(f"backend {backend!r} cannot run here: {reason}")
    try:
        bound = bind(kernel, args, params)
        written = written_arrays(kernel)
    except KernelError as err:
        raise err.with_traceback(None) from None
    names_ = [p.name for p in kernel.ir.params]
    originals = {n: v for n, v in zip(names_, bound.values) if n in written}
    for n, v in originals.items():
        if not v.flags.writeable:
            raise ArgumentError(f"{kernel.__name__}(): argument `{n}` is read-only, but the kernel writes it")
    work = Bound(kernel, tuple(v.copy() if n in originals else v for n, v in zip(names_, bound.values)), bound.dims)
    result = impl.run(work)
    for n, v in zip(names_, work.values):
        if n in originals:
            originals[n][...] = v
    return result
