"""Arrays in and out of backends.gpu: numpy arrays, CUDA arrays (__cuda_array_interface__) and torch tensors.

A `Tensor` is a view of one argument: its element type (`"bf16"`, `"f16"`, `"f32"`, `"i32"`), shape, and
where it lives. Host (numpy) arguments are checked here without a GPU; device memory is touched only by
`to_device`, after the GPU check. torch is never imported unless a torch tensor is passed in.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

ELEM_BYTES = {"bf16": 2, "f16": 2, "f32": 4, "f64": 8, "i32": 4, "u64": 8}
_NP = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16", np.dtype(np.float64): "f64", np.dtype(np.int32): "i32"}
_CAI = {"<f4": "f32", "<f2": "f16", "<f8": "f64", "<i4": "i32"}
_TORCH = {
    "torch.bfloat16": "bf16",
    "torch.float16": "f16",
    "torch.float32": "f32",
    "torch.float64": "f64",
    "torch.int32": "i32",
}
_NP_OF = {"bf16": np.uint16, "f16": np.float16, "f32": np.float32, "f64": np.float64, "i32": np.int32, "u64": np.uint64}
DTYPE_NAMES = {"bfloat16": "bf16", "bf16": "bf16", "float16": "f16", "f16": "f16", "float32": "f32", "f32": "f32"}


@dataclass
class Tensor:
    """One argument: `elem` type, `shape`, and either `host` (a numpy array) or a device pointer `ptr`."""

    name: str
    elem: str
    shape: tuple[int, ...]
    where: str  # "numpy", "cuda" (__cuda_array_interface__) or "torch"
    obj: Any  # the caller's object (keeps device memory alive)
    host: np.ndarray | None = None
    ptr: int = 0


def is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "data_ptr")


def wrap(name: str, x: Any, elems: tuple[str, ...]) -> Tensor:
    """View argument `x` (numpy, CUDA array or torch tensor) as a Tensor; TypeError unless its type is in elems."""
    if isinstance(x, np.ndarray):
        elem = _NP.get(x.dtype)
        t = Tensor(name, elem or str(x.dtype), tuple(x.shape), "numpy", x, host=x)
    elif is_torch(x):
        elem = _TORCH.get(str(x.dtype))
        if not x.is_cuda:
            raise TypeError(f"{name} is a torch tensor on {x.device}; pass a CUDA tensor or a numpy array")
        if not x.is_contiguous():
            raise ValueError(f"{name} must be contiguous (call .contiguous()), got strides {tuple(x.stride())}")
        t = Tensor(name, elem or str(x.dtype), tuple(x.shape), "torch", x, ptr=int(x.data_ptr()))
    elif hasattr(x, "__cuda_array_interface__"):
        cai = x.__cuda_array_interface__
        elem = _CAI.get(cai["typestr"])
        shape = tuple(int(s) for s in cai["shape"])
        if cai.get("strides") is not None and elem is not None:
            row_major = tuple(
                int(np.prod(shape[i + 1 :], dtype=np.int64)) * ELEM_BYTES[elem] for i in range(len(shape))
            )
            if tuple(cai["strides"]) != row_major:
                raise ValueError(f"{name} must be C-contiguous, got strides {tuple(cai['strides'])}")
        t = Tensor(name, elem or cai["typestr"], shape, "cuda", x, ptr=int(cai["data"][0]))
    else:
        raise TypeError(
            f"{name} must be a numpy array, a CUDA array (__cuda_array_interface__) or a torch tensor, "
            f"got {type(x).__name__}"
        )
    if elem not in elems:
        raise TypeError(f"{name} has element type {t.elem}; supported here: {', '.join(elems)}")
    return t


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest even) and return the raw 16-bit patterns as uint16."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) >> 16).astype(np.uint16)


def from_bf16_bits(u: np.ndarray) -> np.ndarray:
    """float32 values of raw bfloat16 patterns (uint16)."""
    return (u.astype(np.uint32) << 16).view(np.float32)


def round_to(x: np.ndarray, elem: str) -> np.ndarray:
    """x (float) rounded to `elem` and back to float32: the values the kernels compute with."""
    if elem == "bf16":
        return from_bf16_bits(bf16_bits(x))
    if elem == "f16":
        return np.asarray(x, dtype=np.float16).astype(np.float32)
    return np.asarray(x, dtype=np.float32)


@cache
def _external_stream(handle: int) -> Any:
    """numba-cuda's view of a caller's stream (torch's), made once per stream."""
    from numba import cuda

    return cuda.external_stream(handle)


class Device:
    """Device buffers of one call: uploads host arguments, allocates outputs like the inputs, keeps them alive."""

    def __init__(self, like: Tensor):
        from numba import cuda

        self.cuda = cuda
        self.torch_like = like.obj if like.where == "torch" else None
        if self.torch_like is not None:
            import torch  # present: the caller passed a torch tensor

            self.torch = torch
            self.handle = int(torch.cuda.current_stream(like.obj.device).cuda_stream)
            self.stream = _external_stream(self.handle)
        else:
            self.handle = 0  # the legacy default stream, numba-cuda's default
            self.stream = cuda.default_stream()
        self.keep: list[Any] = []

    def upload(self, t: Tensor, elem: str) -> int:
        """Device pointer of `t`'s data as `elem` (host data are converted and copied; device data must match)."""
        if t.host is None:
            if t.elem != elem:
                raise TypeError(f"{t.name} is {t.elem} on the device but {elem} is needed; convert it first")
            return t.ptr
        host = t.host
        if elem == "bf16":
            host = bf16_bits(host)
        elif elem == "f16":
            host = np.ascontiguousarray(host, dtype=np.float16)
        else:
            host = np.ascontiguousarray(host, dtype=_NP_OF[elem])
        arr = self.cuda.to_device(host, stream=self.stream)
        self.keep.append(arr)
        return int(arr.device_ctypes_pointer.value or 0)

    def empty(self, shape: tuple[int, ...], elem: str, zero: bool = False) -> tuple[Any, int]:
        """A new device array (torch tensor when the inputs are torch), zeroed if asked, and its pointer."""
        if self.torch_like is not None:
            t = self.torch
            dt = {
                "bf16": t.bfloat16,
                "f16": t.float16,
                "f32": t.float32,
                "f64": t.float64,
                "i32": t.int32,
                "u64": t.int64,
            }[elem]
            x = (t.zeros if zero else t.empty)(shape, dtype=dt, device=self.torch_like.device)
            return x, int(x.data_ptr())
        if zero:
            x = self.cuda.to_device(np.zeros(shape, dtype=_NP_OF[elem]), stream=self.stream)
        else:
            x = self.cuda.device_array(shape, dtype=_NP_OF[elem], stream=self.stream)
        return x, int(x.device_ctypes_pointer.value or 0)

    def to_host(self, x: Any, elem: str) -> np.ndarray:
        """Copy a device array made by `empty` to numpy (bf16 comes back as float32)."""
        host = x.detach().cpu().numpy() if self.torch_like is not None else x.copy_to_host(stream=self.stream)
        self.stream.synchronize()
        return from_bf16_bits(host) if elem == "bf16" else host
