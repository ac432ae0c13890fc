"""The integer semantics of the kernel language, checked on every backend.

Every expected value is computed here with plain Python ints and the `wrap`
helper below, never by the package's own code, so a bug shared by the
frontend and both backends still fails these tests.

The rules under test: integer expressions are exact; values wrap (two's
complement) only where stored to a typed local, an array element, a kernel
parameter or a return value; untyped locals are i64; bool stores keep
truthiness; `>>`, `//` and `%` floor; shift amounts outside 0..63 raise
ValueError; division by zero raises ZeroDivisionError; operations that need
an exact value refuse (KernelError) operands that may exceed 64 bits.
"""

import functools
import inspect
import linecache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backends
from hls import Array, Int, KernelError, UInt, i8, i16, i32, i64, kernel, u8, u16, u32, u64

BACKENDS = [
    pytest.param(
        b,
        marks=pytest.mark.skipif(
            backends.available(b) is not None, reason=f"backend {b} not run: {backends.available(b)}"
        ),
    )
    for b in backends.names()
]  # a backend that cannot run here is a skip, never a pass
N = "N"  # the dim symbol, as a name (keeps linters from reading "N" as a forward reference)
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
U64_MAX = (1 << 64) - 1

HDL = ("myhdl", "verilator")
by_backend = pytest.mark.parametrize("backend", BACKENDS)
# NOTE: a GPU kernel or a circuit cannot raise; on numba-cuda, myhdl and verilator these run-time errors are
# undefined (README, Semantics).
by_raising_backend = pytest.mark.parametrize(
    "backend", [b for b in BACKENDS if b.values[0] not in ("numba-cuda", *HDL)]
)


def hypo(*strategies, **named):
    """`@given(...)` for a test over `backend`: 50 examples, and 10 on the circuit simulators, which run a whole
    simulation per example (the random kernels and the catalog check them further)."""

    def deco(test):
        runs = {n: settings(max_examples=n, deadline=None)(given(*strategies, **named)(test)) for n in (50, 10)}

        @functools.wraps(runs[50])
        def property_test(*args, backend, **kwargs):
            return runs[10 if backend in HDL else 50](*args, backend=backend, **kwargs)

        return property_test

    return deco


# ---- independent reference helpers ---------------------------------------------


def wrap(value: int, width: int, signed: bool) -> int:
    """`value` reduced to `width` bits, two's complement when `signed`."""
    value &= (1 << width) - 1
    if signed and value >> (width - 1):
        value -= 1 << width
    return value


def w64(value: int) -> int:
    return wrap(value, 64, True)


def u64w(value: int) -> int:
    return wrap(value, 64, False)


