"""Running a dataflow region's network (`hls.dataflow.Network`) on the software backends.

`run_python` (backend `python`) is the exact model: every FIFO holds at most its
depth, the processes are coroutines (the generated python flavor makes a process
a generator that yields while it waits) resumed round-robin in network order, each
until it blocks, so a run is deterministic. A read blocks while its FIFO is
empty, a write while it is full. When a whole round moves no value and finishes
no process, the region is deadlocked: `DeadlockError` names each blocked process,
the op and FIFO it waits on, and the full FIFOs. Since every FIFO has one writer
and one reader and reads and writes block, whether a region deadlocks at given
depths does not depend on the order the processes run in.

`run_sequential` (backends `numba-cpu`, `numba-cuda`) does not model depths: it
runs the processes one after another in `Network.order()` (each FIFO's writer
before its reader) with unbounded FIFOs. A FIFO is an int64 array (`_source.META`
words, then the values); one that overflows its buffer sets a flag, and the run
starts again from fresh copies of the inputs with the buffer as large as that
FIFO needed (remembered for later runs). A read of an empty FIFO (its writer has
finished) would block at any depth: `DeadlockError` naming that reader. A region
whose FIFOs make a cycle cannot run this way (`cycle`); the python backend runs it.
`RunResult.fifos[...].peak` is then the number of values written (the whole
stream is buffered before its reader starts).

Stream ports (stream parameters of the top region, or of a process run alone):
an input port is a FIFO filled with the given 1-D array before the run, never
full; an output port is unbounded, and its values are copied to the front of the
given array at the end. More values than the array holds: `ArgumentError` (and
nothing is written back); fewer: the rest of the array keeps its values.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import GeneratorType
from typing import Any

import numpy as np

from backends._source import META, OVERFLOW, UNDERFLOW
from hls.args import Bound
from hls.dataflow import Fifo, FifoStats, Network, Process, network
from hls.errors import ArgumentError, DeadlockError, UnsupportedKernel
from hls.hw.streamports import too_many
from hls.ir import nodes as ir
from hls.lang import Kernel
from hls.runtime import RunResult
from hls.types import ArrayType, ScalarType, StreamType, decode_value, numpy_dtype

__all__ = ["Memory", "cycle", "is_dataflow", "network_of", "run_python", "run_sequential"]

INITIAL_CAPACITY = 1024  # values a FIFO's buffer holds on the first numba run (at least its depth)

Lookup = Callable[[Kernel], Callable[..., Any]]  # a process's kernel -> its generated function (or host driver)
Scalar = Callable[[Any, ScalarType], Any]  # a scalar argument as the generated code takes it


def is_dataflow(kernel: Kernel) -> bool:
    """True when `kernel` runs as a network: a region, or a process (stream parameters) run alone."""
    return kernel.is_region or any(isinstance(p.type, StreamType) for p in kernel.ir.params)


def network_of(bound: Bound) -> Network:
    """The network of a checked call: the region's, or one process whose stream parameters are ports."""
    kernel = bound.kernel
    values = dict(zip([p.name for p in kernel.ir.params], bound.values))
    if kernel.is_region:
        return network(kernel, values, bound.depths)
    net = Network(kernel)
    args: dict[str, tuple[str, Any]] = {}
    for p in kernel.ir.params:
        if isinstance(p.type, StreamType):
            writes = kernel.stream_dirs[p.name] == "write"
            net.fifos[p.name] = Fifo(
                p.name, p.type.elem, None, p.loc, kernel.__name__ if writes else "", "" if writes else kernel.__name__
            )
            net.ports[p.name] = p.name
            args[p.name] = ("stream", p.name)
        else:
            args[p.name] = ("array", p.name) if isinstance(p.type, ArrayType) else ("scalar", values[p.name])
    net.processes.append(Process(kernel.__name__, kernel, args, kernel.ir.loc))
    return net


