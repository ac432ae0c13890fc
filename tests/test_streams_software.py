"""Dataflow regions on the software backends: python (bounded FIFOs, exact), numba-cpu and numba-cuda (processes one
after another, unbounded FIFOs) agree with numpy on every region of tests/regions.py; deadlocks are DeadlockErrors."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backends
from backends import _dataflow
from backends._source import _FunctionGen
from backends.numba_cpu import NumbaCpuBackend
from backends.numba_cuda import NumbaCudaBackend
from hls import (
    ArgumentError,
    Array,
    DeadlockError,
    Stream,
    UnsupportedKernel,
    bool_,
    check,
    i16,
    i32,
    ir,
    kernel,
    pipeline,
    stream,
)
from hls.args import bind
from hls.dataflow import network
from hls.runtime import run
from tests.regions import (
    REGIONS,
    ROW,
    RegionCase,
    double,
    double_square,
    fork_join,
    fork_join_ref,
    pipeline3,
    sink,
    source,
)

SOFTWARE = ["python", "numba-cpu", "numba-cuda"]
EXAMPLES = 30
CUDA_SIMULATOR_EXAMPLES = 10  # the simulator runs every GPU thread in Python

FAST = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _available(backend: str) -> None:
    why = backends.available(backend)
    if why:
        pytest.skip(f"backend {backend} not run: {why}")


def _examples(backend: str) -> int:
    simulated = backend == "numba-cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    return CUDA_SIMULATOR_EXAMPLES if simulated else EXAMPLES


def _copies(args: tuple[Any, ...]) -> list[Any]:
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _outputs(case: RegionCase, args: list[Any]) -> dict[str, Any]:
    names = [p.name for p in case.kernel.ir.params]
    return {p: args[names.index(p)] for p in case.reference(*_copies(tuple(args)))}


# ---- every region, every software backend, against numpy --------------------------------------------------------


@pytest.mark.parametrize("backend", SOFTWARE)
@pytest.mark.parametrize("case", REGIONS, ids=lambda c: c.name)
def test_region_agrees_with_numpy(case: RegionCase, backend: str) -> None:
    """Each backend's outputs equal the numpy reference (so python == numba-cpu == numba-cuda), bit for bit."""
    _available(backend)

    @settings(FAST, max_examples=_examples(backend))
    @given(case.args)
    def trial(args: tuple[Any, ...]) -> None:
        want = case.reference(*_copies(args))
        work = _copies(args)
        result = run(case.kernel, *work, backend=backend)
        got = _outputs(case, work)
        for name, expected in want.items():
            assert got[name].dtype == expected.dtype
            np.testing.assert_array_equal(got[name], expected, err_msg=f"{case.name}: `{name}` on {backend}")
        assert result.value is None
        values = dict(zip([p.name for p in case.kernel.ir.params], args))
        assert result.fifos is not None and set(result.fifos) == set(network(case.kernel, values).fifos)

    trial()


@pytest.mark.parametrize("backend", SOFTWARE)
@pytest.mark.parametrize("case", [c for c in REGIONS if "ports" not in c.tags], ids=lambda c: c.name)
def test_hls_check_runs_regions(case: RegionCase, backend: str) -> None:
    """`hls.check` compares a region's output arrays across backends and with the numpy reference, and measures
    the coverage of its processes on python."""
    _available(backend)
    examples = min(10, _examples(backend))
    report = check(case.kernel, backends=[backend], examples=examples, strategy=case.args, reference=case.reference)
    assert report.agreed == ([] if backend == "python" else [backend]) and report.skipped == {}
    assert report.coverage is not None and report.coverage.examples == examples
    assert report.warnings == [], "every branch and loop of the processes was reached"


@pytest.mark.parametrize("case", REGIONS, ids=lambda c: c.name)
def test_network_process_names_match_the_catalog(case: RegionCase) -> None:
    @settings(FAST, max_examples=3)
    @given(case.args)
    def trial(args: tuple[Any, ...]) -> None:
        values = dict(zip([p.name for p in case.kernel.ir.params], args))
        assert tuple(p.name for p in network(case.kernel, values).processes) == case.processes

    trial()


# ---- python: depths exactly --------------------------------------------------------------------------------------


def test_python_fifo_peaks_stay_within_depths() -> None:
    @FAST
    @given(st.sampled_from(REGIONS).flatmap(lambda c: st.tuples(st.just(c), c.args)))
    def trial(drawn: tuple[RegionCase, tuple[Any, ...]]) -> None:
        case, args = drawn
        result = run(case.kernel, *_copies(args))
        assert result.fifos is not None
        for name, stats in result.fifos.items():
            assert stats.full_cycles is None and stats.empty_cycles is None
            if stats.depth is not None:
                assert 0 <= stats.peak <= stats.depth, (case.name, name, stats)

    trial()