def bounds(width: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def dtype_for(width: int, signed: bool) -> np.dtype:
    """The narrowest numpy integer dtype holding `width` bits."""
    bits = next(b for b in (8, 16, 32, 64) if width <= b)
    return np.dtype(f"{'int' if signed else 'uint'}{bits}")


def arr(values, width: int = 64, signed: bool = True) -> np.ndarray:
    return np.array([int(v) for v in values], dtype=dtype_for(width, signed))


def ints(a: np.ndarray) -> list[int]:
    return [int(v) for v in a]


PAD = 16  # on the circuit simulators, elementwise kernels run on arrays padded to this length


def run(k, *args, backend: str, elementwise: bool = False):
    """Run `k` and return its value; the array arguments are updated in place.

    `elementwise`: each output element depends only on the same element of the inputs. A circuit simulator
    builds a design per array length, so there the arrays are padded to PAD (repeating the drawn values) and
    one design serves every draw of a property test; only the caller's elements are copied back.
    """
    lengths = {len(a) for a in args if isinstance(a, np.ndarray)}
    if elementwise and backend in HDL and len(lengths) == 1 and 0 < (n := lengths.pop()) < PAD:
        padded = [np.resize(a, PAD) if isinstance(a, np.ndarray) else a for a in args]
        value = backends.run(k, *padded, backend=backend).value
        for a, p in zip(args, padded):
            if isinstance(a, np.ndarray):
                a[:] = p[:n]
        return value
    return backends.run(k, *args, backend=backend).value


@pytest.fixture(autouse=True)
def _verilator_batch(request: pytest.FixtureRequest) -> None:
    """Before the first verilator test: build the padded elementwise kernels' models in one Verilator batch."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("backend") == "verilator":
        _prebuild_elementwise()


@functools.cache
def _prebuild_elementwise() -> None:

    kernels = [*STORE_KERNELS.values(), exact_i64, floor_i64, floor_i8, shifts, u64_ops]
    backends.prebuild([(k, {"N": PAD}) for k in kernels])


# ---- wrap-around at stores, for every width ------------------------------------

# (label, type, width, signed)
TYPES = (
    [
        ("i8", i8, 8, True),
        ("i16", i16, 16, True),
        ("i32", i32, 32, True),
        ("i64", i64, 64, True),
        ("u8", u8, 8, False),
        ("u16", u16, 16, False),
        ("u32", u32, 32, False),
        ("u64", u64, 64, False),
    ]
    + [(f"Int({w})", Int(w), w, True) for w in (1, 5, 12, 33, 63)]
    + [(f"UInt({w})", UInt(w), w, False) for w in (1, 5, 12, 33, 63)]
)


def _make_store_kernel(t):
    def store(
        x: Array[i64, N],
        y: Array[i64, N],
        a: Array[t, N],
        s: Array[t, N],
        p: Array[t, N],
        d: Array[t, N],
        inc: Array[t, N],
        dec: Array[t, N],
    ):
        for i in range(x.shape[0]):
            s[i] = x[i] + y[i]  # exact 65-bit sum, wrapped only here
            p[i] = x[i] * y[i]  # exact 127-bit product, wrapped only here
            v: t = x[i] - y[i]  # a typed local wraps
            d[i] = v
            inc[i] = a[i] + 1
            dec[i] = a[i] - 1

    store.__qualname__ = store.__name__ = "store_" + t.name.replace("(", "").replace(")", "")
    return kernel(store)


STORE_KERNELS = {label: _make_store_kernel(t) for label, t, _, _ in TYPES}
TYPE_PARAMS = [pytest.param(label, w, s, id=label) for label, _, w, s in TYPES]


def check_store(
    label: str, width: int, signed: bool, xs: list[int], ys: list[int], avals: list[int], backend: str
) -> None:
    n = len(xs)
    dt = dtype_for(width, signed)
    outs = [np.zeros(n, dtype=dt) for _ in range(5)]
    run(STORE_KERNELS[label], arr(xs), arr(ys), np.array(avals, dtype=dt), *outs, backend=backend, elementwise=True)
    s, p, d, inc, dec = (ints(o) for o in outs)

    def w(v: int) -> int:
        return wrap(v, width, signed)

    assert s == [w(x + y) for x, y in zip(xs, ys)]
    assert p == [w(x * y) for x, y in zip(xs, ys)]
    assert d == [w(x - y) for x, y in zip(xs, ys)]
    assert inc == [w(a + 1) for a in avals]
    assert dec == [w(a - 1) for a in avals]


@by_backend
@pytest.mark.parametrize(("label", "width", "signed"), TYPE_PARAMS)
def test_store_wraps_edges(label, width, signed, backend):
    lo, hi = bounds(width, signed)
    lo64, hi64 = max(lo, I64_MIN), min(hi, I64_MAX)
    pairs = [
        (lo64, 0),
        (hi64, 0),
        (hi64, 1),
        (lo64, -1),
        (hi64, hi64),
        (lo64, lo64),
        (I64_MAX, I64_MAX),
        (I64_MIN, I64_MIN),
        (I64_MIN, -1),
        (I64_MAX, 1),
        (-1, 0),
        (0, 1),
        (-3, 5),
        (1 << 40, -(1 << 33)),
    ]
    avals = [lo, hi, min(lo + 1, hi), max(hi - 1, lo), 0] * 3
    avals = avals[: len(pairs)]
    check_store(label, width, signed, [x for x, _ in pairs], [y for _, y in pairs], avals, backend)


# Literal expectations, independent even of `wrap` above: (type label, stored value a, a + 1, a - 1).
LITERAL_EDGES = [
    ("i8", 127, -128, 126),
    ("i8", -128, -127, 127),
    ("u8", 255, 0, 254),
    ("u8", 0, 1, 255),
    ("i16", 32767, -32768, 32766),
    ("u16", 0, 1, 65535),
    ("i32", -(2**31), -(2**31) + 1, 2**31 - 1),
    ("u32", 2**32 - 1, 0, 2**32 - 2),
    ("i64", I64_MAX, I64_MIN, I64_MAX - 1),
    ("i64", I64_MIN, I64_MIN + 1, I64_MAX),
    ("u64", U64_MAX, 0, U64_MAX - 1),
    ("u64", 0, 1, U64_MAX),
    ("Int(1)", 0, -1, -1),
    ("Int(1)", -1, 0, 0),
    ("UInt(1)", 1, 0, 0),
    ("UInt(1)", 0, 1, 1),
    ("Int(5)", 15, -16, 14),
    ("Int(5)", -16, -15, 15),
    ("UInt(5)", 31, 0, 30),
    ("UInt(5)", 0, 1, 31),
    ("Int(12)", 2047, -2048, 2046),
    ("Int(12)", -2048, -2047, 2047),
    ("UInt(12)", 4095, 0, 4094),
    ("Int(33)", 2**32 - 1, -(2**32), 2**32 - 2),
    ("UInt(33)", 0, 1, 2**33 - 1),
    ("Int(63)", 2**62 - 1, -(2**62), 2**62 - 2),
    ("Int(63)", -(2**62), -(2**62) + 1, 2**62 - 1),
    ("UInt(63)", 2**63 - 1, 0, 2**63 - 2),
    ("UInt(63)", 0, 1, 2**63 - 1),
]
_TYPE_BY_LABEL = {label: (w, s) for label, _, w, s in TYPES}


@by_backend
@pytest.mark.parametrize(("label", "a", "plus", "minus"), LITERAL_EDGES)
def test_store_wraps_literal(label, a, plus, minus, backend):
    width, signed = _TYPE_BY_LABEL[label]
    dt = dtype_for(width, signed)
    outs = [np.zeros(1, dtype=dt) for _ in range(5)]
    run(STORE_KERNELS[label], arr([0]), arr([0]), np.array([a], dtype=dt), *outs, backend=backend, elementwise=True)
    assert (int(outs[3][0]), int(outs[4][0])) == (plus, minus)


@by_backend
@pytest.mark.parametrize(("label", "width", "signed"), TYPE_PARAMS)
@hypo(data=st.data())
def test_store_wraps_property(label, width, signed, backend, data):
    lo, hi = bounds(width, signed)
    n = data.draw(st.integers(1, 6), label="n")
    i64s = st.integers(I64_MIN, I64_MAX)
    xs = data.draw(st.lists(i64s, min_size=n, max_size=n), label="xs")
    ys = data.draw(st.lists(i64s, min_size=n, max_size=n), label="ys")
    avals = data.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n), label="a")
    check_store(label, width, signed, xs, ys, avals, backend)


@kernel
def typed_locals(x: Array[i64, N], out: Array[i64, N]):
    for i in range(x.shape[0]):
        acc = i16(0)  # an untyped local whose first value is a cast takes the cast's type
        acc = x[i] * 1000  # ... so this later assignment wraps to i16
        plain = x[i] * 1000  # untyped: i64, holds the exact product of an i64 value (wrapping at 64 bits)
        small: u8 = x[i]
        out[i] = acc + small + (plain >> 3)


@by_backend
def test_typed_and_untyped_locals(backend):
    xs = [0, 1, 33, -33, 100, 2**40, I64_MAX, I64_MIN]
    out = arr([0] * len(xs))
    run(typed_locals, arr(xs), out, backend=backend)
    expected = [w64(wrap(x * 1000, 16, True) + wrap(x, 8, False) + (w64(x * 1000) >> 3)) for x in xs]
    assert ints(out) == expected
    assert ints(out)[2] == -32536 + 33 + 4125  # 33000 wraps to -32536 in the i16 local


# ---- exact intermediates -------------------------------------------------------


@kernel
def cube_i8(a: Array[i8, N], b: Array[i8, N], c: Array[i8, N], out: Array[i32, N]):
    for i in range(a.shape[0]):
        out[i] = a[i] * b[i] * c[i]


@by_backend
def test_i8_product_does_not_wrap_early(backend):
    a, b, c = [-128, 127, -128, 100, 16], [-128, 127, 127, 100, 16], [-128, 127, 1, -3, 16]
    out = arr([0] * 5, 32)
    run(cube_i8, arr(a, 8), arr(b, 8), arr(c, 8), out, backend=backend)
    assert ints(out) == [-2097152, 2048383, -16256, -30000, 4096]


@kernel
def avg_i32(
    a: Array[i32, N],
    b: Array[i32, N],
    exact: Array[i32, N],
    early: Array[i32, N],
    pos: Array[bool, N],
    dist: Array[i64, N],
    small: Array[i64, N],
):
    for i in range(a.shape[0]):
        exact[i] = (a[i] + b[i]) >> 1  # the 33-bit sum, then the shift
        t: i32 = a[i] + b[i]  # wraps here first
        early[i] = t >> 1
        pos[i] = a[i] + b[i] > 0  # exact comparison
        dist[i] = abs(a[i] - b[i])  # exact 33-bit difference
        small[i] = min(a[i] + b[i], a[i] * b[i])  # exact 63-bit product


@by_backend
def test_i32_intermediates_are_exact(backend):
    m, x = -(2**31), 2**31 - 1
    a = [x, m, x, m, -7, 5]
    b = [x, m, 1, x, 2, -5]
    outs = [arr([9] * 6, 32), arr([9] * 6, 32), np.zeros(6, bool), arr([9] * 6), arr([9] * 6)]
    run(avg_i32, arr(a, 32), arr(b, 32), *outs, backend=backend)
    exact, early, pos, dist, small = (ints(o) for o in outs)
    assert exact == [x, m, 2**30, -1, -3, 0]
    assert early == [wrap(p + q, 32, True) >> 1 for p, q in zip(a, b)]
    assert early[:2] == [-1, 0]  # the early wrap really differs
    assert pos == [True, False, True, False, False, False]
    assert dist == [0, 0, x - 1, 2**32 - 1, 9, 10]
    assert small == [min(p + q, p * q) for p, q in zip(a, b)]
    assert small[0] == 2**32 - 2 and small[3] == -(2**62) + 2**31


@kernel
def exact_i64(
    x: Array[i64, N],
    y: Array[i64, N],
    back: Array[i64, N],
    avg: Array[i64, N],
    lowbits: Array[u16, N],
    local: Array[i64, N],
):
    for i in range(x.shape[0]):
        back[i] = (x[i] + y[i]) - y[i]  # 65-bit intermediate, exact
        avg[i] = i64(x[i] + y[i]) >> 1  # an explicit wrap makes `>>` legal
        lowbits[i] = (x[i] * y[i]) & 0xFFFF
        s = x[i] + y[i]  # untyped local: i64, wraps at the assignment
        local[i] = s >> 1


@by_backend
@hypo(st.lists(st.tuples(st.integers(I64_MIN, I64_MAX), st.integers(I64_MIN, I64_MAX)), min_size=1, max_size=6))
def test_i64_intermediates_exact_then_wrap(backend, pairs):
    pairs = pairs + [(I64_MAX, I64_MAX), (I64_MIN, -1), (I64_MIN, I64_MIN)]
    xs, ys = [p for p, _ in pairs], [q for _, q in pairs]
    n = len(pairs)
    outs = [arr([0] * n), arr([0] * n), arr([0] * n, 16, False), arr([0] * n)]
    run(exact_i64, arr(xs), arr(ys), *outs, backend=backend, elementwise=True)
    back, avg, low, local = (ints(o) for o in outs)
    assert back == xs
    assert avg == [w64(x + y) >> 1 for x, y in pairs]
    assert low == [(x * y) & 0xFFFF for x, y in pairs]
    assert local == avg
    assert avg[-3:] == [-1, I64_MAX >> 1, 0]


# ---- floor division, modulo and arithmetic shifts ------------------------------


@kernel
def floor_i64(a: Array[i64, N], b: Array[i64, N], q: Array[i64, N], r: Array[i64, N]):
    for i in range(a.shape[0]):
        q[i] = a[i] // b[i]
        r[i] = a[i] % b[i]


@kernel
def floor_i8(a: Array[i8, N], b: Array[i8, N], q: Array[i8, N], r: Array[i8, N], wide: Array[i16, N]):
    for i in range(a.shape[0]):
        q[i] = a[i] // b[i]
        r[i] = a[i] % b[i]
        wide[i] = a[i] // b[i]


# (a, b, a // b stored to i64, a % b)
DIVMOD_CASES = [
    (-7, 2, -4, 1),
    (7, -2, -4, -1),
    (-7, -2, 3, -1),
    (7, 2, 3, 1),
    (-1, 2, -1, 1),
    (1, -2, -1, -1),
    (0, -3, 0, 0),
    (-6, 3, -2, 0),
    (6, -3, -2, 0),
    (I64_MIN, -1, I64_MIN, 0),
    (I64_MIN, 1, I64_MIN, 0),
    (I64_MIN, 2, -(2**62), 0),
    (I64_MIN, -2, 2**62, 0),
    (I64_MAX, -1, -I64_MAX, 0),
    (I64_MIN, I64_MIN, 1, 0),
    (I64_MAX, I64_MIN, -1, -1),
    (-1, I64_MIN, 0, -1),
    (I64_MIN, I64_MAX, -2, I64_MAX - 1),
    (I64_MIN, 3, -3074457345618258603, 1),
]


@by_backend
def test_floor_div_mod_i64_cases(backend):
    a, b = [c[0] for c in DIVMOD_CASES], [c[1] for c in DIVMOD_CASES]
    q, r = arr([7] * len(a)), arr([7] * len(a))
    run(floor_i64, arr(a), arr(b), q, r, backend=backend, elementwise=True)
    assert ints(q) == [c[2] for c in DIVMOD_CASES]
    assert ints(r) == [c[3] for c in DIVMOD_CASES]


@by_backend
def test_floor_div_mod_i8_cases(backend):
    a = [-7, 7, -7, 7, -128, -128, 127, -128, -1, 100]
    b = [2, -2, -2, 2, -1, 1, -128, 127, 127, -7]
    q, r, wide = arr([0] * 10, 8), arr([0] * 10, 8), arr([0] * 10, 16)
    run(floor_i8, arr(a, 8), arr(b, 8), q, r, wide, backend=backend, elementwise=True)
    assert ints(q) == [-4, -4, 3, 3, -128, -128, -1, -2, -1, -15]  # -128 // -1 = 128 wraps in i8 ...
    assert ints(wide) == [-4, -4, 3, 3, 128, -128, -1, -2, -1, -15]  # ... but not in i16
    assert ints(r) == [1, -1, -1, 1, 0, 0, -1, 126, 126, -5]


nonzero_i64 = st.integers(I64_MIN, I64_MAX).filter(lambda v: v != 0)


@by_backend
@hypo(
    st.lists(
        st.tuples(st.integers(I64_MIN, I64_MAX), nonzero_i64 | st.integers(-3, 3).filter(bool)), min_size=1, max_size=6
    )
)
def test_floor_div_mod_i64_property(backend, pairs):
    a, b = [p for p, _ in pairs], [q for _, q in pairs]
    q, r = arr([0] * len(a)), arr([0] * len(a))
    run(floor_i64, arr(a), arr(b), q, r, backend=backend, elementwise=True)
    assert ints(q) == [w64(x // y) for x, y in pairs]
    assert ints(r) == [x % y for x, y in pairs]
    for x, y, qq, rr in zip(a, b, ints(q), ints(r)):
        assert 0 <= rr < y or y < rr <= 0  # the sign of the divisor
        assert w64(qq * y + rr) == x


@by_backend
@hypo(st.lists(st.tuples(st.integers(-128, 127), st.integers(-128, 127).filter(bool)), min_size=1, max_size=8))
def test_floor_div_mod_i8_property(backend, pairs):
    a, b = [p for p, _ in pairs], [q for _, q in pairs]
    n = len(a)
    q, r, wide = arr([0] * n, 8), arr([0] * n, 8), arr([0] * n, 16)
    run(floor_i8, arr(a, 8), arr(b, 8), q, r, wide, backend=backend, elementwise=True)
    assert ints(q) == [wrap(x // y, 8, True) for x, y in pairs]
    assert ints(wide) == [x // y for x, y in pairs]
    assert ints(r) == [x % y for x, y in pairs]


@kernel
def shifts(
    a: Array[i64, N],
    s: Array[UInt(6), N],
    v: Array[i8, N],
    right: Array[i64, N],
    left: Array[i64, N],
    right_v: Array[i64, N],
    left_u: Array[u64, N],
):
    for i in range(a.shape[0]):
        right[i] = a[i] >> s[i]  # amount typed 0..63: a plain shift
        left[i] = a[i] << s[i]
        right_v[i] = a[i] >> v[i]  # amount typed -128..127: checked at run time
        left_u[i] = a[i] << v[i]


# (a, s, a >> s, a << s stored to i64)
SHIFT_CASES = [
    (-1, 1, -1, -2),
    (-2, 1, -1, -4),
    (-3, 1, -2, -6),
    (3, 1, 1, 6),
    (-7, 2, -2, -28),
    (7, 2, 1, 28),
    (I64_MIN, 63, -1, 0),
    (I64_MAX, 63, 0, I64_MIN),
    (I64_MIN, 1, -(2**62), 0),
    (-5, 0, -5, -5),
    (-1, 63, -1, I64_MIN),
    (1, 63, 0, I64_MIN),
    (3, 62, 0, -(2**62)),
    (I64_MAX, 1, 2**62 - 1, -2),
    (-(2**62), 62, -1, 0),
]


@by_backend
def test_shift_cases(backend):
    a, s = [c[0] for c in SHIFT_CASES], [c[1] for c in SHIFT_CASES]
    n = len(a)
    outs = [arr([0] * n), arr([0] * n), arr([0] * n), arr([0] * n, 64, False)]
    run(shifts, arr(a), arr(s, 6, False), arr(s, 8), *outs, backend=backend, elementwise=True)
    right, left, right_v, left_u = (ints(o) for o in outs)
    assert right == right_v == [c[2] for c in SHIFT_CASES]
    assert left == [c[3] for c in SHIFT_CASES]
    assert left_u == [u64w(c[3]) for c in SHIFT_CASES]


@by_backend
@hypo(st.lists(st.tuples(st.integers(I64_MIN, I64_MAX), st.integers(0, 63)), min_size=1, max_size=6))
def test_shift_property(backend, pairs):
    a, s = [p for p, _ in pairs], [q for _, q in pairs]
    n = len(a)
    outs = [arr([0] * n), arr([0] * n), arr([0] * n), arr([0] * n, 64, False)]
    run(shifts, arr(a), arr(s, 6, False), arr(s, 8), *outs, backend=backend, elementwise=True)
    right, left, right_v, left_u = (ints(o) for o in outs)
    assert right == right_v == [x >> k for x, k in pairs]
    assert left == [w64(x << k) for x, k in pairs]
    assert left_u == [u64w(x << k) for x, k in pairs]


@kernel
def shl(a: i64, s: i32) -> i64:
    return a << s


@kernel
def shr(a: i64, s: i32) -> i64:
    return a >> s


@by_raising_backend
@pytest.mark.parametrize("amount", [64, -1, 65, 1000, -(2**31)])
@pytest.mark.parametrize("k", [shl, shr], ids=["shl", "shr"])
def test_shift_out_of_range_raises(k, amount, backend):
    with pytest.raises(ValueError, match="shift"):
        run(k, 1, amount, backend=backend)


@by_backend
def test_shift_in_range_scalar(backend):
    assert run(shl, 1, 63, backend=backend) == I64_MIN
    assert run(shl, 3, 63, backend=backend) == I64_MIN
    assert run(shl, -1, 0, backend=backend) == -1
    assert run(shr, I64_MIN, 63, backend=backend) == -1
    assert run(shr, I64_MAX, 63, backend=backend) == 0
    assert run(shr, -1, 1, backend=backend) == -1
    assert run(shr, -9, 2, backend=backend) == -3


@kernel
def div64(a: i64, b: i64) -> i64:
    return a // b


@kernel
def mod64(a: i64, b: i64) -> i64:
    return a % b


@kernel
def div8(a: i8, b: u8) -> i8:
    return a // b


@kernel
def mod8(a: i8, b: u8) -> i8:
    return a % b


@by_raising_backend
@pytest.mark.parametrize("k", [div64, mod64, div8, mod8], ids=["div64", "mod64", "div8", "mod8"])
@pytest.mark.parametrize("a", [0, 5, -5])
def test_division_by_zero_raises(k, a, backend):
    with pytest.raises(ZeroDivisionError):
        run(k, a, 0, backend=backend)


@by_backend
def test_scalar_div_mod_edges(backend):
    assert run(div64, I64_MIN, -1, backend=backend) == I64_MIN
    assert run(mod64, I64_MIN, -1, backend=backend) == 0
    assert run(div64, -7, 2, backend=backend) == -4
    assert run(mod64, 7, -2, backend=backend) == -1
    assert run(div8, -128, 255, backend=backend) == -1
    assert run(mod8, -128, 255, backend=backend) == 127
    assert run(div8, -7, 2, backend=backend) == -4
    assert run(mod8, -7, 2, backend=backend) == 1


# ---- width edges of 64-bit values ----------------------------------------------


@kernel
def edges_i64(
    a: Array[i64, N],
    b: Array[i64, N],
    abs_s: Array[i64, N],
    abs_u: Array[u64, N],
    neg_s: Array[i64, N],
    neg_u: Array[u64, N],
    lo: Array[i64, N],
    hi: Array[i64, N],
    inv: Array[i64, N],
):
    for i in range(a.shape[0]):
        abs_s[i] = abs(a[i])
        abs_u[i] = abs(a[i])
        neg_s[i] = -a[i]
        neg_u[i] = -a[i]
        lo[i] = min(a[i], b[i])
        hi[i] = max(a[i], b[i], -1)
        inv[i] = ~a[i]


@by_backend
def test_i64_edges(backend):
    a = [I64_MIN, I64_MAX, -1, 0, I64_MIN + 1, 5]
    b = [I64_MAX, I64_MIN, -2, I64_MIN, I64_MIN, -5]
    n = len(a)
    outs = [
        arr([0] * n),
        arr([0] * n, 64, False),
        arr([0] * n),
        arr([0] * n, 64, False),
        arr([0] * n),
        arr([0] * n),
        arr([0] * n),
    ]
    run(edges_i64, arr(a), arr(b), *outs, backend=backend)
    abs_s, abs_u, neg_s, neg_u, lo, hi, inv = (ints(o) for o in outs)
    assert abs_s == [I64_MIN, I64_MAX, 1, 0, I64_MAX, 5]
    assert abs_u == [2**63, I64_MAX, 1, 0, I64_MAX, 5]
    assert neg_s == [I64_MIN, -I64_MAX, 1, 0, I64_MAX, -5]
    assert neg_u == [2**63, 2**63 + 1, 1, 0, I64_MAX, U64_MAX - 4]
    assert lo == [I64_MIN, I64_MIN, -2, I64_MIN, I64_MIN, -5]
    assert hi == [I64_MAX, I64_MAX, -1, 0, -1, 5]
    assert inv == [I64_MAX, I64_MIN, 0, -1, I64_MAX - 1, -6]


# ---- bool stores ----------------------------------------------------------------


@kernel
def bools(
    a: Array[i64, N],
    b: Array[bool, N],
    u1: Array[UInt(1), N],
    s1: Array[Int(1), N],
    back: Array[i8, N],
    pos: Array[bool, N],
    cast: Array[i8, N],
):
    for i in range(a.shape[0]):
        b[i] = a[i]  # truthiness, not the low bit
        u1[i] = a[i]  # a 1-bit integer wraps
        s1[i] = a[i]
        t: bool = a[i] & 6
        back[i] = t + b[i]  # bools are 0 and 1 in arithmetic
        pos[i] = a[i] > 0
        cast[i] = bool(a[i] & 1) * 3 - 1


@by_backend
def test_bool_stores_keep_truthiness(backend):
    a = [2, 0, -1, 1, 4, 8, I64_MIN, 6, 3, I64_MAX]
    n = len(a)
    outs = [
        np.zeros(n, bool),
        arr([0] * n, 1, False),
        arr([0] * n, 1, True),
        arr([0] * n, 8),
        np.zeros(n, bool),
        arr([0] * n, 8),
    ]
    run(bools, arr(a), *outs, backend=backend)
    b, u1, s1, back, pos, cast = (ints(o) for o in outs)
    assert outs[0].tolist() == [True, False, True, True, True, True, True, True, True, True]
    assert b[0] == 1  # storing 2 into a bool array gives True
    assert u1 == [0, 0, 1, 1, 0, 0, 0, 0, 1, 1]  # UInt(1) wraps 2 to 0
    assert s1 == [0, 0, -1, -1, 0, 0, 0, 0, -1, -1]
    assert back == [int((x & 6) != 0) + int(x != 0) for x in a]
    assert pos == [int(x > 0) for x in a]
    assert cast == [2 if x & 1 else -1 for x in a]


@kernel
def truthy(x: i64) -> bool:
    return x


@by_backend
def test_bool_return(backend):
    assert [run(truthy, x, backend=backend) for x in (2, 0, -1, I64_MIN)] == [True, False, True, True]


# ---- u64 values above 2**63 ------------------------------------------------------


@kernel
def u64_ops(
    a: Array[u64, N],
    b: Array[u64, N],
    add: Array[u64, N],
    mul: Array[u64, N],
    xor: Array[u64, N],
    sub: Array[u64, N],
    inv: Array[u64, N],
    low: Array[u16, N],
    sgn: Array[i64, N],
):
    for i in range(a.shape[0]):
        add[i] = a[i] + b[i]
        mul[i] = a[i] * b[i]
        xor[i] = a[i] ^ b[i] ^ 0x8000000000000001
        sub[i] = a[i] - b[i]
        inv[i] = ~a[i] | 1
        low[i] = (a[i] * b[i] + 7) & 0xFFFF
        sgn[i] = a[i]  # reinterpreted as i64


def check_u64(a: list[int], b: list[int], backend: str) -> list[list[int]]:
    n = len(a)
    outs = [arr([0] * n, 64, False) for _ in range(5)] + [arr([0] * n, 16, False), arr([0] * n)]
    run(u64_ops, arr(a, 64, False), arr(b, 64, False), *outs, backend=backend, elementwise=True)
    got = [ints(o) for o in outs]
    pairs = list(zip(a, b))
    assert got[0] == [u64w(x + y) for x, y in pairs]
    assert got[1] == [u64w(x * y) for x, y in pairs]
    assert got[2] == [x ^ y ^ 0x8000000000000001 for x, y in pairs]
    assert got[3] == [u64w(x - y) for x, y in pairs]
    assert got[4] == [u64w(~x | 1) for x in a]
    assert got[5] == [(x * y + 7) & 0xFFFF for x, y in pairs]
    assert got[6] == [w64(x) for x in a]
    return got


@by_backend
def test_u64_above_2_63(backend):
    a = [U64_MAX, 2**63, 2**63 + 5, U64_MAX, 2**63 - 1, 0]
    b = [1, 2**63, 3, U64_MAX, 2, 1]
    add, mul, xor, sub, inv, low, sgn = check_u64(a, b, backend)
    assert add == [0, 0, 2**63 + 8, U64_MAX - 1, 2**63 + 1, 1]
    assert mul == [U64_MAX, 0, 2**63 + 15, 1, U64_MAX - 1, 0]
    assert sub[-1] == U64_MAX and sub[1] == 0
    assert sgn[:2] == [-1, I64_MIN]


u64s = st.integers(0, U64_MAX)


@by_backend
@hypo(st.lists(st.tuples(u64s, u64s | st.sampled_from([2**63, U64_MAX, 1])), min_size=1, max_size=6))
def test_u64_property(backend, pairs):
    check_u64([p for p, _ in pairs], [q for _, q in pairs], backend)


@kernel
def u64_scalar(x: u64, y: u64) -> u64:
    return x * y + 1


@by_backend
def test_u64_scalars_and_return(backend):
    assert run(u64_scalar, U64_MAX, U64_MAX, backend=backend) == 2
    assert run(u64_scalar, 2**63, 1, backend=backend) == 2**63 + 1
    assert run(u64_scalar, 2**63 + 1, 3, backend=backend) == 2**63 + 4
    assert run(u64_scalar, 2**32, 2**32, backend=backend) == 1


# ---- return values and kernel calls ------------------------------------------------


@kernel
def ret_i16(x: i32) -> i16:
    return x * 3


@kernel
def ret_u8(x: i32) -> u8:
    return x - 1


@kernel
def ret_i5(x: i64, y: i64) -> Int(5):
    return x * y


@by_backend
def test_return_value_wraps(backend):
    assert run(ret_i16, 20000, backend=backend) == -5536
    assert run(ret_i16, -11000, backend=backend) == 32536
    assert run(ret_i16, 10922, backend=backend) == 32766
    assert run(ret_i16, 2**31 - 1, backend=backend) == wrap(3 * (2**31 - 1), 16, True)
    assert run(ret_u8, 0, backend=backend) == 255
    assert run(ret_u8, -(2**31), backend=backend) == 255
    assert run(ret_u8, 257, backend=backend) == 0
    assert run(ret_i5, 4, 4, backend=backend) == -16
    assert run(ret_i5, I64_MAX, I64_MAX, backend=backend) == 1
    assert run(ret_i5, I64_MIN, 3, backend=backend) == 0


@kernel
def take_i8(x: i8) -> i32:
    return x


@kernel
def take_u5(x: UInt(5)) -> i64:
    return x


@kernel
def put_i16(out: Array[i64, N], at: i64, x: i16):
    out[at] = x


@kernel
def call_narrow(v: i64, out: Array[i64, N]):
    out[0] = take_i8(v)
    out[1] = take_u5(v)
    out[2] = take_i8(v + 1)  # an exact 65-bit argument, wrapped at the parameter
    out[3] = take_u5(v * v)
    put_i16(out, 4, v)
    put_i16(out, 5, v - 40000)


@by_backend
@pytest.mark.parametrize("v", [200, -129, 127, 0, 31, 32, -1, 40000, I64_MAX, I64_MIN])
def test_call_wraps_at_parameter(v, backend):
    out = arr([99] * 6)
    run(call_narrow, v, out, backend=backend)
    assert ints(out) == [
        wrap(v, 8, True),
        wrap(v, 5, False),
        wrap(v + 1, 8, True),
        wrap(v * v, 5, False),
        wrap(v, 16, True),
        wrap(v - 40000, 16, True),
    ]


@by_backend
def test_call_wraps_literal(backend):
    out = arr([99] * 6)
    run(call_narrow, 200, out, backend=backend)
    assert ints(out) == [-56, 8, -55, 0, 200, 25736]


# ---- compile-time rejection of >64-bit exact-value operands -----------------------


@kernel
def bad_shift(x: i64) -> i64:
    return (x + 1) >> 1


@kernel
def bad_compare(x: i64, y: i64) -> bool:
    return x * y > 0


@kernel
def bad_div(x: i64) -> i64:
    return (x + 1) // 2


@kernel
def bad_mod(x: i64, y: i32) -> i64:
    return (x - y) % 3


@kernel
def bad_min(x: i64) -> i64:
    return min(x + 1, 0)


@kernel
def bad_abs(x: i64, y: i64) -> i64:
    return abs(x * y)


@kernel
def bad_index(a: Array[i64, N], x: i64) -> i64:
    return a[x + 1]


@kernel
def bad_truth(x: i64) -> i64:
    y = 0
    if x + 1:
        y = 1
    return y


@kernel
def bad_bool_store(x: i64, out: Array[bool, N]):
    out[0] = x - 1


@kernel
def bad_shift_amount(x: i64, s: i64) -> i64:
    return x << (s + 1)


# kernel -> (the text of the offending line, what the error says needs the exact value)
REJECTED = {
    bad_shift: ("(x + 1) >> 1", "`>>`"),
    bad_compare: ("x * y > 0", "a comparison"),
    bad_div: ("(x + 1) // 2", "`//`"),
    bad_mod: ("(x - y) % 3", "`%`"),
    bad_min: ("min(x + 1, 0)", "min()"),
    bad_abs: ("abs(x * y)", "abs()"),
    bad_index: ("a[x + 1]", "an array index"),
    bad_truth: ("if x + 1:", "an if condition"),
    bad_bool_store: ("out[0] = x - 1", "a bool store"),
    bad_shift_amount: ("x << (s + 1)", "a shift amount"),
}


@by_backend
@pytest.mark.parametrize("k", list(REJECTED), ids=[k.__name__ for k in REJECTED])
def test_exact_value_ops_reject_wide_operands(k, backend):
    line_text, what = REJECTED[k]
    params = inspect.signature(k.fn).parameters
    args = [arr([0, 0]) if name in ("a", "out") else 1 for name in params]
    with pytest.raises(KernelError) as info:
        backends.run(k, *args, backend=backend)
    err = info.value
    assert f"{what} needs the exact value" in err.message
    assert line_text in linecache.getline(err.loc.file, err.loc.line)
    assert err.loc.file == __file__


@kernel
def explicit_wraps(x: i64, y: i64, out: Array[i64, N]):
    out[0] = i64(x + 1) >> 1
    out[1] = i64(x * y) // 3
    out[2] = i64(x * y) % 5
    out[3] = min(i64(x + 1), y)
    out[4] = abs(i64(x - y))
    out[5] = 1 if i64(x + y) > 0 else 0


@by_backend
@pytest.mark.parametrize(("x", "y"), [(I64_MAX, 3), (I64_MIN, -1), (5, -7), (-(2**62), 2**62)])
def test_explicit_wraps_are_accepted(x, y, backend):
    out = arr([0] * 6)
    run(explicit_wraps, x, y, out, backend=backend)
    assert ints(out) == [
        w64(x + 1) >> 1,
        w64(x * y) // 3,
        w64(x * y) % 5,
        min(w64(x + 1), y),
        w64(abs(w64(x - y))),
        int(w64(x + y) > 0),
    ]


@by_backend
def test_explicit_wrap_literal(backend):
    out = arr([0] * 6)
    run(explicit_wraps, I64_MAX, 3, out, backend=backend)
    assert ints(out)[0] == -(2**62)  # i64(INT64_MAX + 1) is INT64_MIN; >> 1 floors
    assert ints(out)[3] == I64_MIN


@kernel
def wrapped_then_compared(x: i64, y: i64, out: Array[i64, N]):
    s = x + y  # an untyped local: i64, wraps here
    out[0] = 1 if s > 0 else 0
    out[1] = max(s, 0)
    t: i64 = x * y
    out[2] = 1 if t < 0 else 0
    d = x - y
    out[3] = min(d, 1)
    acc = i64(0)
    acc += x
    acc += y
    out[4] = 1 if acc < x else 0
    out[5] = 1 if (i64(x + y) >> 1) < 0 else 0


def wrapped_then_compared_expected(x: int, y: int) -> list[int]:
    s, t, d = w64(x + y), w64(x * y), w64(x - y)
    return [int(s > 0), max(s, 0), int(t < 0), min(d, 1), int(s < x), int((s >> 1) < 0)]


@by_backend
@pytest.mark.parametrize(
    ("x", "y"),
    [
        (I64_MAX, 3),
        (I64_MIN, -1),
        (I64_MAX, I64_MAX),
        (I64_MIN, I64_MIN),
        (I64_MIN, 1),
        (2**62, 2),
        (-(2**32), 2**32 + 1),
        (5, -7),
    ],
)
def test_wrapped_values_compare_as_wrapped(x, y, backend):
    """A value wrapped to i64 compares as the wrapped value (no backend may see the exact one)."""
    out = arr([9] * 6)
    run(wrapped_then_compared, x, y, out, backend=backend)
    assert ints(out) == wrapped_then_compared_expected(x, y)


@by_backend
@hypo(st.integers(I64_MIN, I64_MAX), st.integers(I64_MIN, I64_MAX))
def test_wrapped_values_compare_property(backend, x, y):
    out = arr([9] * 6)
    run(wrapped_then_compared, x, y, out, backend=backend)
    assert ints(out) == wrapped_then_compared_expected(x, y)


@kernel
def negative_constants(x: i64) -> i64:
    return x * -3 + (-5) - (-(1 << 63)) + 0xFFFFFFFFFFFFFFFF


@by_backend
@pytest.mark.parametrize("x", [0, 1, -1, I64_MAX, I64_MIN, 3074457345618258603])
def test_wide_arithmetic_with_negative_constants(x, backend):
    assert run(negative_constants, x, backend=backend) == w64(x * -3 - 5 + 2**63 + U64_MAX)
