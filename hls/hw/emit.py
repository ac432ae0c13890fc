"""Emit a scheduled FSM as the source of a MyHDL `@block` (readable, convertible to Verilog and VHDL).

Structure of the generated block:

- `datapath` (`@always_comb`): computes, for the current state (and pipeline
  phase), every operation of that cycle into a sized variable (three-address
  code, so Verilog never truncates an intermediate), drives the memory ports,
  and sets the next value `nx_*` of every register;
- `registers` (`@always_seq`): the clock edge (`x.next = nx_x`), synchronous reset;
- one `@always(clk.posedge)` process per internal RAM or ROM bank.

Every internal value is a *signed* vector wide enough for its exact type
(unsigned w-bit values get w + 1 bits), so mixed signedness never changes a
result; ports keep the declared width and signedness of the kernel's types.
"""

from __future__ import annotations

import os
import re

from hls.hw.dfg import BOOL, Op, exact, int_type
from hls.hw.fsm import Hardware, Label, Pipeline, Rows, State
from hls.hw.memory import Bank
from hls.hw.names import clean
from hls.hw.ops import ARITHMETIC, FREE, MULC_MAX_ADDS, BinaryOp, OpKind, csd_digits
from hls.types import IntType, ScalarType


def internal(t: ScalarType) -> tuple[int, int]:
    """(min, max) of the signed intbv holding a value of type t."""
    it = int_type(t)
    width = it.width + (0 if it.signed else 1)
    return -(1 << (width - 1)), 1 << (width - 1)


def port_range(t: ScalarType) -> tuple[int, int]:
    """(min, max) of a port of type t: its declared width and signedness."""
    it = int_type(t)
    return (it.lo, it.hi + 1)


