"""`Design.timing()`: the clock a design achieves after place and route, against the clock it was scheduled for.

    t = lower(qk_dense, M=8, N=8, D=16).timing()     # Yosys synth_ecp5 + nextpnr-ecp5, LFE5U-85F, CABGA381
    t.fmax_mhz, t.achieved_ns, t.clock_ns, t.slack_ns  # achieved against assumed (the scheduler's clock_ns)
    t.critical_path.start.register, t.critical_path.start.lines   # `r2_j`, kernel lines [18]
    t.resources                                        # {"LUT": 89, "FF": 37, "DSP": 2, "BRAM": 0, ...}
    print(t)

The scheduler chains operators under `clock_ns` with its own delay model (hls/hw/dfg.py `Timing`); nothing
there is measured. This module reports what the model assumed and what the device gives, and by how much the
design misses; it does not change the model. The critical path's ends are the flip-flops nextpnr names after
the registers they hold (`r2_j_TRELLIS_FF_Q_1` holds a bit of `r2_j`); each end and the nets between are mapped
to kernel lines through the `// line N` comments of the Verilog (`hls.compiler._line_comments`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CriticalPath", "Endpoint", "TimingReport", "analyze"]

DEVICE = "LFE5U-85F"
PACKAGE = "CABGA381"
# Placed-cell types of the ECP5 -> the headline counts. TRELLIS_COMB is a LUT4 slot (a carry cell CCU2C takes
# two); a DSP counts MULT18X18D multipliers (the ALU54B adders beside them are reported apart).
RESOURCES = {
    "LUT": "TRELLIS_COMB",
    "FF": "TRELLIS_FF",
    "DSP": "MULT18X18D",
    "BRAM": "DP16KD",
    "LUTRAM": "TRELLIS_RAMW",
    "ALU54": "ALU54B",
}

_FF_CELL = re.compile(r"^(.+?)_TRELLIS_FF_Q(?:_\d+)?$")
_SOURCE = re.compile(r"^(.+?\.v):(\d+)\.")
_LINE_NOTE = re.compile(r"// line (\d+)$")


@dataclass(frozen=True)
class Endpoint:
    """One end of a path: the placed cell, the design register it holds (None when it is not one: a DSP's
    or a RAM's own register), and the kernel lines that read or write that register."""

    cell: str
    register: str | None
    lines: tuple[int, ...]

    def __str__(self) -> str:
        name = self.register or f"cell {self.cell}"
        return name + (f" (line {', '.join(map(str, self.lines))})" if self.lines else "")


@dataclass(frozen=True)
class CriticalPath:
    """The worst register-to-register path: its ends, its delay split into logic and routing, the kernel lines
    its nets come from (in path order), and its steps as nextpnr reports them."""

    start: Endpoint
    end: Endpoint
    delay_ns: float
    logic_ns: float
    routing_ns: float
    lines: tuple[int, ...]
    steps: tuple[dict[str, Any], ...]

    def __str__(self) -> str:
        through = f" through line(s) {', '.join(map(str, self.lines))}" if self.lines else ""
        return (
            f"{self.start} -> {self.end}{through}: {self.delay_ns:.2f} ns "
            f"({self.logic_ns:.2f} ns logic, {self.routing_ns:.2f} ns routing, {len(self.steps)} steps)"
        )


@dataclass(frozen=True)
class TimingReport:
    """What place and route gives: Fmax against the scheduler's clock, the critical path, placed resources.

    clock_ns: the period the scheduler assumed (the design's `clock_ns`); achieved_ns: 1000 / fmax_mhz;
    slack_ns: clock_ns - achieved_ns (negative: the design misses its clock by that much). resources: the
    counts of RESOURCES after placement; available: the device's totals of the same. cached: served from the
    cache of hls/tools/nextpnr.py (no tool ran).
    """

    kernel: str
    clock_ns: float
    fmax_mhz: float | None
    critical_path: CriticalPath | None
    resources: dict[str, int]
    available: dict[str, int]
    device: str
    package: str
    speed: int
    tools: str
    cached: bool

    @property
    def achieved_ns(self) -> float | None:
        return None if not self.fmax_mhz else 1000.0 / self.fmax_mhz

    @property
    def slack_ns(self) -> float | None:
        achieved = self.achieved_ns
        return None if achieved is None else self.clock_ns - achieved

    @property
    def meets(self) -> bool:
        """Whether the design closes timing at the clock it was scheduled for."""
        slack = self.slack_ns
        return slack is None or slack >= 0

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, with the derived figures (achieved_ns, slack_ns, meets)."""
        data = asdict(self)
        data.update(achieved_ns=self.achieved_ns, slack_ns=self.slack_ns, meets=self.meets)
        return data

    def __str__(self) -> str:
        target = 1000.0 / self.clock_ns
        lines = [f"timing: nextpnr-ecp5, {self.device} {self.package} speed {self.speed}, out of context"]
        if self.fmax_mhz is None or self.achieved_ns is None or self.slack_ns is None:
            lines.append(f"  assumed {self.clock_ns:g} ns ({target:.1f} MHz); no register-to-register path to time")
        else:
            if self.meets:
                verdict = f"meets it with {self.slack_ns:.2f} ns to spare"
            else:
                below = 100.0 * (1.0 - self.fmax_mhz / target)
                verdict = f"MISSES it by {-self.slack_ns:.2f} ns (Fmax {below:.0f}% below the assumed clock)"
            lines.append(
                f"  assumed clock {self.clock_ns:g} ns ({target:.1f} MHz, the scheduler's clock_ns); achieved "
                f"{self.achieved_ns:.2f} ns ({self.fmax_mhz:.1f} MHz): {verdict}"
            )
        if self.critical_path is not None:
            lines.append(f"  critical path: {self.critical_path}")
        placed = ", ".join(f"{k} {v}" for k, v in self.resources.items())
        of = ", ".join(f"{self.available[k]} {k}" for k in ("LUT", "FF", "DSP", "BRAM"))
        lines.append(f"  placed: {placed} (of {of})")
        return "\n".join(lines)


def analyze(summary: dict[str, Any], kernel: str, clock_ns: float, verilog: str, registers: list[str]) -> TimingReport:
    """The TimingReport of a place-and-route `summary` (hls.tools.nextpnr) of the design whose `verilog`
    declares `registers`: the path's ends named and both they and its nets mapped to kernel lines."""
    notes = _verilog_notes(verilog)
    known = set(registers)
    steps = summary["critical_path"]
    path = None
    if steps:
        lines: list[int] = []
        for step in steps:
            for source in step.get("sources", []):
                m = _SOURCE.match(source)
                note = notes.get(int(m.group(2))) if m and not m.group(1).startswith("/") else None
                if note is not None and note not in lines:
                    lines.append(note)
        path = CriticalPath(
            start=_endpoint(steps[0]["from"], known, verilog),
            end=_endpoint(steps[-1]["to"], known, verilog),
            delay_ns=round(sum(s["delay_ns"] for s in steps), 3),
            logic_ns=round(sum(s["delay_ns"] for s in steps if s["type"] != "routing"), 3),
            routing_ns=round(sum(s["delay_ns"] for s in steps if s["type"] == "routing"), 3),
            lines=tuple(lines),
            steps=tuple(steps),
        )
    used = summary["utilization"]
    return TimingReport(
        kernel=kernel,
        clock_ns=clock_ns,
        fmax_mhz=summary["fmax_mhz"],
        critical_path=path,
        resources={k: used.get(cell, [0, 0])[0] for k, cell in RESOURCES.items()},
        available={k: used.get(cell, [0, 0])[1] for k, cell in RESOURCES.items()},
        device=summary["device"],
        package=summary["package"],
        speed=summary["speed"],
        tools=summary["tools"],
        cached=summary["cached"],
    )


def _verilog_notes(verilog: str) -> dict[int, int]:
    """Verilog line number (1-based) -> the kernel line its `// line N` comment names."""
    out = {}
    for i, text in enumerate(verilog.split("\n"), start=1):
        m = _LINE_NOTE.search(text)
        if m:
            out[i] = int(m.group(1))
    return out


def _endpoint(cell: str, registers: set[str], verilog: str) -> Endpoint:
    """The end of a path at placed `cell`: the register it holds a bit of, and the kernel lines that use it."""
    m = _FF_CELL.match(cell)
    register = m.group(1) if m else None
    if register is not None and register not in registers:  # a registered port (`done`) is declared `reg` too
        declared = re.search(rf"\breg\b[^;]*\b{re.escape(register)};", verilog)
        register = register if declared else None
    if register is None:
        return Endpoint(cell, None, ())
    # NOTE: the register process (`r <= nx_r`) carries no line; the datapath reads `r` and assigns `nx_r` on lines
    # that do. Both count: a register's lines are where the kernel computes or uses its value.
    use = re.compile(rf"\b(?:nx_)?{re.escape(register)}\b")
    lines = sorted(
        {int(n.group(1)) for text in verilog.split("\n") if use.search(text) and (n := _LINE_NOTE.search(text))}
    )
    return Endpoint(cell, register, tuple(lines))
