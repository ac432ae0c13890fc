"""Argument checking through `backends.run`, on the python and numba-cpu backends.

Every bad call must raise `hls.ArgumentError` (ValueError for an unknown
backend) whose message names the offending argument, and must leave every
array it was given exactly as it was.
"""

import numpy as np
import pytest

import backends
from hls import ArgumentError, Array, Int, UInt, UnsupportedKernel, f64, i8, i16, i32, i64, kernel

BACKENDS = [
    pytest.param(
        b,
        marks=pytest.mark.skipif(
            backends.available(b) is not None, reason=f"backend {b} not run: {backends.available(b)}"
        ),
    )
    for b in backends.names()
]  # a backend that cannot run here is a skip, never a pass
N, M = "N", "M"  # dim symbols, as names

by_backend = pytest.mark.parametrize("backend", BACKENDS)
# NOTE: a GPU kernel or a circuit cannot raise; on numba-cuda, myhdl and verilator these run-time errors are
# undefined (README, Semantics).
by_raising_backend = pytest.mark.parametrize(
    "backend", [b for b in BACKENDS if b.values[0] not in ("numba-cuda", "myhdl", "verilator")]
)


@kernel
def add16(a: Array[i16, N], b: Array[i16, N], out: Array[i16, N], k: i8):
    for i in range(a.shape[0]):
        out[i] = a[i] + b[i] + k


@kernel
def fixed4(a: Array[i32, 4], out: Array[i32, 4]):
    for i in range(4):
        out[i] = a[i] * 2


@kernel
def transpose(a: Array[i32, M, N], out: Array[i32, N, M]):
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j, i] = a[i, j]


@kernel
def odd12(a: Array[Int(12), N], out: Array[UInt(5), N]):
    for i in range(a.shape[0]):
        out[i] = a[i]


@kernel
def fscale(x: Array[f64, N], s: f64, out: Array[f64, N]):
    for i in range(x.shape[0]):
        out[i] = x[i] * s


@kernel
def masked(m: Array[bool, N], v: bool, out: Array[i8, N]):
    for i in range(m.shape[0]):
        out[i] = 1 if m[i] and v else 0


@kernel
def write_then_divide(a: Array[i64, N], d: i64, out: Array[i64, N], last: Array[i64, 1]):
    for i in range(a.shape[0]):
        out[i] = a[i] * 2
    last[0] = a[0] // d


@kernel
def write_then_shift(a: Array[i64, N], s: i32, out: Array[i64, N]):
    for i in range(a.shape[0]):
        out[i] = a[i] + 1
    out[0] = a[0] << s


def good_add16(n: int = 5):
    a = np.arange(n, dtype=np.int16)
    b = np.arange(n, dtype=np.int16) * 10
    out = np.full(n, -7, dtype=np.int16)
    return a, b, out


def expect_argument_error(kern, /, *args, backend, names=(), contains=(), error=ArgumentError, **params):
    """Run and expect `error`; the message names each of `names` in backticks; no array changes."""
    arrays = [v for v in (*args, *params.values()) if isinstance(v, np.ndarray)]
    before = [v.copy() for v in arrays]
    with pytest.raises(error) as info:
        backends.run(kern, *args, backend=backend, **params)
    message = str(info.value)
    for name in names:
        assert f"`{name}`" in message, message
    for text in contains:
        assert text in message, message
    for a, b in zip(arrays, before):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    return message


@by_backend
def test_good_call_runs(backend):
    a, b, out = good_add16()
    backends.run(add16, a, b, out, 3, backend=backend)
    assert out.tolist() == [3, 14, 25, 36, 47]


@by_backend
def test_wrong_dtype(backend):
    a, b, out = good_add16()
    expect_argument_error(
        add16, a.astype(np.int32), b, out, 1, backend=backend, names=["a"], contains=["int16", "int32"]
    )
    expect_argument_error(add16, a, b, out.astype(np.uint16), 1, backend=backend, names=["out"])
    expect_argument_error(add16, a, b.astype(np.float64), out, 1, backend=backend, names=["b"])


@by_backend
def test_wrong_rank(backend):
    a, b, out = good_add16(6)
    expect_argument_error(add16, a.reshape(2, 3), b, out, 1, backend=backend, names=["a"], contains=["(2, 3)"])
    expect_argument_error(add16, a, b, np.int16(3), 1, backend=backend, names=["out"])
    expect_argument_error(fixed4, np.zeros((4, 1), np.int32), np.zeros(4, np.int32), backend=backend, names=["a"])