class Emitter:
    """Writes the MyHDL source of one Hardware."""

    def __init__(self, hw: Hardware, top: str):
        self.hw = hw
        self.top = top
        self.lines: list[str] = []
        self._source: str | None = None
        self.regs: dict[str, str] = {}  # local/register name -> signal name
        for n, name in enumerate(sorted(hw.decl)):
            self.regs[name] = f"r{n}_{clean(name)}"
        self.params = {p.name: f"p_{clean(p.name)}" for p in hw.params}
        self.banks: list[Bank] = [b for m in hw.memories.values() if m.reads or m.writes for b in m.banks]
        self.chains: dict[int, int] = {}  # op id -> number of registers holding its value
        self.consts: dict[int, str] = {}  # wide constants -> their variables
        self.ii_of: dict[int, int | None] = {}
        self.ops: list[tuple[Op, int | None]] = []
        self.streams = hw.stream_dirs()  # stream -> "read" / "write": valid/ready ports, and the stall logic
        self.stream_sig = {s: f"s_{clean(s)}" for s in self.streams}
        for blk in hw.blocks:
            for o in blk.graph.ops:
                self.ops.append((o, None))
        for p in hw.pipelines:
            for o in p.graph.ops:
                self.ops.append((o, p.ii))
        self._chains()

    def register_list(self) -> list[tuple[str, int]]:
        """(name, bits) of every register of the design: state, locals, pipeline values, pipeline control."""
        regs = [("state", max(1, (len(self.hw.states) - 1).bit_length()))]
        if self.streams:
            regs.append(("stall_q", 1))
            regs += [(f"{b.prefix}_rdh{p}", _bits(b.elem)) for b in self.read_banks() for p in range(b.ports)]
        regs += [(sig, _bits(self.hw.decl[name])) for name, sig in self.regs.items()]
        regs += [(f"c{o.id}_{k}", _bits(o.value_type)) for o, _ in self.ops for k in range(self.chains.get(o.id, 0))]
        for p in self.hw.pipelines:
            regs += [
                (f"{p.name}_ph", max(1, (p.ii - 1).bit_length())),
                (f"{p.name}_drn", 1),
                (f"{p.name}_dcnt", max(1, p.drain.bit_length())),
            ]
        return regs

    # ---- analysis ----------------------------------------------------------------------------------------

    def _chains(self) -> None:
        """Count the registers each value needs: one per cycle (per II cycles in a pipeline) it is held."""
        last_use: dict[int, int] = {}
        for o, ii in self.ops:
            self.ii_of[o.id] = ii
            for a in o.args:
                if a.kind in FREE:
                    continue
                last_use[a.id] = max(last_use.get(a.id, a.ready), o.time)
        for blk in self.hw.blocks:  # a branch condition is read in the block's last cycle
            for o in blk.graph.outputs.values():
                last_use[o.id] = max(last_use.get(o.id, o.ready), blk.length - 1)
        for o, ii in self.ops:
            delta = last_use.get(o.id, o.ready) - o.ready
            if delta >= 1:
                self.chains[o.id] = 1 if ii is None else (delta - 1) // ii + 1

    def read_banks(self) -> list[Bank]:
        """The banks whose read data a stalled cycle must hold (designs with streams)."""
        return [b for b in self.banks if b.kind == "rom" or self.hw.memories[b.array].reads]

    def stream_ports(self) -> list[str]:
        """The valid/ready ports of the streams (data, valid, ready each), then `mon_wait`."""
        if not self.streams:
            return []
        return [f"{self.stream_sig[s]}_{x}" for s in self.streams for x in ("data", "valid", "ready")] + ["mon_wait"]

    def constant(self, v: int) -> str:
        """A constant operand. MyHDL writes integers of magnitude 2**30 and more as *unsigned* sized Verilog
        literals, which would make a whole expression unsigned: those live in a signed variable set to the value."""
        if abs(v) < (1 << 30):
            return str(v)
        name = self.consts.get(v)
        if name is None:
            name = self.consts[v] = f"k{len(self.consts)}"
        return name

    def value(self, a: Op, at: int) -> str:
        """The expression for a's value in cycle `at` of its region."""
        if a.kind == OpKind.CONST:
            return self.constant(a.value)
        if a.kind == OpKind.REG:
            return self.regs[a.reg]
        delta = at - a.ready
        if delta < 0:
            raise RuntimeError(f"{a} used at cycle {at} before it is ready: scheduler bug")
        if delta == 0:
            return f"v{a.id}"
        ii = self.ii_of[a.id]
        return f"c{a.id}_{0 if ii is None else (delta - 1) // ii}"

    # ---- source ------------------------------------------------------------------------------------------

    def emit(self) -> str:
        """Return the MyHDL source of the design (written on the first call; later calls return it again)."""
        if self._source is None:
            self._source = self._write()
        return self._source

    def _write(self) -> str:
        hw = self.hw
        out = self.lines
        where = f"{os.path.basename(hw.fn.loc.file)}:{hw.fn.loc.line}"
        out.append(f'"""MyHDL design generated by attnhls from kernel `{hw.fn.name}` ({where}). Do not edit."""')
        out.append("")
        out.append("from myhdl import Signal, always, always_comb, always_seq, block, intbv")
        out.append("")
        for bank in self.banks:
            if bank.kind == "rom":
                out.append(f"ROM_{bank.prefix} = {tuple(bank.init)!r}")
        out.append("")
        out.append("")
        ports = ["clk", "rst", "start", "done"] + list(self.params.values())
        if hw.fn.ret is not None:
            ports.append("ret")
        for bank in self.banks:
            if bank.kind == "ext":
                ports += self.bank_ports(bank)
        ports += self.stream_ports()
        out.append("@block")
        out.append(f"def {self.top}({', '.join(ports)}):")
        out.append(f'    """{len(hw.states)} states; see the attnhls report for the schedule."""')
        self.declarations()
        self.datapath()
        self.registers()
        procs = ["datapath", "registers"]
        for bank in self.banks:
            if bank.kind != "ext":
                procs.append(self.memory_process(bank))
        out.append(f"    return {', '.join(procs)}")
        return "\n".join(out) + "\n"

    def bank_ports(self, bank: Bank) -> list[str]:
        """The port names of an external bank."""
        mem = self.hw.memories[bank.array]
        names = []
        for p in range(bank.ports):
            names.append(f"{bank.prefix}_addr{p}")
            if mem.reads:
                names.append(f"{bank.prefix}_rdata{p}")
            if mem.writes:
                names += [f"{bank.prefix}_wdata{p}", f"{bank.prefix}_we{p}"]
        return names

    def sig(self, name: str, lo: int, hi: int) -> None:
        self.lines.append(f"    {name} = Signal(intbv(0, min={lo}, max={hi}))")

    def declarations(self) -> None:
        hw = self.hw
        self.sig("state", 0, max(2, len(hw.states)))
        self.sig("nx_state", 0, max(2, len(hw.states)))
        for name, sig in self.regs.items():
            lo, hi = internal(hw.decl[name])
            self.sig(sig, lo, hi)
            self.sig(f"nx_{sig}", lo, hi)
        for o, _ in self.ops:
            for k in range(self.chains.get(o.id, 0)):
                lo, hi = internal(o.value_type)
                self.sig(f"c{o.id}_{k}", lo, hi)
                self.sig(f"nx_c{o.id}_{k}", lo, hi)
        if self.streams:  # the stall: no register, RAM write or stream op takes effect in a blocked cycle
            self.lines.append("    stall = Signal(bool(0))")
            self.lines.append("    stall_q = Signal(bool(0))")
            for b in self.read_banks():
                lo, hi = internal(b.elem)
                for port in range(b.ports):
                    self.sig(f"{b.prefix}_rdh{port}", lo, hi)
        for p in hw.pipelines:
            self.sig(f"{p.name}_ph", 0, max(2, p.ii))
            self.sig(f"nx_{p.name}_ph", 0, max(2, p.ii))
            self.sig(f"{p.name}_drn", 0, 2)
            self.sig(f"nx_{p.name}_drn", 0, 2)
            self.sig(f"{p.name}_dcnt", 0, max(2, p.drain + 1))
            self.sig(f"nx_{p.name}_dcnt", 0, max(2, p.drain + 1))
        for bank in self.banks:
            if bank.kind == "ext":
                continue
            lo, hi = internal(bank.elem)
            self.lines.append(
                f"    mem_{bank.prefix} = [Signal(intbv(0, min={lo}, max={hi})) for _ in range({bank.depth})]"
            )
            for port in range(bank.ports):
                self.sig(f"{bank.prefix}_addr{port}", 0, 1 << bank.addr_width)
                self.sig(f"{bank.prefix}_rdata{port}", lo, hi)
                if bank.kind == "ram":
                    self.sig(f"{bank.prefix}_wdata{port}", lo, hi)
                    self.lines.append(f"    {bank.prefix}_we{port} = Signal(bool(0))")
        self.lines.append("")

    def memory_process(self, bank: Bank) -> str:
        out = self.lines
        name = f"mem_proc_{bank.prefix}"
        out.append("    @always(clk.posedge)")
        out.append(f"    def {name}():")
        for p in range(bank.ports):
            addr = f"{bank.prefix}_addr{p}"
            if bank.kind == "ram":
                out.append(f"        if {bank.prefix}_we{p} and {addr} < {bank.depth}:")
                out.append(f"            mem_{bank.prefix}[int({addr})].next = {bank.prefix}_wdata{p}")
            src = f"ROM_{bank.prefix}[int({addr})]" if bank.kind == "rom" else f"mem_{bank.prefix}[int({addr})]"
            out.append(f"        if {addr} < {bank.depth}:")
            out.append(f"            {bank.prefix}_rdata{p}.next = {src}")
            out.append("        else:")
            out.append(f"            {bank.prefix}_rdata{p}.next = 0")
        out.append("")
        return name

    def registers(self) -> None:
        out = self.lines
        out.append("    @always_seq(clk.posedge, reset=rst)")
        out.append("    def registers():")
        names = ["state"] + list(self.regs.values())
        names += [f"c{o.id}_{k}" for o, _ in self.ops for k in range(self.chains.get(o.id, 0))]
        for p in self.hw.pipelines:
            names += [f"{p.name}_ph", f"{p.name}_drn", f"{p.name}_dcnt"]
        if not self.streams:
            for n in names:
                out.append(f"        {n}.next = nx_{n}")
            out.append("")
            return
        out.append("        stall_q.next = stall")
        holds = [f"{b.prefix}_rdh{port}" for b in self.read_banks() for port in range(b.ports)]
        if holds:
            out.append("        if not stall_q:  # the read data of the cycle before a stall, held while it lasts")
            out += [f"            {h}.next = {h.replace('_rdh', '_rdata')}" for h in holds]
        out.append("        if not stall:")
        for n in names:
            out.append(f"            {n}.next = nx_{n}")
        out.append("")

    # ---- the combinational datapath -----------------------------------------------------------------------

    def datapath(self) -> None:
        hw = self.hw
        out = self.lines
        out.append("    @always_comb")
        out.append("    def datapath():")
        body: list[str] = []
        self.vars: dict[str, tuple[int, int]] = {}
        for n in ["state"] + list(self.regs.values()):
            body.append(f"nx_{n}.next = {n}")
        for o, _ in self.ops:
            for k in range(self.chains.get(o.id, 0)):
                body.append(f"nx_c{o.id}_{k}.next = c{o.id}_{k}")
        for p in hw.pipelines:
            for n in ("ph", "drn", "dcnt"):
                body.append(f"nx_{p.name}_{n}.next = {p.name}_{n}")
        for bank in self.banks:
            mem = hw.memories[bank.array]
            for port in range(bank.ports):
                body.append(f"{bank.prefix}_addr{port}.next = 0")
                if mem.writes:
                    body.append(f"{bank.prefix}_wdata{port}.next = 0")
                    body.append(f"{bank.prefix}_we{port}.next = 0")
        if hw.fn.ret is not None:
            body.append(f"ret.next = {self.port_value(self.regs['_ret'], hw.fn.ret)}")
        body.append("done.next = 0")
        if self.streams:
            body += [f"{self.var('stl', BOOL)}[:] = 0", f"{self.var('wt', (0, len(self.streams) + 2))}[:] = 0"]
            for s, d in self.streams.items():
                body.append(f"{self.var(f'act_{self.stream_sig[s]}', BOOL)}[:] = 0")
                if d == "write":
                    body.append(f"{self.stream_sig[s]}_data.next = 0")
        first = True
        for st in hw.states:
            if st.index == 1:  # DONE shares IDLE's code
                continue
            code = self.state_code(st)
            kw = "if" if first else "elif"
            first = False
            cond = "state == 0 or state == 1" if st.index == 0 else f"state == {st.index}"
            body.append(f"{kw} {cond}:")
            body += ["    " + c for c in (code or ["pass"])]
        if self.streams:
            body += self.stall_code()
        decl = [f"{name} = intbv(0, min={lo}, max={hi})" for name, (lo, hi) in self.vars.items()]
        for v, name in self.consts.items():
            lo, hi = internal(exact(v, v))
            decl.append(f"{name} = intbv({v}, min={lo}, max={hi})")
        for line in decl + body:
            out.append("        " + line)
        out.append("")

    def stall_code(self) -> list[str]:
        """After every op of the cycle: the stall, the handshakes (none while stalled), writes gated."""
        code = ["stall.next = stl", "mon_wait.next = wt"]
        for s, d in self.streams.items():
            sig = self.stream_sig[s]
            hand = f"{sig}_ready" if d == "read" else f"{sig}_valid"
            code += [f"if act_{sig} != 0 and stl == 0:", f"    {hand}.next = 1", "else:", f"    {hand}.next = 0"]
        writes = [
            f"    {b.prefix}_we{port}.next = 0"
            for b in self.banks
            if self.hw.memories[b.array].writes
            for port in range(b.ports)
        ]
        return code + (["if stl != 0:", *writes] if writes else [])

    def stream_code(self, o: Op, args: list[str]) -> list[str]:
        """A stream op: active when enabled; blocked (the cycle stalls, `wt` names the stream) without data/room."""
        sig = self.stream_sig[o.stream]
        k = list(self.streams).index(o.stream) + 1
        code: list[str] = []
        data = 0 if o.kind == OpKind.SREAD else 1  # a write's first operand is its value; the enable follows
        enable = args[data] if len(args) > data else None
        if o.kind == OpKind.SREAD:
            code.append(f"{self.var(f'v{o.id}', o.value_type)}[:] = {sig}_data")
            flag = f"{sig}_valid"
        else:
            t = int_type(self.hw.streams[o.stream].elem)
            code.append(f"{sig}_data.next = {_low_bits(o.args[0], args[0], t)}")
            flag = f"{sig}_ready"
        body = [f"act_{sig}[:] = 1", f"if {flag} == 0:", "    stl[:] = 1", f"    wt[:] = {k}"]
        if enable is None:
            return code + body
        return code + [f"if {enable} != 0:"] + ["    " + c for c in body]

    def port_value(self, sig: str, t: ScalarType) -> str:
        """A register or variable (signed, internal) converted to a port of type t."""
        it = int_type(t)
        return sig if it.signed else f"{sig}[{it.width}:]"

    def var(self, name: str, t: ScalarType | tuple[int, int]) -> str:
        self.vars[name] = t if isinstance(t, tuple) else internal(t)
        return name

    def goto(self, label: Label) -> list[str]:
        st = label.get()
        code = [f"nx_state.next = {st.index}"]
        if st.pipe is not None:  # entering a pipeline: phase 0, no valid iteration in flight
            p = st.pipe
            code += [f"nx_{p.name}_ph.next = 0", f"nx_{p.name}_drn.next = 0", f"nx_{p.name}_dcnt.next = 0"]
            # NOTE: every value derived from `valid` (a store's or a stream op's enable) is cleared, not only valid's
            # own chain: at II > 1 a chain of an op of a later phase last moved half a stage before the previous
            # visit's exit, and would enable a store of that visit's last iteration again on entry.
            code += [
                f"nx_c{o.id}_{k}.next = 0" for o in _valid_cone(p.graph.ops) for k in range(self.chains.get(o.id, 0))
            ]
            if p.rows is not None:
                code.append(f"nx_{self.regs[p.rows.adv]}.next = 0")
        return code

    def state_code(self, st: State) -> list[str]:
        hw = self.hw
        if st.index == 0:
            code = ["if state == 1:", "    done.next = 1", "if start:"]
            inner = []
            for name, sig in self.regs.items():
                if name in self.params:
                    inner.append(f"nx_{sig}.next = {self.params[name]}")
                else:
                    inner.append(f"nx_{sig}.next = 0")
            inner += self.goto(hw.entry)
            return code + ["    " + c for c in inner]
        if st.pipe is not None:
            return self.pipeline_code(st, st.pipe)
        assert st.block is not None  # a state other than IDLE, DONE and a pipeline's is a cycle of a block
        code = self.cycle_code(st.block.graph.ops, st.cycle, None)
        if st.cond is not None:
            assert st.if_true is not None and st.if_false is not None  # a branch has both targets
            code.append(f"if {self.value(st.cond, st.cycle)} != 0:")
            code += ["    " + c for c in self.goto(st.if_true)]
            code.append("else:")
            code += ["    " + c for c in self.goto(st.if_false)]
        else:
            assert st.goto is not None  # every block cycle without a branch has a next state
            code += self.goto(st.goto)
        return code

    def cycle_code(self, ops: list[Op], cycle: int, ii: int | None) -> list[str]:
        """The operations of one cycle (FSM) or one phase (pipeline, `cycle` = phase)."""
        code: list[str] = []
        here = [o for o in ops if o.kind not in FREE]
        for o in here:  # the data of loads issued a cycle ago
            if o.kind == OpKind.LOAD and (o.ready if ii is None else o.ready % ii) == cycle:
                bank = o.bank
                v = self.var(f"v{o.id}", o.value_type)
                data = [f"{v}[:] = {bank.prefix}_rdata{o.port}"]
                if self.streams:  # after a stall, the data read before it (the RAM has read again since)
                    data = ["if stall_q != 0:", f"    {v}[:] = {bank.prefix}_rdh{o.port}", "else:", "    " + data[0]]
                code += self.at_line(o, data)
        for o in here:
            if (o.time if ii is None else o.time % ii) == cycle:
                code += self.at_line(o, self.op_code(o))
        for o in here:  # values used in later cycles are registered
            if (o.ready if ii is None else o.ready % ii) != cycle:
                continue
            k = self.chains.get(o.id, 0)
            if k:
                chain = [f"nx_c{o.id}_{j}.next = c{o.id}_{j - 1}" for j in range(k - 1, 0, -1)]
                code += self.at_line(o, [*chain, f"nx_c{o.id}_0.next = v{o.id}"])
        return code

    def at_line(self, o: Op, code: list[str]) -> list[str]:
        """`code` with the kernel source line of `o` as a comment after each assignment (`# line 12`, or
        `# file.py:12` for a line of another file, an inlined kernel's).

        NOTE: MyHDL drops comments when it converts; hls.compiler copies these into the Verilog.
        """
        if o.loc is None:
            return code
        same = o.loc.file == self.hw.fn.loc.file
        where = f"line {o.loc.line}" if same else f"{os.path.basename(o.loc.file)}:{o.loc.line}"
        return [f"{c}  # {where}" if _ASSIGNMENT.match(c) else c for c in code]

    def op_code(self, o: Op) -> list[str]:
        """The code of one op in its cycle."""
        t = o.time
        args = [self.value(a, t) for a in o.args]
        v = f"v{o.id}"
        if o.kind == OpKind.STORE:
            bank = o.bank
            mem = self.hw.memories[bank.array]
            port = o.port
            data = args[1] if bank.kind != "ext" else _low_bits(o.args[1], args[1], int_type(mem.elem))
            code = [
                f"{bank.prefix}_addr{port}.next = {_low_bits(o.args[0], args[0], bank.addr_width)}",
                f"{bank.prefix}_wdata{port}.next = {data}",
            ]
            if len(args) > 2:
                code += [f"if {args[2]} != 0:", f"    {bank.prefix}_we{port}.next = 1"]
            else:
                code.append(f"{bank.prefix}_we{port}.next = 1")
            return code
        if o.kind == OpKind.LOAD:
            bank = o.bank
            return [f"{bank.prefix}_addr{o.port}.next = {_low_bits(o.args[0], args[0], bank.addr_width)}"]
        if o.kind in (OpKind.SREAD, OpKind.SWRITE):
            return self.stream_code(o, args)
        if o.kind == OpKind.WREG:
            sig = self.regs[o.reg]
            if len(args) > 1:
                return [f"if {args[1]} != 0:", f"    nx_{sig}.next = {args[0]}"]
            return [f"nx_{sig}.next = {args[0]}"]
        self.var(v, o.value_type)
        if o.kind == OpKind.SNAP:
            p = self.pipe
            if o.reg == p.levels[0].var:  # past the end, the outer counter would leave its type's range
                return [
                    f"if {self.issue_var} != 0:",
                    f"    {v}[:] = {self.regs[o.reg]}",
                    "else:",
                    f"    {v}[:] = {p.idle}",
                ]
            if p.rows is not None:  # the row's counter, or its first index in the cycle after a row change
                return [
                    f"if {self.issue_var} != 0:",
                    f"    {v}[:] = {p.name}_e",
                    "else:",
                    f"    {v}[:] = {p.rows.idle}",
                ]
            return [f"{v}[:] = {self.regs[o.reg]}"]
        if o.kind == OpKind.VALID:
            return [f"{v}[:] = {self.issue_var}"]
        return _compute(o, v, args, self)

    # ---- pipelines -----------------------------------------------------------------------------------------

    def pipeline_code(self, st: State, p: Pipeline) -> list[str]:
        if p.rows is not None:
            return self.rows_code(st, p, p.rows)
        code: list[str] = []
        outer = p.levels[0]
        iss = self.var(f"{p.name}_issue", BOOL)
        self.issue_var, self.pipe = iss, p
        stop = str(outer.stop) if isinstance(outer.stop, int) else self.regs[outer.stop]
        more = f"{self.regs[outer.var]} {'<' if outer.step > 0 else '>'} {stop}"
        phase0 = "" if p.ii == 1 else f"{p.name}_ph == 0 and "
        code += [f"{iss}[:] = 0", f"if {phase0}{p.name}_drn == 0 and {more}:", f"    {iss}[:] = 1"]
        if p.ii == 1:
            code += self.cycle_code(p.graph.ops, 0, 1)
        else:
            for ph in range(p.ii):
                inner = self.cycle_code(p.graph.ops, ph, p.ii)
                if inner:
                    code.append(f"if {p.name}_ph == {ph}:")
                    code += ["    " + c for c in inner]
            code += [
                f"if {p.name}_ph == {p.ii - 1}:",
                f"    nx_{p.name}_ph.next = 0",
                "else:",
                f"    nx_{p.name}_ph.next = {p.name}_ph + 1",
            ]
        code.append(f"if {iss} != 0:")
        code += ["    " + c for c in self.odometer(p)]
        return code + self.finish_code(st, p, f"{phase0}{p.name}_drn == 0 and {iss} == 0")

    def finish_code(self, st: State, p: Pipeline, last: str) -> list[str]:
        """Leave the pipeline once `last` holds (no more iterations to issue), after its drain cycles."""
        assert st.goto is not None  # a pipeline's state always has the state after the loop
        exit_code = self.goto(st.goto)
        code = [f"if {last}:"]
        if p.drain == 0:
            return code + ["    " + c for c in exit_code]
        code += [f"    nx_{p.name}_drn.next = 1", f"    nx_{p.name}_dcnt.next = {p.drain - 1}"]
        code += [f"elif {p.name}_drn != 0:", f"    if {p.name}_dcnt == 0:"]
        code += ["        " + c for c in exit_code]
        return code + ["    else:", f"        nx_{p.name}_dcnt.next = {p.name}_dcnt - 1"]

    def rows_code(self, st: State, p: Pipeline, rows: Rows) -> list[str]:
        """A pipeline over rows with per-row bounds (II = 1): issue (i, e) while e < hi, else move to row i + step.

        The bounds of the row entered in the last cycle come from the datapath (`Rows`), so they are computed
        first; the row's counter `e` and bound are registers from then on. `rows` is `p.rows`.
        """
        outer, inner = p.levels
        iss = self.var(f"{p.name}_issue", BOOL)
        self.issue_var, self.pipe = iss, p
        i, e = self.regs[outer.var], self.regs[inner.var]
        hreg, adv = self.regs[rows.hi_reg], self.regs[rows.adv]
        bound = _cone([o for o in (rows.lo, rows.hi) if o is not None])
        code = self.cycle_code([o for o in p.graph.ops if o.id in bound], 0, 1)
        ec = self.var(f"{p.name}_e", self.hw.reg_type(inner.var))
        hc = self.var(f"{p.name}_h", self.hw.reg_type(rows.hi_reg))
        lo = hreg if rows.lo is None else self.value(rows.lo, rows.lo.ready)
        code += [
            f"if {adv} != 0:",
            f"    {ec}[:] = {lo}",
            f"    {hc}[:] = {self.value(rows.hi, rows.hi.ready)}",
            "else:",
            f"    {ec}[:] = {e}",
            f"    {hc}[:] = {hreg}",
        ]
        stop = str(outer.stop) if isinstance(outer.stop, int) else self.regs[outer.stop]
        more = f"{p.name}_drn == 0 and {i} < {stop}"
        code += [f"{iss}[:] = 0", f"if {more} and {ec} < {hc}:", f"    {iss}[:] = 1"]
        code += self.cycle_code([o for o in p.graph.ops if o.id not in bound], 0, 1)
        code += [f"if {iss} != 0:"] + ["    " + c for c in self.bump(p, 1, ec)]
        code += [f"    nx_{adv}.next = 0", f"    nx_{hreg}.next = {hc}"]
        code += [f"elif {more}:"] + ["    " + c for c in self.bump(p, 0, i)]
        code += [f"    nx_{adv}.next = 1", f"    nx_{hreg}.next = {hc}"]
        return code + self.finish_code(st, p, f"{p.name}_drn == 0 and not ({i} < {stop})")

    def bump(self, p: Pipeline, k: int, src: str) -> list[str]:
        """Counter k's register = src + its step (within the register's type: it holds one step past the end)."""
        lv = p.levels[k]
        t = self.hw.reg_type(lv.var)
        nxt = self.var(f"{p.name}_n{k}", (internal(t)[0] * 2, internal(t)[1] * 2))
        w = t.width + (0 if t.signed else 1)
        return [f"{nxt}[:] = {src} + {lv.step}", f"nx_{self.regs[lv.var]}.next = {nxt}[{w}:].signed()"]

    def odometer(self, p: Pipeline) -> list[str]:
        """Advance the loop counters by one iteration, innermost first."""

        def step(k: int) -> list[str]:
            lv = p.levels[k]
            sig = self.regs[lv.var]
            if k == 0:
                return self.bump(p, 0, sig)
            t = self.hw.reg_type(lv.var)
            nxt = self.var(f"{p.name}_n{k}", (internal(t)[0] * 2, internal(t)[1] * 2))
            code = [f"{nxt}[:] = {sig} + {lv.step}"]
            end = f"{nxt} {'>=' if lv.step > 0 else '<='} {lv.stop}"
            return (
                code
                + [f"if {end}:", f"    nx_{sig}.next = {lv.start}"]
                + ["    " + c for c in step(k - 1)]
                + ["else:", f"    nx_{sig}.next = {nxt}"]
            )

        return step(len(p.levels) - 1)


