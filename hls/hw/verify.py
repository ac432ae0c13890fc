"""The schedule verifier: check a scheduled `Hardware` against every rule the scheduler promises.

`hls.compiler.lower` runs it between the hardware stages when ATTNHLS_VERIFY_IR
is set (the test suite sets it). A violation is a compiler bug: `ScheduleError`
lists each broken rule with the op and region it concerns. The rules:

- **placed**: every op has a cycle inside its region (`0 <= time` and
  `ready < length`); a pinned op runs at its pin.
- **operand**: every operand and edge end is an op of the same region, and
  operands come earlier in the region's order (the order is topological).
- **dependence**: an op starts no earlier than each operand is ready
  (`time >= operand.time + operand.latency`; constants and registers are free).
- **chaining**: an op in the cycle a combinational operand is computed starts
  after the operand ends (`start >= operand.start + operand.delay`), and a
  chained op (`start > 0`) ends within the clock period.
- **edge**: every ordering edge holds (`dst.time + distance * II >=
  src.time + latency`); loop-carried edges (distance > 0) only in pipelines.
- **resource**: per cycle of a block, or per cycle modulo II of a pipeline (the
  modulo reservation table), at most the limit of uses of each memory bank and
  of multipliers; memory ops of one slot use different ports, each below the
  bank's port count.
- **ii**: a pipeline has `1 <= ii_asked <= ii` and `depth >= 1`, and one
  `valid` op; its issue ops (`snap`, `valid`) are pinned to cycle 0.
- **branch**: a block's branch condition is ready in its last cycle.
- **fsm**: states are numbered in order and every transition reaches a state.
"""

from __future__ import annotations

from collections import defaultdict

from hls.hw.dfg import Graph, Op
from hls.hw.fsm import Block, Hardware, Label, Pipeline
from hls.hw.ops import FREE, MEMORY, STREAM, OpKind

EPS = 1e-9  # ns: chained delays are sums of floats
SHOWN = 20  # violations listed in one error


class ScheduleError(RuntimeError):
    """A schedule breaks a rule of the scheduler (a compiler bug, not a problem of the kernel)."""


def verify_schedule(hw: Hardware, stage: str) -> None:
    """Check every block, pipeline and state of `hw`; raise ScheduleError naming each broken rule."""
    problems = schedule_problems(hw)
    if problems:
        more = f"\n  ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise ScheduleError(
            f"the schedule of `{hw.fn.name}` after stage `{stage}` breaks {len(problems)} rule(s) "
            "(a compiler bug):\n" + "\n".join(f"  {p}" for p in problems[:SHOWN]) + more
        )


def schedule_problems(hw: Hardware) -> list[str]:
    """Return one line per broken rule (empty when the schedule is valid)."""
    problems: list[str] = []
    ports = {b.prefix: b.ports for m in hw.memories.values() for b in m.banks}
    names = hw.block_names()
    for blk in hw.blocks:
        where = f"block {names.get(id(blk), '(no state)')}" + (f" (line {blk.loc.line})" if blk.loc else "")
        problems += _region(hw, blk.graph, where, blk.length, None, ports)
        problems += _branch(hw, blk, where)
    for p in hw.pipelines:
        where = f"pipeline {p.name} (line {p.loc.line})"
        problems += _pipeline(p, where)
        if p.ii >= 1:
            problems += _region(hw, p.graph, where, p.depth, p.ii, ports)
    problems += _fsm(hw)
    return problems


def _region(hw: Hardware, g: Graph, where: str, length: int, ii: int | None, ports: dict[str, int]) -> list[str]:
    """The problems of one scheduled region (`ii` None: a block, run once per entry)."""
    out: list[str] = []

    def bad(o: Op, rule: str, detail: str) -> None:
        out.append(f"{where}: {_name(o)}: {rule}: {detail}")

    order = {o.id: n for n, o in enumerate(g.ops)}
    clock = hw.timing.clock_ns
    for o in g.ops:
        if o.time < 0 or o.ready >= length:
            bad(o, "placed", f"runs in cycle {o.time} (ready in {o.ready}), outside the region's {length} cycles")
        if o.pinned is not None and o.time != o.pinned:
            bad(o, "placed", f"is pinned to cycle {o.pinned} but runs in cycle {o.time}")
        for a in o.args:
            if order.get(a.id, len(order)) >= order[o.id]:
                bad(o, "operand", f"operand {_name(a)} is not an earlier op of the region")
            if a.kind in FREE:
                continue
            if o.time < a.ready:
                bad(
                    o,
                    "dependence",
                    f"starts in cycle {o.time}, but operand {_name(a)} (cycle {a.time}, latency "
                    f"{a.latency}) is ready in cycle {a.ready}",
                )
            elif o.time == a.time and a.latency == 0 and o.start + EPS < a.start + a.delay:
                bad(
                    o,
                    "chaining",
                    f"starts at {o.start:.2f} ns in cycle {o.time}, before operand {_name(a)} ends "
                    f"at {a.start + a.delay:.2f} ns",
                )
        if o.start < 0 or (o.start > EPS and o.start + o.delay > clock + EPS):
            bad(o, "chaining", f"runs from {o.start:.2f} to {o.start + o.delay:.2f} ns, past the {clock} ns clock")
    for e in g.edges:
        if e.src.id not in order or e.dst.id not in order:
            bad(e.dst, "operand", f"edge from {_name(e.src)} ({e.why}) leaves the region")
            continue
        if e.distance > 0 and ii is None:
            continue  # a block runs once per entry: nothing is carried to a next iteration
        slack = e.dst.time + e.distance * (ii or 0) - (e.src.time + e.latency)
        if slack < 0:
            carried = f" + {e.distance} * II={ii}" if e.distance else ""
            bad(
                e.dst,
                "edge",
                f"cycle {e.dst.time}{carried} is before {_name(e.src)}'s cycle {e.src.time} + latency "
                f"{e.latency} ({e.why})",
            )
    out += _resources(hw, g, where, ii, ports)
    return out


