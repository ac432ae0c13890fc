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

Throughput lanes (`for j in pipeline(range(0, N, P)): for p in unroll(range(P)): s[i, j + p] = ...`)
index an axis with a loop variable that is a multiple of P plus a constant: that axis is partitioned
*cyclically* by P (bank (j + p) % P, address (j + p) // P), besides a complete axis, when a pipelined
loop reaches two or more of its residues. `partition=` also takes schemes: `(axis, "cyclic", F)`,
`(axis, "block", F)` (F banks of ceil(size / F) consecutive indices), `(axis, "complete")`, or a list
of them, e.g. `partition={"k": [1, (0, "cyclic", 4)]}`. A cyclic or block axis needs the bank of every
index known at compile time (a constant, or a sum of constants and loop variables stepping by
multiples of F); the report says which scheme each memory got.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hls import ir
from hls.errors import KernelError
from hls.hw.ops import BinaryOp, OpKind
from hls.inttypes import narrowest_int as exact
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


@dataclass(frozen=True)
class Part:
    """How one axis is split into banks: `complete` (one bank per index), `cyclic` (index % factor) or
    `block` (index // ceil(size / factor)); `factor` banks along the axis."""

    axis: int
    scheme: str
    factor: int
    size: int

    @property
    def local_size(self) -> int:
        """Indices of this axis in one bank."""
        return 1 if self.scheme == "complete" else -(-self.size // max(1, self.factor))

    def coord(self, index: int) -> int:
        """The bank (along this axis) that holds `index`."""
        if self.scheme == "block":
            return index // self.local_size
        return index % self.factor if self.factor else 0

    def local(self, index: int) -> int:
        """The position of `index` inside its bank."""
        if self.scheme == "complete":
            return 0
        return index % self.local_size if self.scheme == "block" else index // self.factor

    def describe(self) -> str:
        return f"axis {self.axis} {self.scheme}" + ("" if self.scheme == "complete" else f" by {self.factor}")


@dataclass(eq=False)
class Memory:
    """How one array or table maps to banks."""

    name: str
    kind: str
    elem: ScalarType
    shape: tuple[int, ...]
    parts: tuple[Part, ...]
    ports: int
    banks: list[Bank] = field(default_factory=list)
    reads: bool = False
    writes: bool = False
    align: dict[str, int] = field(default_factory=dict)  # loop variable -> a number it is always a multiple of

    @property
    def axis(self) -> int | None:
        """The completely partitioned axis when that is the only partitioning (None otherwise)."""
        if len(self.parts) == 1 and self.parts[0].scheme == "complete":
            return self.parts[0].axis
        return None

    def part(self, axis: int) -> Part | None:
        return next((p for p in self.parts if p.axis == axis), None)

    def local_shape(self) -> list[int]:
        """Each axis's size inside one bank (1 for a completely partitioned axis)."""
        return [p.local_size if (p := self.part(a)) else n for a, n in enumerate(self.shape)]

    def strides(self) -> list[tuple[int, int]]:
        """(axis, stride) of the address computation, row-major over the axes not completely partitioned."""
        local = self.local_shape()
        axes = [a for a in range(len(self.shape)) if (p := self.part(a)) is None or p.scheme != "complete"]
        out, stride = [], 1
        for a in reversed(axes):
            out.append((a, stride))
            stride *= local[a]
        return list(reversed(out))

    def coords(self, number: int) -> list[int]:
        """The bank coordinate along each partitioned axis of bank `number`."""
        out = []
        for p in reversed(self.parts):
            out.append(number % p.factor)
            number //= p.factor
        return list(reversed(out))

    def bank_for(self, idx: list[Op], loc: ir.Loc) -> Bank:
        """The bank an access with index ops `idx` goes to (a partitioned axis needs a constant index)."""
        return self.locate(idx, loc)[0]

    def locate(self, idx: list[Op], loc: ir.Loc) -> tuple[Bank, dict[int, tuple[Op, int, int]]]:
        """The bank of an access with index ops `idx`, and for each cyclic or block axis how to compute the
        index inside the bank from its op: (op, offset, divisor), local = (op - offset) // divisor."""
        if not self.parts:
            return self.banks[0], {}
        number, local = 0, {}
        for p in self.parts:
            k = idx[p.axis]
            if k.kind == OpKind.CONST:
                if not 0 <= k.value < p.size:
                    raise KernelError(
                        f"index {k.value} is out of bounds for axis {p.axis} of `{self.name}`", loc, "fix the index"
                    )
                c = p.coord(k.value)
            elif p.scheme == "complete":
                raise KernelError(
                    f"`{self.name}` is partitioned along axis {p.axis}, but this index is not a constant",
                    loc,
                    f"do not partition `{self.name}` (partition={{'{self.name}': None}})",
                )
            else:
                static = self._static_coord(p, k)
                if static is None:
                    raise KernelError(
                        f"`{self.name}` is partitioned {p.describe()}, but the bank of this index is not known "
                        "at compile time",
                        loc,
                        f"index with a loop variable stepping by a multiple of {p.factor} plus a constant, "
                        f"or do not partition `{self.name}` (partition={{'{self.name}': None}})",
                    )
                c = static
            number = number * p.factor + c
            if p.scheme == "cyclic":
                local[p.axis] = (k, 0, p.factor)
            elif p.scheme == "block":
                local[p.axis] = (k, c * p.local_size, 1)
        return self.banks[number], local

    def _static_coord(self, p: Part, k: Op) -> int | None:
        """The bank along `p` of the index op `k` when the compiler can tell it, else None."""
        if p.scheme == "block":
            t = k.value_type
            lo, hi = getattr(t, "lo", None), getattr(t, "hi", None)
            if lo is None or hi is None or lo < 0 or p.coord(lo) != p.coord(hi):
                return None
            return p.coord(lo)
        return _residue(k, p.factor, self.align)

    def split(self, values: Any) -> dict[str, Any]:
        """The bank images of an array (numpy), keyed by bank prefix."""
        import numpy as np

        a = np.asarray(values)
        if a.size == 0:  # an empty array still gets a (never addressed) one-word bank
            return {b.prefix: np.zeros(b.depth, a.dtype) for b in self.banks}
        if self.axis is not None or not self.parts:
            if self.axis is None:
                return {self.banks[0].prefix: a.reshape(-1)}
            moved = np.moveaxis(a, self.axis, 0)
            return {b.prefix: moved[b.number].reshape(-1) for b in self.banks}
        shape = self._bank_shape()
        out = {}
        for b in self.banks:
            held = a[self._selection(b)]
            img = np.zeros(shape, a.dtype)
            img[tuple(slice(0, n) for n in held.shape)] = held
            out[b.prefix] = img.reshape(-1)
        return out

    def join(self, images: dict[str, Any], out: Any) -> None:
        """Write the bank images back into the array `out` (numpy, in place)."""
        import numpy as np

        if out.size == 0:
            return
        if self.axis is None and not self.parts:
            out[...] = np.asarray(images[self.banks[0].prefix]).reshape(out.shape)
            return
        if self.axis is not None:
            moved = np.moveaxis(out, self.axis, 0)
            for b in self.banks:
                moved[b.number] = np.asarray(images[b.prefix]).reshape(moved.shape[1:])
            return
        shape = self._bank_shape()
        for b in self.banks:
            sel = self._selection(b)
            img = np.asarray(images[b.prefix]).reshape(shape)
            out[sel] = img[tuple(slice(0, n) for n in out[sel].shape)]

    def _bank_shape(self) -> list[int]:
        """A bank's words as an array: the local sizes of the axes not completely partitioned."""
        return [n for a, n in enumerate(self.local_shape()) if (p := self.part(a)) is None or p.scheme != "complete"]

    def indices_of(self, bank: Bank, flat: ir.Expr, depth: int, loc: ir.Loc) -> list[ir.Expr]:
        """The array indices of the word at address `flat` of `bank` (to zero-fill local arrays)."""

        def const(v: int) -> ir.Const:
            return ir.Const(v, exact(v, v), loc)

        strides = dict(self.strides())
        first = min(strides, default=None)  # the slowest axis needs no modulo
        coords = dict(zip([p.axis for p in self.parts], self.coords(bank.number), strict=True))
        idx: list[ir.Expr] = []
        for axis, size in enumerate(self.local_shape()):
            part = self.part(axis)
            if part is not None and part.scheme == "complete":
                idx.append(const(coords[axis]))
                continue
            x = flat if strides[axis] == 1 else ir.BinOp("//", flat, const(strides[axis]), exact(0, depth), loc)
            x = x if axis == first else ir.BinOp("%", x, const(size), exact(0, size), loc)
            if part is not None:  # a cyclic or block axis: back from the bank's index to the array's
                c = coords[axis]
                scale, off = (part.factor, c) if part.scheme == "cyclic" else (1, c * size)
                hi = (size - 1) * scale + off
                x = ir.BinOp("*", x, const(scale), exact(0, hi), loc) if scale > 1 else x
                x = ir.BinOp("+", x, const(off), exact(0, hi + 1), loc) if off else x
            idx.append(x)
        return idx

    def _selection(self, bank: Bank) -> tuple[Any, ...]:
        """The numpy index of the elements bank `bank` holds (complete axes dropped), in address order.

        NOTE: a cyclic or block axis whose size the factor does not divide leaves the last words of some
        banks unused (their depth is the largest bank's); split pads them with zeros, join drops them."""
        sel: list[Any] = [slice(None)] * len(self.shape)
        for p, c in zip(self.parts, self.coords(bank.number), strict=True):
            if p.scheme == "complete":
                sel[p.axis] = c
            elif p.scheme == "cyclic":
                sel[p.axis] = slice(c, None, p.factor)
            else:
                sel[p.axis] = slice(c * p.local_size, (c + 1) * p.local_size)
        return tuple(sel)


def _residue(k: Op, factor: int, align: dict[str, int]) -> int | None:
    """`k`'s value modulo `factor` when it is the same in every cycle (constants, aligned loop counters, + - *)."""
    if k.kind == OpKind.CONST:
        return int(k.value) % factor
    if k.kind in (OpKind.SNAP, OpKind.REG):
        return 0 if align.get(k.reg, 1) % factor == 0 else None
    if k.kind == OpKind.CAST:
        (x,) = k.args
        t, xt = k.value_type, x.value_type
        fits = getattr(t, "lo", 1) <= getattr(xt, "lo", 0) and getattr(xt, "hi", 1) <= getattr(t, "hi", 0)
        return _residue(x, factor, align) if fits else None
    if k.kind in (OpKind.BIN, OpKind.MULC, OpKind.SHIFT_CONST) and len(k.args) == 2:
        a, b = (_residue(x, factor, align) for x in k.args)
        op = k.binop
        if op == BinaryOp.MUL:
            if 0 in (a, b):
                return 0
            return None if a is None or b is None else a * b % factor
        if op == BinaryOp.SHL and k.args[1].kind == OpKind.CONST:
            return None if a is None else (a << int(k.args[1].value)) % factor
        if a is None or b is None:
            return None
        if op == BinaryOp.ADD:
            return (a + b) % factor
        if op == BinaryOp.SUB:
            return (a - b) % factor
    return None


PartitionSpec = int | tuple[Any, ...] | list[Any] | None


def _parts(name: str, spec: PartitionSpec, shape: tuple[int, ...], loc: ir.Loc) -> tuple[Part, ...]:
    """The parts of a `partition=` entry: an axis, (axis, scheme[, factor]), or a list of those."""
    items: Iterable[Any] = [] if spec is None else spec if isinstance(spec, list) else [spec]
    parts = []
    for item in items:
        axis, scheme, factor = (item, "complete", None) if isinstance(item, int) else (tuple(item) + (None,))[:3]
        if not isinstance(axis, int) or not 0 <= axis < len(shape):
            raise KernelError(f"lower(): `{name}` has no axis {axis}", loc, f"axes are 0..{len(shape) - 1}")
        if scheme not in ("complete", "cyclic", "block"):
            raise KernelError(
                f"lower(): partition[{name!r}]: unknown scheme {scheme!r}", loc, "use 'complete', 'cyclic' or 'block'"
            )
        if scheme == "complete":
            factor = shape[axis]
        elif not isinstance(factor, int) or factor < 1:
            raise KernelError(
                f"lower(): partition[{name!r}]: a {scheme} axis needs a factor >= 1, got {factor!r}",
                loc,
                f"write ({axis}, {scheme!r}, 4)",
            )
        parts.append(Part(axis, scheme, factor, shape[axis]))
    if len({p.axis for p in parts}) != len(parts):
        raise KernelError(f"lower(): partition[{name!r}] names an axis twice", loc, "name each axis once")
    return tuple(sorted(parts, key=lambda p: p.axis))


def map_memories(
    fn: ir.Function, partition: dict[str, PartitionSpec] | None = None, ports: dict[str, int] | None = None
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
    align = loop_alignment(fn)
    memories = {}
    for name, (kind, elem, shape, init) in arrays.items():
        nports = ports.get(name, DEFAULT_PORTS)
        if not 1 <= nports <= 4:
            raise KernelError(f"lower(): ports[{name!r}] must be 1..4, got {nports}", fn.loc, "use 1 or 2")
        accs = accesses.get(name, [])
        if name in partition:
            parts = _parts(name, partition[name], shape, fn.loc)
        else:
            axis = _auto_axis(accs, shape, nports)
            parts = () if axis is None else (Part(axis, "complete", shape[axis], shape[axis]),)
            parts = _auto_lanes(accs, shape, parts, align)
        mem = Memory(name, kind, elem, shape, parts, nports, align=align)
        mem.reads = kind == "rom" or any(not w for w, _, _ in accs)
        mem.writes = kind != "rom" and any(w for w, _, _ in accs)
        nbanks = math.prod(p.factor for p in parts)
        depth = max(1, math.prod(mem.local_shape()) if parts else math.prod(shape))
        for b in range(nbanks):
            prefix = f"m_{name}" if not parts else f"m_{name}_b{b}"
            mem.banks.append(Bank(prefix, name, b, depth, elem, nports, kind, init if not parts else ()))
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


def loop_alignment(fn: ir.Function) -> dict[str, int]:
    """variable -> a number its value is always a multiple of (loop counters `range(0, n, P)` give P)."""
    defs: dict[str, list[ir.Expr]] = {}
    for s in statements(fn.body):
        if isinstance(s, ir.For):
            defs.setdefault(s.var, []).extend([s.start, s.step])
        elif isinstance(s, ir.Assign):
            defs.setdefault(s.name, []).append(s.value)
    align = dict.fromkeys(defs, 0)  # 0: a multiple of everything so far (gcd's identity)
    for _ in range(8):
        new = {v: math.gcd(*(_align(e, align) for e in es)) for v, es in defs.items()}
        if new == align:
            break
        align = new
    else:
        align = {v: 1 for v in defs}  # NOTE: no fixed point soon: claim nothing
    return {v: a for v, a in align.items() if a > 1}


def _align(e: ir.Expr, align: dict[str, int]) -> int:
    """A number `e` is always a multiple of (0: e is 0)."""
    if isinstance(e, ir.Const):
        return abs(int(e.value)) if isinstance(e.value, int) else 1
    if isinstance(e, ir.Var):
        return align.get(e.name, 1)
    if isinstance(e, ir.Cast):
        return _align(e.operand, align)
    if isinstance(e, ir.BinOp):
        a, b = _align(e.lhs, align), _align(e.rhs, align)
        if e.op in ("+", "-"):
            return math.gcd(a, b)
        if e.op == "*":
            return a * b
        if e.op == "<<" and isinstance(e.rhs, ir.Const):
            return a << int(e.rhs.value)
    return 1


def _ir_residue(e: ir.Expr, factor: int, align: dict[str, int]) -> int | None:
    """`e` modulo `factor` when the same in every iteration, else None (the IR form of `_residue`)."""
    if _align(e, align) % factor == 0:
        return 0
    if isinstance(e, ir.Const):
        return int(e.value) % factor
    if isinstance(e, ir.Cast):
        return _ir_residue(e.operand, factor, align)
    if isinstance(e, ir.BinOp) and e.op in ("+", "-"):
        a, b = _ir_residue(e.lhs, factor, align), _ir_residue(e.rhs, factor, align)
        if a is None or b is None:
            return None
        return (a + b if e.op == "+" else a - b) % factor
    return None


def _auto_lanes(accs: list, shape: tuple[int, ...], parts: tuple[Part, ...], align: dict[str, int]) -> tuple[Part, ...]:
    """Add a cyclic axis for throughput lanes: every access's bank along it known, and some pipelined loop
    reaching two or more banks (`j + p` with j stepping by P: P banks)."""
    done = {p.axis for p in parts}
    factors = sorted({a for a in align.values()}, reverse=True)
    for axis in range(len(shape)):
        if axis in done or not accs:
            continue
        for f in factors:
            if f > shape[axis]:
                continue
            res = [(_ir_residue(ix[axis], f, align), pipe) for _, ix, pipe in accs]
            if any(r is None for r, _ in res):
                continue
            per_loop: dict[str, set[int | None]] = {}
            for r, pipe in res:
                if pipe is not None:
                    per_loop.setdefault(pipe, set()).add(r)
            if any(len(rs) > 1 for rs in per_loop.values()):
                return tuple(sorted((*parts, Part(axis, "cyclic", f, shape[axis])), key=lambda p: p.axis))
    return parts
