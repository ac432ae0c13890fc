"""Cycle-accurate MyHDL simulation of a design with its external memories modelled by the test bench.

The protocol (the Verilator harness in hls/tools/verilator.py does the same):
reset for 2 clock edges; scalar inputs set and held; `start` high for one
edge; then count edges until `done` is high. Each external bank is a
synchronous RAM, one cycle read latency, read-first: at an edge it takes the
address / write data / write enable the design drives in that cycle and
presents the addressed word (the old one on a write) during the next cycle.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class SimulationTimeout(RuntimeError):
    """The design did not raise `done` within the cycle budget (a deadlock or a too-small budget)."""


def run_myhdl(design: Any, scalars: dict[str, int], images: dict[str, np.ndarray],
              max_cycles: int) -> tuple[dict[str, np.ndarray], int | None, int]:
    from myhdl import Simulation, StopSimulation, delay, instance

    sig, dut = design.elaborated()
    banks = design.ext_banks()
    mems = {b.prefix: [int(x) for x in images[b.prefix]] for b in banks}
    ports = []
    for b in banks:
        mem = design.memories[b.array]
        for p in range(b.ports):
            ports.append((b, sig[f"{b.prefix}_addr{p}"], sig.get(f"{b.prefix}_rdata{p}"),
                          sig.get(f"{b.prefix}_wdata{p}") if mem.writes else None,
                          sig.get(f"{b.prefix}_we{p}") if mem.writes else None))
    clk, rst, start, done = sig["clk"], sig["rst"], sig["start"], sig["done"]
    state = {"cycles": 0, "timeout": False}

    def edge():
        reads = []
        for b, addr, rdata, _, _ in ports:  # what the design drives in this cycle: reads see the old words
            a = int(addr)
            reads.append((rdata, mems[b.prefix][a] if a < b.depth else 0))
        for b, addr, _, wdata, we in ports:
            a = int(addr)
            if we is not None and bool(we) and a < b.depth:
                mems[b.prefix][a] = int(wdata)
        clk.next = 1
        yield delay(1)
        for rdata, value in reads:
            if rdata is not None:
                rdata.next = value
        clk.next = 0
        yield delay(1)

    @instance
    def bench():
        rst.next = 1
        yield delay(1)
        for _ in range(2):
            yield from edge()
        rst.next = 0
        for name, value in scalars.items():
            sig[name].next = value
        start.next = 1
        yield delay(1)
        yield from edge()
        start.next = 0
        yield delay(1)
        while not bool(done):
            yield from edge()
            state["cycles"] += 1
            if state["cycles"] > max_cycles:
                state["timeout"] = True
                raise StopSimulation()
        state["ret"] = int(sig["ret"]) if "ret" in sig else None  # signals are reset when the simulation ends
        raise StopSimulation()

    sim = Simulation(dut, bench)
    try:
        sim.run(quiet=1)
    finally:
        sim.quit()
    if state["timeout"]:
        raise SimulationTimeout(f"{design.top}: done not raised after {max_cycles} cycles (a deadlock, or raise "
                                "max_cycles)")
    out = {b.prefix: np.array(mems[b.prefix], dtype=object) for b in banks}
    ret = state.get("ret")
    return out, ret, state["cycles"]
