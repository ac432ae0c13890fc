"""Throughput lanes: `for j in pipeline(range(0, N, P)): for p in unroll(range(P))` computes P iterations a cycle.

The lane index `j + p` (j a multiple of P) partitions its axis cyclically by P (hls/hw/memory.py);
these tests check the banks, the cycles (M * N / P + a few), the `partition=` schemes and their errors,
and bit-exact results against the numpy reference on the HDL backends. The catalog
(tests/catalog.py) runs the lane units on every backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from algorithms import csr, masks, qk
from hls import Array, KernelError, check, i32, kernel, pipeline, run, unroll
from hls.compiler import lower
from hls.hw.memory import Bank, Memory, Part
from hls.tools import verilator
from hls.types import i32 as i32_type

RNG = np.random.default_rng(14)


def int8(*shape: int) -> np.ndarray:
    return RNG.integers(-128, 128, shape).astype(np.int8)


@pytest.mark.parametrize("p", [1, 2, 4, 8])
def test_dense_lanes_give_p_scores_per_cycle(p: int) -> None:
    m, n, d = 4, 16, 4
    design = lower(qk.qk_dense_lanes(p), M=m, N=n, D=d)
    rep = design.report
    [pipe] = rep.pipelines
    assert (pipe.ii, pipe.flattened) == (1, ["i"])
    banks = {mem.name: mem.banks for mem in rep.memories}
    assert banks["s"] == p  # one bank of scores per lane (cyclic by P along the key axis) ...
    assert banks["k"] == d * p  # ... and of keys, times the head dim's complete partition
    assert banks["q"] == d
    assert rep.operators["mul"] == d * p
    q, k, s = int8(m, d), int8(n, d), np.zeros((m, n), np.int32)
    _, cycles = design.simulate_myhdl({"q": q, "k": k, "s": s})
    np.testing.assert_array_equal(s, qk.qk_reference(q, k))
    assert rep.latency.exact and cycles == rep.latency.lo
    assert m * n // p <= cycles <= m * n // p + 4


def test_one_lane_is_the_one_score_unit() -> None:
    lanes = lower(qk.qk_dense_lanes(1), M=8, N=8, D=8).report
    dense = lower(qk.qk_dense, M=8, N=8, D=8).report
    assert lanes.latency.lo == dense.latency.lo
    assert [(m.name, m.banks, m.depth) for m in lanes.memories] == [(m.name, m.banks, m.depth) for m in dense.memories]


def test_lanes_that_do_not_divide_the_row_are_masked() -> None:
    design = lower(qk.qk_dense_lanes(3), M=2, N=8, D=2)
    assert {m.name: (m.banks, m.depth) for m in design.report.memories}["s"] == (3, 2 * 3)  # ceil(8 / 3) per row
    q, k, s = int8(2, 2), int8(8, 2), np.zeros((2, 8), np.int32)
    _, cycles = design.simulate_myhdl({"q": q, "k": k, "s": s})
    np.testing.assert_array_equal(s, qk.qk_reference(q, k))
    assert cycles <= 2 * 3 + 6  # the lanes divide by 3 (a divider, one cycle of its own) for the address


@kernel
def _copy_pairs(a: Array[i32, "N"], b: Array[i32, "N"]):
    for j in pipeline(range(0, a.shape[0], 2), ii=1):
        for p in unroll(range(2)):
            b[j + p] = a[j + p] + 1


def test_partition_override_takes_a_scheme() -> None:
    auto = lower(_copy_pairs, N=8)
    assert {m.name: m.banks for m in auto.report.memories} == {"a": 2, "b": 2}
    off = lower(_copy_pairs, N=8, partition={"a": None, "b": None})
    assert [p.ii for p in off.report.pipelines] == [2]  # two stores to one bank: one iteration every 2 cycles
    block = lower(_copy_pairs, N=8, partition={"a": (0, "cyclic", 2), "b": (0, "cyclic", 2)})
    a, b = np.arange(8, dtype=np.int32), np.zeros(8, np.int32)
    block.simulate_myhdl({"a": a, "b": b})
    np.testing.assert_array_equal(b, a + 1)


def test_a_bank_not_known_at_compile_time_is_an_error() -> None:
    with pytest.raises(KernelError) as err:
        lower(_copy_pairs, N=8, partition={"b": (0, "cyclic", 4)})  # j steps by 2: (j + p) % 4 varies
    assert "`b` is partitioned axis 0 cyclic by 4, but the bank of this index is not known at compile time" in str(
        err.value
    )
    assert "stepping by a multiple of 4" in str(err.value)
    with pytest.raises(KernelError, match="unknown scheme 'stripes'"):
        lower(_copy_pairs, N=8, partition={"b": (0, "stripes", 2)})
    with pytest.raises(KernelError, match="needs a factor >= 1"):
        lower(_copy_pairs, N=8, partition={"b": (0, "block")})


@pytest.mark.parametrize("scheme", ["cyclic", "block"])
def test_bank_images_round_trip_with_padding(scheme: str) -> None:
    shape = (3, 7)
    mem = Memory("x", "ext", i32_type, shape, (Part(0, "complete", 3, 3), Part(1, scheme, 3, 7)), 2)
    depth = 3  # ceil(7 / 3)
    mem.banks = [Bank(f"m_x_b{b}", "x", b, depth, i32_type, 2, "ext") for b in range(9)]
    x = np.arange(21, dtype=np.int32).reshape(shape)
    images = mem.split(x)
    assert all(img.shape == (depth,) for img in images.values())
    want_b1 = [1, 4, 0] if scheme == "cyclic" else [3, 4, 5]  # row 0, bank 1 along axis 1 (zero-padded)
    assert list(images["m_x_b1"]) == want_b1
    out = np.zeros_like(x)
    mem.join(images, out)
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("p", [2, 4])
def test_sparse_lanes_with_ports_for_their_gathers(p: int) -> None:
    mask = masks.a_shape_mask(16, 16, n_init=2, n_local=3)
    c = csr.RowCSR.from_mask(mask)
    q, k = int8(16, 8), int8(16, 8)
    want = qk.qk_csr_values_reference(q, k, c.indptr, c.indices)
    coo = lower(qk.qk_coo_values_lanes(p), M=16, N=16, D=8, E=c.nnz, ports={"q": p, "k": p})
    assert [pp.ii for pp in coo.report.pipelines] == [1]
    values = np.zeros(c.nnz, np.int32)
    _, cycles = coo.simulate_myhdl(
        {"q": q, "k": k, "rows": qk.csr_rows(c.indptr), "cols": c.indices.copy(), "values": values}
    )
    np.testing.assert_array_equal(values, want)
    assert cycles <= -(-c.nnz // p) + 8
    unit = lower(qk.qk_csr_values_lanes(p), M=16, N=16, D=8, R=17, E=c.nnz, ports={"k": p})
    assert [pp.ii for pp in unit.report.pipelines] == [1]
    values = np.zeros(c.nnz, np.int32)
    _, cycles = unit.simulate_myhdl(
        {"q": q, "k": k, "indptr": c.indptr.copy(), "indices": c.indices.copy(), "values": values}
    )
    np.testing.assert_array_equal(values, want)
    rows = np.diff(c.indptr)
    assert cycles <= sum(-(-(s % p + n) // p) for s, n in zip(c.indptr[:-1], rows, strict=True)) + 16 * 6 + 4


def test_lane_kernels_refuse_a_bad_p() -> None:
    with pytest.raises(ValueError, match="P \\(scores per cycle\\) must be an int >= 1, got 0"):
        qk.qk_dense_lanes(0)


@pytest.mark.skipif(verilator.missing() is not None, reason=f"verilator not run: {verilator.missing()}")
def test_odd_lanes_agree_on_the_hdl_backends() -> None:
    chosen = ["numba-cpu", "myhdl", "verilator"]
    report = check(qk.qk_dense_lanes(3), backends=chosen, examples=3, seed=0, dims={"M": 2, "N": 7, "D": 3})
    assert report.agreed == chosen


def test_csr_lanes_at_ii_2() -> None:
    """qk_csr_values_lanes(1) forced to II = 2 (8 multiplies, 4 multipliers): a regression test. Each row is a new
    visit of the pipeline; its store enable (valid AND the lane guard) is computed in phase 1, so its chain last
    moved half a stage before the previous visit's exit, and the RTL stored the previous row's last score at
    entry 0 on entry, until entering a pipeline cleared every value derived from `valid` (hls/hw/emit.py)."""
    rng = np.random.default_rng(0)
    q = rng.integers(-100, 100, (4, 8)).astype(np.int8)
    k = rng.integers(-100, 100, (6, 8)).astype(np.int8)
    indptr = np.array([0, 2, 3, 5, 7], np.int32)
    indices = np.array([0, 3, 1, 2, 5, 4, 0], np.int32)
    unit = qk.qk_csr_values_lanes(1)
    want = np.zeros(7, np.int32)
    run(unit, q, k, indptr, indices, want, backend="python")
    design = lower(unit, M=4, N=6, D=8, R=5, E=7, multipliers=4)
    assert [p.ii for p in design.report.pipelines] == [2]
    got = np.zeros(7, np.int32)
    design.simulate_myhdl({"q": q, "k": k, "indptr": indptr, "indices": indices, "values": got})
    np.testing.assert_array_equal(got, want)