def _resources(hw: Hardware, g: Graph, where: str, ii: int | None, ports: dict[str, int]) -> list[str]:
    """Uses of each limited resource per cycle (per cycle modulo II), and the memory ports they take."""
    out: list[str] = []
    users: dict[tuple[str, int], list[Op]] = defaultdict(list)
    for o in g.ops:
        if o.resource is not None and o.time >= 0:
            users[(o.resource, o.time if ii is None else o.time % ii)].append(o)
    slot_name = "cycle" if ii is None else f"cycle modulo II={ii}"
    for (res, slot), ops in sorted(users.items()):
        ids = ", ".join(_name(o) for o in ops)
        lim = hw.limits.limit(res)
        what = "multipliers" if res == "mul" else f"ports of bank `{res}`"
        if lim is not None and len(ops) > lim:
            out.append(f"{where}: {ids}: resource: {len(ops)} uses of {what} in {slot_name} {slot}, limit {lim}")
        if res == "mul":
            continue
        if res.startswith("stream:"):
            if any(o.kind not in STREAM or f"stream:{o.stream}" != res for o in ops):
                out.append(f"{where}: {ids}: resource: only ops of the stream use `{res}`")
            continue
        taken: dict[int, Op] = {}
        for o in ops:
            if o.kind not in MEMORY:
                out.append(f"{where}: {_name(o)}: resource: only loads and stores use bank `{res}`")
            elif not 0 <= o.port < ports.get(res, 0):
                out.append(
                    f"{where}: {_name(o)}: resource: port {o.port} of bank `{res}`, which has "
                    f"{ports.get(res, 0)} port(s)"
                )
            elif o.port in taken:
                out.append(
                    f"{where}: {_name(o)}: resource: port {o.port} of bank `{res}` is also used by "
                    f"{_name(taken[o.port])} in {slot_name} {slot}"
                )
            else:
                taken[o.port] = o
    return out


def _pipeline(p: Pipeline, where: str) -> list[str]:
    """The problems of a pipeline's II, depth and issue ops."""
    out: list[str] = []
    if not 1 <= p.ii_asked <= p.ii:
        out.append(f"{where}: ii: II={p.ii} with II={p.ii_asked} asked (needs 1 <= asked <= II)")
    if p.depth < 1:
        out.append(f"{where}: ii: depth {p.depth} (needs at least 1)")
    valid = [o for o in p.graph.ops if o.kind == OpKind.VALID]
    if len(valid) != 1:
        out.append(f"{where}: ii: {len(valid)} valid ops (needs exactly one)")
    for o in p.graph.ops:
        if o.kind in (OpKind.SNAP, OpKind.VALID) and o.pinned != 0:
            out.append(f"{where}: {_name(o)}: ii: an issue op must be pinned to cycle 0")
    if p.rows is not None:
        ids = {o.id for o in p.graph.ops}
        for bound in (p.rows.lo, p.rows.hi):
            if bound is not None and bound.id not in ids:
                out.append(f"{where}: {_name(bound)}: operand: a row bound is not an op of the pipeline")
    return out


def _branch(hw: Hardware, blk: Block, where: str) -> list[str]:
    """The block's branch condition, if any, is ready in its last cycle."""
    cond = blk.graph.outputs.get("cond")
    last = [st for st in hw.states if st.block is blk and st.cycle == blk.length - 1]
    if cond is None or not last or last[0].cond is None:
        return []
    if cond.kind not in FREE and cond.ready > blk.length - 1:
        return [
            f"{where}: {_name(cond)}: branch: ready in cycle {cond.ready}, after the block's last cycle "
            f"{blk.length - 1}"
        ]
    return []


def _fsm(hw: Hardware) -> list[str]:
    """States numbered in order; every transition resolves to a state of the design."""
    out: list[str] = []
    known = {id(st) for st in hw.states}
    for n, st in enumerate(hw.states):
        if st.index != n:
            out.append(f"state {n}: fsm: numbered {st.index}")
        for label in (st.goto, st.if_true, st.if_false):
            if label is not None and id(_resolve(label)) not in known:
                out.append(f"state {n}: fsm: a transition to a state outside the design")
        if st.index > 1 and st.block is None and st.pipe is None:
            out.append(f"state {n}: fsm: neither a block cycle nor a pipeline")
    if id(_resolve(hw.entry)) not in known:
        out.append("entry: fsm: the entry is not a state of the design")
    return out


def _resolve(label: Label) -> object:
    try:
        return label.get()
    except RuntimeError:
        return None


def _name(o: Op) -> str:
    """`%id kind` (and the line of the kernel it comes from)."""
    line = f" (line {o.loc.line})" if o.loc is not None else ""
    return f"%{o.id} {o.kind.value}{line}"


__all__ = ["ScheduleError", "schedule_problems", "verify_schedule"]
