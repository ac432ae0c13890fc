"""Cycle-accurate MyHDL simulation of a design with its external memories modelled by the test bench.

The protocol (the Verilator harness in hls/tools/verilator.py does the same):
reset for 2 clock edges (the memories read as zeros); memories loaded and
scalar inputs set and held; `start` high for one edge; then count edges
until `done` is high. Each external bank is a synchronous RAM, one cycle
read latency, read-first: at an edge it takes the address / write data /
write enable the design drives in that cycle and presents the addressed
word (the old one on a write) during the next cycle. Stream ports of the top are fed and
drained as hls/hw/streamports.py says: a value passes at an edge where valid and ready are high.

With `vcd=PATH` the run is traced (MyHDL's traceSignals: every signal of the design, ports at the top
scope named after the design) into PATH, even when it times out. Its times are the bench's (a unit per
half cycle, one more where inputs change); the top ports hold the values Verilator's waveform shows
edge by edge.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hls.hw import streamports


class SimulationTimeout(RuntimeError):
    """The design did not raise `done` within the cycle budget (a deadlock or a too-small budget)."""


def run_myhdl(
    design: Any,
    scalars: dict[str, int],
    images: dict[str, np.ndarray],
    max_cycles: int,
    vcd: str | os.PathLike[str] | None = None,
    watch: tuple[list[tuple[str, int]], dict[str, tuple[int, int, int, int]]] | None = None,
    halt: str | None = None,
) -> tuple[dict[str, np.ndarray], int | None, int]:
    """Simulate `design` from reset to `done`: (the final bank images, the return value, the cycles after start).

    watch: (monitors, out): each monitor (a port, its value when full) is sampled after every edge from start
    on; `out[port]` gets (max, cycles at 0, cycles full, last value). A run stops early when the monitor
    `halt` is not 0 (a region's `mon_deadlock`: nothing in the design can change any more).
    Stream ports: `images[s_<name>]` holds the values fed to a port the design reads; the result holds, for
    each port it writes, every value it gave (hls/hw/streamports.py).
    """
    from myhdl import Simulation, StopSimulation, delay, instance

    # NOTE: a traced run elaborates afresh: tracing marks the signals it dumps for good, and the shared
    # elaboration must keep running untraced.
    sig, dut = design.elaborated() if vcd is None else _elaborate(design)
    pairs = design.memory_banks()
    banks = [b for b, _ in pairs]
    mems = {b.prefix: [0] * b.depth for b in banks}  # loaded after reset, as the Verilator harness does
    ports = []
    monitors, watched = watch if watch is not None else ([], {})
    for name, _ in monitors:
        watched[name] = (0, 0, 0, 0)
    for b, mem in pairs:
        for p in range(b.ports):
            ports.append(
                (
                    b,
                    sig[f"{b.prefix}_addr{p}"],
                    sig.get(f"{b.prefix}_rdata{p}"),
                    sig.get(f"{b.prefix}_wdata{p}") if mem.writes else None,
                    sig.get(f"{b.prefix}_we{p}") if mem.writes else None,
                )
            )
    clk, rst, start, done = sig["clk"], sig["rst"], sig["start"], sig["done"]
    state: dict[str, Any] = {"cycles": 0, "timeout": False}
    streams = streamports.interface_ports(design.stream_ports())
    feeds = {st.prefix: _Feed([int(v) for v in images[st.prefix]]) for st in streams if st.into}
    drains: dict[str, list[int]] = {st.prefix: [] for st in streams if not st.into}

    def feed(p: str) -> None:
        """Drive port `p` with its next value (valid low once they are all taken)."""
        f = feeds[p]
        sig[f"{p}_valid"].next = f.at < len(f.values)
        if f.at < len(f.values):
            sig[f"{p}_data"].next = f.values[f.at]

    def edge():
        for p, f in feeds.items():  # the handshakes of this cycle, as the design drives them before the edge
            f.fire = bool(sig[f"{p}_valid"]) and bool(sig[f"{p}_ready"])
        for p, got in drains.items():
            if bool(sig[f"{p}_valid"]) and bool(sig[f"{p}_ready"]):
                got.append(int(sig[f"{p}_data"]))
        reads = []
        for b, addr, rdata, _, _ in ports:  # what the design drives in this cycle: reads see the old words
            a = int(addr)
            reads.append((rdata, mems[b.prefix][a] if a < b.depth else 0))
        for b, addr, _, wdata, we in ports:
            a = int(addr)
            if we is not None and wdata is not None and bool(we) and a < b.depth:
                mems[b.prefix][a] = int(wdata)
        clk.next = 1
        yield delay(1)
        for rdata, value in reads:
            if rdata is not None:
                rdata.next = value
        for p, f in feeds.items():
            if f.fire:
                f.at += 1
                feed(p)
        clk.next = 0
        yield delay(1)

    @instance
    def bench():
        rst.next = 1
        yield delay(1)
        for _ in range(2):
            yield from edge()
        rst.next = 0
        for b in banks:
            mems[b.prefix][:] = [int(x) for x in images[b.prefix]]
        for name, value in scalars.items():
            sig[name].next = value
        for p in feeds:
            feed(p)
        for p in drains:
            sig[f"{p}_ready"].next = 1
        start.next = 1
        yield delay(1)
        yield from edge()
        start.next = 0
        yield delay(1)
        while not bool(done):
            yield from edge()
            state["cycles"] += 1
            for name, full in monitors:
                v = int(sig[name])
                peak, zero, at_full, _ = watched[name]
                watched[name] = (max(peak, v), zero + (v == 0), at_full + (v == full), v)
            if halt is not None and watched[halt][3]:
                break
            if state["cycles"] > max_cycles:
                state["timeout"] = True
                raise StopSimulation()
        state["ret"] = int(sig["ret"]) if "ret" in sig else None  # signals are reset when the simulation ends
        raise StopSimulation()

    with tempfile.TemporaryDirectory(prefix="attnhls-vcd-") if vcd is not None else nullcontext() as tmp:
        if tmp is not None:
            _trace(dut, Path(tmp))
        sim = Simulation(dut, bench)
        try:
            sim.run(quiet=1)
        finally:
            sim.quit()  # NOTE: also closes the trace file
            if tmp is not None and vcd is not None:
                Path(vcd).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(Path(tmp) / "wave.vcd", vcd)
    if state["timeout"]:
        raise SimulationTimeout(
            f"{design.top}: done not raised after {max_cycles} cycles (a deadlock, or raise max_cycles)"
        )
    out = {b.prefix: np.array(mems[b.prefix], dtype=object) for b in banks}
    out.update({p: np.array(got, dtype=object) for p, got in drains.items()})  # every value each port gave
    ret = state.get("ret")
    return out, ret, state["cycles"]


@dataclass
class _Feed:
    """A stream port the design reads: the values fed, the next one, and whether one passes at the coming edge."""

    values: list[int]
    at: int = 0
    fire: bool = False


def _elaborate(design: Any) -> tuple[dict[str, Any], Any]:
    """Fresh signals and a fresh instance of the design's block."""
    sig = design.signals()
    return sig, design.block(**sig)


def _trace(dut: Any, folder: Path) -> None:
    """Start tracing every signal of `dut` into `folder/wave.vcd` (the next Simulation writes it)."""
    from myhdl import traceSignals

    # NOTE: traceSignals is configured through attributes of one global object; put them back afterwards.
    saved = {k: getattr(traceSignals, k) for k in ("directory", "filename", "tracebackup")}
    traceSignals.directory, traceSignals.filename, traceSignals.tracebackup = str(folder), "wave", False
    try:
        traceSignals(dut)
    finally:
        for k, v in saved.items():
            setattr(traceSignals, k, v)
