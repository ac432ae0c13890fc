"""Dataflow regions on the hardware backends: the generated RTL (MyHDL, and its Verilog on Verilator) runs the
processes concurrently through FIFOs of the declared depths, agrees with numpy, reports its FIFOs, finds the
smallest depths, and turns every deadlock into a DeadlockError naming who waits on what, in bounded time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backends
from hls import Array, DeadlockError, Stream, check, i16, i32, kernel, lower, min_depths, pipeline, run, stream
from hls.checker import CheckFailure
from hls.errors import ArgumentError
from tests.regions import (
    REGIONS,
    ROW,
    RegionCase,
    double,
    double_square,
    double_square_ref,
    fork_join,
    fork_join_ref,
    pipeline3,
    source,
)

HDL = ["myhdl", "verilator"]
EXAMPLES = 4  # each new shape is a new design (a Verilator build): a few shapes per region
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@kernel
def greedy_sink(inp: Stream[i32], y: Array[i32, "N"]):
    for i in pipeline(range(y.shape[0] + 1), ii=1):  # one value more than the writer writes
        y[i % y.shape[0]] = inp.read()


@kernel
def starved(x: Array[i16, "N"], y: Array[i32, "N"]):
    a = stream(i16, depth=2)
    b = stream(i32, depth=2)
    source(x, a)
    double(a, b, x.shape[0])
    greedy_sink(b, y)


@pytest.mark.parametrize("backend", HDL)
@pytest.mark.parametrize("case", REGIONS, ids=lambda c: c.name)
def test_region_agrees_with_numpy(case: RegionCase, backend: str) -> None:
    """Every region of tests/regions.py on the generated RTL equals the numpy reference (as the software backends
    do in tests/test_streams_software.py: python == numba-cpu == numba-cuda == myhdl == verilator)."""
    assert backends.get(backend).unsupported(case.kernel) is None  # stream ports at the top included
    why = backends.available(backend)
    if why:
        pytest.skip(f"{case.name} not run on {backend}: {why}")

    @SETTINGS
    @given(case.args)
    def trial(args: tuple[Any, ...]) -> None:
        want = case.reference(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        result = run(case.kernel, *work, backend=backend)
        names = [p.name for p in case.kernel.ir.params]
        for name, expected in want.items():
            np.testing.assert_array_equal(work[names.index(name)], expected, err_msg=f"{case.name} on {backend}")
        assert result.fifos is not None and all(f.peak <= f.depth for f in result.fifos.values())

    trial()


@pytest.mark.parametrize("backend", HDL)
def test_pipeline_runs_concurrently(backend):
    x = np.arange(-5, 7, dtype=np.int16)
    y = np.zeros(12, np.int32)
    r = run(pipeline3, x, y, backend=backend)
    assert (y == 2 * x.astype(np.int32)).all()
    assert r.cycles is not None and r.cycles <= len(x) + 8  # the three processes overlap: one value a cycle
    assert set(r.fifos) == {"a", "b"}
    assert r.fifos["a"].depth == 2 and r.fifos["b"].depth == 14
    assert all(1 <= f.peak <= f.depth for f in r.fifos.values())
    assert all(f.empty_cycles is not None and f.full_cycles is not None for f in r.fifos.values())


def test_myhdl_and_verilator_agree_cycle_for_cycle():
    x = np.arange(9, dtype=np.int16)
    got = {}
    for backend in HDL:
        for depth in (1, 2):
            y = np.zeros(9, np.int32)
            r = run(pipeline3, x, y, backend=backend, depths={"a": depth, "b": depth})
            got[backend, depth] = (r.cycles, r.fifos, y.tolist())
    assert got["myhdl", 1] == got["verilator", 1] and got["myhdl", 2] == got["verilator", 2]
    assert got["myhdl", 1][0] > got["myhdl", 2][0]  # a depth-1 FIFO passes a value every other cycle


def test_min_depths_of_the_pipeline():
    x = np.arange(16, dtype=np.int16)
    assert min_depths(pipeline3, x, np.zeros(16, np.int32), backend="verilator") == {"a": 2, "b": 2}


@pytest.mark.parametrize("backend", HDL)
def test_run_time_fifo_limits_equal_a_build_at_that_depth(backend: str) -> None:
    """One build with FIFO limits (what min_depths searches with) runs like a build at each depth: the same cycles,
    output and peaks, and the same deadlock where the fork-join's buffer is too shallow."""
    x = np.arange(-4, 5, dtype=np.int16)
    design = lower(pipeline3, N=9, depths={"a": 4, "b": 4}, fifo_limits=True)
    simulate = getattr(design, f"simulate_{backend}")
    for depth in (1, 2, 4):
        y = np.zeros(9, np.int32)
        _, cycles = simulate({"x": x, "y": y}, limits={"a": depth, "b": depth})
        y2 = np.zeros(9, np.int32)
        r = run(pipeline3, x, y2, backend=backend, depths={"a": depth, "b": depth})
        assert (cycles, y.tolist()) == (r.cycles, y2.tolist())
        assert {n: (f.depth, f.peak) for n, f in design.last_fifos.items()} == {
            n: (f.depth, f.peak) for n, f in r.fifos.items()
        }
    rows = np.arange(2 * ROW, dtype=np.int16).reshape(2, ROW)
    join = lower(fork_join, R=2, depths={"buf": ROW + 2}, fifo_limits=True)
    with pytest.raises(DeadlockError) as err:
        getattr(join, f"simulate_{backend}")({"x": rows, "y": np.zeros((2, ROW), np.int32)}, limits={"buf": ROW - 1})
    assert err.value.full == ["buf"]
    with pytest.raises(ValueError, match="limit must be 1..4"):
        simulate({"x": x, "y": np.zeros(9, np.int32)}, limits={"a": 5})


