"""Regressions for bugs a review found: each kernel once disagreed across backends or crashed internally."""

from __future__ import annotations

import numpy as np
import pytest

import backends
from hls import Array, KernelError, UnsupportedKernel, f32, i32, i64, kernel, prange, table, u64, zeros

BACKENDS = [
    pytest.param(
        b,
        marks=pytest.mark.skipif(
            backends.available(b) is not None, reason=f"backend {b} not run: {backends.available(b)}"
        ),
    )
    for b in backends.names()
]


@kernel
def deferred_copy(a: Array[i32, "N"], out: Array[i32, 2]):
    x = i32(0)
    for i in range(a.shape[0]):
        x = x + a[i]  # x's wrap is deferred; the copy into y must wrap it
    y: i32 = x
    out[0] = 1 if y < 0 else 2
    out[1] = y >> 31


@kernel
def prange_start_once(a: Array[i64, "N"], out: Array[i64, "N"]):
    for i in prange(a[0], a.shape[0]):
        out[i] = i
        if i == 1:
            a[0] = 0  # does not move the loop's start, as in Python


@kernel
def f32_cancel(a: f32, b: f32, out: Array[f32, 1]):
    out[0] = (a + b) - a


@kernel
def dim_from_size(n: i64, out: Array[i32, 2]):
    buf = zeros(i32, 0, n)
    y: i32 = buf.shape[1]  # the dim has the range of n: stored with a wrap
    out[0] = y
    out[1] = buf.shape[0]


@kernel
def u64_edges(out: Array[u64, 3]):
    out[0] = u64(-1)
    out[1] = 1 << 63
    t: i64 = i64(3) << 62
    out[2] = t


def _make(offset: int):
    @kernel
    def add(x: i32) -> i32:
        return x + offset

    return add


ADD1, ADD100 = _make(1), _make(100)


@kernel
def uses_two_factory_kernels(out: Array[i32, 2]):
    out[0] = ADD1(0)
    out[1] = ADD100(0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_results(backend: str) -> None:
    out = np.zeros(2, np.int32)
    backends.run(deferred_copy, np.array([2**31 - 1, 1], np.int32), out, backend=backend)
    assert out.tolist() == [1, -1]
    a, out = np.array([1, 0, 0, 0], np.int64), np.full(4, -1, np.int64)
    backends.run(prange_start_once, a, out, backend=backend)
    assert out.tolist() == [-1, 1, 2, 3]
    out = np.zeros(1, np.float32)
    if backend in ("myhdl", "verilator"):  # hardware refuses floats
        with pytest.raises(UnsupportedKernel, match="fixed-point"):
            backends.run(f32_cancel, 1e8, 1.0, out, backend=backend)
    else:
        backends.run(f32_cancel, 1e8, 1.0, out, backend=backend)
        assert out[0] == 0.0  # float32: 1e8 + 1 rounds back to 1e8
    out = np.zeros(2, np.int32)
    if backend in ("myhdl", "verilator"):  # a memory sized at run time cannot be built
        with pytest.raises(KernelError, match="needs constant sizes in hardware"):
            backends.run(dim_from_size, 2**40 + 5, out, backend=backend)
    else:
        backends.run(dim_from_size, 2**40 + 5, out, backend=backend)
        assert out.tolist() == [5, 0]
    out = np.zeros(3, np.uint64)
    backends.run(u64_edges, out, backend=backend)
    assert out.tolist() == [2**64 - 1, 2**63, 2**64 - 2**62]  # 3 << 62 wraps to -2**62 in the i64
    out = np.zeros(2, np.int32)
    backends.run(uses_two_factory_kernels, out, backend=backend)
    assert out.tolist() == [1, 100]


TBL = table(i32, [1, 2, 3])


@kernel
def _writer(a: Array[i32, "N"]):
    a[0] = 9


@kernel
def writes_table_through_callee(out: Array[i32, 1]):
    _writer(TBL)
    out[0] = TBL[0]


@kernel
def float_of_u64(a: Array[u64, "N"], out: Array[f32, "N"]):
    for i in range(a.shape[0]):
        out[i] = a[i] * 1.0


@kernel
def loop_var_shadows_array(out: Array[i32, 1]):
    buf = zeros(i32, 4)
    for buf in range(3):
        out[0] = buf


@pytest.mark.parametrize(
    "k, message",
    [
        (writes_table_through_callee, "table `TBL` is read-only, but `_writer` writes its parameter `a`"),
        (float_of_u64, "a conversion to float needs the exact value of `a[i] * 1.0`, which may need 64 bits"),
        (loop_var_shadows_array, "loop variable `buf` reuses the name of another variable"),
    ],
)
def test_refused_at_compile_time(k, message: str) -> None:
    with pytest.raises(KernelError) as info:
        k.ir  # noqa: B018
    assert info.value.message.startswith(message)


@kernel
def local_named_like_a_finished_loop_var(x: Array[i32, 2], out: Array[i32, 1]):
    for c in range(3):
        out[0] = c
    if x[0] > 0:
        c = 7
    out[0] = c  # the local `c` starts at zero: it is not the loop's variable


@pytest.mark.parametrize("backend", ["python", "numba-cpu", "myhdl"])
@pytest.mark.parametrize(("first", "want"), [(0, 0), (1, 7)])
def test_local_named_like_a_finished_loop_var_starts_at_zero(backend: str, first: int, want: int) -> None:
    out = np.zeros(1, np.int32)
    backends.run(local_named_like_a_finished_loop_var, np.array([first, 0], np.int32), out, backend=backend)
    assert out[0] == want