@by_backend
def test_inconsistent_dim_symbol(backend):
    a, b, out = good_add16(5)
    expect_argument_error(add16, a, b[:4], out, 1, backend=backend, names=["b"], contains=["N", "5", "4"])
    expect_argument_error(add16, a, b, np.zeros(6, np.int16), 1, backend=backend, names=["out"], contains=["N"])
    # the same symbols on different axes of two arrays
    expect_argument_error(
        transpose, np.zeros((2, 3), np.int32), np.zeros((2, 3), np.int32), backend=backend, names=["out"]
    )


@by_backend
def test_transposed_dims_consistent(backend):
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = np.zeros((3, 2), np.int32)
    backends.run(transpose, a, out, backend=backend)
    assert out.tolist() == a.T.tolist()


@by_backend
def test_fixed_dim_mismatch(backend):
    expect_argument_error(
        fixed4, np.zeros(5, np.int32), np.zeros(4, np.int32), backend=backend, names=["a"], contains=["4", "(5,)"]
    )
    expect_argument_error(fixed4, np.zeros(4, np.int32), np.zeros(3, np.int32), backend=backend, names=["out"])


@by_backend
def test_non_array_for_array(backend):
    a, b, out = good_add16()
    expect_argument_error(add16, a.tolist(), b, out, 1, backend=backend, names=["a"], contains=["list"])
    expect_argument_error(add16, a, b, 5, 1, backend=backend, names=["out"])
    expect_argument_error(add16, a, None, out, 1, backend=backend, names=["b"])


@by_backend
@pytest.mark.parametrize("k", [128, -129, 1 << 70, 255])
def test_scalar_out_of_range(k, backend):
    a, b, out = good_add16()
    expect_argument_error(add16, a, b, out, k, backend=backend, names=["k"], contains=[str(k), "i8"])


@by_backend
@pytest.mark.parametrize("k", [True, 1.0, "1", None, np.float32(2)])
def test_scalar_wrong_type(k, backend):
    a, b, out = good_add16()
    expect_argument_error(add16, a, b, out, k, backend=backend, names=["k"])


@by_backend
def test_scalar_numpy_int_accepted(backend):
    a, b, out = good_add16()
    backends.run(add16, a, b, out, np.int64(-128), backend=backend)
    assert out.tolist() == [-128, -117, -106, -95, -84]


@by_backend
@pytest.mark.parametrize("bad", [2048, -2049, 32767, -32768])
def test_odd_width_array_out_of_range(bad, backend):
    a = np.array([0, 5, bad, -3], dtype=np.int16)
    out = np.zeros(4, np.uint8)
    expect_argument_error(odd12, a, out, backend=backend, names=["a"], contains=["Int(12)", str(bad)])


@by_backend
def test_odd_width_arrays_in_range(backend):
    a = np.array([2047, -2048, 33, -1], dtype=np.int16)
    out = np.zeros(4, np.uint8)
    backends.run(odd12, a, out, backend=backend)
    assert out.tolist() == [31, 0, 1, 31]  # stores wrap to 5 bits
    out[0] = 32  # an output holding a value outside UInt(5) is refused too
    expect_argument_error(odd12, a, out, backend=backend, names=["out"], contains=["UInt(5)"])


@by_backend
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_floats(bad, backend):
    x = np.array([1.0, bad, 3.0])
    out = np.full(3, 0.5)
    expect_argument_error(fscale, x, 2.0, out, backend=backend, names=["x"])
    expect_argument_error(fscale, np.ones(3), float(bad), out, backend=backend, names=["s"])


@by_backend
def test_float_kernel_runs(backend):
    out = np.zeros(3)
    if backend in ("myhdl", "verilator"):  # hardware refuses floats, asking for fixed point
        with pytest.raises(UnsupportedKernel, match="fixed-point"):
            backends.run(fscale, np.array([1.0, -2.5, 3.0]), 2, out, backend=backend)
        return
    backends.run(fscale, np.array([1.0, -2.5, 3.0]), 2, out, backend=backend)
    assert out.tolist() == [2.0, -5.0, 6.0]


@by_backend
def test_bool_arguments(backend):
    m = np.array([True, False, True])
    out = np.full(3, 9, dtype=np.int8)
    backends.run(masked, m, np.True_, out, backend=backend)
    assert out.tolist() == [1, 0, 1]
    out[:] = 9
    expect_argument_error(masked, m, 1, out, backend=backend, names=["v"], contains=["bool"])
    expect_argument_error(masked, m.astype(np.int8), True, out, backend=backend, names=["m"])


