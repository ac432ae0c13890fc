"""`numba-cuda`: kernels on an NVIDIA GPU, or on Numba's CUDA simulator.

Top-level `prange` loops become grid launches (one iteration per thread, or
one per point of a nest whose inner loops have independent iterations:
`backends._cuda_grid`); `RunResult.grid` lists the launches. See
`backends._cuda_source`. Arrays are copied to the device and the written ones
back, unless the caller passes device arrays (numba's, or anything with
`__cuda_array_interface__` such as torch tensors): those stay on the device
and are written in place, so a timed loop copies nothing (their shapes and
dtypes are checked, their values are not). Where there is no GPU, set
`NUMBA_ENABLE_CUDASIM=1` before the first import of `numba.cuda` to run on
the simulator (the test suite does this by itself when `nvidia-smi` is absent).

Dataflow regions run their processes one after another, writers first, each
through its own host driver, with unbounded FIFOs in device memory
(`backends._dataflow.run_sequential`): FIFO depths are not modeled here, and a
region whose FIFOs make a cycle is unsupported.
"""

from __future__ import annotations

import importlib.util
import os
import time
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from backends._cuda_source import CudaUnsupported, cuda_module_source, driver_name
from backends._dataflow import Memory, cycle, is_dataflow, run_sequential
from backends._source import META, function_name
from hls.args import is_device_array
from hls.cache import load_source
from hls.errors import ArgumentError
from hls.lang import Kernel
from hls.runtime import Backend, Bound, RunResult
from hls.types import ArrayType, FloatType, ScalarType, decode_value


class NumbaCudaBackend(Backend):
    """Run kernels through `numba.cuda.jit`; arrays are copied to the device and written ones back."""

    name = "numba-cuda"
    device_arrays = True  # numba device arrays, or anything with __cuda_array_interface__ (torch tensors)

    def __init__(self) -> None:
        self._compiled: dict[Kernel, Callable[..., Any]] = {}
        self._modules: dict[Kernel, ModuleType] = {}
        self._capacities: dict[tuple[str, str], int] = {}  # FIFO buffer sizes earlier region runs needed

    @staticmethod
    def simulated() -> bool:
        """True when Numba's CUDA simulator stands in for a GPU."""
        return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("numba") is None or importlib.util.find_spec("numba.cuda") is None:
            return "numba-cuda is not installed (pip install numba-cuda)"
        from numba import cuda

        if not cuda.is_available():
            return (
                "no CUDA GPU is usable here; set NUMBA_ENABLE_CUDASIM=1 before starting Python "
                "to run on Numba's CUDA simulator"
            )
        return None

    def unsupported(self, kernel: Kernel) -> str | None:
        """Why `kernel` cannot become a CUDA kernel (a local array of run-time size in a `prange`, a region whose
        FIFOs make a cycle), or None."""
        why = cycle(kernel)
        if why is not None:
            return why
        try:
            self.module(kernel)
        except CudaUnsupported as err:
            return str(err)
        return None

    def source(self, kernel: Kernel, dims: dict[str, int] | None = None) -> str:
        """The generated module source for `kernel` (dims are bound per call, not here)."""
        return cuda_module_source(kernel)

    def module(self, kernel: Kernel) -> ModuleType:
        """The generated module of `kernel` (generated once per kernel; Numba compiles per signature)."""
        module = self._modules.get(kernel)
        if module is None:
            try:
                text = self.source(kernel)
            except CudaUnsupported as err:
                raise CudaUnsupported(f"{kernel.__name__}: {err}") from None
            if self.simulated():
                # NOTE: the simulator runs each CUDA thread as a Python thread on numpy scalars, which warn
                # when int64 arithmetic wraps (defined behaviour here); np.errstate does not reach those threads.
                warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
            module = self._modules[kernel] = load_source(text, "numba_cuda_sim" if self.simulated() else "numba_cuda")
        return module

    def compile(self, kernel: Kernel) -> Callable[..., Any]:
        """The host driver for `kernel` (generated once per kernel; Numba compiles per signature)."""
        fn = self._compiled.get(kernel)
        if fn is None:
            fn = self._compiled[kernel] = getattr(self.module(kernel), function_name(kernel))
        return fn

    @staticmethod
    def scalar(v: Any, t: ScalarType) -> Any:
        """A checked scalar argument as the host driver takes it."""
        if isinstance(t, FloatType):
            return np.float32(v) if t.width == 32 else np.float64(v)
        if isinstance(v, bool):
            return v
        return np.int64(v - (1 << 64) if v >= 1 << 63 else v)

    def run_dataflow(self, bound: Bound) -> RunResult:
        """Run a region (or a process alone): each process through its host driver, one after another."""
        from numba import cuda

        root = bound.kernel
        memory = Memory(
            put=lambda a, written: cuda.to_device(np.ascontiguousarray(a)),
            get=lambda d: d.copy_to_host(),
            head=lambda d: d[:META].copy_to_host(),
            sync=cuda.synchronize,
        )
        with np.errstate(over="ignore"):  # NOTE: the simulator runs numpy scalars, which warn as they wrap
            return run_sequential(
                bound,
                lambda k: getattr(self.module(root), driver_name(k, root)),
                self.scalar,
                self.name,
                memory,
                self._capacities,
            )

    def run(self, bound: Bound) -> RunResult:
        from numba import cuda

        kernel = bound.kernel
        if is_dataflow(kernel):
            if any(is_device_array(v) for v in bound.values):
                raise ArgumentError(f"{kernel.__name__}(): a dataflow region takes numpy arrays, not device arrays")
            return self.run_dataflow(bound)
        fn = self.compile(kernel)
        written = kernel.written_arrays
        params = kernel.ir.params
        args, device = [], {}
        for p, v in zip(params, bound.values):
            if isinstance(p.type, ArrayType) and is_device_array(v):
                # stays on the device, written in place (numba's own arrays go as they are)
                args.append(v if hasattr(v, "copy_to_host") else cuda.as_cuda_array(v))
            elif isinstance(p.type, ArrayType):
                device[p.name] = cuda.to_device(np.ascontiguousarray(v))
                args.append(device[p.name])
            else:
                args.append(self.scalar(v, p.type))
        grids = self.module(kernel).GRIDS
        grids.clear()
        with np.errstate(over="ignore"):  # NOTE: the simulator runs numpy scalars, which warn as they wrap
            t0 = time.perf_counter()
            raw = fn(*args)
            cuda.synchronize()
            seconds = time.perf_counter() - t0
        for p, v in zip(params, bound.values):
            if p.name in written and p.name in device:
                v[...] = device[p.name].copy_to_host()
        return RunResult(self.name, decode_value(raw, kernel.ir.ret), seconds=seconds, grid=list(grids))
