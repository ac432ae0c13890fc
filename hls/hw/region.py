"""A dataflow region in hardware: one FSM per process, one valid/ready FIFO per stream, started together.

`lower_region` lowers every process of the region's network (`hls.dataflow`) on its own (each a `Design`
whose stream parameters are valid/ready ports: data, valid, ready), then writes the region's top MyHDL
block: the process instances, a FIFO of the declared depth per stream (`fifo` below: first-word
fall-through, full when it holds `depth` values, a push and a pop per cycle), and the glue:

- `done` when every process is done;
- `mon_deadlock` when every unfinished process is blocked on a stream (its `mon_wait` names the stream):
  nothing can change any more, so the simulation stops there and reports a `DeadlockError`;
- `mon_<fifo>_count`, each FIFO's occupancy, which the simulation harness watches for the FIFO statistics
  (peak, cycles full, cycles empty).

Array arguments reach each process that uses them through ports of their own, named after the process
(`<process>_<bank>_addr0`); the harness gives every such bank the same array. A stream parameter of the
top region becomes the top's ports `s_<name>_data/valid/ready`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import numpy as np

from hls.dataflow import FifoStats, Network, network
from hls.errors import DeadlockError, KernelError
from hls.hw import streamports
from hls.hw.emit import port_range
from hls.hw.names import clean
from hls.lang import Kernel
from hls.types import ArrayType, StreamType

_FIFO_TEMPLATE = '''
@block
def {name}(clk, rst, din, in_valid, in_ready, dout, out_valid, out_ready, count, {limit}depth, lo, hi):
    """A FIFO of `depth` words: first-word fall-through, full at {full}, one push and one pop per cycle."""
    mem = [Signal(intbv(0, min=lo, max=hi)) for _ in range(depth)]
    head = Signal(intbv(0, min=0, max=max(2, depth)))
    tail = Signal(intbv(0, min=0, max=max(2, depth)))

    @always_comb
    def flags():
        in_ready.next = count < {full}
        out_valid.next = count > 0
        dout.next = mem[int(head)]

    @always(clk.posedge)
    def store():
        if in_valid and count < {full}:
            mem[int(tail)].next = din

    @always_seq(clk.posedge, reset=rst)
    def pointers():
        if in_valid and count < {full}:
            if tail == depth - 1:
                tail.next = 0
            else:
                tail.next = tail + 1
        if out_ready and count > 0:
            if head == depth - 1:
                head.next = 0
            else:
                head.next = head + 1
        if (in_valid and count < {full}) and not (out_ready and count > 0):
            count.next = count + 1
        elif (out_ready and count > 0) and not (in_valid and count < {full}):
            count.next = count - 1

    return flags, store, pointers
'''
# A FIFO full at its depth, and one full at a run-time `limit` (at most its depth): the search builds of min_depths
FIFO_SOURCE = _FIFO_TEMPLATE.format(name="fifo", limit="", full="depth")
LIMITED_FIFO_SOURCE = _FIFO_TEMPLATE.format(name="limited_fifo", limit="limit, ", full="limit")


class _Port:
    """A scalar parameter of the top region that is not bound at lower time: a port of the design."""

    def __init__(self, name: str) -> None:
        self.name = name


@dataclass
class ProcessDesign:
    """One process in hardware: its network entry, its design, its port prefix, and its ports' connections."""

    name: str  # the network's name (`double`, `inner.double_2`)
    prefix: str  # a Verilog-safe prefix of its bank ports
    design: Any  # hls.compiler.Design
    arrays: dict[str, str]  # its array parameter -> the top region's array
    scalars: dict[str, str]  # its scalar parameter -> the top region's scalar parameter (a port)
    streams: dict[str, str]  # its stream parameter -> the FIFO (or top port) it uses