@by_backend
def test_missing_arguments(backend):
    a, b, out = good_add16()
    expect_argument_error(add16, a, b, out, backend=backend, contains=["missing", "k"])
    expect_argument_error(add16, a, backend=backend, contains=["missing", "b", "out", "k"])


@by_backend
def test_extra_arguments(backend):
    a, b, out = good_add16()
    expect_argument_error(add16, a, b, out, 1, 2, backend=backend, contains=["takes 4", "5 given"])


@by_backend
def test_unknown_and_duplicate_keywords(backend):
    a, b, out = good_add16()
    expect_argument_error(add16, a, b, out, 1, z=3, backend=backend, names=["z"], contains=["unknown"])
    expect_argument_error(add16, a, b, out, 1, k=1, backend=backend, names=["k"], contains=["twice"])
    expect_argument_error(add16, a, b, out, 1, M=5, backend=backend, names=["M"])  # M is no dim of add16


@by_backend
def test_arguments_by_keyword(backend):
    a, b, out = good_add16()
    backends.run(add16, a, b, k=2, out=out, backend=backend)
    assert out.tolist() == [2, 13, 24, 35, 46]


@by_backend
def test_dims_as_keywords(backend):
    a, b, out = good_add16(5)
    backends.run(add16, a, b, out, 1, backend=backend, N=5)
    assert out.tolist() == [1, 12, 23, 34, 45]
    out[:] = -7
    expect_argument_error(add16, a, b, out, 1, backend=backend, N=4, names=["a"], contains=["N", "4", "5"])
    expect_argument_error(add16, a, b, out, 1, backend=backend, N=-1, contains=["N"])
    expect_argument_error(add16, a, b, out, 1, backend=backend, N=5.0, contains=["N"])
    expect_argument_error(add16, a, b, out, 1, backend=backend, N=True, contains=["N"])


def test_unknown_backend():
    a, b, out = good_add16()
    message = expect_argument_error(add16, a, b, out, 1, backend="verilog-on-a-toaster", error=ValueError)
    assert "verilog-on-a-toaster" in message
    assert "python" in message and "numba-cpu" in message  # lists the known backends


@by_backend
def test_read_only_output(backend):
    a, b, out = good_add16()
    out.setflags(write=False)
    expect_argument_error(add16, a, b, out, 1, backend=backend, names=["out"], contains=["read-only"])


@by_backend
def test_read_only_input_is_fine(backend):
    a, b, out = good_add16()
    a.setflags(write=False)
    b.setflags(write=False)
    backends.run(add16, a, b, out, 0, backend=backend)
    assert out.tolist() == [0, 11, 22, 33, 44]


@by_backend
def test_strided_and_fortran_outputs_are_updated_in_place(backend):
    base = np.full(10, -1, dtype=np.int16)
    a, b, _ = good_add16(5)
    backends.run(add16, a, b, base[::2], 0, backend=backend)
    assert base.tolist() == [0, -1, 11, -1, 22, -1, 33, -1, 44, -1]
    src = np.arange(6, dtype=np.int32).reshape(3, 2)
    out = np.asfortranarray(np.zeros((2, 3), np.int32))
    backends.run(transpose, src, out, backend=backend)
    assert out.tolist() == src.T.tolist()


@by_backend
def test_empty_arrays(backend):
    a, b, out = good_add16(0)
    backends.run(add16, a, b, out, 1, backend=backend)
    assert out.shape == (0,)


# ---- an error part-way through a run loses nothing ------------------------------


@by_raising_backend
def test_error_after_writes_loses_nothing(backend):
    a = np.array([1, 2, 3], dtype=np.int64)
    out = np.array([7, 8, 9], dtype=np.int64)
    last = np.array([5], dtype=np.int64)
    with pytest.raises(ZeroDivisionError):
        backends.run(write_then_divide, a, 0, out, last, backend=backend)
    assert out.tolist() == [7, 8, 9]
    assert last.tolist() == [5]
    backends.run(write_then_divide, a, 2, out, last, backend=backend)  # the same call succeeds and writes
    assert out.tolist() == [2, 4, 6] and last.tolist() == [0]


@by_raising_backend
def test_shift_error_after_writes_loses_nothing(backend):
    a = np.array([1, 2, 3], dtype=np.int64)
    out = np.array([7, 8, 9], dtype=np.int64)
    with pytest.raises(ValueError, match="shift"):
        backends.run(write_then_shift, a, 64, out, backend=backend)
    assert out.tolist() == [7, 8, 9]
    backends.run(write_then_shift, a, 3, out, backend=backend)
    assert out.tolist() == [8, 3, 4]
