"""The backend protocol, the registry of backends, and `run`: how a kernel call reaches a backend.

`hls` defines the protocol and reads the registry; the backends themselves live in the
`backends` package (a layer above), which fills the registry through the packaging's entry
points, group `attnhls.backends`, as pytest finds its plugins:

    [project.entry-points."attnhls.backends"]
    builtin = "backends:builtin_backends"     # a callable returning Backend instances

A third-party backend registers the same way (or by calling `register`). Nothing is
registered at import time: the entry points are loaded on the first lookup.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from hls.args import Bound, bind, is_device_array
from hls.coverage import Site
from hls.errors import ArgumentError, KernelError
from hls.lang import Kernel

__all__ = ["Backend", "BackendUnavailable", "Bound", "RunResult", "available", "get", "names", "register", "run"]

ENTRY_POINT_GROUP = "attnhls.backends"


@dataclass(frozen=True)
class RunResult:
    """The outcome of one kernel run; output arrays were updated in place.

    `value` is the kernel's return value (None when it returns nothing),
    `cycles` the simulated clock cycles (HDL backends only), `seconds` the
    wall time of the kernel itself, excluding argument checks and compilation.
    """

    backend: str
    value: Any = None
    cycles: int | None = None
    seconds: float | None = None
    fifos: dict[str, Any] | None = None  # a region's FIFOs by name: hls.dataflow.FifoStats
    # numba-cuda: each grid launch as (launch, the loop variables its threads cover, their trip counts)
    grid: list[tuple[str, tuple[str, ...], tuple[int, ...]]] | None = None


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine; the message says what to install."""


class Backend(abc.ABC):
    """Everything a caller may ask of a backend. Subclass it and register an instance.

    The questions come in the order a caller asks them: can it run on this machine
    (`unavailable`), can it run this kernel (`unsupported`), what does it generate
    (`source`), build many designs at once (`prebuild`), and `run` one call whose
    arguments were already checked against the annotations. A hardware backend also
    records the run's waveform (`waveforms`, `run_traced`).
    """

    name: str = ""
    waveforms: bool = False  # True when `run_traced` writes a VCD (the hardware backends)
    device_arrays: bool = False  # True when it takes CUDA device arrays (`__cuda_array_interface__`) as arrays

    def unavailable(self) -> str | None:
        """Why this backend cannot run on this machine (what to install), or None when it can."""
        return None

    def unsupported(self, kernel: Kernel) -> str | None:
        """Why this backend cannot run `kernel` (floats in hardware, say), or None when it can.

        Frontend errors of the kernel itself propagate as KernelError.
        """
        return None

    @abc.abstractmethod
    def source(self, kernel: Kernel, dims: dict[str, int] | None = None) -> str:
        """The code this backend generates for `kernel` (dims bound where the backend needs them)."""

    def prebuild(self, items: Sequence[tuple[Kernel, dict[str, int]]]) -> None:
        """Build many (kernel, dims) ahead of their runs, in one batch where that is cheaper (default: nothing)."""
        return None

    @abc.abstractmethod
    def run(self, bound: Bound) -> RunResult:
        """Run one checked call; write the outputs into `bound.values` in place."""

    def run_traced(self, bound: Bound, vcd: Path) -> RunResult:
        """Run as `run` does, and also write the run's waveform, a VCD of the design's signals, to `vcd`.

        Optional: a backend that offers it sets `waveforms = True`; `run(..., vcd=PATH)` calls it, and
        `hls.check` saves a counterexample's waveform with it. The default raises NotImplementedError.
        """
        raise NotImplementedError(f"backend {self.name!r} records no waveform")

    def run_covered(self, bound: Bound) -> tuple[RunResult, frozenset[Site]]:
        """Run as `run` does, and also return the `hls.coverage` sites (branch arms, loop bodies) the run reached.

        Optional: `hls.check` measures coverage on the reference backend, `python`, which offers it;
        the default raises NotImplementedError, and `check` then reports no coverage.
        """
        raise NotImplementedError(f"backend {self.name!r} does not record coverage")