def lower_region(
    kernel: Kernel,
    params: dict[str, Any],
    depths: dict[str, int] | None,
    options: dict[str, Any],
    fifo_limits: bool = False,
):  # -> RegionDesign (NOTE: lower() returns it as a Design)
    """Lower the region `kernel` with dims and scalar parameters `params`; returns a RegionDesign.

    fifo_limits: each FIFO also gets an input port `lim_<fifo>`, the depth at which it is full in a run (at most
    its depth): one build serves a search over depths (`simulate_*(..., limits=)`).
    """
    from hls.compiler import lower

    values: dict[str, Any] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for p in kernel.ir.params:
        if isinstance(p.type, ArrayType):
            missing = [d for d in p.type.dims if isinstance(d, str) and d not in params]
            if missing:
                raise KernelError(
                    f"region `{kernel.__name__}`: dim {missing[0]} of `{p.name}` is not bound",
                    p.loc,
                    f"pass it to lower(), e.g. lower({kernel.__name__}, {missing[0]}=16)",
                )
            shape = tuple(d if isinstance(d, int) else int(params[d]) for d in p.type.dims)
            shapes[p.name] = shape
            values[p.name] = np.zeros(shape, dtype=np.int8)
        elif not isinstance(p.type, StreamType):
            values[p.name] = params.get(p.name, _Port(p.name))
    try:
        net = network(kernel, values, depths)
    except TypeError as err:  # an expression of an unbound scalar parameter
        raise KernelError(
            f"region `{kernel.__name__}`: a process argument or a depth uses a scalar parameter not bound at "
            f"lower time ({err})",
            kernel.ir.loc,
            "pass such parameters straight to the processes, or bind them: lower(region, name=value)",
        ) from None
    procs: list[ProcessDesign] = []
    for proc in net.processes:
        bind: dict[str, Any] = {}
        arrays: dict[str, str] = {}
        scalars: dict[str, str] = {}
        streams: dict[str, str] = {}
        for p in proc.kernel.ir.params:
            kind, v = proc.args[p.name]
            if kind == "array":
                arrays[p.name] = v
                for axis, d in enumerate(cast(ArrayType, p.type).dims):
                    if isinstance(d, str):
                        bind[d] = shapes[v][axis]
            elif kind == "stream":
                streams[p.name] = v
            elif isinstance(v, _Port):
                scalars[p.name] = v.name
            else:
                bind[p.name] = int(v)
        writers = [a for a in arrays if a in proc.kernel.written_arrays]
        for other in procs:
            shared = set(arrays.values()) & set(other.arrays.values())
            written = {arrays[a] for a in writers} | {
                other.arrays[a] for a in other.arrays if a in other.design.kernel.written_arrays
            }
            if shared & written:
                raise KernelError(
                    f"array `{sorted(shared & written)[0]}` is used by processes `{other.name}` and `{proc.name}` "
                    "and written by one of them; in hardware each process has its own ports and no order",
                    proc.loc,
                    "let one process own the array, and pass values to the others through streams",
                )
        design = lower(proc.kernel, **options, **bind)
        procs.append(ProcessDesign(proc.name, clean(proc.name.replace(".", "_")), design, arrays, scalars, streams))
    return RegionDesign(kernel, dict(params), net, procs, fifo_limits)


