"""Strength reduction and row flattening (issue 14, part 3), on every backend.

`//` and `%` by a power-of-two constant become shifts and masks, and `*` by a power of two a shift (the
`strength` pass); other constant multiplications become shifts and adds in the Verilog where that takes at
most two adders. The reduced kernels must agree bit for bit with the Python reference at negative and edge
operands, and their Verilog must hold no divider. A row loop around a pipelined loop whose bound is computed
from the row index (no memory reads) is flattened into one pipeline, its latency exact and equal to the
simulated cycles; the report says for each loop nest whether it was flattened and why not, and a trip count
the data decide is bounded by its bounds' types instead of unbounded.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import backends
from hls import Array, i8, i16, i32, i64, kernel, lower, pipeline
from hls.hw.ops import MULC_MAX_ADDS, csd_digits
from hls.ir import interp
from hls.ir import nodes as ir
from hls.ir.walk import subexpressions
from hls.passes import run_all, strength
from hls.passes._util import subexprs
from hls.report_html import facts, render

HDL_BACKENDS = ["python", "numba-cpu", "myhdl", "verilator"]
RNG = np.random.default_rng(14)


@kernel
def pow2_div_mod(x: Array[i32, "N"], q: Array[i32, "N", 4], r: Array[i32, "N", 4]):
    for i in pipeline(range(x.shape[0]), ii=1):
        q[i, 0] = x[i] // 2
        q[i, 1] = x[i] // 16
        q[i, 2] = x[i] // 1048576
        q[i, 3] = x[i] // 2147483648
        r[i, 0] = x[i] % 2
        r[i, 1] = x[i] % 16
        r[i, 2] = x[i] % 1048576
        r[i, 3] = x[i] % 2147483648


@kernel
def const_mul(x: Array[i8, "N"], m: Array[i64, "N", 6]):
    for i in pipeline(range(x.shape[0]), ii=1):
        m[i, 0] = x[i] * 4
        m[i, 1] = 5 * x[i]
        m[i, 2] = x[i] * 7
        m[i, 3] = x[i] * -3
        m[i, 4] = (x[i] // 4) * 3 + x[i] % 4
        m[i, 5] = x[i] * 21845  # NOTE: 8 canonical signed digits: a multiplier is cheaper than 7 adders


EDGES_I32 = [-(2**31), -(2**31) + 1, -(2**20) - 1, -(2**20), -17, -16, -15, -2, -1, 0, 1, 2, 15, 16, 17, 2**20]
EDGES_I32 += [2**31 - 2**20, 2**31 - 2, 2**31 - 1]


def _i32_operands() -> np.ndarray:
    return np.array(EDGES_I32 + list(RNG.integers(-(2**31), 2**31, 13)), np.int32)


def _run(k: object, args: tuple, backend: str) -> tuple[list, object]:
    why = backends.available(backend)
    if why:
        pytest.skip(f"{backend} not run: {why}")
    got = [a.copy() for a in args]
    result = backends.run(k, *got, backend=backend)
    return got, result


# ---- the pass --------------------------------------------------------------------------------------------------


def test_strength_pass_leaves_no_power_of_two_division_and_keeps_every_type() -> None:
    fn = run_all(pow2_div_mod, {"N": 4}, verify=True, dump="")
    ops = [e.op for e in subexprs(fn.body) if isinstance(e, ir.BinOp)]
    assert "//" not in ops and "%" not in ops
    assert ops.count(">>") == 4 and ops.count("&") == 4
    x = ir.Var("x", i16, ir.Loc("k.py", 1, 0))
    e = ir.BinOp("%", x, ir.Const(8, i16, x.loc), i16, x.loc)
    reduced = strength.reduce(e)
    assert isinstance(reduced, ir.BinOp) and (reduced.op, reduced.type) == ("&", e.type)
    assert strength.reduce(ir.BinOp("//", x, ir.Const(6, i16, x.loc), i16, x.loc)).op == "//"  # not a power of two
    assert strength.reduce(ir.BinOp("//", x, ir.Const(-4, i16, x.loc), i16, x.loc)).op == "//"  # negative


def test_strength_pass_agrees_with_the_interpreter_at_edge_operands() -> None:
    x = _i32_operands()
    reduced = run_all(pow2_div_mod, {"N": len(x)}, verify=True, dump="")
    got = {"x": x.copy(), "q": np.zeros((len(x), 4), np.int32), "r": np.zeros((len(x), 4), np.int32)}
    interp.run(reduced, got)  # checks every value against its expression's type, too
    wide = x.astype(np.int64)
    for col, d in enumerate([2, 16, 2**20, 2**31]):
        np.testing.assert_array_equal(got["q"][:, col], wide // d)  # numpy floors like Python
        np.testing.assert_array_equal(got["r"][:, col], wide % d)


def test_canonical_signed_digits_sum_to_the_constant_without_adjacent_digits() -> None:
    for c in list(range(-600, 600)) + [2**31 - 1, -(2**31), 21845]:
        digits = csd_digits(c)
        assert sum(sign << shift for shift, sign in digits) == c
        assert all(a[0] - b[0] >= 2 for a, b in zip(digits, digits[1:]))
    assert len(csd_digits(7)) == 2 and len(csd_digits(21845)) - 1 > MULC_MAX_ADDS


# ---- every backend, and the Verilog ----------------------------------------------------------------------------


def _datapath(verilog: str) -> list[str]:
    """The Verilog lines without comments and the timescale (whose `1ns/10ps` is no division)."""
    return [line.split("//")[0] for line in verilog.splitlines() if not line.startswith("`timescale")]


def test_verilog_has_no_divider_and_cheap_constant_products_are_shifts_and_adds() -> None:
    lines = _datapath(lower(pow2_div_mod, N=8).verilog)
    assert not [s for s in lines if "/" in s or "%" in s]
    verilog = lower(const_mul, N=8).verilog
    products = [s for s in verilog.splitlines() if re.search(r"\w \* ", s.split("//")[0])]
    heavy = next(n for n, s in enumerate(open(__file__).read().splitlines(), 1) if "x[i] * 21845" in s)
    assert len(products) == 1 and products[0].rstrip().endswith(f"// line {heavy}"), products
    assert not [s for s in _datapath(verilog) if "/" in s or "%" in s]
    assert "<<<" in verilog or "<<" in verilog


@pytest.mark.parametrize("backend", HDL_BACKENDS)
def test_reduced_division_agrees_at_edge_operands(backend: str) -> None:
    x = _i32_operands()
    args = (x, np.zeros((len(x), 4), np.int32), np.zeros((len(x), 4), np.int32))
    (_, q, r), _ = _run(pow2_div_mod, args, backend)
    wide = x.astype(np.int64)
    for col, d in enumerate([2, 16, 2**20, 2**31]):
        np.testing.assert_array_equal(q[:, col], wide // d, err_msg=f"x // {d} on {backend}")
        np.testing.assert_array_equal(r[:, col], wide % d, err_msg=f"x % {d} on {backend}")


@pytest.mark.parametrize("backend", HDL_BACKENDS)
def test_constant_products_agree_on_every_int8(backend: str) -> None:
    x = np.arange(-128, 128, dtype=np.int8)
    (_, m), _ = _run(const_mul, (x, np.zeros((256, 6), np.int64)), backend)
    w = x.astype(np.int64)
    want = np.stack([w * 4, 5 * w, w * 7, w * -3, (w // 4) * 3 + w % 4, w * 21845], axis=1)
    np.testing.assert_array_equal(m, want, err_msg=backend)


# ---- rows whose bound is computed from the row index -------------------------------------------------------------


@kernel
def causal_blocks(a: Array[i16, "M", "K"], s: Array[i32, "M", "K"]):
    for i in range(a.shape[0]):
        for j in pipeline(range(min(a.shape[1], (i >> 2) + 3)), ii=1):  # a short bound: the cycle after a row change
            s[i, j] = a[i, j] * 3 - i


@kernel
def long_bounds(a: Array[i16, "M", "K"], s: Array[i32, "M", "K"]):
    for i in range(a.shape[0]):  # a bound too long for one cycle with the compare: computed a row ahead
        for j in pipeline(range(i % 4, min(a.shape[1], ((i * 5) >> 2) + (i * 3 >> 3) + (i >> 1) + 1)), ii=1):
            s[i, j] = a[i, j] - j


@kernel
def row_then_store(a: Array[i16, "M", "K"], s: Array[i32, "M"]):
    for i in range(a.shape[0]):  # two statements around the pipeline: no perfect nest, no row pipeline
        acc = i32(0)
        for j in pipeline(range(min(a.shape[1], (i >> 1) + 1)), ii=1):
            acc += a[i, j]
        s[i] = acc


ROWS = [(causal_blocks, "cycle after a row change"), (long_bounds, "the next row's while the current row issues")]


@pytest.mark.parametrize(("k", "how"), ROWS, ids=lambda v: getattr(v, "__name__", ""))
def test_computed_bound_rows_are_flattened_with_an_exact_latency(k: object, how: str) -> None:
    design = lower(k, M=13, K=9)
    (pipe,) = design.report.pipelines
    assert (pipe.ii, pipe.flattened) == (1, ["i"])
    (note,) = design.hw.flattening
    assert note.flattened and how in note.why
    lat = design.report.latency
    rows = [(i % 4 if k is long_bounds else 0, _hi(k, i, 9)) for i in range(13)]
    # the rows (trips and a cycle each), the first row's bounds set, the last issue and the drain
    assert lat.exact and lat.lo == sum(max(0, h - lo) + 1 for lo, h in rows) + 1 + 1 + design.hw.pipelines[0].drain
    assert f"loop line {note.line} `i`: flattened, the pipelined loop's bounds are computed" in str(design.report)


def _hi(k: object, i: int, n: int) -> int:
    return min(n, (i >> 2) + 3) if k is causal_blocks else min(n, ((i * 5) >> 2) + (i * 3 >> 3) + (i >> 1) + 1)


@pytest.mark.parametrize("backend", HDL_BACKENDS)
@pytest.mark.parametrize("k", [causal_blocks, long_bounds], ids=lambda k: k.__name__)
def test_computed_bound_rows_agree_and_take_the_reported_cycles(k: object, backend: str) -> None:
    a = RNG.integers(-1000, 1000, (13, 9)).astype(np.int16)
    want = np.full((13, 9), 7, np.int32)
    k(a, want)  # the Python reference
    (_, s), result = _run(k, (a, np.full((13, 9), 7, np.int32)), backend)
    np.testing.assert_array_equal(s, want)
    if backend in ("myhdl", "verilator"):
        assert result.cycles == lower(k, M=13, K=9).report.latency.lo


def test_report_says_why_a_nest_is_not_flattened_and_bounds_its_latency() -> None:
    design = lower(row_then_store, M=8, K=16)
    (note,) = design.hw.flattening
    assert not note.flattened and "not a perfect nest" in note.why and "its body is not one pipelined loop" in note.why
    assert f"loop line {note.line} `i`: not flattened, not a perfect nest" in str(design.report)
    lat = design.report.latency
    assert not lat.exact and lat.hi is not None and "unbounded" not in str(lat)
    assert lat.hi - lat.lo <= 8 * 16  # each row's trips capped by min(K, ...) (and the row index's range)
    html = render(facts(design))
    assert '<td class="no">not</td>' in html and "not a perfect nest" in html
    flat = render(facts(lower(causal_blocks, M=8, K=16)))
    assert '<td class="yes">flattened</td>' in flat and "computed from the row index" in flat


@pytest.mark.parametrize("backend", ["myhdl", "verilator"])
def test_a_capped_latency_holds_the_simulated_cycles(backend: str) -> None:
    a = RNG.integers(-1000, 1000, (8, 16)).astype(np.int16)
    (_, s), result = _run(row_then_store, (a, np.zeros(8, np.int32)), backend)
    want = np.zeros(8, np.int32)
    row_then_store(a, want)
    np.testing.assert_array_equal(s, want)
    lat = lower(row_then_store, M=8, K=16).report.latency
    assert lat.hi is not None and lat.lo < result.cycles <= lat.hi


def test_row_bounds_with_a_division_are_reduced_before_flattening() -> None:
    fn = run_all(long_bounds, {"M": 13, "K": 9}, verify=True, dump="")
    loops = [s for s in fn.body if isinstance(s, ir.For)]
    inner = loops[0].body[0]
    assert isinstance(inner, ir.For)
    assert [e.op for e in subexpressions(inner.start) if isinstance(e, ir.BinOp)] == ["&"]  # i % 4
