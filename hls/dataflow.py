"""Dataflow regions as networks: every process and every FIFO of a region, nested regions flattened.

A region (a kernel that declares streams and calls kernels, `Kernel.is_region`)
becomes a `Network`: its processes (calls of non-region kernels, named after the
kernel, `name_2` for a second call, `outer.name` inside a nested region) with
their arguments resolved to the region's arrays, scalar values and FIFOs, and its
FIFOs with their depths evaluated. Every backend runs the same network:
software backends call the processes' code, the hardware backends instantiate
one FSM per process and one FIFO per stream.

`min_depths` searches, by simulation, the smallest depths at which a region
neither deadlocks nor runs more than 1% slower than with (practically)
unbounded FIFOs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hls import ir
from hls.errors import DeadlockError, KernelError
from hls.lang import Kernel
from hls.types import ArrayType, ScalarType, StreamType

__all__ = ["Fifo", "FifoStats", "Network", "Process", "min_depths", "network"]


@dataclass
class Fifo:
    """One stream of the network: its name, element type and depth (None: a port of the top region)."""

    name: str
    elem: ScalarType
    depth: int | None
    loc: ir.Loc
    writer: str = ""  # the process that writes it ("" : fed from outside, a stream parameter of the top)
    reader: str = ""  # the process that reads it ("" : drained to outside)


@dataclass
class Process:
    """One call of a kernel in a region: `args` maps each parameter to ("array", name), ("stream", fifo) or
    ("scalar", value); `arrays` are the top region's arrays by name."""

    name: str
    kernel: Kernel
    args: dict[str, tuple[str, Any]]
    loc: ir.Loc


@dataclass(frozen=True)
class FifoStats:
    """What a run tells of one FIFO: its depth, peak occupancy, and (hardware backends) the clock cycles it
    spent full and empty between start and done."""

    depth: int | None
    peak: int
    full_cycles: int | None = None
    empty_cycles: int | None = None


@dataclass
class Network:
    region: Kernel
    processes: list[Process] = field(default_factory=list)
    fifos: dict[str, Fifo] = field(default_factory=dict)
    ports: dict[str, str] = field(default_factory=dict)  # stream parameter of the top -> its FIFO

    def order(self) -> list[Process] | None:
        """The processes with every FIFO's writer before its reader, or None when the FIFOs make a cycle."""
        done: list[Process] = []
        finished = {""}  # "": a FIFO fed from outside (a port) has no writer to wait for
        left = list(self.processes)
        while left:
            ready = next((p for p in left if all(self.fifos[f].writer in finished for f in _reads(p))), None)
            if ready is None:
                return None
            done.append(ready)
            finished.add(ready.name)
            left.remove(ready)
        return done


def _reads(p: Process) -> list[str]:
    dirs = p.kernel.stream_dirs
    return [v for k, (kind, v) in p.args.items() if kind == "stream" and dirs[k] == "read"]


def network(region: Kernel, values: dict[str, Any], depths: dict[str, int] | None = None) -> Network:
    """The network of `region` called with `values` (parameter name -> array, scalar or, for a stream
    parameter, anything: its FIFO is a port). `depths` overrides declared depths by FIFO name."""
    net = Network(region)
    for p in region.ir.params:
        if isinstance(p.type, StreamType):
            net.fifos[p.name] = Fifo(p.name, p.type.elem, None, p.loc)
            net.ports[p.name] = p.name
    env = {
        p.name: ("array", p.name) if isinstance(p.type, ArrayType) else ("scalar", values[p.name])
        for p in region.ir.params
        if not isinstance(p.type, StreamType)
    }
    env.update({n: ("stream", f) for n, f in net.ports.items()})
    _expand(net, region, env, values, "", {})
    depths = depths or {}
    for name in depths:
        if name not in net.fifos or net.fifos[name].depth is None:
            raise KeyError(
                f"depths: region `{region.__name__}` has no FIFO `{name}`; its FIFOs: "
                f"{', '.join(n for n, f in net.fifos.items() if f.depth is not None)}"
            )
        if not (isinstance(depths[name], int) and depths[name] >= 1):
            raise ValueError(f"depths: `{name}` must be an int >= 1, got {depths[name]!r}")
        net.fifos[name].depth = depths[name]
    for f in net.fifos.values():
        if f.depth is not None and f.depth < 1:
            raise KernelError(
                f"stream `{f.name}` has depth {f.depth}; a FIFO holds at least one value",
                f.loc,
                "give it depth=1 or more",
            )
    return net


