"""The stream rules of the kernel language: each misuse is a KernelError at the user's line, with a fix."""

from __future__ import annotations

import inspect

import pytest

from hls import Array, KernelError, Stream, f32, i16, i32, kernel, pipeline, prange, stream
from hls.lang import Kernel


@kernel
def src(x: Array[i16, "N"], out: Stream[i16]):
    for i in pipeline(range(x.shape[0]), ii=1):
        out.write(x[i])


@kernel
def dst(inp: Stream[i16], y: Array[i16, "N"]):
    for i in pipeline(range(y.shape[0]), ii=1):
        y[i] = inp.read()


@kernel
def two_writers(x: Array[i16, "N"], y: Array[i16, "N"]):
    a = stream(i16, depth=2)
    src(x, a)
    src(x, a)  # ERROR
    dst(a, y)


@kernel
def never_read(x: Array[i16, "N"]):
    a = stream(i16, depth=2)  # ERROR
    src(x, a)


@kernel
def never_written(y: Array[i16, "N"]):
    a = stream(i16, depth=2)  # ERROR
    dst(a, y)


@kernel
def both_ways(s: Stream[i16], n: i32):
    for _ in range(n):
        v = s.read()
        s.write(v)  # ERROR


@kernel
def indexed(s: Stream[i16], y: Array[i16, "N"]):
    y[0] = s[0]  # ERROR


@kernel
def stored(s: Stream[i16]):
    s[0] = 1  # ERROR


@kernel
def rebound(s: Stream[i16]):
    s = 3  # ERROR  # noqa: F841


@kernel
def as_value(s: Stream[i16], y: Array[i16, "N"]):
    y[0] = s + 1  # ERROR


@kernel
def in_prange(s: Stream[i16], y: Array[i16, "N"]):
    for i in prange(y.shape[0]):
        y[i] = s.read()  # ERROR


@kernel
def in_select(s: Stream[i16], y: Array[i16, "N"], c: bool):
    y[0] = s.read() if c else 0  # ERROR


@kernel
def in_and(s: Stream[bool], y: Array[bool, "N"], c: bool):
    y[0] = c and s.read()  # ERROR


@kernel
def in_while(s: Stream[i16], y: Array[i16, "N"]):
    k = 0
    while s.read() > 0:  # ERROR
        k = k + 1
    y[0] = k


@kernel
def region_with_code(x: Array[i16, "N"], y: Array[i16, "N"]):
    a = stream(i16, depth=2)
    src(x, a)
    y[0] = 1  # ERROR
    dst(a, y)


@kernel
def region_returns(x: Array[i16, "N"], y: Array[i16, "N"]) -> i32:
    a = stream(i16, depth=2)
    src(x, a)
    dst(a, y)
    return 0  # ERROR


@kernel
def forward(s: Stream[i16], y: Array[i16, "N"]):
    for _ in range(1):
        dst(s, y)  # ERROR


@kernel
def float_stream(x: Array[i16, "N"], y: Array[i16, "N"]):
    a = stream(f32, depth=2)  # ERROR
    src(x, a)
    dst(a, y)


@kernel
def no_depth(x: Array[i16, "N"], y: Array[i16, "N"]):
    a = stream(i16)  # ERROR
    src(x, a)
    dst(a, y)


@kernel
def wrong_elem(x: Array[i16, "N"], y: Array[i16, "N"]):
    a = stream(i32, depth=2)
    src(x, a)  # ERROR
    dst(a, y)


@kernel
def port_twice(s: Stream[i16], y: Array[i16, "N"], z: Array[i16, "N"]):  # ERROR
    dst(s, y)
    dst(s, z)


CASES = [
    (two_writers, "stream `a` is written by two processes: `src` (line"),
    (never_read, "stream `a` is never read: no process reads it"),
    (never_written, "stream `a` is never written: no process writes it"),
    (both_ways, "stream `s` is both read and written by `both_ways`"),
    (indexed, "stream `s` is indexed or stored like an array"),
    (stored, "stream `s` is indexed or stored like an array"),
    (rebound, "stream `s` is indexed or stored like an array"),
    (as_value, "stream `s` is used as a value"),
    (in_prange, "stream `s` is used in a prange loop"),
    (in_select, "a stream read inside a conditional expression"),
    (in_and, "a stream read inside `and`"),
    (in_while, "a stream read inside a while condition"),
    (region_with_code, "a dataflow region only declares streams and calls kernels"),
    (region_returns, "a dataflow region only declares streams and calls kernels"),
    (forward, "streams are passed to kernels only by a dataflow region's top-level calls"),
    (float_stream, "streams carry integers or bools, not floats"),
    (no_depth, "stream() takes a dtype and `depth=`"),
    (wrong_elem, "argument `out` of `src` must be Stream[i16], got Stream[i32]"),
    (port_twice, "stream parameter `s` must be used by exactly one process"),
]


def _error_line(k: Kernel) -> int:
    lines, first = inspect.getsourcelines(k.fn)
    return first + next(n for n, text in enumerate(lines) if "# ERROR" in text)


@pytest.mark.parametrize(("k", "message"), CASES, ids=[k.__name__ for k, _ in CASES])
def test_misuse_is_an_error_at_its_line(k: Kernel, message: str) -> None:
    with pytest.raises(KernelError) as info:
        k.ir  # noqa: B018 - parsing raises
    err = info.value
    assert message in err.message
    assert err.loc is not None and err.loc.line == _error_line(k), str(err)
    assert err.fix


def test_processes_and_regions_are_told_apart() -> None:
    @kernel
    def ok(x: Array[i16, "N"], y: Array[i16, "N"]):
        a = stream(i16, depth=N + 2)  # noqa: F821 - N: the dim of x and y
        src(x, a)
        dst(a, y)

    assert ok.is_region and not src.is_region
    assert src.stream_dirs == {"out": "write"} and dst.stream_dirs == {"inp": "read"}
    assert ok.written_arrays == frozenset({"y"})
