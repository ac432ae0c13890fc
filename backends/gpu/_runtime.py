"""The GPU runtime of backends.gpu: device checks, NVRTC compilation of the .cu sources, kernel launches.

Kernels are CUDA C++ (this folder's .cu files), compiled at first use by NVRTC through `cuda.core`
(installed with numba-cuda) for the device's own architecture, and launched with `cuda.core.launch` on
a numba-cuda stream (the legacy default stream, or the caller's torch stream). Compiled kernels are
cached per process. Nothing here is imported at `import backends.gpu` time: the package imports on a
machine with no GPU, and a call there raises `GpuUnavailableError` naming the fix.
"""

import os
import struct
import threading
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MIN_CC = (8, 0)  # mma.sync m16n8k16 bf16 and cp.async need sm_80 or newer
# NOTE: dma.cu computes zoh in float64 like algorithms.dma; without FMA contraction its rounding matches the CPU's.
NO_FMA = frozenset({"dma.cu"})
# Sources with architecture-specific instructions (wgmma, setmaxnreg): compiled for sm_XYa, not the portable sm_XY.
ARCH_SPECIFIC = frozenset({"flash_wgmma.cu"})


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
            "algorithms.sdpa.sdpa(...) / sdpa_block_sparse(..., backend='numba-cpu')."
        )
    try:
        from numba import cuda

        ok = cuda.is_available()
    except Exception as exc:  # numba-cuda missing or broken
        raise GpuUnavailableError(
            f"backends.gpu needs numba-cuda and a CUDA driver: importing numba.cuda failed "
            f"({exc}); install numba-cuda (pip install numba-cuda)"
        ) from None
    if not ok:
        raise GpuUnavailableError(
            "backends.gpu found no CUDA GPU (numba.cuda.is_available() is False): run on a machine with an NVIDIA "
            "GPU of compute capability >= 8.0 and its driver, or use algorithms.sdpa.sdpa(..., backend='numba-cpu')"
        )
    cc = _compute_capability()
    if cc < MIN_CC:
        raise GpuUnavailableError(
            f"backends.gpu needs compute capability >= 8.0 (bf16 mma.sync, cp.async); this GPU has {cc[0]}.{cc[1]}"
        )


def compute_capability() -> tuple[int, int]:
    """(major, minor) of the current GPU (call require_gpu first)."""
    return _compute_capability()


@cache
def _compute_capability() -> tuple[int, int]:
    from cuda.core import Device

    dev = Device()
    dev.set_current()
    cc = dev.compute_capability
    return (cc.major, cc.minor)


@cache
def sm_count() -> int:
    """Multiprocessors of the current GPU."""
    from cuda.core import Device

    return int(Device().properties.multiprocessor_count)


@cache
def _program(source: str, names: tuple[str, ...]) -> Any:
    """Compile `source` (a file of this folder) with NVRTC for this GPU; return the cuda.core ObjectCode."""
    from cuda.core import Program, ProgramOptions

    major, minor = _compute_capability()
    code = (HERE / source).read_text()
    arch = f"sm_{major}{minor}" + ("a" if source in ARCH_SPECIFIC else "")
    options = ProgramOptions(std="c++17", arch=arch, fma=source not in NO_FMA, include_path=str(HERE))  # common.cuh
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


@cache
def _function(source: str, name: str) -> Any:
    """The driver CUfunction of kernel `name` of `source` in the current context (for cuLaunchKernel)."""
    from cuda.bindings import driver

    err, func = driver.cuKernelGetFunction(driver.CUkernel(int(kernel(source, name).handle)))
    if err != driver.CUresult.CUDA_SUCCESS:
        raise RuntimeError(f"cuKernelGetFunction({name}) failed: {err}")
    return func