_ASSIGNMENT = re.compile(r"\s*\w+(\.next|\[:\])? = ")  # a datapath assignment line of the MyHDL source


def _cone(outs: list[Op]) -> set[int]:
    """Ids of the ops `outs` are computed from."""
    seen: set[int] = set()
    todo = list(outs)
    while todo:
        o = todo.pop()
        if o.id not in seen:
            seen.add(o.id)
            todo.extend(o.args)
    return seen


def _bits(t: ScalarType) -> int:
    lo, hi = internal(t)
    return (hi - 1).bit_length() + 1


def _low_bits(o: Op, expr: str, t: IntType | int) -> str:
    """A value as an unsigned port of `t` bits (or a signed port of type t): constants are folded."""
    width, signed = (t, False) if isinstance(t, int) else (t.width, t.signed)
    if o.kind == OpKind.CONST:
        return str(IntType(width, signed).wrap(o.value))
    return expr if signed else f"{expr}[{width}:]"


def _compute(o: Op, v: str, args: list[str], em: Emitter) -> list[str]:
    """Three-address code for one arithmetic op into variable v (sized to o.type)."""
    k, a = o.kind, args
    if k == OpKind.MULC:
        return _mul_const(o, v, args, em)
    if k in ARITHMETIC:
        op = o.binop
        if op in (BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.AND, BinaryOp.OR, BinaryOp.XOR):
            return [f"{v}[:] = {a[0]} {op.value} {a[1]}"]
        if op in (BinaryOp.SHL, BinaryOp.SHR):
            amount = o.args[1].value_type
            if amount.lo < 0 or amount.hi > 63:  # a speculative shift by any amount must not crash
                sa = em.var(f"{v}_sa", (0, 64))
                return [
                    f"{sa}[:] = 0",
                    f"if {a[1]} >= 0 and {a[1]} < 64:",
                    f"    {sa}[:] = {a[1]}",
                    f"{v}[:] = {a[0]} {op.value} {sa}",
                ]
            return [f"{v}[:] = {a[0]} {op.value} {a[1]}"]
        return _divmod(o, v, a, em)  # // and %
    if k == OpKind.NEG:
        return [f"{v}[:] = -{a[0]}"]
    if k == OpKind.INV:
        return [f"{v}[:] = ~{a[0]}"]
    if k == OpKind.NOT:
        return [f"if {a[0]} == 0:", f"    {v}[:] = 1", "else:", f"    {v}[:] = 0"]
    if k == OpKind.CMP:
        return [f"if {a[0]} {o.cmpop.value} {a[1]}:", f"    {v}[:] = 1", "else:", f"    {v}[:] = 0"]
    if k == OpKind.AND:
        return [f"{v}[:] = {a[0]} & {a[1]}"]
    if k == OpKind.OR:
        return [f"{v}[:] = {a[0]} | {a[1]}"]
    if k == OpKind.SEL:
        return [f"if {a[0]} != 0:", f"    {v}[:] = {a[1]}", "else:", f"    {v}[:] = {a[2]}"]
    if k in (OpKind.MIN, OpKind.MAX):
        cmp = "<=" if k == OpKind.MIN else ">="
        return [f"if {a[0]} {cmp} {a[1]}:", f"    {v}[:] = {a[0]}", "else:", f"    {v}[:] = {a[1]}"]
    if k == OpKind.ABS:
        return [f"if {a[0]} < 0:", f"    {v}[:] = -{a[0]}", "else:", f"    {v}[:] = {a[0]}"]
    if k == OpKind.CAST:
        t = o.value_type
        src = o.args[0].value_type
        src_w = src.width + (0 if src.signed else 1)
        x = a[0]
        code = []
        if src_w < t.width:  # widen first: a slice must not reach past the source vector
            x = em.var(f"{v}_x", (-(1 << t.width), 1 << t.width))
            code.append(f"{x}[:] = {a[0]}")
        return code + [f"{v}[:] = {x}[{t.width}:]{'.signed()' if t.signed else ''}"]
    raise RuntimeError(f"cannot emit {o}: compiler bug")


