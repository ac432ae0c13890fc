"""Check and bind the arguments of a kernel call against its annotations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hls import ir
from hls.errors import ArgumentError
from hls.inttypes import MAX_DIM
from hls.lang import Kernel
from hls.types import ArrayType, BoolType, FloatType, IntType, StreamType, is_int, numpy_dtype


@dataclass(frozen=True)
class Bound:
    """Arguments in parameter order, checked; `dims` binds every dim symbol."""

    kernel: Kernel
    values: tuple[Any, ...]
    dims: dict[str, int]
    depths: dict[str, int] | None = None  # a region's FIFO depths overridden by name (hls.dataflow.network)


def bind(kernel: Kernel, args: tuple[Any, ...], params: dict[str, Any]) -> Bound:
    """Match `args` and `params` to the kernel's parameters; raise ArgumentError on any mismatch."""
    func = kernel.ir
    name = kernel.__name__
    names = [p.name for p in func.params]
    if len(args) > len(names):
        raise ArgumentError(f"{name}() takes {len(names)} argument(s) ({', '.join(names)}), {len(args)} given")
    given = dict(zip(names, args))
    dims: dict[str, int] = {}
    symbols = {d for p in func.params if isinstance(p.type, ArrayType) for d in p.type.dims if isinstance(d, str)}
    for key, value in params.items():
        if key in given:
            raise ArgumentError(f"{name}(): argument `{key}` given twice")
        if key in names:
            given[key] = value
        elif key in symbols:
            if not is_int(value) or not 0 <= value <= MAX_DIM:
                raise ArgumentError(f"{name}(): dim {key}={value!r} must be an int in 0..{MAX_DIM}")
            dims[key] = int(value)
        else:
            raise ArgumentError(
                f"{name}(): unknown parameter `{key}`; parameters are {', '.join(names)}"
                f"{'; dims are ' + ', '.join(sorted(symbols)) if symbols else ''}"
            )
    missing = [n for n in names if n not in given]
    if missing:
        raise ArgumentError(f"{name}(): missing argument(s) {', '.join(missing)}")
    values = tuple(_check(name, p, given[p.name], dims) for p in func.params)
    return Bound(kernel, values, dims)


def _check(kname: str, p: ir.Param, value: Any, dims: dict[str, int]) -> Any:
    where = f"{kname}(): argument `{p.name}`"
    t = p.type
    if isinstance(t, StreamType):  # a stream port of a region: the values fed in, or an array the values fill
        want = numpy_dtype(t.elem)
        if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype != want:
            raise ArgumentError(
                f"{where} is a {t.name} port: pass a 1-D numpy array of {want} (the values it carries), "
                f"got {type(value).__name__}"
            )
        return value
    if isinstance(t, ArrayType):
        device = None if isinstance(value, np.ndarray) else _device_layout(value)
        if not isinstance(value, np.ndarray) and device is None:
            raise ArgumentError(f"{where} must be a numpy array of {t.name}, got {type(value).__name__}")
        shape, dtype, strides = (tuple(value.shape), value.dtype, None) if device is None else device
        want = numpy_dtype(t.elem)
        if dtype != want:
            raise ArgumentError(f"{where} must have dtype {want} ({t.elem.name}), got {dtype}")
        _check_shape(where, t, shape, dims)
        if device is not None:
            # NOTE: a device array's values stay on the device: checking them would copy them to the host
            if strides is not None and strides != _c_strides(shape, dtype.itemsize):
                raise ArgumentError(f"{where} is a device array that is not C-contiguous; pass a contiguous copy")
            return value
        if isinstance(t.elem, IntType) and t.elem.width not in (8, 16, 32, 64) and value.size:
            lo, hi = int(value.min()), int(value.max())
            if lo < t.elem.lo or hi > t.elem.hi:
                raise ArgumentError(f"{where} holds values {lo}..{hi} outside {t.elem.name} ({t.elem.lo}..{t.elem.hi})")
        if isinstance(t.elem, FloatType) and value.size and not np.isfinite(value).all():
            raise ArgumentError(f"{where} contains NaN or infinity")
        return value
    if isinstance(t, FloatType):
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            raise ArgumentError(f"{where} must be a number ({t.name}), got {type(value).__name__}")
        if not np.isfinite(value):
            raise ArgumentError(f"{where} is NaN or infinite")
        return t(float(value))
    if isinstance(t, BoolType):
        if not isinstance(value, (bool, np.bool_)):
            raise ArgumentError(f"{where} must be a bool, got {type(value).__name__}")
        return bool(value)
    if not is_int(value):
        raise ArgumentError(f"{where} must be an int ({t.name}), got {type(value).__name__}")
    if not t.lo <= int(value) <= t.hi:
        raise ArgumentError(f"{where} = {int(value)} is outside {t.name} ({t.lo}..{t.hi})")
    return int(value)


def is_device_array(value: Any) -> bool:
    """True for a CUDA device array: anything with `__cuda_array_interface__` (torch tensors), or numba's (the CUDA
    simulator's included)."""
    return not isinstance(value, np.ndarray) and _device_layout(value) is not None


def _device_layout(value: Any) -> tuple[tuple[int, ...], np.dtype, tuple[int, ...] | None] | None:
    """(shape, dtype, strides in bytes or None for C order) of a device array, or None for anything else."""
    iface = getattr(value, "__cuda_array_interface__", None)
    if iface is not None:
        strides = iface.get("strides")
        return tuple(iface["shape"]), np.dtype(iface["typestr"]), tuple(strides) if strides is not None else None
    if hasattr(value, "copy_to_host") and hasattr(value, "shape") and hasattr(value, "dtype"):  # numba's
        return tuple(value.shape), np.dtype(value.dtype), None
    return None


def _check_shape(where: str, t: ArrayType, shape: tuple[int, ...], dims: dict[str, int]) -> None:
    """The rank and each axis of an array argument against its annotation, binding dim symbols in `dims`."""
    if len(shape) != t.rank:
        raise ArgumentError(f"{where} must have {t.rank} dimension(s) {t.dims}, got shape {shape}")
    for axis, (d, n) in enumerate(zip(t.dims, shape)):
        if isinstance(d, int):
            if n != d:
                raise ArgumentError(f"{where}: axis {axis} must have length {d}, got shape {shape}")
        elif dims.setdefault(d, n) != n:
            raise ArgumentError(
                f"{where}: axis {axis} is dim {d} = {dims[d]} elsewhere, but has length {n} (shape {shape})"
            )
        if n > MAX_DIM:
            raise ArgumentError(f"{where}: axis {axis} is longer than {MAX_DIM}")


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    out, step = [], itemsize
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))
