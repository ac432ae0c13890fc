"""The IR passes keep every kernel's meaning: the IR interpreter gives the same results before and after.

Each integer kernel of the catalog, and the kernels below (calls in awkward
places, unrolling, if-conversion), runs through the pass list with the
verifier after every pass and dims bound from Hypothesis-drawn shapes; the
interpreter must then agree with the original IR (outputs, return value and
the exception raised). Structural tests pin what each pass promises, golden
tests pin the printed IR (ATTNHLS_UPDATE_GOLDEN=1 rewrites them), and error
tests pin each KernelError's message, fix and line.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from algorithms import examples, qk
from hls import Array, KernelError, f32, i8, i16, i32, i64, kernel, pipeline, prange, table, u8, unroll, zeros
from hls.inttypes import narrowest_int
from hls.ir import format_function, interp
from hls.ir import nodes as ir
from hls.ir.verify import verify
from hls.ir.walk import statements
from hls.passes import PASSES, bind, bitwidth, collect_callees, constfold, inline, run_all
from hls.passes._util import subexprs
from hls.strategies import arguments
from hls.types import ArrayType, FloatType, IntType
from tests.catalog import CASES

GOLDEN = Path(__file__).parent / "golden"
SOURCE = Path(__file__).read_text().splitlines()

# A table with the name of one in algorithms.examples but other values: inlining exp2_q8 must rename one.
EXP2_FRAC_Q8 = table(u8, [3, 1, 4, 1, 5, 9, 2, 6])


def _line(marker: str) -> int:
    """The 1-based line of this file that ends with the comment `# <marker>`."""
    return next(k + 1 for k, text in enumerate(SOURCE) if text.rstrip().endswith(f"# {marker}"))


# ---- hand-written kernels ------------------------------------------------------------------------------------


@kernel
def square(x: i16) -> i32:
    return x * x


@kernel
def bump(a: Array[i32, "N"], i: i32) -> i32:
    """Write a[i], then return a value read after the write."""
    a[i] = a[i] + 1
    return a[i] * 2


@kernel
def sum_squares(x: i16) -> i32:
    return square(x) + square(x + 1)


@kernel
def maybe(n: i8) -> i8:
    """Returns 0 unless n > 3: a call starts with its locals at zero."""
    if n > 3:
        t = i8(n)
    return t


@kernel(values={"a": st.integers(-20, 20)})
def calls_everywhere(a: Array[i32, "N"], out: Array[i32, "N"]):
    """Calls in an `and`, in both branches of a select, after a load they change, in a while condition."""
    for i in range(a.shape[0]):
        v = a[i]
        if v > 0 and bump(a, i) > 8:
            out[i] = 1
        w = square(v) if v < 3 else -sum_squares(v + 1)
        out[i] += a[i] + bump(a, i)
        n = 0
        while square(n) < v or n < 2:
            n += 1
        bump(a, i)
        out[i] += n + w + maybe(a[i])


@kernel
def table_clash(x: Array[u8, "N"], out: Array[i32, "N"]):
    """Reads a table named like exp2_q8's own table but holding other values."""
    for i in range(x.shape[0]):
        out[i] = examples.exp2_q8(x[i]) + EXP2_FRAC_Q8[x[i] & 7]


@kernel
def unrolled(a: Array[i16, "N"], out: Array[i32, 4]):
    """A full unroll, unrolls by a factor with a remainder (positive and negative steps, constant and run-time
    bounds), nested unrolls."""
    acc = i32(0)
    for k in unroll(range(a.shape[0])):
        acc += a[k] * (k + 1)
    out[0] = acc
    acc2 = i32(0)
    for k2 in unroll(range(1, a.shape[0], 2), factor=3):
        acc2 += a[k2] - k2
    out[1] = acc2
    for k3 in unroll(range(a.shape[0] - 1, -1, -1), factor=2):
        out[2] = out[2] * 3 + a[k3]
    for r in unroll(range(3)):
        for c in unroll(range(r, 3)):
            out[3] += a[(r + c) % a.shape[0]] * c
    for z in unroll(range(a.shape[0]), factor=1):
        out[3] -= z
    for k4 in unroll(range(a[0] & 3, a.shape[0]), factor=3):
        out[3] += a[k4] * k4
    for k5 in unroll(range(a.shape[0] - 1, (a[1 % a.shape[0]] & 1) - 1, -2), factor=2):
        out[3] = out[3] * 5 + a[k5]