def _ports(net: Network, values: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The input and output ports: FIFO name -> the array the caller gave for it."""
    inputs: dict[str, np.ndarray] = {}
    outputs: dict[str, np.ndarray] = {}
    for param, fifo in net.ports.items():
        (outputs if net.fifos[fifo].writer else inputs)[fifo] = values[param]
    return inputs, outputs


def _too_many(net: Network, fifo: str, count: int, size: int) -> ArgumentError:
    return too_many(net.region.__name__, fifo, count, size)


# ---- python: the exact model ---------------------------------------------------------------------------------


class _PyFifo:
    """A bounded FIFO (depth None: a port, unbounded) as the python flavor's `_sread` / `_swrite` use it."""

    __slots__ = ("depth", "items", "moves", "name", "peak")

    def __init__(self, name: str, depth: int | None, items: Iterable[Any] = ()) -> None:
        self.name, self.depth = name, depth
        self.items: deque[Any] = deque(items)
        self.peak = len(self.items)
        self.moves = 0  # values pushed and popped so far

    def full(self) -> bool:
        return self.depth is not None and len(self.items) >= self.depth

    def pop(self) -> Any:
        self.moves += 1
        return self.items.popleft()

    def push(self, value: Any) -> None:
        self.items.append(value)
        self.moves += 1
        self.peak = max(self.peak, len(self.items))


def run_python(bound: Bound, lookup: Lookup, scalar: Scalar, backend: str = "python") -> RunResult:
    """Run the network of `bound` with every FIFO bounded at its depth (see the module docstring)."""
    net = network_of(bound)
    values = dict(zip([p.name for p in bound.kernel.ir.params], bound.values))
    inputs, outputs = _ports(net, values)
    fifos = {n: _PyFifo(n, f.depth, inputs[n].tolist() if n in inputs else ()) for n, f in net.fifos.items()}
    t0 = time.perf_counter()
    raw = None
    live: list[tuple[Process, GeneratorType[Any, None, Any]]] = []
    for proc in net.processes:
        out = lookup(proc.kernel)(*_arguments(proc, values, fifos, scalar))
        if isinstance(out, GeneratorType):
            live.append((proc, out))
        else:
            raw = out
    waits: dict[str, tuple[str, str]] = {}  # process -> (op, FIFO) it waits on
    while live:
        moves = sum(f.moves for f in fifos.values())
        still = []
        for proc, gen in live:
            try:
                fifo, op = next(gen)
            except StopIteration as stop:
                raw = stop.value
                continue
            waits[proc.name] = (op, fifo.name)
            still.append((proc, gen))
        if len(still) == len(live) and sum(f.moves for f in fifos.values()) == moves:
            for _, gen in still:
                gen.close()
            blocked = [(proc.name, *waits[proc.name]) for proc, _ in still]
            raise DeadlockError(net.region.__name__, backend, blocked, [f.name for f in fifos.values() if f.full()])
        live = still
    seconds = time.perf_counter() - t0
    for name, array in outputs.items():
        got = fifos[name].items
        if len(got) > len(array):
            raise _too_many(net, name, len(got), len(array))
        array[: len(got)] = list(got)
    stats = {n: FifoStats(f.depth, f.peak) for n, f in fifos.items()}
    return RunResult(backend, decode_value(raw, bound.kernel.ir.ret), seconds=seconds, fifos=stats)


def _arguments(proc: Process, values: dict[str, Any], streams: dict[str, Any], scalar: Scalar) -> list[Any]:
    """The arguments of `proc`'s function: arrays of the top region, stream objects, converted scalars."""
    out = []
    for p in proc.kernel.ir.params:
        kind, v = proc.args[p.name]
        if kind == "array":
            out.append(values[v])
        elif kind == "stream":
            out.append(streams[v])
        else:
            assert isinstance(p.type, ScalarType)
            out.append(scalar(v, p.type))
    return out


# ---- numba-cpu, numba-cuda: one process after another, unbounded FIFOs ---------------------------------------


@dataclass(frozen=True)
class Memory:
    """Where a sequential run keeps its arrays: `put(host array, written)` gives the argument the generated code
    takes (a copy when `written`, or always on a device), `get` the host array back, `head` a stream's META words,
    `sync` waits for the device."""

    put: Callable[[np.ndarray, bool], Any]
    get: Callable[[Any], np.ndarray]
    head: Callable[[Any], np.ndarray]
    sync: Callable[[], None] = lambda: None


HOST = Memory(put=lambda a, written: a.copy() if written else a, get=lambda a: a, head=lambda s: s[:META])


def run_sequential(
    bound: Bound,
    lookup: Lookup,
    scalar: Scalar,
    backend: str,
    memory: Memory = HOST,
    capacities: dict[tuple[str, str], int] | None = None,
) -> RunResult:
    """Run the processes of `bound`'s network one after another with unbounded FIFOs (see the module docstring).

    `capacities` (region IR name, FIFO) -> buffer size remembers what earlier runs needed.
    """
    net = network_of(bound)
    kernel = bound.kernel
    order = net.order()
    if order is None:
        raise UnsupportedKernel(f"{kernel.__name__}: {cycle(kernel)}")
    caps = capacities if capacities is not None else {}
    values = dict(zip([p.name for p in kernel.ir.params], bound.values))
    inputs, outputs = _ports(net, values)
    written = kernel.written_arrays
    while True:
        arrays = {
            p.name: memory.put(values[p.name], p.name in written)
            for p in kernel.ir.params
            if isinstance(p.type, ArrayType)
        }
        streams, sizes = {}, {}
        for name, f in net.fifos.items():
            if name in inputs:
                data = inputs[name]
                buf = np.zeros(META + len(data), np.int64)
                buf[META:] = data.astype(np.int64)
                buf[1] = len(data)
            else:
                size = len(outputs[name]) if name in outputs else max(f.depth or 0, INITIAL_CAPACITY)
                buf = np.zeros(META + caps.get((kernel.ir_name, name), size), np.int64)
            streams[name], sizes[name] = memory.put(buf, True), len(buf) - META
        t0 = time.perf_counter()
        raw, grown = None, False
        for proc in order:
            dirs = proc.kernel.stream_dirs
            reads = [v for p, (kind, v) in proc.args.items() if kind == "stream" and dirs[p] == "read"]
            writes = [v for p, (kind, v) in proc.args.items() if kind == "stream" and dirs[p] == "write"]
            args = _arguments(proc, arrays, streams, scalar)
            try:
                raw = lookup(proc.kernel)(*args)
                memory.sync()
            except Exception:
                _check_reads(net, backend, proc, reads, streams, memory)
                raise
            _check_reads(net, backend, proc, reads, streams, memory)
            for name in writes:
                head = memory.head(streams[name])
                if head[2] & OVERFLOW:
                    count = int(head[1])
                    if name in outputs:
                        raise _too_many(net, name, count, len(outputs[name]))
                    caps[(kernel.ir_name, name)] = max(count, 2 * sizes[name])
                    grown = True
            if grown:
                break
        if not grown:
            break
    seconds = time.perf_counter() - t0
    stats = {}
    for name, f in net.fifos.items():
        count = int(memory.head(streams[name])[1])
        stats[name] = FifoStats(f.depth, count)
        if name in outputs:
            data = memory.get(streams[name])[META : META + count]
            outputs[name][:count] = data.astype(numpy_dtype(f.elem))
    for pname, arg in arrays.items():
        if pname in written:
            values[pname][...] = memory.get(arg)
    return RunResult(backend, decode_value(raw, kernel.ir.ret), seconds=seconds, fifos=stats)


def _check_reads(
    net: Network, backend: str, proc: Process, reads: list[str], streams: dict[str, Any], memory: Memory
) -> None:
    """DeadlockError when `proc` read one of the FIFOs `reads` while it was empty (its writer had finished)."""
    for name in reads:
        if memory.head(streams[name])[2] & UNDERFLOW:
            raise DeadlockError(net.region.__name__, backend, [(proc.name, "read", name)], []) from None


def cycle(kernel: Kernel) -> str | None:
    """Why the processes of `kernel` cannot run one after another (their FIFOs make a cycle), or None.

    Decided from the region's code alone (the network's shape does not depend on argument values).
    """
    if not kernel.is_region:
        return None
    ends: dict[str, dict[str, str]] = {}  # FIFO -> {"read": process, "write": process}
    order: list[str] = []  # the processes, in network order
    _walk(kernel, {}, "", {}, ends, order)
    succ: dict[str, list[tuple[str, str]]] = {}
    for fifo, end in ends.items():
        if "write" in end and "read" in end:
            succ.setdefault(end["write"], []).append((end["read"], fifo))
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[tuple[str, str]] = []

    def visit(node: str) -> list[tuple[str, str]] | None:
        state[node] = 1
        for nxt, fifo in succ.get(node, []):
            path.append((node, fifo))
            if state.get(nxt) == 1:
                start = next(k for k, (n, _) in enumerate(path) if n == nxt)
                return path[start:]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
            path.pop()
        state[node] = 2
        return None

    for node in order:  # NOTE: in network order, so that a cycle is told from its first process
        if node not in state:
            loop = visit(node)
            if loop:
                text = " -> ".join(f"`{n}` ({fifo})" for n, fifo in loop) + f" -> `{loop[0][0]}`"
                return (
                    f"its FIFOs make a cycle ({text}); the numba backends run the processes one after another, "
                    f"writers first, which a cycle does not allow; run it on python or in hardware"
                )
    return None


def _walk(
    k: Kernel,
    env: dict[str, str],
    prefix: str,
    counts: dict[str, int],
    ends: dict[str, dict[str, str]],
    order: list[str],
) -> None:
    """Record, per FIFO of region `k` (named as `hls.dataflow.network` names them), the process at each end, and
    each process's name in `order`."""
    local = dict(env)
    for s in k.ir.body:
        if isinstance(s, ir.StreamDecl):
            local[s.name] = prefix + s.name
    for s in k.ir.body:
        if not isinstance(s, ir.CallStmt):
            continue
        callee = k.callees[s.call.callee]
        streams = {
            p.name: local.get(a.stream, a.stream)
            for p, a in zip(callee.ir.params, s.call.args)
            if isinstance(a, ir.StreamArg)
        }
        base = prefix + callee.__name__
        counts[base] = counts.get(base, 0) + 1
        name = base if counts[base] == 1 else f"{base}_{counts[base]}"
        if callee.is_region:
            _walk(callee, streams, name + ".", counts, ends, order)
            continue
        order.append(name)
        for p, fifo in streams.items():
            op = callee.stream_dirs[p]
            if op is not None:
                ends.setdefault(fifo, {})[op] = name