def test_fork_join_fills_its_buffer_to_a_row() -> None:
    x = np.arange(3 * ROW, dtype=np.int16).reshape(3, ROW)
    result = run(fork_join, x, np.zeros((3, ROW), np.int32))
    assert result.fifos is not None
    assert result.fifos["buf"].depth == ROW + 2 and ROW <= result.fifos["buf"].peak <= ROW + 2


def test_too_shallow_fifo_deadlocks_naming_who_waits_on_what() -> None:
    x = np.arange(2 * ROW, dtype=np.int16).reshape(2, ROW)
    y = np.full((2, ROW), 7, np.int32)
    with pytest.raises(DeadlockError) as info:
        run(fork_join, x, y, depths={"buf": ROW - 1})
    err = info.value
    assert err.region == "fork_join" and err.backend == "python" and err.cycle is None
    # the fork waits to write the full buffer; the row sum waits for the row's last value, which the fork holds;
    # the join waits for the row's sum
    assert err.blocked == [("fork", "write", "buf"), ("row_sum", "read", "s"), ("join", "read", "tot")]
    assert err.full == ["buf"]
    assert "process `fork` waits to write full FIFO `buf`" in str(err)
    assert (y == 7).all(), "a deadlocked run writes nothing back"


@pytest.mark.parametrize("depth", range(1, 2 * ROW + 1))
def test_depths_override_decides_the_deadlock(depth: int) -> None:
    """The fork-join deadlocks exactly when its buffer holds less than a row (declared depth: ROW + 2)."""
    x = np.arange(2 * ROW, dtype=np.int16).reshape(2, ROW)
    y = np.zeros((2, ROW), np.int32)
    if depth < ROW:
        with pytest.raises(DeadlockError):
            run(fork_join, x, y, depths={"buf": depth})
        assert not y.any()
    else:
        result = run(fork_join, x, y, depths={"buf": depth})
        np.testing.assert_array_equal(y, fork_join_ref(x, y)["y"])
        assert result.fifos is not None and result.fifos["buf"].depth == depth


def test_depth_one_everywhere_still_runs_a_pipeline() -> None:
    x = np.arange(-4, 5, dtype=np.int16)
    y = np.zeros(9, np.int32)
    result = run(pipeline3, x, y, depths={"a": 1, "b": 1})
    np.testing.assert_array_equal(y, 2 * x.astype(np.int32))
    assert result.fifos is not None and result.fifos["a"].peak == 1 and result.fifos["b"].peak == 1


# ---- reading more than was written: a deadlock at any depth -----------------------------------------------------


@kernel
def greedy(x: Array[i16, "N"], y: Array[i32, "M"]):
    """The sink reads len(y) values; only len(x) are written."""
    a = stream(i16, depth=2)
    b = stream(i32, depth=2)
    source(x, a)
    double(a, b, x.shape[0])
    sink(b, y)


@pytest.mark.parametrize("backend", SOFTWARE)
def test_reader_reading_more_than_written_deadlocks(backend: str) -> None:
    _available(backend)
    x = np.arange(3, dtype=np.int16)
    y = np.full(5, -1, np.int32)
    with pytest.raises(DeadlockError) as info:
        run(greedy, x, y, backend=backend)
    assert info.value.blocked == [("sink", "read", "b")] and info.value.full == []
    assert info.value.backend == backend
    assert (y == -1).all()
    run(greedy, x, np.zeros(3, np.int32), backend=backend)  # as many values as written: no deadlock


@pytest.mark.parametrize("backend", SOFTWARE)
def test_reading_past_an_input_port_deadlocks(backend: str) -> None:
    _available(backend)
    inp = np.arange(3, dtype=np.int16)
    out = np.zeros(5, np.int32)
    with pytest.raises(DeadlockError) as info:
        run(double_square, inp, out, 5, backend=backend)
    want = [("double", "read", "inp")] + ([("square", "read", "m")] if backend == "python" else [])
    assert info.value.blocked == want
    assert not out.any()


# ---- stream ports ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", SOFTWARE)
def test_output_port_longer_than_its_array_is_an_error(backend: str) -> None:
    _available(backend)
    inp = np.arange(6, dtype=np.int16)
    out = np.full(4, 9, np.int32)
    with pytest.raises(ArgumentError, match=r"output stream `out` received 6 values, but its array holds 4"):
        run(double_square, inp, out, 6, backend=backend)
    assert (out == 9).all()


@pytest.mark.parametrize("backend", SOFTWARE)
def test_a_process_runs_alone_on_stream_ports(backend: str) -> None:
    """A kernel with stream parameters but no region around it: its streams are ports."""
    _available(backend)
    inp = np.array([-32768, -1, 0, 5, 32767], np.int16)
    out = np.full(7, 3, np.int32)
    result = run(double, inp, out, 4, backend=backend)
    np.testing.assert_array_equal(out, [-65536, -2, 0, 10, 3, 3, 3])
    assert result.fifos is not None and result.fifos["out"].peak == 4 and result.fifos["inp"].depth is None


# ---- a cycle of FIFOs: python runs it, the numba backends refuse it ---------------------------------------------