def _expand(
    net: Network, k: Kernel, env: dict[str, tuple[str, Any]], top: dict[str, Any], prefix: str, counts: dict[str, int]
) -> None:
    """Add the FIFOs and processes of region `k`, whose parameters mean `env`, under `prefix`."""
    fn = k.ir
    local = dict(env)
    for s in fn.body:
        if isinstance(s, ir.StreamDecl):
            name = prefix + s.name
            net.fifos[name] = Fifo(name, s.type.elem, int(_eval(s.depth, fn, local, top)), s.loc)
            local[s.name] = ("stream", name)
    for s in fn.body:
        if not isinstance(s, ir.CallStmt):
            continue
        callee = k.callees[s.call.callee]
        args: dict[str, tuple[str, Any]] = {}
        for p, a in zip(callee.ir.params, s.call.args):
            if isinstance(a, ir.ArrayArg):
                args[p.name] = local[a.array]
            elif isinstance(a, ir.StreamArg):
                args[p.name] = local[a.stream]
            else:
                args[p.name] = ("scalar", _eval(a, fn, local, top))
        base = prefix + callee.__name__
        counts[base] = counts.get(base, 0) + 1
        name = base if counts[base] == 1 else f"{base}_{counts[base]}"
        if callee.is_region:
            _expand(net, callee, args, top, name + ".", counts)
            continue
        proc = Process(name, callee, args, s.loc)
        for pname, (kind, v) in args.items():
            if kind == "stream":
                if callee.stream_dirs[pname] == "read":
                    net.fifos[v].reader = name
                elif callee.stream_dirs[pname] == "write":
                    net.fifos[v].writer = name
        net.processes.append(proc)


def _eval(e: ir.Expr, fn: ir.Function, env: dict[str, tuple[str, Any]], top: dict[str, Any]) -> Any:
    """The value of a scalar argument or a depth in a region whose parameters mean `env`.

    A scalar that is not a number (hardware: a port of the top, known only at run time) passes through a
    bare parameter; in any other expression it is a TypeError.
    """
    import numbers

    from hls.ir.interp import _Frame
    from hls.ir.walk import subexpressions

    if isinstance(e, ir.Var) and env.get(e.name, ("", None))[0] == "scalar":
        return env[e.name][1]
    args: dict[str, Any] = {}
    for p in fn.params:
        kind, v = env[p.name]
        if kind == "scalar" and not isinstance(v, numbers.Number):
            if any(isinstance(x, ir.Var) and x.name == p.name for x in subexpressions(e)):
                raise TypeError(f"`{p.name}` is known only at run time")
            v = 0
        args[p.name] = top[v] if kind == "array" else v if kind == "scalar" else None
    return _Frame(fn, args, {}, False).eval(e)


def min_depths(
    region: Kernel, *args: Any, backend: str = "verilator", slack: float = 0.01, **params: Any
) -> dict[str, int]:
    """The smallest depth of each FIFO of `region` (by name) at which a run on `backend` neither deadlocks nor
    takes more than `slack` (1%) more cycles than with unbounded FIFOs.

    "Unbounded": every FIFO doubled from its declared depth until doubling again changes nothing (no deadlock,
    the same cycles). Then each FIFO is binary-searched with the others held there, and the result is checked
    as a whole (FIFOs each enough alone may not be together: then each is deepened one step at a time). The
    python backend has no cycles: there only deadlock counts.
    """
    import numpy as np

    from hls.args import bind
    from hls.runtime import run

    if not region.is_region:
        raise TypeError(f"min_depths() takes a dataflow region; `{region.__name__}` declares no streams")
    bound = bind(region, args, params)
    values = dict(zip([p.name for p in region.ir.params], bound.values))
    declared = {n: f.depth for n, f in network(region, values).fifos.items() if f.depth is not None}

    names = [p.name for p in region.ir.params]
    dims: dict[str, Any] = dict(bound.dims)
    built: dict[str, Any] = {}  # the hardware build in use: its FIFO depths, and the design

    def cycles(depths: dict[str, int]) -> float | None:
        copies = [np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in bound.values]
        try:
            if backend not in ("myhdl", "verilator"):
                r = run(region, *copies, backend=backend, depths=depths, **dims)
                return 0.0 if r.cycles is None else float(r.cycles)
            # NOTE: one build with run-time FIFO limits serves every depth up to its own (a build per depth
            # would rebuild the Verilator model dozens of times); it is rebuilt twice as deep when outgrown
            if not built or any(d > built["depths"][n] for n, d in depths.items()):
                from hls.compiler import lower

                built["depths"] = {n: 2 * d for n, d in depths.items()}
                built["design"] = lower(region, depths=built["depths"], fifo_limits=True, **dims)
            simulate = getattr(built["design"], f"simulate_{backend}")
            _, c = simulate(dict(zip(names, copies)), limits=depths)
            return float(c)
        except DeadlockError:
            return None

    deep = {n: max(2, d) for n, d in declared.items()}
    base = cycles(deep)
    while True:
        wider = {n: 2 * d for n, d in deep.items()}
        c = cycles(wider)
        if base is not None and c == base:
            break
        deep, base = wider, c
        if max(deep.values(), default=0) > 1 << 16:
            raise RuntimeError(
                f"min_depths: `{region.__name__}` deadlocks or keeps speeding up with FIFOs of "
                f"{1 << 16} values; check that each process reads what its writer writes"
            )
    assert base is not None
    limit = base * (1 + slack)

    def ok(depths: dict[str, int]) -> bool:
        c = cycles(depths)
        return c is not None and c <= limit

    out: dict[str, int] = {}
    for n in deep:
        lo, hi = 1, deep[n]
        while lo < hi:
            mid = (lo + hi) // 2
            if ok({**deep, n: mid}):
                hi = mid
            else:
                lo = mid + 1
        out[n] = hi
    while not ok(out):  # each enough alone, not together: deepen all one step (at worst back to `deep`)
        out = {n: min(deep[n], d + 1) for n, d in out.items()}
    return out