@kernel
def predicated(a: Array[i16, "N"], b: Array[i16, "N"], out: Array[i16, "N"], cnt: Array[i32, 2]):
    """Nested ifs with assignments and stores in a pipelined loop; a condition its branch reassigns."""
    for i in pipeline(range(a.shape[0]), ii=1):
        x = a[i]
        flag: bool = x > 0
        if flag:
            x = x * 2
            if b[i] != 0:
                out[i] = a[i] // b[i]
                cnt[0] += 1
            else:
                out[i] = x
                flag = False
        elif x < -5:
            out[i] = -x
        else:
            x = 0
        if flag:
            cnt[1] += x


@kernel
def pipelined_with_loop(a: Array[i16, "N"], out: Array[i32, "N"]):
    """A pipelined body that keeps a loop: its if stays an if."""
    for i in pipeline(range(a.shape[0]), ii=1):
        acc = i32(0)
        if a[i] > 0:
            for j in range(a[i] & 3):
                acc += j
        out[i] = acc


@kernel
def local_array(a: Array[i16, "N"], out: Array[i32, "N"]):
    """A local array sized by a dim, read through its shape."""
    for i in prange(a.shape[0]):
        buf = zeros(i32, a.shape[0] + 1)
        for j in range(buf.shape[0] - 1):
            buf[j + 1] = buf[j] + a[j] * i
        out[i] = buf[buf.shape[0] - 1]


# ---- kernels the passes refuse -------------------------------------------------------------------------------


@kernel
def float_kernel(a: Array[i32, "N"], out: Array[i32, "N"], scale: f32):  # float-param
    for i in range(a.shape[0]):
        out[i] = a[i]


@kernel
def dynamic_unroll(a: Array[i32, "N"], n: i8):
    for i in unroll(range(n)):  # dynamic-unroll
        a[i] = 0


@kernel
def dynamic_array(a: Array[i32, "N"], n: i8):
    buf = zeros(i32, n)  # dynamic-array
    a[0] = buf[a[1]]  # a computed index: the array stays an array (scalarize takes constant-indexed ones)


@kernel
def call_after_wide_division(a: Array[i64, "N"], out: Array[i64, "N"]):
    out[0] = a[0] // a[1] + square(i16(a[2]))  # wide-division


HAND_WRITTEN = [
    calls_everywhere,
    table_clash,
    unrolled,
    predicated,
    pipelined_with_loop,
    local_array,
    examples.exp2_q8,
    examples.exp2_rows,
    sum_squares,
]


# ---- helpers ---------------------------------------------------------------------------------------------------


def _is_float_kernel(k: Any) -> bool:
    fns = [k.ir, *collect_callees(k).values()]
    types = [p.type.elem if isinstance(p.type, ArrayType) else p.type for f in fns for p in f.params]
    types += [x.type for f in fns for x in f.locals]
    return any(isinstance(t, FloatType) for t in types)


def _dims(fn: ir.Function, args: tuple[Any, ...]) -> dict[str, int]:
    """The dim symbols of `fn`'s array parameters, bound from the shapes of `args`."""
    out = {}
    for p, a in zip(fn.params, args):
        if isinstance(p.type, ArrayType):
            out.update({d: n for d, n in zip(p.type.dims, a.shape) if isinstance(d, str)})
    return out


