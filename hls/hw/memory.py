"""Memory mapping: every array becomes one or more RAM banks, every constant table a ROM.

- Array parameters are external RAMs: the design gets address / read-data /
  write-data / write-enable ports per bank and port (`m_<array>[_b<k>]_addr<p>`
  ...), served by the test bench or the surrounding system: synchronous, one
  cycle read latency, read-first.
- Local arrays (`zeros(...)`) are internal RAMs with the same timing.
- Constant tables are internal ROMs (one cycle read latency).

An axis is *partitioned* (one bank per index along it, so an unrolled loop can
read all of them in one cycle) when every access indexes it with a constant
and some pipelined loop makes more accesses per iteration than a bank has
ports; `lower(..., partition={"k": 1})` forces an axis, `partition={"k": None}`
forbids it. Each bank has `ports` ports (default 2, a true dual-port block
RAM; `lower(..., ports={"s": 1})` changes it).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hls import ir
from hls.errors import KernelError
from hls.hw.ops import OpKind
from hls.ir.walk import statements, stmt_exprs, subexpressions
from hls.types import ArrayType, ScalarType

if TYPE_CHECKING:
    from hls.hw.dfg import Op

DEFAULT_PORTS = 2


@dataclass(frozen=True, eq=False)
class Bank:
    """One physical memory: `depth` words of `elem`, `ports` ports."""

    prefix: str
    array: str
    number: int  # index along the partitioned axis (0 when not partitioned)
    depth: int
    elem: ScalarType
    ports: int
    kind: str  # "ext" (a port of the design), "ram" (internal), "rom" (internal, constant)
    init: tuple[int, ...] = ()

    @property
    def addr_width(self) -> int:
        return max(1, (self.depth - 1).bit_length())


@dataclass(eq=False)
class Memory:
    """How one array or table maps to banks."""

    name: str
    kind: str
    elem: ScalarType
    shape: tuple[int, ...]
    axis: int | None
    ports: int
    banks: list[Bank] = field(default_factory=list)
    reads: bool = False
    writes: bool = False

    def strides(self) -> list[tuple[int, int]]:
        """(axis, stride) of the address computation, row-major over the axes that are not partitioned."""
        axes = [a for a in range(len(self.shape)) if a != self.axis]
        out, stride = [], 1
        for a in reversed(axes):
            out.append((a, stride))
            stride *= self.shape[a]
        return list(reversed(out))

    def bank_for(self, idx: list[Op], loc: ir.Loc) -> Bank:
        """The bank an access with index ops `idx` goes to (a partitioned axis needs a constant index)."""
        if self.axis is None:
            return self.banks[0]
        k = idx[self.axis]
        if k.kind != OpKind.CONST:
            raise KernelError(
                f"`{self.name}` is partitioned along axis {self.axis}, but this index is not a constant",
                loc,
                f"do not partition `{self.name}` (partition={{'{self.name}': None}})",
            )
        if not 0 <= k.value < len(self.banks):
            raise KernelError(
                f"index {k.value} is out of bounds for axis {self.axis} of `{self.name}`", loc, "fix the index"
            )
        return self.banks[k.value]

    def split(self, values: Any) -> dict[str, Any]:
        """The bank images of an array (numpy), keyed by bank prefix."""
        import numpy as np

        a = np.asarray(values)
        if a.size == 0:  # an empty array still gets a (never addressed) one-word bank
            return {b.prefix: np.zeros(b.depth, a.dtype) for b in self.banks}
        if self.axis is None:
            return {self.banks[0].prefix: a.reshape(-1)}
        moved = np.moveaxis(a, self.axis, 0)
        return {b.prefix: moved[b.number].reshape(-1) for b in self.banks}

    def join(self, images: dict[str, Any], out: Any) -> None:
        """Write the bank images back into the array `out` (numpy, in place)."""
        import numpy as np

        if out.size == 0:
            return
        if self.axis is None:
            out[...] = np.asarray(images[self.banks[0].prefix]).reshape(out.shape)
            return
        moved = np.moveaxis(out, self.axis, 0)
        for b in self.banks:
            moved[b.number] = np.asarray(images[b.prefix]).reshape(moved.shape[1:])


def map_memories(
    fn: ir.Function, partition: dict[str, int | None] | None = None, ports: dict[str, int] | None = None
) -> dict[str, Memory]:
    """Decide the banks of every array parameter, local array and table of a bound function."""
    partition = dict(partition or {})
    ports = dict(ports or {})
    arrays: dict[str, tuple[str, ScalarType, tuple[int, ...], tuple[int, ...]]] = {}
    for p in fn.params:
        if isinstance(p.type, ArrayType):
            arrays[p.name] = ("ext", p.type.elem, tuple(int(d) for d in p.type.dims), ())
    for s in statements(fn.body):
        if isinstance(s, ir.Alloc):
            dims = []
            for d in s.dims:
                if not isinstance(d, ir.Const):
                    raise KernelError(
                        f"the size of local array `{s.name}` is not a constant",
                        s.loc,
                        "bind the dims it depends on with lower(..., N=...)",
                    )
                dims.append(int(d.value))
            arrays[s.name] = ("ram", s.type.elem, tuple(dims), ())
    for t in fn.tables:
        arrays[t.name] = ("rom", t.elem, tuple(t.shape), tuple(int(v) for v in t.values))
    for name in list(partition) + list(ports):
        if name not in arrays:
            raise KernelError(f"lower(): no array or table named `{name}`", fn.loc, f"arrays are: {', '.join(arrays)}")

    accesses = _accesses(fn)
    memories = {}
    for name, (kind, elem, shape, init) in arrays.items():
        nports = ports.get(name, DEFAULT_PORTS)
        if not 1 <= nports <= 4:
            raise KernelError(f"lower(): ports[{name!r}] must be 1..4, got {nports}", fn.loc, "use 1 or 2")
        axis = partition[name] if name in partition else _auto_axis(accesses.get(name, []), shape, nports)
        if axis is not None and not 0 <= axis < len(shape):
            raise KernelError(f"lower(): `{name}` has no axis {axis}", fn.loc, f"axes are 0..{len(shape) - 1}")
        mem = Memory(name, kind, elem, shape, axis, nports)
        accs = accesses.get(name, [])
        mem.reads = kind == "rom" or any(not w for w, _, _ in accs)
        mem.writes = kind != "rom" and any(w for w, _, _ in accs)
        nbanks = shape[axis] if axis is not None else 1
        depth = max(1, math.prod(shape) // max(1, nbanks))
        for b in range(nbanks):
            prefix = f"m_{name}" if axis is None else f"m_{name}_b{b}"
            mem.banks.append(Bank(prefix, name, b, depth, elem, nports, kind, init if axis is None else ()))
        memories[name] = mem
    return memories


def _accesses(fn: ir.Function) -> dict[str, list[tuple[bool, tuple[ir.Expr, ...], str | None]]]:
    """array -> [(is_store, indices, the pipelined loop var it sits in or None)]."""
    out: dict[str, list] = {}

    def visit(body: tuple[ir.Stmt, ...], pipe: str | None) -> None:
        for s in body:
            for e in stmt_exprs(s):
                for x in subexpressions(e):
                    if isinstance(x, ir.Load):
                        out.setdefault(x.array, []).append((False, x.indices, pipe))
            if isinstance(s, ir.Store):
                out.setdefault(s.array, []).append((True, s.indices, pipe))
            if isinstance(s, ir.For):
                visit(s.body, s.var if s.kind == "pipeline" else pipe)
            elif isinstance(s, ir.While):
                visit(s.body, pipe)
            elif isinstance(s, ir.If):
                visit(s.then, pipe)
                visit(s.orelse, pipe)

    visit(fn.body, None)
    return out


def _auto_axis(accs: list, shape: tuple[int, ...], nports: int) -> int | None:
    """Partition the axis that constant indices spread over when a pipelined loop needs more ports."""
    per_loop = Counter(pipe for _, _, pipe in accs if pipe is not None)
    if not per_loop or max(per_loop.values()) <= nports:
        return None
    best, best_n = None, 1
    for axis in range(len(shape)):
        consts = [ix[axis] for _, ix, _ in accs]
        if all(isinstance(c, ir.Const) for c in consts):
            n = len({c.value for c in consts})
            if n > best_n:
                best, best_n = axis, n
    return best
