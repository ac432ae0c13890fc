"""The HLS compiler: QK and detector units, cycle counts, reports, errors, emitted HDL.

Equivalence of every catalog kernel on `myhdl` and `verilator` lives in
test_equivalence.py, and of 200 random kernels in test_random_kernels.py;
this file checks what the hardware *is*: schedules, cycles, names, errors.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from algorithms import csr, detect, masks, qk
from hls import Array, KernelError, i8, i16, i32, kernel, pipeline, u8, u32, unroll
from hls.compiler import lower
from hls.tools import verilator, vhdl

GOLDEN = Path(__file__).parent / "golden"
RNG = np.random.default_rng(2026)
needs_verilator = pytest.mark.skipif(
    verilator.missing() is not None, reason=f"verilator not run: {verilator.missing()}"
)


def int8(*shape: int) -> np.ndarray:
    return RNG.integers(-128, 128, shape).astype(np.int8)


# ---- the QK unit ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bm", "bn", "d"), [(8, 8, 16), (4, 6, 5)])
def test_dense_qk_unit_one_score_per_cycle(bm: int, bn: int, d: int) -> None:
    design = lower(qk.qk_dense, M=bm, N=bn, D=d)
    rep = design.report
    [pipe] = rep.pipelines
    assert (pipe.ii, pipe.flattened) == (1, ["i"])  # rows flattened into one pipeline: no drain per row
    assert rep.operators["mul"] == d  # D multipliers ...
    assert rep.operators["add"] == (d - 1) + 1  # ... an adder tree of D - 1 adders, and the address i * N + j
    assert pipe.depth <= 2 + int(np.ceil(np.log2(d)))  # load, multiply, log2(D) adder levels (chained), store
    q, k, s = int8(bm, d), int8(bn, d), np.zeros((bm, bn), np.int32)
    _, cycles = design.simulate_myhdl({"q": q, "k": k, "s": s})
    np.testing.assert_array_equal(s, qk.qk_reference(q, k))
    assert rep.latency.exact and cycles == rep.latency.lo
    assert cycles <= bm * bn + 64


def test_sparse_qk_cycles_follow_kept_scores() -> None:
    mask = masks.a_shape_mask(16, 16, n_init=2, n_local=3)
    c = csr.RowCSR.from_mask(mask)
    design = lower(qk.qk_coo_values, M=16, N=16, D=8, E=c.nnz)
    q, k, values = int8(16, 8), int8(16, 8), np.zeros(c.nnz, np.int32)
    _, cycles = design.simulate_myhdl(
        {"q": q, "k": k, "rows": qk.csr_rows(c.indptr), "cols": c.indices.copy(), "values": values}
    )
    np.testing.assert_array_equal(values, qk.qk_csr_values_reference(q, k, c.indptr, c.indices))
    assert c.nnz <= cycles <= c.nnz + 16 + 64
    dense = lower(qk.qk_dense, M=16, N=16, D=8).report.latency.lo
    assert dense / cycles > 0.8 * mask.size / c.nnz  # the speedup tracks 1 / density


EMPTY_ROWS = np.array([[0, 1, 0, 0, 1], [0] * 5, [0] * 5, [1, 1, 1, 1, 1], [0] * 5], bool)


@pytest.mark.parametrize("mask", [masks.causal_mask(6, 6), EMPTY_ROWS], ids=["causal", "empty-rows"])
def test_csr_pointer_form_is_one_pipeline_over_rows(mask: np.ndarray) -> None:
    m = mask.shape[0]
    c = csr.RowCSR.from_mask(mask)
    design = lower(qk.qk_csr_values, M=m, N=m, D=4, R=m + 1, E=max(c.nnz, 1))
    (pipe,) = design.report.pipelines
    assert (pipe.ii, pipe.flattened) == (1, ["i"])  # the row pointers are read while the previous row issues
    lat = design.report.latency
    assert not lat.exact and "trips@" in lat.formula and lat.hi is not None and lat.lo + c.nnz <= lat.hi
    q, k, values = int8(m, 4), int8(m, 4), np.zeros(max(c.nnz, 1), np.int32)
    indices = np.resize(c.indices, max(c.nnz, 1))
    _, cycles = design.simulate_myhdl({"q": q, "k": k, "indptr": c.indptr.copy(), "indices": indices, "values": values})
    np.testing.assert_array_equal(values[: c.nnz], qk.qk_csr_values_reference(q, k, c.indptr, c.indices))
    assert cycles == lat.lo + c.nnz  # one cycle per kept score, one per row, the fill and drain: nnz + M + 5
    assert cycles <= c.nnz + m + 64


def test_detector_streams_scores_once() -> None:
    n_rows, n_keys = 4, 32
    design = lower(detect.detect_vs_accumulate, L=n_rows, N=n_keys)
    assert [p.ii for p in design.report.pipelines] == [1, 1]  # clearing and the row scan, one key per cycle
    scores = RNG.integers(-1000, 1000, (n_rows, n_keys)).astype(np.int32)
    col, diag = np.zeros(n_keys, np.int64), np.zeros(n_keys, np.int64)
    _, cycles = design.simulate_myhdl({"scores": scores, "col_acc": col, "diag_acc": diag})
    want_col, want_diag = detect.detect_vs_reference(scores)
    np.testing.assert_array_equal(col, want_col)
    np.testing.assert_array_equal(diag, want_diag)
    assert cycles == design.report.latency.lo
    assert n_rows * n_keys <= cycles <= n_rows * n_keys + n_keys + 8 * n_rows + 16


# ---- scheduling -------------------------------------------------------------------------------------------


@kernel
def prefix_sum(a: Array[i32, 16], b: Array[i32, 16]):
    for i in pipeline(range(1, 16), ii=1):
        b[i] = b[i - 1] + a[i]


@kernel
def eight_reads(a: Array[i16, 32], out: Array[i32, 4]):
    for i in pipeline(range(4), ii=1):
        acc = i32(0)
        for t in unroll(range(8)):
            acc += a[8 * i + t]
        out[i] = acc


def test_memory_recurrence_bounds_ii_and_says_why() -> None:
    rep = lower(prefix_sum).report
    [pipe] = rep.pipelines
    assert pipe.ii == 2 and "recurrence" in pipe.reason and "`b`" in pipe.reason
    a, b = RNG.integers(-100, 100, 16).astype(np.int32), np.zeros(16, np.int32)
    lower(prefix_sum).simulate_myhdl({"a": a, "b": b})
    np.testing.assert_array_equal(b, np.concatenate([[0], np.cumsum(a[1:])]).astype(np.int32))


def test_port_limit_bounds_ii_and_says_why() -> None:
    rep = lower(eight_reads, ports={"a": 2}).report
    assert rep.pipelines[0].ii == 4 and "resources" in rep.pipelines[0].reason
    rep1 = lower(eight_reads, ports={"a": 1}).report
    assert rep1.pipelines[0].ii == 8
    a, out = RNG.integers(-999, 999, 32).astype(np.int16), np.zeros(4, np.int32)
    lower(eight_reads, ports={"a": 1}).simulate_myhdl({"a": a, "out": out})
    np.testing.assert_array_equal(out, a.astype(np.int32).reshape(4, 8).sum(1))


def test_multiplier_limit_is_respected() -> None:
    design = lower(qk.qk_dense, M=2, N=2, D=8, multipliers=2)
    [pipe] = design.report.pipelines
    assert pipe.ii == 4 and "multipliers" in pipe.reason
    for g in [p.graph for p in design.hw.pipelines]:
        per_slot: dict[int, int] = {}
        for o in g.ops:
            if o.resource == "mul":
                per_slot[o.time % pipe.ii] = per_slot.get(o.time % pipe.ii, 0) + 1
        assert max(per_slot.values()) <= 2


# ---- errors at the user's line ---------------------------------------------------------------------------


def test_strict_ii_error_names_the_recurrence() -> None:
    with pytest.raises(KernelError) as err:
        lower(prefix_sum, strict_ii=True)
    text = str(err.value)
    assert "II=1 cannot be met" in text and "recurrence" in text
    assert f":{prefix_sum.ir.body[0].loc.line}:" in text


@kernel
def float_kernel(x: Array[i8, 4], y: Array[i16, 4]):
    for i in range(4):
        y[i] = i16(x[i] * 0.5)


def test_float_kernel_is_refused_with_fixed_point_advice() -> None:
    with pytest.raises(KernelError, match="fixed-point"):
        lower(float_kernel)


def test_unbound_dim_is_an_error() -> None:
    with pytest.raises(KernelError, match="D="):
        lower(qk.qk_dense, M=2, N=2)


# ---- emitted HDL ------------------------------------------------------------------------------------------


@kernel
def saturate(x: Array[i16, 4], y: Array[u8, 4]):
    """A tiny unit for the golden Verilog: clamp to 0..255."""
    for i in range(4):
        y[i] = min(max(x[i], 0), 255)


def _without_myhdl_version(verilog: str) -> str:
    """The Verilog with its "// Generated by MyHDL x.y.z" header line unversioned (pyproject allows several)."""
    return re.sub(r"^// Generated by MyHDL \S+$", "// Generated by MyHDL", verilog, count=1, flags=re.MULTILINE)


def test_golden_verilog() -> None:
    text = lower(saturate).verilog
    path = GOLDEN / "saturate.v"
    if os.environ.get("ATTNHLS_UPDATE_GOLDEN"):
        path.write_text(text)
    assert _without_myhdl_version(text) == _without_myhdl_version(path.read_text()), (
        "regenerate with ATTNHLS_UPDATE_GOLDEN=1 after checking the diff"
    )


@kernel
def keywords(logic: Array[i8, 3], reg: Array[i8, 3], signal: i8) -> i8:
    """Names that are Verilog, SystemVerilog and VHDL keywords."""
    begin: i8 = 0
    for wire in range(3):
        reg[wire] = logic[wire] + signal
        begin += logic[wire]
    return begin


# Verilator -Wall warnings on MyHDL's output of the QK unit, each waived for a reason:
QK_LINT_WAIVERS = [
    "WIDTHEXPAND",  # a narrower signed value is sign-extended into a wider exact-width variable (intended)
    "WIDTHTRUNC",  # a loop counter's next value is computed a bit wider, then kept at the counter's width
    "UNUSEDSIGNAL: Bits of signal are not used",  # ... so that widened value's top bit is never read
]


@needs_verilator
@pytest.mark.parametrize(
    ("kern", "dims"),
    [(qk.qk_dense, {}), (qk.qk_masked, {}), (qk.qk_csr_values, {"R": 9, "E": 40})],
    ids=["dense", "masked", "csr"],
)
def test_qk_unit_verilog_passes_verilator_lint(kern, dims: dict[str, int]) -> None:
    design = lower(kern, M=8, N=8, D=16, **dims)
    assert verilator.lint(design.verilog, design.top, QK_LINT_WAIVERS) == []


@pytest.mark.skipif(vhdl.missing() is not None, reason=f"VHDL not checked: {vhdl.missing()}")
def test_qk_unit_vhdl_analyzes_and_elaborates() -> None:
    design = lower(qk.qk_dense, M=8, N=8, D=16)
    vhdl.check(design.vhdl, design.top)


@needs_verilator
def test_keyword_names_are_renamed_and_build() -> None:
    design = lower(keywords)
    words = set(re.findall(r"\b\w+\b", design.verilog))
    assert not {"logic", "reg_v", "signal"} & {w for w in words if w in ("logic", "signal")}
    la, ra = np.array([1, -2, 3], np.int8), np.zeros(3, np.int8)
    value, _ = design.simulate_verilator({"logic": la, "reg": ra, "signal": 5})
    assert value == 2 and list(ra) == [6, 3, 8]


@needs_verilator
def test_myhdl_speed_fix_writes_the_same_bit_strings() -> None:
    import importlib.util

    from myhdl import _bin

    from hls.hw import myhdl_speed

    spec = importlib.util.spec_from_file_location("myhdl_bin_original", _bin.__file__)  # MyHDL's own, unpatched
    original = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(original)
    values = list(range(-4100, 4100)) + [s * ((1 << k) + d) for k in range(1, 130) for d in (-1, 0, 1) for s in (1, -1)]
    values += [int(v) for v in RNG.integers(-(1 << 62), 1 << 62, 2000)]
    assert [myhdl_speed.int2bitstring(v) for v in values] == [original._int2bitstring(v) for v in values]


def test_verilator_and_myhdl_count_the_same_cycles() -> None:
    design = lower(qk.qk_dense, M=3, N=5, D=4)
    q, k = int8(3, 4), int8(5, 4)
    s1, s2 = np.zeros((3, 5), np.int32), np.zeros((3, 5), np.int32)
    _, c1 = design.simulate_myhdl({"q": q, "k": k, "s": s1})
    _, c2 = design.simulate_verilator({"q": q, "k": k, "s": s2})
    assert c1 == c2 == design.report.latency.lo
    np.testing.assert_array_equal(s1, s2)


def test_simulation_budget_reports_a_timeout() -> None:
    from hls.hw.sim import SimulationTimeout

    design = lower(qk.qk_dense, M=4, N=4, D=2)
    with pytest.raises(SimulationTimeout, match="done not raised after 5 cycles"):
        design.simulate_myhdl({"q": int8(4, 2), "k": int8(4, 2), "s": np.zeros((4, 4), np.int32)}, max_cycles=5)


@kernel
def while_in_pipeline(a: Array[i16, 8], out: Array[i16, 8]):
    for i in pipeline(range(8), ii=1):
        x = a[i]
        n = i16(0)
        while x > 1 and n < 8:
            x = x // 2
            n += 1
        out[i] = n


def test_unpipelinable_loop_is_reported_or_refused() -> None:
    design = lower(while_in_pipeline)
    assert design.report.pipelines == []
    assert any("not pipelined" in note and "while" in note for note in design.report.not_pipelined)
    a, out = RNG.integers(-50, 300, 8).astype(np.int16), np.zeros(8, np.int16)
    design.simulate_myhdl({"a": a, "out": out})
    want = [0 if x <= 1 else min(8, int(np.floor(np.log2(x)))) for x in a]
    assert list(out) == want
    with pytest.raises(KernelError, match="cannot be pipelined"):
        lower(while_in_pipeline, strict_ii=True)


# ---- loops whose bounds change per row, flattened into one pipeline ---------------------------------------


@kernel
def triangle(a: Array[i16, "N", "N"], s: Array[i32, "N", "N"]):
    for i in range(a.shape[0]):
        for j in pipeline(range(i + 1, a.shape[1]), ii=1):  # bounds without reads; the last row is empty
            s[i, j] = a[i, j] * 3 - i


@kernel
def segments(n: i32, starts: Array[i32, "R"], ends: Array[i32, "R"], x: Array[i16, "E"], y: Array[i32, "E"]):
    for r in range(n):  # a run-time number of rows; both bounds read, segments may overlap or be empty
        for e in pipeline(range(starts[r], ends[r]), ii=1):
            y[e] = x[e] * r + e


@kernel
def bounds_written(ptr: Array[i32, "R"], out: Array[i32, "E"]):
    for i in range(ptr.shape[0] - 1):  # the body writes the bounds' array: the rows stay an FSM loop
        for e in pipeline(range(ptr[i], ptr[i + 1]), ii=1):
            out[e] = i
            ptr[0] = e


def _row_runs() -> list[tuple]:
    starts = np.array([0, 4, 4, 9, 2, 7], np.int32)
    ends = np.array([4, 4, 9, 12, 5, 6], np.int32)
    return [
        (triangle, (RNG.integers(-1000, 1000, (6, 6)).astype(np.int16), np.zeros((6, 6), np.int32)), ["i"]),
        (segments, (5, starts, ends, RNG.integers(-1000, 1000, 12).astype(np.int16), np.ones(12, np.int32)), ["r"]),
        (bounds_written, (np.array([0, 2, 2, 5], np.int32), np.zeros(5, np.int32)), []),
    ]


def test_rows_with_changing_bounds_agree_on_every_backend() -> None:
    from hls.args import bind

    runs = _row_runs()
    for kern, args, flat in runs:
        (pipe,) = lower(kern, **bind(kern, args, {}).dims).report.pipelines
        assert (pipe.ii, pipe.flattened) == (1, flat), kern.__name__
    _agree_on_every_backend([(kern, args) for kern, args, _ in runs], "rows")


BACKENDS = ["numba-cpu", "myhdl", "verilator"]


def _agree_on_every_backend(runs: list[tuple], label: str) -> None:
    """Each (kernel, args) on python and on BACKENDS (Verilator models built in one batch): every array agrees."""
    import backends
    from hls.args import bind

    if backends.available("verilator") is None:
        backends.prebuild([(kern, bind(kern, args, {}).dims) for kern, args in runs])
    for kern, args in runs:
        want = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        backends.run(kern, *want, backend="python")
        for name in BACKENDS:
            why = backends.available(name)
            if why:
                pytest.skip(f"{name} not run: {why}")
            got = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            backends.run(kern, *got, backend=name)
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w, err_msg=f"{label} {kern.__name__} on {name}")


# ---- every sparse pattern, mask-aware and CSR-sparse, on every backend -----------------------------------

PATTERNS = {
    "a-shape": masks.a_shape_mask(12, 12, n_init=2, n_local=3),
    "tri-shape": masks.tri_shape_mask(12, 12, n_init=2, n_local=3, n_last=3),
    "vertical-slash": masks.vertical_slash_mask(12, 12, verticals=[0, 5], slashes=[0, 3]),
    "grid": masks.grid_mask(12, 12, stride=3),
}


def _pattern_runs(mask: np.ndarray) -> list[tuple]:
    c = csr.RowCSR.from_mask(mask)
    q, k = int8(12, 8), int8(12, 8)
    return [
        (qk.qk_masked, (q, k, mask, np.zeros((12, 12), np.int32))),
        (qk.qk_csr_values, (q, k, c.indptr.copy(), c.indices.copy(), np.zeros(c.nnz, np.int32))),
        (qk.qk_coo_values, (q, k, qk.csr_rows(c.indptr), c.indices.copy(), np.zeros(c.nnz, np.int32))),
    ]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_each_pattern_agrees_on_every_backend(pattern: str) -> None:
    _agree_on_every_backend(_pattern_runs(PATTERNS[pattern]), pattern)


@kernel
def wide_constants(a: Array[i32, 1], b: Array[i8, 1], c: Array[u32, 1], out: Array[i32, 4]):
    """Constants near and beyond 2**30: MyHDL writes those as unsigned Verilog literals."""
    out[0] = a[0] < 2147483647
    out[1] = (b[0] * c[0]) > (-2147483648)
    out[2] = b[0] // (-2147483647)
    out[3] = a[0] + (1 << 40) > (1 << 30)


@needs_verilator
def test_wide_constants_keep_their_sign_in_verilog() -> None:
    args = {"a": np.array([-1], np.int32), "b": np.array([-1], np.int8), "c": np.array([0], np.uint32)}
    want = np.zeros(4, np.int32)
    wide_constants(*args.values(), want)
    assert want.tolist() == [1, 1, 0, 1]
    for sim in ("simulate_myhdl", "simulate_verilator"):
        out = np.zeros(4, np.int32)
        getattr(lower(wide_constants), sim)({**args, "out": out})
        assert out.tolist() == want.tolist(), sim
