"""Scheduling: resource-constrained list scheduling with chaining, and modulo scheduling.

Each op gets a cycle (`time`) and a start delay inside it (`start`, ns): an op
chains after a producer in the same cycle while the sum of combinational
delays stays within the clock period; otherwise it waits for a register.
Resources (each memory bank's ports, and multipliers when limited) are
counted per cycle, or per cycle modulo II for a pipelined loop body
(the modulo reservation table). Ops are placed cycle by cycle, the ready op on
the longest remaining path first.

A pipelined loop gets the smallest II >= the one asked for that satisfies
the resource bound (ResMII) and every loop-carried edge (RecMII:
`dst.time + II >= src.time + latency`); `ModuloResult.reason` says which bound
set it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from hls.hw.dfg import Edge, Graph, Op, Timing
from hls.hw.ops import FREE

MAX_CYCLES = 100_000
RETIME_TRIES = 8  # rounds of delaying recurrence readers before II grows


@dataclass
class Limits:
    """Resource limits: ports per bank (from the memory map) and multipliers (None: unlimited)."""

    ports: dict[str, int]
    multipliers: int | None = None

    def limit(self, resource: str) -> int | None:
        """Return how many uses of `resource` a cycle allows (None: any number)."""
        return self.multipliers if resource == "mul" else self.ports.get(resource)


@dataclass
class ModuloResult:
    """A modulo schedule's II, its length (cycles of one iteration), and why II exceeds the one asked."""

    ii: int
    length: int
    reason: str  # why II is larger than asked ("" when it is not)


def _preds(g: Graph) -> dict[int, list[tuple[Op, int, bool]]]:
    """op id -> [(pred, latency, is_data)] for distance-0 constraints."""
    preds: dict[int, list[tuple[Op, int, bool]]] = {o.id: [] for o in g.ops}
    for o in g.ops:
        for a in o.args:
            preds[o.id].append((a, a.latency, True))
    for e in g.edges:
        if e.distance == 0:
            preds[e.dst.id].append((e.src, e.latency, False))
    return preds


def _heights(g: Graph, timing: Timing) -> dict[int, float]:
    """op id -> the longest path (ns) from the op's start to the end of the region."""
    succs: dict[int, list[Op]] = {o.id: [] for o in g.ops}
    for o in g.ops:
        for a in o.args:
            succs[a.id].append(o)
    for e in g.edges:
        if e.distance == 0:
            succs[e.src.id].append(e.dst)
    height: dict[int, float] = {}
    for o in reversed(g.ops):
        own = o.delay + o.latency * timing.clock_ns
        height[o.id] = own + max((height.get(s.id, 0.0) for s in succs[o.id]), default=0.0)
    return height


def list_schedule(
    g: Graph, timing: Timing, limits: Limits, ii: int | None = None, earliest: dict[int, int] | None = None
) -> int:
    """Place every op of `g` (op id -> its `earliest` cycle); returns the length in cycles (0 for an empty graph)."""
    earliest = earliest or {}
    preds = _preds(g)
    height = _heights(g, timing)
    usage: Counter = Counter()
    for o in g.ops:
        o.time = -1
    todo = sorted(g.ops, key=lambda o: -height[o.id])
    cycle = 0
    while todo:
        placed_any = True
        while placed_any:
            placed_any = False
            for o in list(todo):
                if (o.pinned is not None and o.pinned != cycle) or cycle < earliest.get(o.id, 0):
                    continue
                ok, start = _fits(o, cycle, preds[o.id], timing)
                if not ok:
                    continue
                if o.resource is not None:
                    lim = limits.limit(o.resource)
                    slot = (o.resource, cycle if ii is None else cycle % ii)
                    if lim is not None and usage[slot] >= lim:
                        continue
                    o.port = usage[slot]
                    usage[slot] += 1
                o.time, o.start = cycle, start
                todo.remove(o)
                placed_any = True
        cycle += 1
        if cycle > MAX_CYCLES:
            raise RuntimeError("scheduling did not converge (an op can never be placed): compiler bug")
    return max((o.time + max(o.latency, 0) for o in g.ops), default=-1) + 1


def _fits(o: Op, cycle: int, preds: list[tuple[Op, int, bool]], timing: Timing) -> tuple[bool, float]:
    """Whether `o` can run in `cycle` after its predecessors, and its chained start delay."""
    start = 0.0
    for p, lat, is_data in preds:
        if p.time < 0:
            return False, 0.0
        if is_data and p.kind in FREE:
            continue
        ready = p.time + lat
        if cycle < ready:
            return False, 0.0
        if is_data and cycle == ready and p.latency == 0:
            start = max(start, p.start + p.delay)
    if start > 0 and start + o.delay > timing.clock_ns:
        return False, 0.0
    return True, start


def schedule_block(g: Graph, timing: Timing, limits: Limits) -> int:
    """Schedule straight-line code; returns its length in cycles (at least 1 when it has ops)."""
    return list_schedule(g, timing, limits)


def res_mii(g: Graph, limits: Limits) -> tuple[int, str]:
    """Return the resource-bound minimum II of a loop body, and the resource that sets it ("" for 1)."""
    uses = Counter(o.resource for o in g.ops if o.resource is not None)
    best, why = 1, ""
    for res, n in uses.items():
        lim = limits.limit(res)
        if lim is not None and math.ceil(n / lim) > best:
            best = math.ceil(n / lim)
            what = "multipliers" if res == "mul" else f"memory bank `{res}`"
            why = f"resources: {n} uses of {what} per iteration, {lim} per cycle"
    return best, why


def schedule_modulo(g: Graph, timing: Timing, limits: Limits, ii_asked: int) -> ModuloResult:
    """Modulo-schedule a loop body: the smallest feasible II >= `ii_asked`.

    When a loop-carried edge does not fit II, its reader is first delayed to the cycle the edge allows (list
    scheduling places ops as soon as they can run, so a multiply of an accumulator register would start before
    the other operand of the accumulating add is ready, and stretch the recurrence); only when that stops helping
    does II grow.
    """
    mii, res_why = res_mii(g, limits)
    ii = max(ii_asked, mii)
    reason = res_why if mii > ii_asked else ""
    carried = [e for e in g.edges if e.distance > 0]
    earliest: dict[int, int] = {}
    delays = 0  # readers delayed at this II
    for _ in range(64 * (RETIME_TRIES + 1)):
        length = list_schedule(g, timing, limits, ii, earliest)
        need, worst, moved = ii, None, False
        for e in carried:
            req = math.ceil((e.src.time + e.latency - e.dst.time) / e.distance)
            want = e.src.time + e.latency - ii * e.distance  # the reader's cycle that fits this II
            if req > ii and delays < RETIME_TRIES and e.dst.pinned is None and want > earliest.get(e.dst.id, 0):
                earliest[e.dst.id] = want
                moved = True
            if req > need:
                need, worst = req, e
        if worst is None:
            return ModuloResult(ii, length, reason)
        if moved:
            delays += 1
        else:
            ii, earliest, delays = need, {}, 0
            reason = _recurrence_reason(worst, ii)
    raise RuntimeError("modulo scheduling did not converge: compiler bug")


def _recurrence_reason(e: Edge, ii: int) -> str:
    where = f" (line {e.dst.loc.line})" if e.dst.loc else ""
    return f"recurrence: {e.why}{where} needs {ii} cycles between iterations"