def _mul_const(o: Op, v: str, a: list[str], em: Emitter) -> list[str]:
    """x * c as shifts and adds of c's canonical signed digits when that takes at most MULC_MAX_ADDS adders, else `*`.

    Each shifted term and partial sum gets its own variable sized to its exact range (a partial sum of x * 7 =
    (x << 3) - x outgrows the product), so nothing truncates in Verilog.
    """
    x, c = o.args  # Builder.binop puts the variable first, the constant second
    digits = csd_digits(c.value)
    if len(digits) - 1 > MULC_MAX_ADDS:
        return [f"{v}[:] = {a[0]} * {a[1]}"]
    xt = x.value_type
    code: list[str] = []
    acc, lo, hi = "", 0, 0
    for n, (shift, sign) in enumerate(digits):
        term, tlo, thi = a[0], xt.lo << shift, xt.hi << shift
        if shift:
            term = em.var(f"{v}_s{n}", internal(exact(tlo, thi)))
            code.append(f"{term}[:] = {a[0]} << {shift}")
        if n == 0 and sign > 0:
            acc, lo, hi = term, tlo, thi
            continue
        if n == 0:
            lo, hi = -thi, -tlo
            expr = f"-{term}"
        else:
            lo, hi = (lo + tlo, hi + thi) if sign > 0 else (lo - thi, hi - tlo)
            expr = f"{acc} {'+' if sign > 0 else '-'} {term}"
        acc = em.var(f"{v}_a{n}", internal(exact(lo, hi)))
        code.append(f"{acc}[:] = {expr}")
    return code + [f"{v}[:] = {acc}"]


