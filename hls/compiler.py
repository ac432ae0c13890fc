"""`hls.lower(kernel, **params)`: a kernel to a scheduled MyHDL design, Verilog and VHDL.

    design = lower(qk_dense, M=8, N=8, D=16)
    print(design.report)          # latency, II per pipelined loop, operators, registers, memories
    design.verilog, design.vhdl   # converted by MyHDL
    design.myhdl_source           # the generated @block (readable)

The compiler, in order (`lower` below): the IR passes (hls/passes: inline, bind, fold, unroll, if-convert,
narrow, strength-reduce), memory mapping (hls/hw/memory.py), the hardware stages (hls/hw/fsm.py: registers,
dataflow graphs (dfg.py) scheduled (schedule.py) into blocks and pipelines, the FSM, port trimming), and the MyHDL
emitter (hls/hw/emit.py). With ATTNHLS_VERIFY_IR set, the IR verifier runs between the passes and the schedule verifier
(hls/hw/verify.py) between the hardware stages. `Design` holds the result and simulates it (MyHDL, or Verilator
through hls/tools).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hls import ir
from hls.errors import DeadlockError, KernelError
from hls.hw import streamports
from hls.hw.dfg import Timing, int_type
from hls.hw.emit import Emitter, clean, port_range
from hls.hw.fsm import FlattenNote, Hardware, PipelineReport
from hls.hw.latency import Lat
from hls.hw.memory import Memory, PartitionSpec, map_memories
from hls.hw.ops import ARITHMETIC, OpKind
from hls.hw.schedule import Limits
from hls.hw.verify import verify_schedule
from hls.lang import Kernel
from hls.types import ArrayType, BoolType, StreamType, decode_value

DEFAULT_CLOCK_NS = 5.0


def lower(
    kernel: Kernel,
    *,
    clock_ns: float | None = None,
    multipliers: int | None = None,
    partition: dict[str, PartitionSpec] | None = None,
    ports: dict[str, int] | None = None,
    strict_ii: bool = False,
    depths: dict[str, int] | None = None,
    fifo_limits: bool = False,
    **params: int,
) -> Design:
    """Compile `kernel` to hardware with its dims (and optionally scalar parameters) bound by `params`.

    clock_ns: the clock period the scheduler chains operators under (default: the kernel's
        `@kernel(clock_ns=...)`, else DEFAULT_CLOCK_NS; a region's processes take the region's).
    multipliers: at most this many multipliers per cycle (None: as many as the schedule wants).
    partition: {array: axis or None} overrides the automatic partitioning of arrays into banks; an entry may
        also be (axis, "cyclic" or "block", banks) or a list of axes and such tuples (hls/hw/memory.py).
    ports: {array: 1..4} ports per bank (default 2, true dual-port RAM).
    strict_ii: a pipelined loop that misses its `ii` is an error instead of a note in the report.
    depths: {FIFO name: depth} overrides the declared depths of a dataflow region's streams.
    fifo_limits: a region's FIFOs also get a run-time limit (`simulate_*(..., limits={name: depth})`, at most
        the built depth), so that one build serves a search over depths (hls.min_depths).

    A dataflow region (a kernel that declares streams and calls its processes) lowers to a
    `hls.hw.region.RegionDesign`: one FSM per process, one FIFO per stream.
    """
    if not isinstance(kernel, Kernel):
        raise TypeError(f"lower() takes a @kernel function, got {kernel!r}")
    if clock_ns is None:
        clock_ns = kernel.clock_ns or DEFAULT_CLOCK_NS
    if kernel.is_region:
        from hls.hw.region import lower_region

        options = {"clock_ns": clock_ns, "multipliers": multipliers, "strict_ii": strict_ii}
        try:
            return lower_region(kernel, dict(params), depths, options, fifo_limits)
        except KernelError as err:
            raise err.with_traceback(None) from None
    if depths is not None:
        raise TypeError(f"lower(): depths= is for dataflow regions; `{kernel.__name__}` declares no streams")
    verify = bool(os.environ.get("ATTNHLS_VERIFY_IR"))
    try:
        fn = _passes(kernel, params, verify)  # inline, bind, fold, unroll, if-convert, narrow, strength-reduce
        memories = map_memories(fn, partition, ports)  # arrays -> RAM banks and ports, tables -> ROMs
        ports = {b.prefix: b.ports for m in memories.values() for b in m.banks}
        ports.update({f"stream:{p.name}": 1 for p in fn.params if isinstance(p.type, StreamType)})  # one op a cycle
        limits = Limits(ports, multipliers)
        hw = Hardware(fn, memories, Timing(clock_ns), limits, strict_ii)  # registers of parameters and locals
        hw.declare_loop_vars()  # registers of loop counters (one step past the end)
        body = hw.expand_allocs(fn.body)  # local arrays zero-filled by pipelined store loops
        hw.build_fsm(body)  # blocks list-scheduled, pipelines modulo-scheduled: states
        _verify(hw, "build-fsm", verify)  # dependences, chaining, resources, II (ATTNHLS_VERIFY_IR)
        hw.trim_ports()  # each bank keeps only the ports its schedule uses
        _verify(hw, "trim-ports", verify)  # ports again, against the trimmed banks
        top = "k_" + clean(kernel.__name__)[:40]
        emitter = Emitter(hw, top)
        source = emitter.emit()  # the MyHDL @block source
    except KernelError as err:
        raise err.with_traceback(None) from None
    return Design(kernel, dict(params), fn, hw, top, source, emitter.register_list())


def _passes(kernel: Kernel, params: dict[str, int], verify: bool) -> ir.Function:
    from hls import passes

    dump = os.environ.get("ATTNHLS_DUMP_IR")
    return passes.run_all(kernel, params, verify=verify, dump=dump)


def _verify(hw: Hardware, stage: str, on: bool) -> None:
    """Check the schedule after hardware stage `stage` when verification is on (ScheduleError: a compiler bug)."""
    if on:
        verify_schedule(hw, stage)


@dataclass
class MemoryReport:
    name: str
    kind: str
    banks: int
    depth: int
    width: int
    ports: int

    @property
    def bits(self) -> int:
        return self.banks * self.depth * self.width


@dataclass
class Report:
    """What `lower` built: latency, pipelines, operators, registers, memories (and Yosys figures on demand)."""

    kernel: str
    params: dict[str, int]
    clock_ns: float
    states: int
    latency: Lat
    pipelines: list[PipelineReport]
    not_pipelined: list[str]
    operators: Counter
    register_bits: int
    registers: int
    memories: list[MemoryReport]
    synthesis: dict[str, Any] | None = field(default=None)
    flattening: list[FlattenNote] = field(default_factory=list)  # each loop around a pipelined loop, and why
    timing: Any = field(default=None)  # hls.timing.TimingReport, when Design.timing() ran

    def __str__(self) -> str:
        bound = ", ".join(f"{k}={v}" for k, v in self.params.items())
        lines = [
            f"design {self.kernel}({bound}) at {self.clock_ns} ns clock: {self.states} states",
            f"  latency: {self.latency}",
        ]
        for p in self.pipelines:
            flat = f" (flattened with {', '.join(p.flattened)})" if p.flattened else ""
            miss = f"; {p.reason}" if p.reason else ""
            lines.append(
                f"  pipeline line {p.line} `{p.var}`{flat}: II={p.ii} (asked {p.ii_asked}), depth {p.depth}{miss}"
            )
        lines += [f"  {n}" for n in self.not_pipelined]
        for n in self.flattening:
            lines.append(f"  loop line {n.line} `{n.var}`: {'flattened' if n.flattened else 'not flattened'}, {n.why}")
        ops = ", ".join(f"{k} {v}" for k, v in sorted(self.operators.items()))
        lines.append(f"  operators: {ops}")
        lines.append(f"  registers: {self.registers} ({self.register_bits} bits)")
        for m in self.memories:
            lines.append(
                f"  memory {m.name}: {m.kind}, {m.banks} bank(s) x {m.depth} x {m.width} bits, {m.ports} port(s)"
            )
        if self.synthesis:
            s = self.synthesis
            lines.append(f"  yosys synth_xilinx: LUT {s['LUT']}, FF {s['FF']}, DSP {s['DSP']}, BRAM {s['BRAM']}")
        if self.timing is not None:
            lines += ["  " + line for line in str(self.timing).split("\n")]
        return "\n".join(lines)


class Design:
    """A lowered kernel: MyHDL source, Verilog, VHDL, report, and simulation."""

    def __init__(
        self,
        kernel: Kernel,
        params: dict[str, int],
        fn: ir.Function,
        hw: Hardware,
        top: str,
        source: str,
        registers: list[tuple[str, int]],
    ):
        self.registers = registers  # (name, bits) of every register
        self.kernel = kernel
        self.params = params
        self.ir = fn
        self.hw = hw
        self.top = top
        self.myhdl_source = source
        self.memories: dict[str, Memory] = hw.memories
        self._elaborated: tuple[dict[str, Any], Any] | None = None  # MyHDL signals and instance, made once
        self._model: Any = None  # the Verilator model, built on first use (or in a batch)
        self._traced_model: Any = None  # the tracing Verilator model, built when a waveform is first asked

    @cached_property
    def block(self) -> Any:
        """The generated MyHDL @block function."""
        from hls.cache import load_source
        from hls.hw import myhdl_speed

        myhdl_speed.install()
        return getattr(load_source(self.myhdl_source, "myhdl"), self.top)

    @cached_property
    def report(self) -> Report:
        """What was built: states, latency, pipelines, operator counts, registers, memories."""
        hw = self.hw
        ops: Counter[str] = Counter()
        for g in hw.graphs():
            for o in g.ops:
                if o.kind in ARITHMETIC:
                    ops[o.binop.word + ("_const" if o.kind != OpKind.BIN else "")] += 1
                elif o.kind in _COUNTED:
                    ops[o.kind.value] += 1
        mems = [
            MemoryReport(m.name, m.kind, len(m.banks), m.banks[0].depth, int_type(m.elem).width, m.ports)
            for m in hw.memories.values()
        ]
        return Report(
            self.kernel.__name__,
            self.params,
            hw.timing.clock_ns,
            len(hw.states),
            hw.latency,
            hw.reports,
            hw.not_pipelined,
            ops,
            sum(b for _, b in self.registers),
            len(self.registers),
            mems,
            flattening=list(hw.flattening),
        )

    # ---- conversion -----------------------------------------------------------------------------------------

    def signals(self) -> dict[str, Any]:
        """Fresh MyHDL signals for every port of the top block."""
        from myhdl import ResetSignal, Signal, intbv

        sig: dict[str, Any] = {
            "clk": Signal(bool(0)),
            "rst": ResetSignal(0, active=1, isasync=False),
            "start": Signal(bool(0)),
            "done": Signal(bool(0)),
        }
        for p in self.hw.params:
            assert not isinstance(p.type, ArrayType | StreamType)  # Hardware.params: only the scalar parameters
            lo, hi = port_range(p.type)
            sig[f"p_{clean(p.name)}"] = Signal(intbv(0, min=lo, max=hi))
        if self.hw.fn.ret is not None:
            lo, hi = port_range(self.hw.fn.ret)
            sig["ret"] = Signal(intbv(0, min=lo, max=hi))
        for bank in self.ext_banks():
            mem = self.memories[bank.array]
            lo, hi = port_range(bank.elem)
            for port in range(bank.ports):
                sig[f"{bank.prefix}_addr{port}"] = Signal(intbv(0, min=0, max=1 << bank.addr_width))
                if mem.reads:
                    sig[f"{bank.prefix}_rdata{port}"] = Signal(intbv(0, min=lo, max=hi))
                if mem.writes:
                    sig[f"{bank.prefix}_wdata{port}"] = Signal(intbv(0, min=lo, max=hi))
                    sig[f"{bank.prefix}_we{port}"] = Signal(bool(0))
        dirs = self.hw.stream_dirs()
        for s in dirs:
            lo, hi = port_range(self.hw.streams[s].elem)
            sig[f"s_{clean(s)}_data"] = Signal(intbv(0, min=lo, max=hi))
            sig[f"s_{clean(s)}_valid"] = Signal(bool(0))
            sig[f"s_{clean(s)}_ready"] = Signal(bool(0))
        if dirs:
            sig["mon_wait"] = Signal(intbv(0, min=0, max=len(dirs) + 2))
        return sig

    def elaborated(self) -> tuple[dict[str, Any], Any]:
        """The signals and the elaborated MyHDL instance, made once and reused by every simulation.

        Each run resets the design and reloads its inputs; internal RAMs are zero-filled by the design
        itself where the kernel declares them, and signals return to their initial values when a
        simulation ends.
        """
        if self._elaborated is None:
            sig = self.signals()
            self._elaborated = (sig, self.block(**sig))
        return self._elaborated

    def memory_banks(self) -> list[tuple[Any, Memory]]:
        """(bank, its memory) for every external bank: what the MyHDL bench models."""
        return [(b, self.memories[b.array]) for b in self.ext_banks()]

    def ext_banks(self) -> list:
        """The banks of the array arguments the design touches (an unused array gets no ports)."""
        return [b for m in self.memories.values() if m.kind == "ext" and (m.reads or m.writes) for b in m.banks]

    def _convert(self, hdl: str) -> dict[str, str]:
        return convert_block(self.block, self.signals(), self.top, hdl)

    @cached_property
    def verilog(self) -> str:
        """The design in Verilog (MyHDL's converter), each datapath assignment commented with its source line."""
        return _line_comments(self._convert("Verilog")[f"{self.top}.v"], self.myhdl_source)

    @cached_property
    def _vhdl_files(self) -> dict[str, str]:
        return self._convert("VHDL")

    @property
    def vhdl(self) -> str:
        """The design in VHDL (MyHDL's converter; it uses MyHDL's package, `vhdl_packages`)."""
        return self._vhdl_files[f"{self.top}.vhd"]

    @property
    def vhdl_packages(self) -> dict[str, str]:
        """The VHDL packages the design uses, to analyze first (name -> text): MyHDL's `pck_myhdl_<version>`."""
        return {name.removesuffix(".vhd"): text for name, text in self._vhdl_files.items() if name != f"{self.top}.vhd"}

    def save(self, path: str | os.PathLike[str], force: bool = False, example: Any = None, seed: int = 0) -> list[Path]:
        """Write the design's files into the folder `path` (made if missing); return their paths, as written.

        `<top>.py` (the MyHDL block), `<top>.v`, the VHDL package the VHDL uses (`pck_myhdl_<version>.vhd`) and
        `<top>.vhd` (`ghdl -a` takes the .vhd files in the order returned), `tb_<top>.v` (a self-checking testbench
        of one example: hls/testbench.py), `report.json` and `report.html` (hls/report_html.py; with Yosys's
        figures when `synthesize()` ran first).

        example: the testbench's inputs (a tuple, or a dict by parameter name); by default one is drawn with `seed`.
        When the python reference runs on no example, no testbench is written and a NoExampleWarning says why.
        Raises FileExistsError when `path` holds files, unless `force` (then the design's files are overwritten and
        the others left alone), and ValueError, before writing anything, when a file would land outside `path`
        (a name that is absolute or holds `..` or a folder, or a symbolic link that points outside).
        """
        import json
        import warnings

        from hls import report_html, testbench

        folder = Path(path)
        _inside(folder, self.top)  # every file name is built on it: check it before MyHDL writes anything
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{folder} is not a folder")
        if folder.is_dir() and any(folder.iterdir()) and not force:
            raise FileExistsError(f"{folder} is not empty: pass force=True (attnhls lower --force) to overwrite")
        files = {f"{self.top}.py": self.myhdl_source, f"{self.top}.v": self.verilog}
        files.update({f"{name}.vhd": text for name, text in self.vhdl_packages.items()})
        files[f"{self.top}.vhd"] = self.vhdl
        tb = f"tb_{self.top}"
        try:
            ex = testbench.draw_example(self, seed) if example is None else testbench.example_for(self, example)
        except testbench.NoExample as err:
            warnings.warn(testbench.NoExampleWarning(f"{self.top}: no testbench: {err}"), stacklevel=2)
            bench: dict[str, Any] = {"file": None, "why": str(err)}
        else:
            files[f"{tb}.v"] = testbench.verilog_testbench(self, ex)
            bench = {
                "file": f"{tb}.v",
                "source": ex.source,
                "max_cycles": testbench.max_cycles_of(self),
                "run": f"verilator --binary -Wno-fatal --top-module {tb} {tb}.v {self.top}.v && obj_dir/V{tb}",
            }
        data = report_html.facts(self)
        data["testbench"] = bench
        data["files"] = [*files, "report.json", "report.html"]
        files["report.json"] = json.dumps(data, indent=1) + "\n"
        files["report.html"] = report_html.render(data)
        targets = [_inside(folder, name) for name in files]  # all checked before the first is written
        folder.mkdir(parents=True, exist_ok=True)
        for target, text in zip(targets, files.values()):
            target.write_text(text)
        return targets

    def synthesize(self) -> dict[str, Any]:
        """Yosys `synth_xilinx` figures (LUT, FF, DSP, BRAM), also stored in `report.synthesis`."""
        from hls.tools import yosys

        result = yosys.synth_xilinx(self.verilog, self.top)
        self.report.synthesis = result
        return result

    def timing(self, device: str = "LFE5U-85F", package: str = "CABGA381") -> Any:
        """Place and route on an ECP5 (Yosys synth_ecp5, nextpnr-ecp5, out of context; cached): a
        `hls.timing.TimingReport` of Fmax against `clock_ns`, the critical path, placed LUT/FF/DSP/BRAM; also
        stored in `report.timing`."""
        from hls import timing
        from hls.tools import nextpnr

        summary = nextpnr.place_and_route(self.verilog, self.top, self.hw.timing.clock_ns, device, package)
        names = [name for name, _ in self.registers]
        result = timing.analyze(summary, self.kernel.__name__, self.hw.timing.clock_ns, self.verilog, names)
        self.report.timing = result
        return result

    # ---- simulation -----------------------------------------------------------------------------------------

    def arguments(self, values: dict[str, Any]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
        """Scalar port values and external bank images for the kernel's arguments (by parameter name)."""
        scalars = {}
        for p in self.hw.params:
            v = values[p.name]
            scalars[f"p_{clean(p.name)}"] = int(bool(v)) if isinstance(p.type, BoolType) else int(v)
        images: dict[str, np.ndarray] = streamports.images(self.stream_ports(), values)
        for m in self.memories.values():
            if m.kind == "ext" and (m.reads or m.writes):
                images.update(m.split(np.asarray(values[m.name])))
        return scalars, images

    def stream_ports(self) -> dict[str, tuple[str, Any]]:
        """Stream parameter -> ("read" or "write", its element type): valid/ready ports of the design."""
        return {name: (d, self.hw.streams[name].elem) for name, d in self.hw.stream_dirs().items()}

    def results(self, images: dict[str, np.ndarray], values: dict[str, Any], counts: dict[str, int]) -> None:
        """Copy the final bank images and what the output stream ports gave (`counts` values each) back into the
        written array arguments (in place)."""
        streamports.write_back(self.kernel.__name__, self.stream_ports(), images, counts, values)
        for m in self.memories.values():
            if m.kind == "ext" and m.writes:
                out = values[m.name]
                m.join(images, out)

    def interface(self) -> Any:
        """The port-level interface the Verilator harness drives (hls.tools.interface)."""
        from hls.tools.interface import Bank, Interface, Monitor, Port

        def port(name: str, t: Any) -> Port:
            it = int_type(t)
            return Port(name, it.width, it.signed)

        scalars = tuple(port(f"p_{clean(p.name)}", p.type) for p in self.hw.params)
        ret = port("ret", self.hw.fn.ret) if self.hw.fn.ret is not None else None
        banks = []
        for b in self.ext_banks():
            mem, it = self.memories[b.array], int_type(b.elem)
            banks.append(Bank(b.prefix, b.depth, it.width, it.signed, b.ports, mem.reads, mem.writes))
        streams = streamports.interface_ports(self.stream_ports())
        if not streams:
            return Interface(self.top, scalars, ret, tuple(banks))
        # NOTE: the harness feeds what the design reads and takes all it writes, so a design with stream ports
        # that waits for one can never go on: the wait monitor halts the run (DeadlockError)
        wait = Monitor(Port("mon_wait", max(1, len(self.signals()["mon_wait"])), False))
        return Interface(self.top, scalars, ret, tuple(banks), (wait,), "mon_wait", streams)

    @staticmethod
    def build_verilator_many(designs: list[Design]) -> None:
        """Build the Verilator models of many designs in one batch (cached by content hash)."""
        from hls.tools import verilator

        todo = [d for d in designs if d._model is None]
        models = verilator.build_many([(d.verilog, d.interface()) for d in todo])
        for d, m in zip(todo, models):
            d._model = m

    def simulate_verilator(
        self, values: dict[str, Any], max_cycles: int = 10_000_000, vcd: str | os.PathLike[str] | None = None
    ) -> tuple[Any, int]:
        """Run the Verilog with Verilator on the arguments (by parameter name); returns (return value, cycles).

        vcd: also write the run's waveform there (from a tracing build of the model, built and cached apart).
        """
        if vcd is not None:
            if self._traced_model is None:
                from hls.tools import verilator

                self._traced_model = verilator.build(self.verilog, self.interface(), trace=True)
            model = self._traced_model
        else:
            if self._model is None:
                Design.build_verilator_many([self])
            model = self._model
        scalars, images = self.arguments(values)
        result = model.run(scalars, images, max_cycles, vcd=vcd)
        self._deadlock(result.monitors.get("mon_wait", (0, 0, 0, 0))[3], result.cycles, "verilator")
        self.results(result.memories, values, result.streams)
        return decode_value(result.ret, self.hw.fn.ret), result.cycles

    def simulate_myhdl(
        self, values: dict[str, Any], max_cycles: int = 10_000_000, vcd: str | os.PathLike[str] | None = None
    ) -> tuple[Any, int]:
        """Run the MyHDL simulation on the arguments (by parameter name); returns (return value, cycles).

        vcd: also write the run's waveform there (MyHDL's traceSignals of the top block).
        """
        from hls.hw.sim import run_myhdl

        scalars, images = self.arguments(values)
        watched: dict[str, tuple[int, int, int, int]] = {}
        monitors = [("mon_wait", -1)] if self.stream_ports() else []
        out_images, ret, cycles = run_myhdl(
            self, scalars, images, max_cycles, vcd, watch=(monitors, watched), halt="mon_wait" if monitors else None
        )
        self._deadlock(watched.get("mon_wait", (0, 0, 0, 0))[3], cycles, "myhdl")
        self.results(out_images, values, streamports.counts(self.stream_ports(), out_images))
        return decode_value(ret, self.hw.fn.ret), cycles

    def _deadlock(self, wait: int, cycles: int, backend: str) -> None:
        """DeadlockError when the run stopped with the design waiting on stream port number `wait` (1-based)."""
        if wait:
            name, direction = list(self.hw.stream_dirs().items())[wait - 1]
            raise DeadlockError(self.kernel.__name__, backend, [(self.kernel.__name__, direction, name)], [], cycles)


_COUNTED = frozenset(
    {OpKind.CMP, OpKind.MIN, OpKind.MAX, OpKind.ABS, OpKind.NEG, OpKind.SEL, OpKind.LOAD, OpKind.STORE}
)  # the other kinds the report counts (by name)


def convert_block(block: Any, signals: dict[str, Any], top: str, hdl: str) -> dict[str, str]:
    """Every file MyHDL's conversion of `block` to `hdl` writes (name -> text): `<top>.v`, or `<top>.vhd` and the
    support package `pck_myhdl_<version>.vhd` it uses; without the lines that name the time or the folder."""
    import warnings

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inst = block(**signals)
        options = {"testbench": False} if hdl == "Verilog" else {}
        inst.convert(hdl=hdl, path=tmp, name=top, **options)
        texts = {p.name: p.read_text() for p in sorted(Path(tmp).iterdir()) if p.suffix in (".v", ".vhd")}
    drop = ("// Date:", "-- Date:", "// File:", "-- File:")  # the time and the temporary folder vary
    return {
        name: _canonical("\n".join(line for line in text.splitlines() if not line.startswith(drop)) + "\n")
        for name, text in texts.items()
    }


def _inside(folder: Path, name: str) -> Path:
    """`folder / name`, or ValueError when writing it would leave `folder`."""
    why = None
    if not name or os.path.isabs(name):
        why = "is not a relative file name"
    elif ".." in re.split(r"[\\/]", name):
        why = "climbs out with `..`"
    elif "/" in name or "\\" in name or "\0" in name or name == ".":
        why = "is not a plain file name"
    if why is not None:
        raise ValueError(f"refusing to write {name!r} into {folder}: the name {why}")
    target = folder / name
    if target.is_symlink() and not target.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"refusing to write {target}: it is a symbolic link to {target.resolve()}, outside {folder}")
    return target


_MYHDL_ASSIGN = re.compile(r"^\s*(\w+)(?:\.next|\[[^\]]*\])? = .*?(?:  # (\S+(?: \d+)?))?$")
_VERILOG_ASSIGN = re.compile(r"^\s*(\w+)(?:\[[^\]]*\])? = .*;$")


def _line_comments(verilog: str, myhdl: str) -> str:
    """Copy the `# line N` comments of the MyHDL datapath onto the Verilog assignments they became (`// line N`).

    MyHDL converts the datapath statement by statement, in order, and drops comments: the k-th assignment to a
    name in the Verilog datapath is the k-th in the MyHDL one. A name assigned a different number of times in
    the two (never seen) is left uncommented rather than guessed.
    """
    py = myhdl.split("\n")
    start = next((i for i, line in enumerate(py) if line.strip() == "def datapath():"), None)
    if start is None:
        return verilog
    wanted: dict[str, list[str | None]] = {}
    for line in py[start + 1 :]:
        if not line.strip():
            break
        m = _MYHDL_ASSIGN.match(line)
        if m:
            wanted.setdefault(m.group(1), []).append(m.group(2))
    lines = verilog.split("\n")
    first = next(
        (i for i, line in enumerate(lines) if line.startswith("always") and line.endswith("begin: datapath")), None
    )
    if first is None:
        return verilog
    last = next((i for i in range(first, len(lines)) if lines[i] == "end"), len(lines))
    found: dict[str, list[int]] = {}
    for i in range(first + 1, last):
        m = _VERILOG_ASSIGN.match(lines[i])
        if m:
            found.setdefault(m.group(1), []).append(i)
    for name, at in found.items():
        notes = wanted.get(name, [])
        if len(notes) == len(at):
            for i, note in zip(at, notes):
                if note is not None:
                    lines[i] += f"  // {note}"
    return "\n".join(lines)


def _canonical(text: str) -> str:
    """MyHDL lists sensitivities and reset assignments in set order: sort them, so the same design prints the same."""
    text = re.sub(
        r"(always @\(|process \()([^)]*)(\))",
        lambda m: m.group(1) + ", ".join(sorted(m.group(2).split(", "))) + m.group(3),
        text,
    )
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        if lines[i].strip() in ("if (rst == 1) begin", "if (rst = '1') then"):
            j = i + 1
            while j < len(lines) and lines[j].strip() not in ("end", "else", "end if;"):
                j += 1
            out += sorted(lines[i + 1 : j])
            i = j
            continue
        i += 1
    return "\n".join(out)


__all__ = ["Design", "Report", "lower"]
