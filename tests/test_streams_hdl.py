"""Dataflow regions on the hardware backends: the generated RTL (MyHDL, and its Verilog on Verilator) runs the
processes concurrently through FIFOs of the declared depths, agrees with numpy, reports its FIFOs, finds the
smallest depths, and turns every deadlock into a DeadlockError naming who waits on what, in bounded time."""

from __future__ import annotations

import numpy as np
import pytest

from hls import Array, DeadlockError, Stream, i16, i32, kernel, lower, min_depths, pipeline, run, stream

HDL = ["myhdl", "verilator"]


@kernel
def source(x: Array[i16, "N"], out: Stream[i16]):
    for i in pipeline(range(x.shape[0]), ii=1):
        out.write(x[i])


@kernel
def double(inp: Stream[i16], out: Stream[i32], n: i32):
    for _i in pipeline(range(n), ii=1):
        out.write(inp.read() * 2)


@kernel
def sink(inp: Stream[i32], y: Array[i32, "N"]):
    for i in pipeline(range(y.shape[0]), ii=1):
        y[i] = inp.read()


@kernel
def chain(x: Array[i16, "N"], y: Array[i32, "N"]):
    a = stream(i16, depth=2)
    b = stream(i32, depth=N + 2)
    source(x, a)
    double(a, b, x.shape[0])
    sink(b, y)


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


# A fork-join: each row goes whole to `total` (a reduction) and to `keep` (a buffer the join reads after the
# row's total arrives): `keep` must hold a whole row, C values.
@kernel
def split(x: Array[i16, "R", "C"], keep: Stream[i16], row: Stream[i16]):
    for r in range(x.shape[0]):
        for c in pipeline(range(x.shape[1]), ii=1):
            keep.write(x[r, c])  # NOTE: the buffer first, so a full `keep` stops the row's values to `total` too
            row.write(x[r, c])


@kernel
def total(row: Stream[i16], sums: Stream[i32], rows: i32, cols: i32):
    for _r in range(rows):
        s: i32 = 0
        for _c in pipeline(range(cols), ii=1):
            s = s + row.read()
        sums.write(s)


@kernel
def center(keep: Stream[i16], sums: Stream[i32], y: Array[i32, "R", "C"]):
    for r in range(y.shape[0]):
        s = sums.read()
        for c in pipeline(range(y.shape[1]), ii=1):
            y[r, c] = keep.read() * y.shape[1] - s


@kernel
def fork_join(x: Array[i16, "R", "C"], y: Array[i32, "R", "C"]):
    keep = stream(i16, depth=C + 2)
    row = stream(i16, depth=2)
    sums = stream(i32, depth=2)
    split(x, keep, row)
    total(row, sums, x.shape[0], x.shape[1])
    center(keep, sums, y)


@pytest.mark.parametrize("backend", HDL)
def test_chain_runs_concurrently(backend):
    x = np.arange(-5, 7, dtype=np.int16)
    y = np.zeros(12, np.int32)
    r = run(chain, x, y, backend=backend)
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
            r = run(chain, x, y, backend=backend, depths={"a": depth, "b": depth})
            got[backend, depth] = (r.cycles, r.fifos, y.tolist())
    assert got["myhdl", 1] == got["verilator", 1] and got["myhdl", 2] == got["verilator", 2]
    assert got["myhdl", 1][0] > got["myhdl", 2][0]  # a depth-1 FIFO passes a value every other cycle


def test_min_depths_of_the_chain():
    x = np.arange(16, dtype=np.int16)
    assert min_depths(chain, x, np.zeros(16, np.int32), backend="verilator") == {"a": 2, "b": 2}


def test_lower_overrides_depths_and_checks_names():
    d = lower(chain, N=8, depths={"a": 5})
    assert "FIFOs: a (depth 5), b (depth 10)" in d.myhdl_source
    with pytest.raises(KeyError, match="no FIFO `c`"):
        lower(chain, N=8, depths={"c": 5})


@pytest.mark.parametrize("backend", HDL)
def test_fork_join(backend):
    rng = np.random.default_rng(1)
    x = rng.integers(-100, 100, (3, 6), dtype=np.int16)
    y = np.zeros((3, 6), np.int32)
    r = run(fork_join, x, y, backend=backend)
    assert (y == x * 6 - x.sum(axis=1, keepdims=True)).all()
    assert r.fifos["keep"].peak >= 6  # the whole row waits for its total


@pytest.mark.parametrize("backend", ["python", *HDL])
def test_shallow_fifo_deadlock_is_diagnosed(backend):
    x = np.ones((2, 6), np.int16)
    y = np.full((2, 6), 7, np.int32)
    with pytest.raises(DeadlockError) as info:
        run(fork_join, x, y, backend=backend, depths={"keep": 3})
    err = info.value
    assert ("split", "write", "keep") in err.blocked
    assert ("total", "read", "row") in err.blocked
    assert ("center", "read", "sums") in err.blocked
    assert err.full == ["keep"]
    assert "waits to write full FIFO `keep`" in str(err)
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
    """The smallest depth of `keep` that runs is the same in RTL and in the python model (C values)."""
    x = np.ones((2, 5), np.int16)

    def runs(b: str, depth: int) -> bool:
        try:
            run(fork_join, x, np.zeros((2, 5), np.int32), backend=b, depths={"keep": depth})
        except DeadlockError:
            return False
        return True

    assert [runs(backend, d) for d in (4, 5)] == [runs("python", d) for d in (4, 5)] == [False, True]