@cache
def _layout(codes: str) -> tuple[str, tuple[int, ...]]:
    """struct format (C alignment) and byte offsets of kernel parameters given as struct codes, one a parameter."""
    fields = codes.split()
    offsets = tuple(
        struct.calcsize("@" + "".join(fields[: i + 1])) - struct.calcsize("@" + f) for i, f in enumerate(fields)
    )
    return "@" + "".join(fields), offsets


@cache
def _cu_stream(handle: int) -> Any:
    from cuda.bindings import driver

    return driver.CUstream(handle)


def launch_packed(
    source: str,
    name: str,
    grid: tuple[int, int],
    block: int,
    smem_bytes: int,
    stream: int,
    codes: str,
    values: tuple[Any, ...],
) -> None:
    """Launch kernel `name` of `source` through the driver on stream handle `stream`; its parameters are `values`,
    typed by the space-separated struct codes `codes` ("128s" for a 128-byte CUtensorMap passed by value as a
    __grid_constant__ parameter, "P" pointers, "q" int64, "i" int32, "f" float32), packed into one buffer (kept
    per thread and format: the driver copies the values at the launch)."""
    from cuda.bindings import driver

    fmt, buf, ptrs = _param_buffer(codes)
    struct.pack_into(fmt, buf, 0, *values)
    (err,) = driver.cuLaunchKernel(
        _function(source, name), grid[0], grid[1], 1, block, 1, 1, smem_bytes, _cu_stream(stream), ptrs, 0
    )
    if err != driver.CUresult.CUDA_SUCCESS:
        raise RuntimeError(f"launching {name} failed: {err}")


_buffers = threading.local()


def _param_buffer(codes: str) -> tuple[str, Any, int]:
    """(struct format, parameter buffer, address of its void* array) for `codes`, made once per thread."""
    import ctypes

    cached = getattr(_buffers, "by_codes", None)
    if cached is None:
        cached = _buffers.by_codes = {}
    if codes not in cached:
        fmt, offsets = _layout(codes)
        buf = ctypes.create_string_buffer(struct.calcsize(fmt))
        base = ctypes.addressof(buf)
        ptrs = (ctypes.c_void_p * len(offsets))(*[base + o for o in offsets])
        cached[codes] = (fmt, buf, ptrs, ctypes.addressof(ptrs))
    fmt, buf, _, addr = cached[codes]
    return fmt, buf, addr


@lru_cache(maxsize=256)
def tensor_map(ptr: int, cols: int, rows: int, mats: int, box_rows: int) -> Any:
    """A TMA descriptor (CUtensorMap, 128 bytes) of `mats` row-major matrices of rows x cols 16-bit
    elements at device address `ptr`, read in boxes of 64 columns x box_rows rows with the 128-byte swizzle;
    reads past the edges give zeros. Cached: the descriptor holds nothing but the address and these sizes, so it
    stays right for whatever array lives at that address later."""
    import ctypes

    from cuda.bindings import driver

    u64, u32 = driver.cuuint64_t, driver.cuuint32_t
    err, tmap = driver.cuTensorMapEncodeTiled(
        driver.CUtensorMapDataType.CU_TENSOR_MAP_DATA_TYPE_UINT16,
        3,
        ptr,
        [u64(cols), u64(rows), u64(mats)],
        [u64(cols * 2), u64(rows * cols * 2)],
        [u32(64), u32(box_rows), u32(1)],
        [u32(1), u32(1), u32(1)],
        driver.CUtensorMapInterleave.CU_TENSOR_MAP_INTERLEAVE_NONE,
        driver.CUtensorMapSwizzle.CU_TENSOR_MAP_SWIZZLE_128B,
        driver.CUtensorMapL2promotion.CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
        driver.CUtensorMapFloatOOBfill.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
    )
    if err != driver.CUresult.CUDA_SUCCESS:
        raise RuntimeError(f"cuTensorMapEncodeTiled failed: {err} (ptr {ptr:#x}, {mats} x {rows} x {cols})")
    return ctypes.string_at(tmap.getPtr(), 128)