class RegionDesign:
    """A lowered dataflow region: the top MyHDL block, its Verilog, and its simulation (MyHDL or Verilator)."""

    def __init__(
        self, kernel: Kernel, params: dict[str, Any], net: Network, procs: list[ProcessDesign], fifo_limits: bool
    ) -> None:
        self.kernel = kernel
        self.fifo_limits = fifo_limits
        self.params = params
        self.net = net
        self.procs = procs
        self.top = "k_" + clean(kernel.__name__)[:40]
        self.fifos = {n: f for n, f in net.fifos.items() if f.depth is not None}
        self.fifo_sig = {n: clean(n.replace(".", "_")) for n in net.fifos}
        self.myhdl_source = self._write()
        self._models: dict[bool, Any] = {}  # the Verilator models, plain and tracing, built on first use
        self.last_fifos: dict[str, FifoStats] | None = None  # the statistics of the last simulation

    # ---- ports ------------------------------------------------------------------------------------------------

    def scalar_ports(self) -> dict[str, Any]:
        """`p_<name>` -> the region's scalar parameter, for the parameters some process receives at run time."""
        params = {p.name: p for p in self.kernel.ir.params}
        return {f"p_{clean(top)}": params[top] for pd in self.procs for top in pd.scalars.values()}

    def ext_banks(self) -> list[tuple[ProcessDesign, Any]]:
        """(process, bank renamed with the process prefix) for every external bank of every process."""
        out = []
        for pd in self.procs:
            for b in pd.design.ext_banks():
                out.append((pd, dataclasses.replace(b, prefix=f"{pd.prefix}_{b.prefix}")))
        return out

    def stream_ports(self) -> dict[str, tuple[str, Any]]:
        """Top stream parameter -> ("read" when the region reads it, else "write", its element type)."""
        out = {}
        for name in self.net.ports:
            f = self.net.fifos[name]
            out[name] = ("read" if f.reader else "write", f.elem)
        return out

    def monitors(self) -> list[tuple[str, int]]:
        """(port, its value when full, or -1) watched by the harness: FIFO counts, process waits, deadlock."""
        out = [(f"mon_{self.fifo_sig[n]}_count", f.depth or 0) for n, f in self.fifos.items()]
        out += [(f"mon_{pd.prefix}_wait", -1) for pd in self.procs if pd.design.hw.stream_dirs()]
        return out + [("mon_deadlock", -1)]

    def signals(self) -> dict[str, Any]:
        from myhdl import ResetSignal, Signal, intbv

        sig: dict[str, Any] = {
            "clk": Signal(bool(0)),
            "rst": ResetSignal(0, active=1, isasync=False),
            "start": Signal(bool(0)),
            "done": Signal(bool(0)),
        }
        for name, p in self.scalar_ports().items():
            lo, hi = port_range(p.type)
            sig[name] = Signal(intbv(0, min=lo, max=hi))
        for pd in self.procs:
            for key, s in pd.design.signals().items():
                if _is_bank_port(key):
                    sig[f"{pd.prefix}_{key}"] = s
        for name, (_, elem) in self.stream_ports().items():
            lo, hi = port_range(elem)
            sig[f"{streamports.prefix(name)}_data"] = Signal(intbv(0, min=lo, max=hi))
            sig[f"{streamports.prefix(name)}_valid"] = Signal(bool(0))
            sig[f"{streamports.prefix(name)}_ready"] = Signal(bool(0))
        for name, f in self.fifos.items():
            sig[f"mon_{self.fifo_sig[name]}_count"] = Signal(intbv(0, min=0, max=(f.depth or 0) + 1))
            if self.fifo_limits:
                sig[f"lim_{self.fifo_sig[name]}"] = Signal(intbv(0, min=0, max=(f.depth or 0) + 1))
        for pd in self.procs:
            dirs = pd.design.hw.stream_dirs()
            if dirs:
                sig[f"mon_{pd.prefix}_wait"] = Signal(intbv(0, min=0, max=len(dirs) + 2))
        sig["mon_deadlock"] = Signal(bool(0))
        return sig

    # ---- the MyHDL source ---------------------------------------------------------------------------------------

    def _write(self) -> str:
        ports = list(self.signals())
        lines = [
            f'"""MyHDL dataflow region generated by attnhls from kernel `{self.kernel.__name__}`. Do not edit.',
            "",
            # NOTE: the process blocks are set as globals P0, P1, ... of this module, which is cached by its text:
            # their digests make the text differ wherever the processes do (the same region at another N)
            "Processes: "
            + ", ".join(f"{pd.name} ({pd.design.top} {_digest(pd.design.myhdl_source)})" for pd in self.procs)
            + ".",
            "FIFOs: " + ", ".join(f"{n} (depth {f.depth})" for n, f in self.fifos.items()) + '."""',
            "",
            "from myhdl import Signal, always, always_comb, always_seq, block, intbv",
            "",
            LIMITED_FIFO_SOURCE if self.fifo_limits else FIFO_SOURCE,
            "",
            "@block",
            f"def {self.top}({', '.join(ports)}):",
        ]
        body: list[str] = []
        insts: list[str] = []
        for name, f in self.fifos.items():
            s = self.fifo_sig[name]
            lo, hi = port_range(f.elem)
            for x in ("din", "dout"):
                body.append(f"f_{s}_{x} = Signal(intbv(0, min={lo}, max={hi}))")
            for x in ("in_valid", "in_ready", "out_valid", "out_ready"):
                body.append(f"f_{s}_{x} = Signal(bool(0))")
            block, limit = ("limited_fifo", f"lim_{s}, ") if self.fifo_limits else ("fifo", "")
            body.append(
                f"u_{s} = {block}(clk, rst, f_{s}_din, f_{s}_in_valid, f_{s}_in_ready, f_{s}_dout, f_{s}_out_valid, "
                f"f_{s}_out_ready, mon_{s}_count, {limit}{f.depth}, {lo}, {hi})"
            )
            insts.append(f"u_{s}")
        for k, pd in enumerate(self.procs):
            body.append(f"d_{k} = Signal(bool(0))")
            conn = ["clk=clk", "rst=rst", "start=start", f"done=d_{k}"]
            inner = pd.design.signals()
            dirs = pd.design.hw.stream_dirs()
            for key in inner:
                if key in ("clk", "rst", "start", "done"):
                    continue
                if key.startswith("p_"):
                    param = next(p for p in pd.design.hw.params if f"p_{clean(p.name)}" == key)
                    conn.append(f"{key}=p_{clean(pd.scalars[param.name])}")
                elif key == "mon_wait":
                    conn.append(f"mon_wait=mon_{pd.prefix}_wait")
                elif key.startswith("s_"):
                    sname = next(s for s in dirs if key.startswith(f"s_{clean(s)}_"))
                    part = key[len(f"s_{clean(sname)}_") :]
                    target = pd.streams[sname]
                    if target in self.net.ports:
                        conn.append(f"{key}=s_{clean(target)}_{part}")
                    else:
                        fs = self.fifo_sig[target]
                        side = {
                            "read": {"data": "dout", "valid": "out_valid", "ready": "out_ready"},
                            "write": {"data": "din", "valid": "in_valid", "ready": "in_ready"},
                        }[dirs[sname]]
                        conn.append(f"{key}=f_{fs}_{side[part]}")
                elif _is_bank_port(key):
                    conn.append(f"{key}={pd.prefix}_{key}")
            body.append(f"i_{k} = P{k}({', '.join(conn)})")
            insts.append(f"i_{k}")
        done = " and ".join(f"d_{k}" for k in range(len(self.procs))) or "True"
        blocked = " and ".join(
            f"(d_{k} or mon_{pd.prefix}_wait != 0)" if pd.design.hw.stream_dirs() else f"d_{k}"
            for k, pd in enumerate(self.procs)
        )
        body += [
            "",
            "@always_comb",
            "def glue():",
            f"    done.next = {done}",
            f"    mon_deadlock.next = (not ({done})) and {blocked}",
            "",
            f"return {', '.join(insts + ['glue'])}",
        ]
        lines += ["    " + b if b else "" for b in body]
        return "\n".join(lines) + "\n"

    @cached_property
    def block(self) -> Any:
        from hls.cache import load_source
        from hls.hw import myhdl_speed

        myhdl_speed.install()
        module = load_source(self.myhdl_source, "myhdl")
        for k, pd in enumerate(self.procs):
            setattr(module, f"P{k}", pd.design.block)
        return getattr(module, self.top)

    # ---- conversion and simulation ----------------------------------------------------------------------------

    def _convert(self, hdl: str) -> dict[str, str]:
        from hls.compiler import convert_block

        return convert_block(self.block, self.signals(), self.top, hdl)

    @cached_property
    def verilog(self) -> str:
        """The region in Verilog (MyHDL flattens the processes and FIFOs into one module)."""
        return self._convert("Verilog")[f"{self.top}.v"]

    @cached_property
    def vhdl(self) -> str:
        return self._convert("VHDL")[f"{self.top}.vhd"]

    @cached_property
    def report(self) -> Any:
        """Each process's report, and the FIFOs."""
        return RegionReport(
            self.kernel.__name__,
            self.params,
            [(pd.name, pd.design.report) for pd in self.procs],
            {n: f.depth for n, f in self.fifos.items()},
        )

    def synthesize(self) -> dict[str, Any]:
        """Yosys (synth_xilinx) figures of the whole region: LUT, FF, DSP, BRAM."""
        from hls.tools import yosys

        result = yosys.synth_xilinx(self.verilog, self.top)
        self.report.synthesis = result
        return result

    def depth_limits(self, limits: dict[str, int] | None) -> dict[str, int]:
        """Each FIFO's depth in a run: its depth, or (a build with fifo_limits) the limit given, 1..its depth."""
        limits = dict(limits or {})
        if limits and not self.fifo_limits:
            raise ValueError(f"{self.top}: limits= needs a build with fifo_limits=True")
        unknown = set(limits) - set(self.fifos)
        if unknown:
            raise ValueError(f"{self.top}: no FIFO {sorted(unknown)}; its FIFOs are {list(self.fifos)}")
        out = {}
        for n, f in self.fifos.items():
            out[n] = limits.get(n, f.depth or 0)
            if not 1 <= out[n] <= (f.depth or 0):
                raise ValueError(f"{self.top}: FIFO `{n}` holds {f.depth} values; its limit must be 1..{f.depth}")
        return out

    def arguments(
        self, values: dict[str, Any], limits: dict[str, int] | None = None
    ) -> tuple[dict[str, int], dict[str, np.ndarray]]:
        """Scalar port values (the FIFO limits too, in a build with them), every process's bank images (the same
        array for every process using it) and the stream ports' arrays (hls/hw/streamports.py)."""
        scalars = {name: int(values[p.name]) for name, p in self.scalar_ports().items()}
        if self.fifo_limits:
            scalars.update({f"lim_{self.fifo_sig[n]}": d for n, d in self.depth_limits(limits).items()})
        images: dict[str, np.ndarray] = streamports.images(self.stream_ports(), values)
        for pd in self.procs:
            for m in pd.design.memories.values():
                if m.kind == "ext" and (m.reads or m.writes):
                    for key, img in m.split(np.asarray(values[pd.arrays[m.name]])).items():
                        images[f"{pd.prefix}_{key}"] = img
        return scalars, images

    def results(self, images: dict[str, np.ndarray], values: dict[str, Any], counts: dict[str, int]) -> None:
        """Copy the written banks and output stream ports (`counts`: values each port gave) to the arguments."""
        streamports.write_back(self.kernel.__name__, self.stream_ports(), images, counts, values)
        for pd in self.procs:
            for m in pd.design.memories.values():
                if m.kind == "ext" and m.writes:
                    mine = {k[len(pd.prefix) + 1 :]: v for k, v in images.items() if k.startswith(pd.prefix + "_")}
                    m.join(mine, values[pd.arrays[m.name]])

    def interface(self) -> Any:
        from hls.hw.dfg import int_type
        from hls.tools.interface import Bank, Interface, Monitor, Port

        scalars = []
        for name, p in self.scalar_ports().items():
            it = int_type(p.type)
            scalars.append(Port(name, it.width, it.signed))
        sig = self.signals()
        if self.fifo_limits:
            scalars += [Port(f"lim_{self.fifo_sig[n]}", len(sig[f"lim_{self.fifo_sig[n]}"]), False) for n in self.fifos]
        banks = []
        for pd, b in self.ext_banks():
            mem, it = pd.design.memories[b.array], int_type(b.elem)
            banks.append(Bank(b.prefix, b.depth, it.width, it.signed, b.ports, mem.reads, mem.writes))
        monitors = tuple(Monitor(Port(n, max(1, len(sig[n])), False), full) for n, full in self.monitors())
        streams = streamports.interface_ports(self.stream_ports())
        return Interface(self.top, tuple(scalars), None, tuple(banks), monitors, "mon_deadlock", streams)

    def _stats(
        self,
        watched: dict[str, tuple[int, int, int, int]],
        cycles: int,
        halted: bool,
        backend: str,
        limits: dict[str, int],
    ) -> None:
        """FIFO statistics from the harness's monitors (at each FIFO's depth `limits` in this run); DeadlockError
        when the run halted on a deadlock."""
        self.last_fifos = {}
        for n, f in self.fifos.items():
            peak, empty, full, _ = watched[f"mon_{self.fifo_sig[n]}_count"]
            # NOTE: the harness counts the cycles at the built depth; below it, the cycles full are not known
            self.last_fifos[n] = FifoStats(limits[n], peak, full if limits[n] == f.depth else None, empty)
        if not halted:
            return
        blocked = []
        for pd in self.procs:
            dirs = list(pd.design.hw.stream_dirs().items())
            if not dirs:
                continue
            code = watched[f"mon_{pd.prefix}_wait"][3]
            if code:
                sname, d = dirs[code - 1]
                blocked.append((pd.name, d, pd.streams[sname]))
        full_fifos = [n for n in self.fifos if watched[f"mon_{self.fifo_sig[n]}_count"][3] == limits[n]]
        raise DeadlockError(self.kernel.__name__, backend, blocked, full_fifos, cycles)

    def simulate_myhdl(
        self,
        values: dict[str, Any],
        max_cycles: int = 10_000_000,
        vcd: Any = None,
        limits: dict[str, int] | None = None,
    ) -> tuple[Any, int]:
        """Simulate with MyHDL on the arguments (by parameter name): (None, cycles); `limits`: FIFO depths in this
        run (a build with fifo_limits)."""
        from hls.hw.sim import run_myhdl

        scalars, images = self.arguments(values, limits)
        watched: dict[str, tuple[int, int, int, int]] = {}
        out_images, _, cycles = run_myhdl(
            self, scalars, images, max_cycles, vcd, watch=(self.monitors(), watched), halt="mon_deadlock"
        )
        halted = bool(watched["mon_deadlock"][3])
        self._stats(watched, cycles, halted, "myhdl", self.depth_limits(limits))
        self.results(out_images, values, streamports.counts(self.stream_ports(), out_images))
        return None, cycles

    def simulate_verilator(
        self,
        values: dict[str, Any],
        max_cycles: int = 10_000_000,
        vcd: Any = None,
        limits: dict[str, int] | None = None,
    ) -> tuple[Any, int]:
        """Simulate the Verilog with Verilator, as simulate_myhdl does."""
        from hls.tools import verilator

        trace = vcd is not None
        if self._models.get(trace) is None:  # a tracing build is built and cached apart
            self._models[trace] = verilator.build(self.verilog, self.interface(), trace=trace)
        scalars, images = self.arguments(values, limits)
        result = self._models[trace].run(scalars, images, max_cycles, vcd=vcd)
        self._stats(result.monitors, result.cycles, result.halted, "verilator", self.depth_limits(limits))
        self.results(result.memories, values, result.streams)
        return None, result.cycles

    def elaborated(self) -> tuple[dict[str, Any], Any]:
        sig = self.signals()
        return sig, self.block(**sig)

    def memory_banks(self) -> list[tuple[Any, Any]]:
        """(renamed bank, memory) pairs the MyHDL bench models."""
        return [(b, pd.design.memories[b.array]) for pd, b in self.ext_banks()]


@dataclass
class RegionReport:
    kernel: str
    params: dict[str, Any]
    processes: list[tuple[str, Any]]
    fifos: dict[str, int | None]
    synthesis: dict[str, Any] | None = None

    def __str__(self) -> str:
        lines = [f"dataflow region {self.kernel} {self.params}"]
        lines += [f"  FIFO {n}: depth {d}" for n, d in self.fifos.items()]
        for name, rep in self.processes:
            lines.append(f"  process {name}:")
            lines += ["    " + line for line in str(rep).splitlines()]
        return "\n".join(lines)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _is_bank_port(key: str) -> bool:
    """Whether a process's port is one of its memory banks' (not clk/rst/start/done, a scalar, a stream, mon_)."""
    return key not in ("clk", "rst", "start", "done", "ret", "mon_wait") and not key.startswith(("p_", "s_"))