def test_lower_overrides_depths_and_checks_names():
    d = lower(pipeline3, N=8, depths={"a": 5})
    assert "FIFOs: a (depth 5), b (depth 10)" in d.myhdl_source
    with pytest.raises(KeyError, match="no FIFO `c`"):
        lower(pipeline3, N=8, depths={"c": 5})


@pytest.mark.parametrize("backend", HDL)
def test_fork_join_buffers_a_row(backend):
    x = np.random.default_rng(1).integers(-100, 100, (3, ROW), dtype=np.int16)
    y = np.zeros((3, ROW), np.int32)
    r = run(fork_join, x, y, backend=backend)
    np.testing.assert_array_equal(y, fork_join_ref(x, y)["y"])
    assert r.fifos["buf"].peak >= ROW  # the whole row waits for its sum


@pytest.mark.parametrize("backend", ["python", *HDL])
def test_shallow_fifo_deadlock_is_diagnosed(backend):
    x = np.ones((2, ROW), np.int16)
    y = np.full((2, ROW), 7, np.int32)
    with pytest.raises(DeadlockError) as info:
        run(fork_join, x, y, backend=backend, depths={"buf": ROW - 1})
    err = info.value
    assert ("fork", "write", "buf") in err.blocked
    assert ("row_sum", "read", "s") in err.blocked
    assert ("join", "read", "tot") in err.blocked
    assert err.full == ["buf"]
    assert "waits to write full FIFO `buf`" in str(err)
    assert (y == 7).all()  # nothing written back
    if backend != "python":
        assert err.cycle is not None and err.cycle < 100  # stopped when it happened, not at a timeout


@pytest.mark.parametrize("backend", ["python", *HDL])
def test_reading_more_than_written_deadlocks(backend):
    x = np.arange(4, dtype=np.int16)
    y = np.zeros(4, np.int32)
    with pytest.raises(DeadlockError) as info:
        run(starved, x, y, backend=backend)
    assert info.value.blocked == [("greedy_sink", "read", "b")]
    assert info.value.full == []
    assert (y == 0).all()


@pytest.mark.parametrize("backend", HDL)
def test_deadlock_threshold_matches_python(backend):
    """The smallest depth of `buf` that runs is the same in RTL and in the python model (ROW values)."""
    x = np.ones((2, ROW), np.int16)

    def runs(b: str, depth: int) -> bool:
        try:
            run(fork_join, x, np.zeros((2, ROW), np.int32), backend=b, depths={"buf": depth})
        except DeadlockError:
            return False
        return True

    assert [runs(backend, d) for d in (ROW - 1, ROW)] == [runs("python", d) for d in (ROW - 1, ROW)] == [False, True]


# ---- stream ports at the top: fed from an array, drained into one ------------------------------------------------


@pytest.mark.parametrize("backend", ["python", *HDL])
@pytest.mark.parametrize("top", [double_square, double], ids=["region", "lone_process"])
def test_stream_ports_follow_the_software_rule(top: Any, backend: str) -> None:
    """What the ports carry, reading past the values given (a deadlock naming the port), and an output array
    too short (ArgumentError, nothing written): the same on python, myhdl and verilator."""
    inp = np.arange(-3, 5, dtype=np.int16)
    out = np.full(10, 7, np.int32)
    run(top, inp, out, 8, backend=backend)
    want = double_square_ref(inp, np.full(10, 7, np.int32), 8)["out"] if top is double_square else None
    if want is None:
        want = np.array([*(2 * inp.astype(np.int32)), 7, 7], np.int32)
    np.testing.assert_array_equal(out, want)

    out = np.full(10, 7, np.int32)
    with pytest.raises(DeadlockError) as err:
        run(top, inp[:5], out, 8, backend=backend)  # 8 values read, 5 given
    assert err.value.blocked[0][1:] == ("read", "inp"), err.value.blocked
    assert backend == "python" or err.value.cycle < 50
    assert (out == 7).all()

    out = np.full(4, 7, np.int32)
    with pytest.raises(ArgumentError, match="output stream `out` received 8 values, but its array holds 4"):
        run(top, inp, out, 8, backend=backend)
    assert (out == 7).all()


# ---- hls.check on regions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [c for c in REGIONS if c.name in ("pipeline3", "fork_join")], ids=lambda c: c.name)
def test_check_runs_regions_on_every_backend(case: RegionCase) -> None:
    report = check(case.kernel, ["numba-cpu", *HDL], examples=3, strategy=case.args, reference=case.reference)
    assert report.agreed == ["numba-cpu", *HDL], report


def test_check_compares_output_stream_ports() -> None:
    """A stream-ported top: `dims` gives each port's length; what the output port gave is compared, so a wrong
    reference for it is caught."""
    opts: dict[str, Any] = {"dims": {"inp": 6, "out": 6}, "values": {"n": st.integers(0, 6)}}
    report = check(double_square, ["numba-cpu", *HDL], examples=4, reference=double_square_ref, **opts)
    assert report.agreed == ["numba-cpu", *HDL], report

    def off_by_one(inp: np.ndarray, out: np.ndarray, n: int) -> dict[str, np.ndarray]:
        want = double_square_ref(inp, out, n)["out"]
        want[:n] += 1
        return {"out": want}

    with pytest.raises(CheckFailure, match="out"):
        check(double_square, ["myhdl"], examples=4, reference=off_by_one, **opts)
