"""Numba code generation: wraps deferred to their use keep the defined semantics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import backends
from algorithms.qk import qk_dense
from backends._source import deferrable_locals
from hls import Array, Int, UInt, UnsupportedKernel, check, f32, i8, i16, i32, i64, kernel, prange, u8, u32, zeros
from hls.ir import format_function

I12 = Int(12)


@kernel(values={"n": st.integers(0, 40)})
def deferred_everywhere(
    a: Array[i8, "N"], n: i32, odd: Array[I12, "N"], small: Array[u8, "N"], wide: Array[i32, "N"]
) -> Int(5):
    acc = i16(0)
    for i in range(a.shape[0]):
        for r in range(n):
            acc = acc * 3 + a[i] * a[i] - r
        odd[i] = acc  # a 12-bit element stored from a 16-bit local
        small[i] = u8(acc << 3)
        wide[i] = acc  # a wider element needs the exact 16-bit value: acc cannot be deferred
    return acc


@kernel
def deferred_narrow(a: Array[i8, "N"], odd: Array[I12, "N"], tiny: Array[UInt(3), "N"]) -> Int(5):
    acc = i16(0)
    for i in range(a.shape[0]):
        acc = acc * 7 + a[i]
        odd[i] = acc
        tiny[i] = ~acc ^ (acc << 2)
    return acc


@kernel
def compared(a: Array[i8, "N"], out: Array[i32, 1]):
    acc = i16(0)
    for i in range(a.shape[0]):
        acc += a[i] * a[i]
    if acc > 100:
        out[0] = 1


def test_which_locals_are_deferred() -> None:
    assert deferrable_locals(qk_dense.ir) == {"acc"}
    assert deferrable_locals(deferred_narrow.ir) == {"acc"}
    # a use that needs more bits than the local has (a wider store) or the exact value (a comparison)
    assert deferrable_locals(deferred_everywhere.ir) == set()
    assert deferrable_locals(compared.ir) == set()


def test_deferred_wraps_agree_with_the_reference() -> None:
    for k in (deferred_everywhere, deferred_narrow, compared):
        report = check(k, backends=["numba-cpu", "numba-cuda"], examples=150)
        assert report.agreed + list(report.skipped) == ["numba-cpu", "numba-cuda"]
        assert "numba-cpu" in report.agreed


@kernel
def sized_by_data(n: Array[i32, 1], out: Array[i32, "N"]):
    for i in prange(out.shape[0]):
        for r in range(2):
            buf = zeros(i32, n[0] + r)  # a size only the thread knows: numba-cuda cannot allocate it
            out[i] = buf.shape[0]


def test_unsupported_kernel_is_reported_not_counted() -> None:
    report = check(sized_by_data, backends=["numba-cpu", "numba-cuda"], examples=10, values={"n": st.integers(0, 5)})
    assert report.agreed == ["numba-cpu"]
    assert "numba-cuda" in report.skipped
    if "no CUDA GPU" not in report.skipped["numba-cuda"]:
        assert report.skipped["numba-cuda"].startswith("cannot run this kernel: sized_by_data: ")
        assert (
            "on numba-cuda, a local array in a prange loop needs a size that the host knows"
            in report.skipped["numba-cuda"]
        )
    with pytest.raises(UnsupportedKernel, match="needs a size that the host knows before the launch"):
        backends.run(sized_by_data, np.array([2], np.int32), np.zeros(3, np.int32), backend="numba-cuda")


@kernel
def relu_f32(x: Array[f32, "N"], out: Array[f32, "N"]):
    for i in prange(x.shape[0]):
        out[i] = max(x[i], 0.0) + min(1.0, x[i], 2) + (x[i] if x[i] > 0.5 else 0.25)


def test_float_literals_take_the_precision_of_the_other_operands() -> None:
    printed = format_function(relu_f32.ir)
    assert "max(x[i], 0.0:f32):f32" in printed
    assert "min(1.0:f32, x[i], f32(2:UInt(2))):f32" in printed
    assert "(x[i] if (x[i] > 0.5:f32):bool else 0.25:f32):f32" in printed
    assert ":f64" not in printed


# Found by RANDOM_KERNELS_SEED=31337 (kernel rk_31337_115): a `while` loop before a `prange` that allocates a
# local array of size 1 made Numba's parfor lowering type `np.zeros((1,), ...)` as `empty(True, int16)`.
@kernel
def rk_31337_115(a: Array[Int(1), 2, 6], n: i8) -> bool:
    w1 = 0
    while w1 < 2:
        x2 = UInt(1)(a[w1, w1])
        if ((w1 >> 32) + a[1, abs(a[n % 2, w1]) % 6]) != i16(-2):
            for _i3 in range(3):
                a[w1, w1] = -x2
            x2 = -w1
            a[(7 ^ w1) % 2, w1] -= w1
        else:
            x2 = (
                u8(n) & (a[Int(40)(w1 * a[x2 % 2, n % 6]) % 2, (x2 - a[1, 3]) % 6] > (-9))
                if (w1 >> ((3 % 1) & 63)) > 0x73527F9B5E
                else w1 & (a[a[1, 5] % 2, w1] | x2)
            )
        w1 += 1
    x4 = (w1 - Int(7)(a[0, (n + a[1, n % 6]) % 6])) + (UInt(48)(n) + a[1, 5])
    for p5 in prange(1, 2):
        buf6 = zeros(i16, 1)
        buf6[0] = p5 * p5
        buf6[0] %= -5
        a[p5, Int(40)(x4 << (buf6[0] & 7)) % 6] ^= buf6[0] << ((-6) & 7)
    a[(n | a[(255 + 9) % 2, 1]) % 2, 2] += -32768
    x4 = n & ((n * a[(a[1, 2] | w1) % 2, 4]) // (-2))
    if u32(a[0, 2] - w1):
        x7: i64 = bool(a[((-5) + a[1, 5]) % 2, 2] - 2)  # noqa: F841 - as generated
    a[1, 1] = x4
    a[0, 3] = w1
    return (a[0, (n - a[0, w1 % 6]) % 6] + 5) | (a[1, (a[1, 4] * a[0, 2]) % 6] - a[0, 1])


@kernel
def while_then_prange_alloc(out: Array[i32, "N"]):
    w = 0
    while w < 2:
        w += 1
    for p in prange(out.shape[0]):
        buf = zeros(i16, 1)
        buf[0] = p * w
        out[p] = buf[0]


@pytest.mark.parametrize("k", [rk_31337_115, while_then_prange_alloc], ids=lambda k: k.__name__)
def test_size_one_local_array_after_a_while_loop(k) -> None:
    # NOTE: numba-cpu refused to compile both before its shapes became `_np.int64(1)`.
    assert "_np.zeros((_np.int64(1),)" in backends.get("numba-cpu").source(k)
    report = check(k, backends=["numba-cpu"], examples=30)
    assert report.agreed == ["numba-cpu"]
