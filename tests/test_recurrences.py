"""Loop-carried recurrences in pipelines: small accumulator arrays become registers (the `scalarize` pass),
and the modulo scheduler delays a recurrence's reader instead of growing II.

Each kernel here had an II above 1 before: an accumulator array left a RAM carries its recurrence through a
read latency, and a multiply of an accumulator scheduled as soon as it could run waits a cycle or two for the
other operand of its add. The tests pin the II the schedule reaches and check the hardware against the python
reference (Hypothesis, through `hls.check`) on myhdl and verilator.
"""

from __future__ import annotations

import pytest

from hls import Array, check, i8, i16, i32, kernel, lower, pipeline, unroll, zeros
from hls.ir import nodes as ir
from hls.ir.walk import statements
from hls.passes import run_all, scalarize


@kernel
def row_sums(x: Array[i8, "M", "C"], out: Array[i32, "M", "C"]):
    """Column sums of x, restarted every 4 rows: the accumulators are a local array indexed by constants."""
    acc = zeros(i32, x.shape[1])
    for i in pipeline(range(x.shape[0]), ii=1):
        for c in unroll(range(x.shape[1])):
            a: i32 = x[i, c] if i % 4 == 0 else acc[c] + x[i, c]
            acc[c] = a
            out[i, c] = a


@kernel
def decayed(x: Array[i8, "N"], y: Array[i8, "N"], s: i8, out: Array[i32, "N"]):
    """acc = (acc * s >> 4) + y^2 * x: the multiply of the accumulator could start at once; its add cannot."""
    acc = i32(0)
    for j in pipeline(range(x.shape[0]), ii=1):
        late: i32 = y[j] * y[j] * x[j]
        acc = ((acc * s) >> 4) + late
        out[j] = acc


@kernel
def computed_index(x: Array[i8, "N"], out: Array[i16, "N"]):
    """A local array read at a computed index stays an array."""
    buf = zeros(i16, 4)
    for j in range(x.shape[0]):
        buf[j % 4] = buf[(j + 1) % 4] + x[j]
        out[j] = buf[j % 4]


def _allocs(fn: ir.Function) -> list[str]:
    return [s.name for s in statements(fn.body) if isinstance(s, ir.Alloc)]


def _ii(design: object) -> list[int]:
    return [p.ii for p in design.report.pipelines]  # type: ignore[attr-defined]


def test_constant_indexed_array_becomes_one_local_per_element() -> None:
    fn = run_all(row_sums, {"M": 8, "C": 3}, verify=True)
    assert _allocs(fn) == []
    assert {x.name for x in fn.locals} >= {"acc_0", "acc_1", "acc_2"}


def test_arrays_the_pass_must_leave_alone_stay_arrays() -> None:
    assert _allocs(run_all(computed_index, {"N": 8}, verify=True)) == ["buf"]
    big = scalarize.MAX_ELEMENTS + 1
    assert _allocs(run_all(row_sums, {"M": 2, "C": big}, verify=True)) == ["acc"]  # a register file too big


def test_accumulator_array_pipelines_at_ii_1() -> None:
    assert _ii(lower(row_sums, M=8, C=3)) == [1]


def test_delayed_recurrence_reader_pipelines_at_ii_1() -> None:
    d = lower(decayed, N=8, clock_ns=10.0)
    assert _ii(d) == [1], d.report


@pytest.mark.parametrize("backend", ["myhdl", "verilator"])
@pytest.mark.parametrize(
    ("k", "dims"),
    [(row_sums, {"M": 9, "C": 3}), (decayed, {"N": 7}), (computed_index, {"N": 6})],
    ids=["row_sums", "decayed", "computed_index"],
)
def test_hardware_equals_python(k: object, dims: dict[str, int], backend: str) -> None:
    report = check(k, [backend], examples=8, dims=dims)  # type: ignore[arg-type]
    assert report.agreed == [backend], report
    assert report.examples >= 8
