"""Small dataflow regions, each with its numpy reference and a Hypothesis strategy of its arguments.

Every backend's stream tests run `REGIONS` (software: tests/test_streams_software.py;
the HDL tests reuse them). The processes keep to what hardware likes: `pipeline(ii=1)`
loops, or perfect nests whose inner loop is pipelined with a constant bound, and
straight-line bodies (ifs allowed).

`RegionCase.args` draws argument tuples in parameter order; `reference(*args)` gives the
expected outputs by parameter name (an output stream port included: the whole array,
its unwritten tail as drawn). `depths` names the FIFO whose declared depth matters:
`shallow` deadlocks on the python backend (and in hardware), `enough` does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hls import Array, Stream, i16, i32, kernel, pipeline, stream
from hls.lang import Kernel

ROW = 4  # the row length of the fork-join region: a constant, so its inner loop has a constant bound
MAX_N = 8  # the longest arrays drawn


# ---- processes -------------------------------------------------------------------------------------------------


@kernel
def source(x: Array[i16, "N"], out: Stream[i16]):
    """Stream an array out, one value per cycle."""
    for i in pipeline(range(x.shape[0]), ii=1):
        out.write(x[i])


@kernel
def double(inp: Stream[i16], out: Stream[i32], n: i32):
    """out = 2 * in, for n values."""
    for _i in pipeline(range(n), ii=1):
        out.write(inp.read() * 2)


@kernel
def square(inp: Stream[i32], out: Stream[i32], n: i32):
    """out = in * in, wrapping to i32 at the write."""
    for _i in pipeline(range(n), ii=1):
        v = inp.read()
        out.write(v * v)


@kernel
def sink(inp: Stream[i32], y: Array[i32, "N"]):
    """Fill an array from a stream."""
    for i in pipeline(range(y.shape[0]), ii=1):
        y[i] = inp.read()


@kernel
def merge(p: Stream[i16], q: Stream[i16], y: Array[i32, "N"]):
    """y = p - 3 * q: one value of each stream per cycle (p is read first)."""
    for i in pipeline(range(y.shape[0]), ii=1):
        y[i] = p.read() - 3 * q.read()


@kernel
def fork(x: Array[i16, "R", ROW], buf: Stream[i16], to_sum: Stream[i16]):
    """Each value of x, row by row, to two streams: the buffer first, then the row sum."""
    for i in range(x.shape[0]):
        for j in pipeline(range(ROW), ii=1):
            v = x[i, j]
            buf.write(v)
            to_sum.write(v)


@kernel
def row_sum(inp: Stream[i16], out: Stream[i32], n: i32):
    """The sum of every ROW consecutive values of n, written once the row is complete."""
    acc = i32(0)
    for k in pipeline(range(n), ii=1):
        v = inp.read()
        acc = v if k % ROW == 0 else acc + v
        if k % ROW == ROW - 1:
            out.write(acc)


@kernel
def join(tot: Stream[i32], buf: Stream[i16], y: Array[i32, "R", ROW]):
    """y[i, j] = ROW * x[i, j] - sum(x[i]): each row's sum first, then the row's buffered values."""
    t = i32(0)
    for i in range(y.shape[0]):
        for j in pipeline(range(ROW), ii=1):
            if j == 0:
                t = tot.read()
            y[i, j] = buf.read() * ROW - t


@kernel
def above(x: Array[i16, "N"], out: Stream[bool], t: i16):
    """A bool stream: x[i] > t."""
    for i in pipeline(range(x.shape[0]), ii=1):
        out.write(x[i] > t)


@kernel
def running_count(inp: Stream[bool], y: Array[i32, "N"]):
    """y[i] = how many of the first i + 1 flags are set."""
    c = i32(0)
    for i in pipeline(range(y.shape[0]), ii=1):
        if inp.read():
            c = c + 1
        y[i] = c


# ---- regions ---------------------------------------------------------------------------------------------------


@kernel
def pipeline3(x: Array[i16, "N"], y: Array[i32, "N"]):
    """source -> double -> sink (the example of the README)."""
    a = stream(i16, depth=2)
    b = stream(i32, depth=N + 2)  # noqa: F821 - N: the dim of x and y, as in the annotations
    source(x, a)
    double(a, b, x.shape[0])
    sink(b, y)


@kernel
def fork_join(x: Array[i16, "R", ROW], y: Array[i32, "R", ROW]):
    """A fork whose one branch reduces a whole row before the join reads it with the row's values: the buffer
    FIFO must hold a row (depth >= ROW), or the fork blocks on it before the sum is complete."""
    buf = stream(i16, depth=ROW + 2)
    s = stream(i16, depth=2)
    tot = stream(i32, depth=2)
    fork(x, buf, s)
    row_sum(s, tot, x.shape[0] * ROW)
    join(tot, buf, y)


@kernel
def merge2(a: Array[i16, "N"], b: Array[i16, "N"], y: Array[i32, "N"]):
    """Two sources (two calls of one kernel: processes `source` and `source_2`) merged by one process."""
    sa = stream(i16, depth=2)
    sb = stream(i16, depth=2)
    source(a, sa)
    source(b, sb)
    merge(sa, sb, y)


@kernel
def double_square(inp: Stream[i16], out: Stream[i32], n: i32):
    """A region with stream ports: n values in, (2 v)**2 wrapped to i32 out."""
    m = stream(i32, depth=1)
    double(inp, m, n)
    square(m, out, n)


@kernel
def nested(x: Array[i16, "N"], y: Array[i32, "N"]):
    """A region calling a region (`double_square`, whose processes become `double_square.double`, ...)."""
    a = stream(i16, depth=2)
    b = stream(i32, depth=2)
    source(x, a)
    double_square(a, b, x.shape[0])
    sink(b, y)


@kernel
def count_above(x: Array[i16, "N"], y: Array[i32, "N"], t: i16):
    """A bool stream between two processes."""
    f = stream(bool, depth=2)
    above(x, f, t)
    running_count(f, y)


# ---- references ------------------------------------------------------------------------------------------------


def _wrap32(v: np.ndarray) -> np.ndarray:
    return v.astype(np.int64).astype(np.uint32).astype(np.int32)


def pipeline3_ref(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    return {"y": x.astype(np.int32) * 2}


def fork_join_ref(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    x32 = x.astype(np.int32)
    return {"y": x32 * ROW - x32.sum(axis=1, keepdims=True, dtype=np.int32)}


def merge2_ref(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    return {"y": a.astype(np.int32) - 3 * b.astype(np.int32)}


def double_square_ref(inp: np.ndarray, out: np.ndarray, n: int) -> dict[str, np.ndarray]:
    want = out.copy()
    v = inp[:n].astype(np.int64) * 2
    want[:n] = _wrap32(v * v)
    return {"out": want}


def nested_ref(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    v = x.astype(np.int64) * 2
    return {"y": _wrap32(v * v)}


def count_above_ref(x: np.ndarray, y: np.ndarray, t: int) -> dict[str, np.ndarray]:
    return {"y": np.cumsum(x > t).astype(np.int32)}


# ---- strategies ------------------------------------------------------------------------------------------------

_I16 = st.integers(-(1 << 15), (1 << 15) - 1)
_I32 = st.integers(-(1 << 31), (1 << 31) - 1)


def _vec(dtype: Any, n: int, elems: st.SearchStrategy[int]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(dtype, n, elements=elems)


@st.composite
def _pipeline3_args(draw: st.DrawFn) -> tuple[Any, ...]:
    n = draw(st.integers(0, MAX_N))
    return draw(_vec(np.int16, n, _I16)), draw(_vec(np.int32, n, _I32))


@st.composite
def _fork_join_args(draw: st.DrawFn) -> tuple[Any, ...]:
    r = draw(st.integers(0, 3))
    return draw(hnp.arrays(np.int16, (r, ROW), elements=_I16)), np.zeros((r, ROW), np.int32)


@st.composite
def _merge2_args(draw: st.DrawFn) -> tuple[Any, ...]:
    n = draw(st.integers(0, MAX_N))
    return draw(_vec(np.int16, n, _I16)), draw(_vec(np.int16, n, _I16)), np.zeros(n, np.int32)


@st.composite
def _double_square_args(draw: st.DrawFn) -> tuple[Any, ...]:
    size = draw(st.integers(0, MAX_N))
    n = draw(st.integers(0, size))
    return draw(_vec(np.int16, size, _I16)), draw(_vec(np.int32, size, _I32)), n


@st.composite
def _count_above_args(draw: st.DrawFn) -> tuple[Any, ...]:
    n = draw(st.integers(0, MAX_N))
    return draw(_vec(np.int16, n, _I16)), np.zeros(n, np.int32), draw(_I16)


@dataclass(frozen=True)
class RegionCase:
    """One region: its arguments' strategy, its numpy reference, and the FIFO whose depth decides deadlock.

    `depths` is (FIFO, shallow, enough): with `depths={fifo: shallow}` the region deadlocks on python (for
    inputs with at least one row), with `enough` it does not. `deadlock_args` is such an input.
    """

    kernel: Kernel
    args: st.SearchStrategy[tuple[Any, ...]]
    reference: Callable[..., dict[str, np.ndarray]]
    processes: tuple[str, ...] = ()  # the network's process names, in order
    depths: tuple[str, int, int] | None = None
    deadlock_args: Callable[[], tuple[Any, ...]] | None = None
    tags: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.kernel.__name__


def _fork_join_deadlock_args() -> tuple[Any, ...]:
    x = np.arange(2 * ROW, dtype=np.int16).reshape(2, ROW)
    return x, np.zeros((2, ROW), np.int32)


REGIONS: list[RegionCase] = [
    RegionCase(pipeline3, _pipeline3_args(), pipeline3_ref, ("source", "double", "sink")),
    RegionCase(
        fork_join,
        _fork_join_args(),
        fork_join_ref,
        ("fork", "row_sum", "join"),
        depths=("buf", ROW - 1, ROW),
        deadlock_args=_fork_join_deadlock_args,
        tags=("fork-join",),
    ),
    RegionCase(merge2, _merge2_args(), merge2_ref, ("source", "source_2", "merge"), tags=("merge",)),
    RegionCase(double_square, _double_square_args(), double_square_ref, ("double", "square"), tags=("ports",)),
    RegionCase(
        nested,
        _pipeline3_args(),
        nested_ref,
        ("source", "double_square.double", "double_square.square", "sink"),
        tags=("nested",),
    ),
    RegionCase(count_above, _count_above_args(), count_above_ref, ("above", "running_count"), tags=("bool",)),
]