def _outcome(fn: ir.Function, args: tuple[Any, ...], names: list[str], callees: dict | None = None) -> tuple:
    """Run the interpreter on copies: ('ok', return value, outputs) or ('error', exception type)."""
    work = {n: a.copy() if isinstance(a, np.ndarray) else a for n, a in zip(names, args)}
    try:
        value = interp.run(fn, {p.name: work[p.name] for p in fn.params}, callees)
    except (IndexError, ValueError, ZeroDivisionError) as err:
        return ("error", type(err).__name__)
    return ("ok", value, {n: a.tolist() for n, a in work.items() if isinstance(a, np.ndarray)})


def _check_equivalent(k: Any, examples_: int, bind_scalars: bool = False) -> None:
    names = [p.name for p in k.ir.params]
    callees = collect_callees(k)
    compiled: dict[tuple, ir.Function] = {}

    @seed(0)
    @settings(max_examples=examples_, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(k.strategy if k.strategy is not None else arguments(k, max_dim=5))
    def trial(args: tuple[Any, ...]) -> None:
        params = _dims(k.ir, args)
        if bind_scalars:
            params.update({p.name: v for p, v in zip(k.ir.params, args) if not isinstance(p.type, ArrayType)})
        key = tuple(sorted(params.items()))
        if key not in compiled:
            compiled[key] = run_all(k, params, verify=True, dump="")
        fn = compiled[key]
        assert _outcome(fn, args, names) == _outcome(k.ir, args, names, callees)

    trial()


# ---- equivalence -------------------------------------------------------------------------------------------------

INT_CASES = [c for c in CASES if not _is_float_kernel(c.kernel)]


@pytest.mark.parametrize("case", INT_CASES, ids=lambda c: c.name)
def test_catalog_kernel_keeps_its_meaning(case: Any) -> None:
    _check_equivalent(case.kernel, 4 if case.name == "sdpa_fixed" else 10)


@pytest.mark.parametrize("k", HAND_WRITTEN, ids=lambda k: k.__name__)
def test_hand_written_kernel_keeps_its_meaning(k: Any) -> None:
    _check_equivalent(k, 20)


def test_random_kernels_keep_their_meaning() -> None:
    """The generator of tests/random_kernels.py mixes widths, loops, branches, unrolls, pipelines, local arrays."""
    generator = pytest.importorskip("tests.random_kernels", reason="the random kernel generator is not here")
    for k in generator.generate(2026, 40):
        _check_equivalent(k, 3)


@pytest.mark.parametrize("k", [examples.clamp_odd_width, examples.triangle_count], ids=lambda k: k.__name__)
def test_binding_scalars_keeps_the_meaning(k: Any) -> None:
    _check_equivalent(k, 10, bind_scalars=True)


# ---- what each pass promises ---------------------------------------------------------------------------------------


def _exprs(fn: ir.Function) -> list[ir.Expr]:
    return list(subexprs(fn.body))


def test_inline_leaves_no_calls_and_merges_tables() -> None:
    fn = inline.run(table_clash.ir, collect_callees(table_clash))
    verify(fn, "inlined")
    assert fn.callees == ()
    assert not any(isinstance(e, ir.Call) for e in _exprs(fn))
    assert not any(isinstance(s, ir.CallStmt) for s in statements(fn.body))
    by_name = {t.name: t.values for t in fn.tables}
    assert by_name["EXP2_FRAC_Q8"] == (3, 1, 4, 1, 5, 9, 2, 6)
    assert by_name["EXP2_FRAC_Q8_2"] == tuple(examples.EXP2_FRAC_Q8.array.tolist())


def test_inline_runs_a_call_in_a_while_condition_before_every_test() -> None:
    fn = inline.run(calls_everywhere.ir, collect_callees(calls_everywhere))
    loop = next(s for s in statements(fn.body) if isinstance(s, ir.While))
    before = [s for s in statements(fn.body) if isinstance(s, ir.Assign) and s.name.startswith("ret")]
    assert loop.body[-1] in before  # the call's result is recomputed at the end of each iteration
    assert not any(isinstance(e, ir.Call) for e in subexprs((loop,)))


def test_bind_turns_dims_and_scalars_into_constants() -> None:
    fn = bind.run(inline.run(examples.clamp_odd_width.ir, {}), {"N": 4, "lo": -3})
    verify(fn, "bound")
    assert [p.name for p in fn.params] == ["a", "hi", "out", "wide"]
    assert fn.params[0].type.dims == (4,)
    assert not any(isinstance(e, ir.Dim) for e in _exprs(fn))
    assert not any(isinstance(e, ir.Var) and e.name == "lo" for e in _exprs(fn))


def test_constfold_folds_exactly_and_leaves_run_time_errors() -> None:
    fn = _pipeline_until(unrolled, {"N": 3}, "constfold", occurrence=2)
    consts = {e.value for e in _exprs(fn) if isinstance(e, ir.Const)}
    assert not any(
        isinstance(e, ir.BinOp) and isinstance(e.lhs, ir.Const) and isinstance(e.rhs, ir.Const) for e in _exprs(fn)
    )
    assert {2, 3} <= consts  # (k + 1) folded for the unrolled copies
    div0 = dataclasses.replace(
        examples.exp2_q8.ir,
        body=(
            ir.Return(
                ir.BinOp(
                    "//",
                    ir.Const(1, IntType(1, False), examples.exp2_q8.ir.loc),
                    ir.Const(0, IntType(1, False), examples.exp2_q8.ir.loc),
                    IntType(2, True),
                    examples.exp2_q8.ir.loc,
                ),
                examples.exp2_q8.ir.loc,
            ),
        ),
        tables=(),
    )
    folded = constfold.run(div0)
    assert isinstance(folded.body[0].value, ir.BinOp)  # 1 // 0 still raises, at run time
    with pytest.raises(ZeroDivisionError):
        interp.run(folded, {"x": 0})


def _pipeline_until(k: Any, params: dict[str, int], name: str, occurrence: int = 1) -> ir.Function:
    fn = k.ir
    seen = 0
    for p in PASSES:
        args = {"inline": (collect_callees(k),), "bind": (params,)}.get(p.name, ())
        fn = p.run(fn, *args)
        verify(fn, p.stage)
        seen += p.name == name
        if seen == occurrence:
            return fn
    raise AssertionError(f"no pass {name}")


def test_unroll_leaves_no_unroll_loops_and_makes_the_copies() -> None:
    fn = _pipeline_until(unrolled, {"N": 7}, "unroll")
    loops = [s for s in statements(fn.body) if isinstance(s, ir.For)]
    assert not any(s.kind == "unroll" for s in loops)
    # factor 3 over range(1, 7, 2) (3 iterations): straight-line; factor 2 over 7 iterations: a loop by 2
    # with a remainder of one copy; factor 1: a plain loop; run-time bounds: a loop by F * step, then the rest.
    assert [(s.kind, int(s.step.value)) for s in loops] == [
        ("range", -2),
        ("range", 1),
        ("range", 3),
        ("range", 1),
        ("range", -4),
        ("range", -2),
    ]
    assert (
        sum(isinstance(s, ir.Store) and s.array == "out" and s.indices[0].value == 2 for s in statements(fn.body)) == 3
    )  # two copies in the loop, one for the remainder


def test_unroll_by_factor_loops_when_there_are_two_groups_or_more() -> None:
    fn = _pipeline_until(unrolled, {"N": 12}, "unroll")
    steps = sorted(int(s.step.value) for s in statements(fn.body) if isinstance(s, ir.For))
    assert steps == [-4, -2, -2, 1, 1, 3, 6]  # range(1, 12, 2) by 3: 6 iterations in 2 groups of 3, a loop by 6


def test_ifconvert_removes_ifs_from_pipelined_bodies_only() -> None:
    fn = _pipeline_until(predicated, {"N": 4}, "ifconvert")
    loop = next(s for s in fn.body if isinstance(s, ir.For))
    assert not any(isinstance(s, ir.If) for s in statements(loop.body))
    preds = [s.pred for s in statements(loop.body) if isinstance(s, ir.Store)]
    assert all(p is not None for p in preds) and len(preds) == 5
    assert any(isinstance(s, ir.Assign) and isinstance(s.value, ir.Select) for s in statements(loop.body))
    kept = _pipeline_until(pipelined_with_loop, {"N": 4}, "ifconvert")
    assert any(isinstance(s, ir.If) for s in statements(kept.body))  # it holds a loop
    outside = _pipeline_until(examples.classify, {"N": 4}, "ifconvert")
    assert any(isinstance(s, ir.If) for s in statements(outside.body))  # not pipelined


def _pairs(old: ir.Expr, new: ir.Expr):
    """Corresponding nodes of an expression before and after bitwidth (which only removes casts)."""
    if isinstance(old, ir.Cast) and not isinstance(new, ir.Cast):
        yield from _pairs(old.operand, new)
        return
    assert type(old) is type(new)
    yield old, new
    from hls.ir.walk import expr_children

    for a, b in zip(expr_children(old), expr_children(new), strict=True):
        yield from _pairs(a, b)


def _stmt_pairs(old: tuple[ir.Stmt, ...], new: tuple[ir.Stmt, ...]):
    from hls.passes._util import stmt_exprs

    for a, b in zip(statements(old), statements(new), strict=True):
        for x, y in zip(stmt_exprs(a), stmt_exprs(b), strict=True):
            yield from _pairs(x, y)


@pytest.mark.parametrize(
    "k, params",
    [
        (qk.qk_dense, {"M": 8, "N": 8, "D": 16}),
        (predicated, {"N": 5}),
        (examples.row_max_index, {"M": 4, "N": 6}),
        (unrolled, {"N": 9}),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_bitwidth_only_narrows(k: Any, params: dict[str, int]) -> None:
    before = _pipeline_until(k, params, "ifconvert")
    after = bitwidth.run(before)
    verify(after, "ifconverted")
    pairs = list(_stmt_pairs(before.body, after.body))
    ints = [(a.type, b.type) for a, b in pairs if isinstance(a.type, IntType)]
    assert all(b.width <= a.width for a, b in ints)
    assert any(b.width < a.width for a, b in ints)
    old_locals = {x.name: x.type for x in before.locals}
    assert all(x.type.width <= old_locals[x.name].width for x in after.locals)
    assert [p.type for p in after.params] == [p.type for p in before.params]


def test_bitwidth_narrows_the_qk_loop_variables() -> None:
    fn = run_all(qk.qk_dense, {"M": 8, "N": 8, "D": 16})
    loop_vars = {e.name: e.type for e in _exprs(fn) if isinstance(e, ir.Var)}
    assert loop_vars == {"i": IntType(3, False), "j": IntType(3, False), "acc": IntType(20, True)}
    products = {e.type for e in _exprs(fn) if isinstance(e, ir.BinOp) and e.op == "*"}
    assert products == {IntType(16, True)}
    sums = [e.type for e in _exprs(fn) if isinstance(e, ir.BinOp) and e.op == "+"]
    # the k-th partial sum of products in -16256..16384 holds -16256 * k .. 16384 * k, a bit more per doubling
    assert sums == [narrowest_int(-16256 * k, 16384 * k) for k in range(2, 17)]
    assert sums[0] == IntType(17, True) and sums[-1] == IntType(20, True)
    assert not any(isinstance(e, ir.Cast) for e in _exprs(fn))  # no sum ever wraps to i32


def test_bitwidth_narrows_a_local_only_when_no_value_wraps() -> None:
    fn = run_all(examples.row_max_index, {"M": 2, "N": 5})
    types = {x.name: x.type for x in fn.locals}
    assert types["at"] == IntType(4, True)  # -1 .. 4: no assignment wraps
    assert types["best"] == IntType(41, True)  # x[i, j] (i32) or -2**40
    fn = run_all(examples.dot_wrap, {"N": 3})
    assert {x.name: x.type for x in fn.locals}["acc"] == i16  # it wraps: it keeps its type
    fn = run_all(predicated, {"N": 3})
    assert {x.name: x.type for x in fn.locals}["x"] == IntType(17, True)  # a[i] * 2


# ---- golden IR ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "k, params",
    [(qk.qk_dense, {"M": 2, "N": 2, "D": 3}), (examples.exp2_rows, {"M": 2, "N": 3}), (predicated, {"N": 2})],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_golden_ir(k: Any, params: dict[str, int]) -> None:
    text = format_function(run_all(k, params, verify=True, dump=""))
    path = GOLDEN / f"passes_{k.__name__}.txt"
    if os.environ.get("ATTNHLS_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs; ATTNHLS_UPDATE_GOLDEN=1 rewrites it after a review"


def test_dump_prints_the_ir_after_the_named_passes() -> None:
    out = io.StringIO()
    run_all(examples.wrap_add, {"N": 2}, dump="bind,bitwidth", out=out)
    heads = [line for line in out.getvalue().splitlines() if line.startswith("# IR after")]
    assert heads == ["# IR after bind", "# IR after bitwidth"]


# ---- errors ----------------------------------------------------------------------------------------------------


def _error(fn: Any) -> KernelError:
    with pytest.raises(KernelError) as info:
        fn()
    return info.value


def test_floats_are_refused_at_the_users_line() -> None:
    err = _error(lambda: run_all(float_kernel, {"N": 2}))
    assert err.message == "floats cannot be lowered to hardware: parameter `scale` is f32"
    assert err.fix == "use a fixed-point integer type (e.g. i32 with a scale)"
    assert err.loc.line == _line("float-param")


def test_an_unbound_dim_is_refused() -> None:
    err = _error(lambda: run_all(qk.qk_dense, {"M": 2, "N": 2}))
    assert err.message == "dim `D` of array `q` is not bound"
    assert err.fix == "pass D=... to lower(), e.g. lower(kernel, D=16)"
    assert err.loc == qk.qk_dense.ir.params[0].loc


@pytest.mark.parametrize(
    "params, message, fix",
    [
        (
            {"M": 2, "N": 2, "D": 2, "X": 1},
            "`X` is neither a dim symbol nor a scalar parameter of this kernel",
            "bind one of: D, M, N",
        ),
        ({"M": 2, "N": 2, "D": 2.5}, "`D` must be bound to an int, got 2.5", "pass an integer, e.g. D=16"),
        ({"M": 2, "N": -1, "D": 2}, "dim `N` = -1 is outside 0..2147483647", "pass a non-negative array size"),
    ],
)
def test_bad_bindings_are_refused(params: dict[str, Any], message: str, fix: str) -> None:
    err = _error(lambda: run_all(qk.qk_dense, params))
    assert (err.message, err.fix) == (message, fix)
    assert err.loc is not None and err.loc.file == qk.qk_dense.ir.loc.file


def test_a_scalar_out_of_its_range_is_refused() -> None:
    err = _error(lambda: run_all(dynamic_unroll, {"N": 2, "n": 300}))
    assert err.message == "`n` = 300 does not fit its type i8 (-128..127)"
    assert err.loc.line == dynamic_unroll.ir.params[1].loc.line


def test_unroll_needs_constant_bounds() -> None:
    err = _error(lambda: run_all(dynamic_unroll, {"N": 2}))
    assert err.message == "unroll needs constant bounds"
    assert err.fix == "bind the dims with lower(..., D=16) or give factor="
    assert err.loc.line == _line("dynamic-unroll")


def test_huge_unrolls_are_refused() -> None:
    err = _error(lambda: run_all(qk.qk_dense, {"M": 1, "N": 1, "D": 5000}))
    assert err.message == "unrolling this loop makes 5000 copies of its body, over the limit of 4096"
    assert (
        err.loc.line
        == next(s for s in statements(qk.qk_dense.ir.body) if isinstance(s, ir.For) and s.kind == "unroll").loc.line
    )


def test_local_arrays_need_constant_sizes() -> None:
    err = _error(lambda: run_all(dynamic_array, {"N": 2}))
    assert err.message == "local array `buf` needs constant sizes in hardware"
    assert err.loc.line == _line("dynamic-array")


def test_scalar_binding_makes_sizes_constant() -> None:
    fn = run_all(dynamic_array, {"N": 2, "n": 3}, verify=True)
    alloc = next(s for s in statements(fn.body) if isinstance(s, ir.Alloc))
    assert alloc.type.dims == (3,)


def test_dump_follows_the_environment_variable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("ATTNHLS_DUMP_IR", "all")
    run_all(examples.wrap_add, {"N": 2})
    heads = [line for line in capsys.readouterr().err.splitlines() if line.startswith("# IR after")]
    assert heads == [f"# IR after {p.name}" for p in PASSES]


# ---- the verifier ------------------------------------------------------------------------------------------------


def _store(fn: ir.Function) -> ir.Store:
    return next(s for s in statements(fn.body) if isinstance(s, ir.Store))


def _replace_store(fn: ir.Function, new: ir.Store) -> ir.Function:
    old = _store(fn)

    def swap(stmts: tuple[ir.Stmt, ...]) -> tuple[ir.Stmt, ...]:
        out = []
        for s in stmts:
            if s is old:
                s = new
            elif isinstance(s, ir.For | ir.While):
                s = dataclasses.replace(s, body=swap(s.body))
            elif isinstance(s, ir.If):
                s = dataclasses.replace(s, then=swap(s.then), orelse=swap(s.orelse))
            out.append(s)
        return tuple(out)

    return dataclasses.replace(fn, body=swap(fn.body))


@pytest.mark.parametrize(
    "change, stage, message",
    [
        (
            lambda s: dataclasses.replace(s, value=ir.Var("nope", i32, s.loc)),
            None,
            "`nope` is not a parameter, local or loop variable in scope",
        ),
        (
            lambda s: dataclasses.replace(s, value=ir.Const(300, IntType(8, True), s.loc)),
            None,
            "constant 300 does not fit its type i8",
        ),
        (lambda s: dataclasses.replace(s, indices=s.indices[:1]), None, "`out` has rank 2, indexed with 1"),
        (
            lambda s: dataclasses.replace(s, pred=ir.Const(1, IntType(1, False), s.loc)),
            None,
            "store predicate has type UInt(1), not bool",
        ),
        (lambda s: dataclasses.replace(s, array="EXP2_FRAC_Q8"), None, "store to table EXP2_FRAC_Q8"),
        (lambda s: s, "inlined", "remain after inlining"),
        (lambda s: s, "bound", "has unbound dims"),
    ],
)
def test_the_verifier_reports_broken_ir(change: Any, stage: str | None, message: str) -> None:
    from hls.ir.verify import IRError

    fn = examples.exp2_rows.ir
    fn = dataclasses.replace(fn, tables=collect_callees(examples.exp2_rows)[fn.callees[0]].tables)
    verify(fn)
    broken = _replace_store(fn, change(_store(fn)))
    with pytest.raises(IRError, match=message.replace("(", "\\(").replace(")", "\\)")) as info:
        verify(broken, stage)
    assert info.value.loc is not None


def test_the_verifier_checks_each_stage_after_its_pass() -> None:
    from hls.ir.verify import IRError

    fn = _pipeline_until(qk.qk_dense, {"M": 2, "N": 2, "D": 2}, "constfold")
    with pytest.raises(IRError, match="an unroll loop remains after unrolling"):
        verify(fn, "unrolled")
    fn = _pipeline_until(predicated, {"N": 2}, "unroll")
    with pytest.raises(IRError, match="an if without loops remains in a pipelined loop"):
        verify(fn, "ifconverted")
    with pytest.raises(ValueError, match="unknown stage"):
        verify(fn, "scheduled")


def test_a_call_that_cannot_keep_the_evaluation_order_is_refused() -> None:
    err = _error(lambda: run_all(call_after_wide_division, {"N": 3}))
    assert err.message == "a kernel call here would change the order in which this expression is evaluated"
    assert err.fix == "assign the call's result to a local on its own line first"
    assert err.loc.line == _line("wide-division")