_REGISTRY: dict[str, Backend] = {}
_loaded_entry_points = False


def register(backend: Backend) -> None:
    """Add `backend` under its name; a second backend of the same class and name is ignored."""
    if not isinstance(backend, Backend):
        raise TypeError(f"register() takes a hls.runtime.Backend, got {backend!r}")
    old = _REGISTRY.get(backend.name)
    if old is not None and type(old) is not type(backend):
        raise ValueError(f"a different backend is already registered as {backend.name!r}: {old!r}")
    _REGISTRY.setdefault(backend.name, backend)


def register_all(backends: Iterable[Backend]) -> None:
    """`register` each of `backends`, in order."""
    for b in backends:
        register(b)


def _registry() -> dict[str, Backend]:
    global _loaded_entry_points
    if not _loaded_entry_points:
        _loaded_entry_points = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            register_all(ep.load()())
    return _REGISTRY


def names() -> list[str]:
    """Every registered backend name, in registration order."""
    return list(_registry())


def get(name: str) -> Backend:
    """The backend called `name`; ValueError lists the known names."""
    registry = _registry()
    try:
        return registry[name]
    except KeyError:
        hint = (
            ", ".join(registry)
            if registry
            else (
                "none (install attnhls with `pip install -e .` so that its entry points register the backends, "
                "or `import backends`)"
            )
        )
        raise ValueError(f"unknown backend {name!r}; known backends: {hint}") from None


def available(name: str) -> str | None:
    """None when backend `name` can run here, else the reason it cannot."""
    return get(name).unavailable()


def run(
    kernel: Kernel,
    *args: Any,
    backend: str = "python",
    vcd: str | os.PathLike[str] | None = None,
    depths: dict[str, int] | None = None,
    **params: Any,
) -> RunResult:
    """Run `kernel` on `backend`; arrays are updated in place only if the run succeeds.

    Arguments are checked against the annotations first (ArgumentError names
    the argument). Arrays the kernel writes are worked on as copies and copied
    back at the end, so an error part-way loses nothing. `vcd=PATH` also writes
    the run's waveform to PATH (a hardware backend, `myhdl` or `verilator`, only).
    """
    if not isinstance(kernel, Kernel):
        raise TypeError(f"run() takes a @kernel function, got {kernel!r}")
    impl = get(backend)
    if vcd is not None and not impl.waveforms:
        raise ArgumentError(
            f"vcd= needs a hardware backend (myhdl or verilator); backend {backend!r} records no waveform"
        )
    reason = impl.unavailable()
    if reason:
        raise BackendUnavailable(f"backend {backend!r} cannot run here: {reason}")
    try:
        bound = bind(kernel, args, params)
        written = kernel.written_arrays
    except KernelError as err:
        raise err.with_traceback(None) from None
    names_ = [p.name for p in kernel.ir.params]
    on_device = [n for n, v in zip(names_, bound.values) if is_device_array(v)]
    if on_device and not impl.device_arrays:
        raise ArgumentError(
            f"{kernel.__name__}(): argument `{on_device[0]}` is a CUDA device array; backend {backend!r} takes "
            "numpy arrays (numba-cuda takes device arrays)"
        )
    # NOTE: device arrays are written in place, not through a copy: a GPU kernel cannot stop part-way with an error
    originals = {n: v for n, v in zip(names_, bound.values) if n in written and n not in on_device}
    for n, v in originals.items():
        if not v.flags.writeable:
            raise ArgumentError(f"{kernel.__name__}(): argument `{n}` is read-only, but the kernel writes it")
    if depths is not None and not kernel.is_region:
        raise ArgumentError(f"{kernel.__name__}(): depths= is for dataflow regions; this kernel declares no streams")
    work = Bound(
        kernel, tuple(v.copy() if n in originals else v for n, v in zip(names_, bound.values)), bound.dims, depths
    )
    result = impl.run(work) if vcd is None else impl.run_traced(work, Path(vcd))
    for n, v in zip(names_, work.values):
        if n in originals:
            originals[n][...] = v
    return result
