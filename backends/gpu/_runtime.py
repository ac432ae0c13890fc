"""The GPU runtime of backends.gpu: device checks, NVRTC compilation of the .cu sources, kernel launches.

Kernels are CUDA C++ (this folder's .cu files), compiled at first use by NVRTC through `cuda.core`
(installed with numba-cuda) for the device's own architecture, and launched with `cuda.core.launch` on
a numba-cuda stream (the legacy default stream, or the caller's torch stream). Compiled kernels are
cached per process. Nothing here is imported at `import backends.gpu` time: the package imports on a
machine with no GPU, and a call there raises `GpuUnavailableError` naming the fix.
"""

import os
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MIN_CC = (8, 0)  # mma.sync m16n8k16 bf16 and cp.async need sm_80 or newer
# NOTE: dma.cu computes zoh in float64 like algorithms.dma; without FMA contraction its rounding matches the CPU's.
NO_FMA = frozenset({"dma.cu"})


class GpuUnavailableError(RuntimeError):
    """No CUDA GPU that the fast kernels can run on (no GPU, the CUDA simulator, or too old a GPU)."""


def require_gpu() -> None:
    """Raise GpuUnavailableError with the fix unless a real CUDA GPU of compute capability >= 8.0 is usable."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0") and _gpu_ok():
        return
    _check_gpu()


@cache
def _gpu_ok() -> bool:
    """Whether _check_gpu passed once in this process (the answer does not change; it is asked every call)."""
    try:
        _check_gpu()
    except GpuUnavailableError:
        return False
    return True


def _check_gpu() -> None:
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        raise GpuUnavailableError(
            "backends.gpu needs a real NVIDIA GPU: its kernels are CUDA C++ with tensor-core PTX (mma.sync), "
            "which Numba's CUDA simulator cannot run (NUMBA_ENABLE_CUDASIM=1 is set). Unset NUMBA_ENABLE_CUDASIM "
            "on a machine with a GPU, or run the same algorithms on the CPU with "
            "algorithms.sdpa.sdpa(...) / sdpa_block_sparse(..., backend='numba-cpu').")
    try:
        from numba import cuda
        ok = cuda.is_available()
    except Exception as exc:  # numba-cuda missing or broken
        raise GpuUnavailableError(f"backends.gpu needs numba-cuda and a CUDA driver: importing numba.cuda failed "
                                  f"({exc}); install numba-cuda (pip install numba-cuda)") from None
    if not ok:
        raise GpuUnavailableError(
            "backends.gpu found no CUDA GPU (numba.cuda.is_available() is False): run on a machine with an NVIDIA "
            "GPU of compute capability >= 8.0 and its driver, or use algorithms.sdpa.sdpa(..., backend='numba-cpu')")
    cc = _compute_capability()
    if cc < MIN_CC:
        raise GpuUnavailableError(f"backends.gpu needs compute capability >= 8.0 (bf16 mma.sync, cp.async); this "
                                  f"GPU has {cc[0]}.{cc[1]}")


@cache
def _compute_capability() -> tuple[int, int]:
    from cuda.core import Device
    dev = Device()
    dev.set_current()
    cc = dev.compute_capability
    return (cc.major, cc.minor)


@cache
def _program(source: str, names: tuple[str, ...]) -> Any:
    """Compile `source` (a file of this folder) with NVRTC for this GPU; return the cuda.core ObjectCode."""
    from cuda.core import Program, ProgramOptions
    major, minor = _compute_capability()
    code = (HERE / source).read_text()
    options = ProgramOptions(std="c++17", arch=f"sm_{major}{minor}", fma=source not in NO_FMA)
    return Program(code, "c++", options).compile("cubin", name_expressions=names)


@cache
def kernel(source: str, name: str) -> Any:
    """The cuda.core Kernel `name` (a C++ name expression such as "flash_fwd<0, 64, 4, 64, 2, true, false>") of
    `source`, allowed the device's whole opt-in shared memory (a launch still asks only for what it needs)."""
    require_gpu()
    from cuda.bindings import driver
    from cuda.core import Device
    kern = _program(source, (name,)).get_kernel(name)
    dev = Device()
    optin = dev.properties.max_shared_memory_per_block_optin
    attr = driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    (err,) = driver.cuKernelSetAttribute(attr, optin - kern.attributes.shared_size_bytes, kern.handle, dev.device_id)
    if err != driver.CUresult.CUDA_SUCCESS:
        raise RuntimeError(f"cannot raise the shared memory limit of {name}: {err}")
    return kern


@cache
def _stream(handle: int) -> Any:
    """A cuda.core view of the CUDA stream `handle` (0: the legacy default stream); it does not own the stream."""
    from cuda.core import Device

    class Foreign:
        def __cuda_stream__(self) -> tuple[int, int]:
            return (0, handle)

    return Device().create_stream(Foreign())


def launch(kern: Any, grid: tuple[int, ...], block: int, smem_bytes: int, stream: int, *args: Any) -> None:
    """Launch `kern` on the CUDA stream with handle `stream`; args as numpy scalars (pointers as uint64)."""
    from cuda.core import LaunchConfig
    from cuda.core import launch as core_launch
    core_launch(_stream(stream), LaunchConfig(grid=grid, block=block, shmem_size=smem_bytes), kern, *args)