def _divmod(o: Op, v: str, a: list[str], em: Emitter) -> list[str]:
    """Floor division and modulo through magnitudes (Verilog's / truncates); x // 0 gives 0 in hardware."""
    x_t, y_t = o.args[0].value_type, o.args[1].value_type
    w = max(x_t.width, y_t.width) + 2
    rng = (-(1 << w), 1 << w)
    ax, ay, q, r = (em.var(f"{v}_{s}", rng) for s in ("ax", "ay", "q", "r"))
    code = [
        f"if {a[0]} < 0:",
        f"    {ax}[:] = -{a[0]}",
        "else:",
        f"    {ax}[:] = {a[0]}",
        f"if {a[1]} < 0:",
        f"    {ay}[:] = -{a[1]}",
        "else:",
        f"    {ay}[:] = {a[1]}",
        f"{q}[:] = 0",
        f"{r}[:] = 0",
        f"if {ay} != 0:",
        f"    {q}[:] = {ax} // {ay}",
        f"    {r}[:] = {ax} - {q} * {ay}",
        f"    if ({a[0]} < 0) != ({a[1]} < 0):",
        f"        if {r} != 0:",
        f"            {q}[:] = -{q} - 1",
        f"            {r}[:] = {ay} - {r}",
        "        else:",
        f"            {q}[:] = -{q}",
        f"    if {a[1]} < 0:",
        f"        {r}[:] = -{r}",
    ]
    code.append(f"{v}[:] = {q if o.binop == BinaryOp.FLOORDIV else r}")
    return code


__all__ = ["Emitter", "clean", "internal", "port_range"]


def _valid_cone(ops: list[Op]) -> list[Op]:
    """The ops of a pipeline body whose value depends on its `valid`."""
    cone = {o.id for o in ops if o.kind == OpKind.VALID}
    grown = True
    while grown:
        more = {o.id for o in ops if o.id not in cone and any(a.id in cone for a in o.args)}
        cone |= more
        grown = bool(more)
    return [o for o in ops if o.id in cone]