@kernel
def ping(x: Array[i16, "N"], back: Stream[i16], fwd: Stream[i16], y: Array[i16, "N"]):
    for i in pipeline(range(x.shape[0]), ii=1):
        fwd.write(x[i])
        y[i] = back.read()


@kernel
def pong(inp: Stream[i16], out: Stream[i16], n: i32):
    for _i in pipeline(range(n), ii=1):
        out.write(inp.read() + 1)


@kernel
def ping_pong(x: Array[i16, "N"], y: Array[i16, "N"]):
    fwd = stream(i16, depth=2)
    back = stream(i16, depth=2)
    ping(x, back, fwd, y)
    pong(fwd, back, x.shape[0])


def test_a_cycle_runs_on_python_only() -> None:
    x = np.array([1, -2, 32767], np.int16)
    y = np.zeros(3, np.int16)
    run(ping_pong, x, y)
    np.testing.assert_array_equal(y, [2, -1, -32768])  # the write wraps to i16
    for impl in (NumbaCpuBackend(), NumbaCudaBackend()):
        why = impl.unsupported(ping_pong)
        assert why is not None and "cycle" in why and "`ping` (fwd) -> `pong` (back) -> `ping`" in why
    assert NumbaCpuBackend().unsupported(fork_join) is None
    with pytest.raises(UnsupportedKernel, match="cycle"):
        NumbaCpuBackend().run(bind(ping_pong, (x, y), {}))


def test_check_skips_numba_for_a_cycle_and_says_why() -> None:
    strategy = st.integers(0, 4).map(lambda n: (np.arange(n, dtype=np.int16), np.zeros(n, np.int16)))
    report = check(ping_pong, backends=["python", "numba-cpu"], examples=5, strategy=strategy, coverage=False)
    assert report.agreed == [] and "numba-cpu" in report.skipped
    if backends.available("numba-cpu") is None:
        assert "cycle" in report.skipped["numba-cpu"]


# ---- numba: FIFO buffers grow and the run starts again -----------------------------------------------------------


@pytest.mark.parametrize("backend", ["numba-cpu", "numba-cuda"])
def test_numba_fifo_buffers_grow(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _available(backend)
    monkeypatch.setattr(_dataflow, "INITIAL_CAPACITY", 2)
    impl = NumbaCpuBackend() if backend == "numba-cpu" else NumbaCudaBackend()
    x = np.arange(-20, 20, dtype=np.int16)
    y = np.zeros(40, np.int32)
    result = impl.run(bind(pipeline3, (x, y), {}))
    np.testing.assert_array_equal(y, 2 * x.astype(np.int32))
    # `a` (depth 2) outgrew its first buffer: exactly what it needed is remembered; `b` starts at its depth, N + 2
    assert impl._capacities == {(pipeline3.ir_name, "a"): 40}
    assert result.fifos is not None and result.fifos["a"].peak == 40  # the whole stream, buffered


# ---- generated code: a predicated read or write ------------------------------------------------------------------


@kernel
def relay(inp: Stream[i16], out: Stream[i16], n: i32):
    for _i in pipeline(range(n), ii=1):
        v = inp.read()
        out.write(v + 1)


def _predicated(k: Any) -> ir.Function:
    """`k`'s loop with its reads and writes under a predicate (as if-conversion leaves them): even iterations only."""
    func = k.ir
    loop = func.body[0]
    loc = loop.loc
    i = ir.Var(loop.var, i32, loc)
    even = ir.Compare("==", ir.BinOp("&", i, ir.Const(1, i32, loc), i32, loc), ir.Const(0, i32, loc), bool_, loc)
    body = tuple(dataclasses.replace(s, pred=even) if isinstance(s, ir.Read | ir.Write) else s for s in loop.body)
    return dataclasses.replace(func, body=(dataclasses.replace(loop, body=body),))


class _Fifo:
    def __init__(self, items: list[int]) -> None:
        self.items, self.out = list(items), []

    def full(self) -> bool:
        return False

    def pop(self) -> int:
        return self.items.pop(0)

    def push(self, v: int) -> None:
        self.out.append(v)


def test_predicated_stream_ops_do_nothing_when_false() -> None:
    func = _predicated(relay)
    python = _FunctionGen(func, numba=False).emit()
    assert "    if (" in python and "yield from _sread(v_inp)" in python
    numba = _FunctionGen(func, numba=True).emit()
    assert "_sread(v_inp)" in numba and "yield" not in numba
    namespace: dict[str, Any] = {}
    from backends._source import _PY_STREAM_HELPERS

    exec(_PY_STREAM_HELPERS + "\n" + python, namespace)  # noqa: S102 - generated code under test
    inp, out = _Fifo([10, 20, 30]), _Fifo([])
    gen = namespace[f"k_{func.name}"](inp, out, 5)
    with pytest.raises(StopIteration):
        next(gen)
    assert out.out == [11, 21, 31] and inp.items == []  # iterations 0, 2, 4 read and write; 1, 3 do nothing
