"""The kernel IR: frozen, slotted dataclasses; every node carries its source location.

The IR is structured (loops and ifs stay nested) and typed: every expression
has the type of its exact value, so `i32 + i32` is a 33-bit `IntType`.
Assignments and stores wrap to the declared type of their target.
"""

from __future__ import annotations

from dataclasses import dataclass

from hls.types import ArrayType, ScalarType, StreamType


@dataclass(frozen=True, slots=True)
class Loc:
    """A position in a kernel's source file (1-based line, 0-based column)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col + 1}"


# ---- expressions -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    value: int | float
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Var:
    """A scalar parameter, local or loop variable."""

    name: str
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Dim:
    """`array.shape[axis]` of an array parameter (a symbolic dim bound per call)."""

    array: str
    axis: int
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Load:
    """Read one element of an array parameter or a constant table."""

    array: str
    indices: tuple[Expr, ...]
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class BinOp:
    """Arithmetic and bitwise ops: + - * // % << >> & | ^, and / on floats."""

    op: str
    lhs: Expr
    rhs: Expr
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class UnaryOp:
    """`-`, `~` and `not`."""

    op: str
    operand: Expr
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # one of < <= > >= == !=
    lhs: Expr
    rhs: Expr
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Logical:
    """Short-circuit `and` / `or` on truth values; the result is a bool."""

    op: str
    lhs: Expr
    rhs: Expr
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Select:
    """`a if cond else b`."""

    cond: Expr
    then: Expr
    orelse: Expr
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Cast:
    """Convert to `type`: integers wrap, bools take the truth value."""

    operand: Expr
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Intrinsic:
    """`min`, `max`, `abs`, and for float kernels `exp`, `log`, `sqrt`."""

    name: str
    args: tuple[Expr, ...]
    type: ScalarType
    loc: Loc


@dataclass(frozen=True, slots=True)
class ArrayArg:
    """An array passed to a kernel call."""

    array: str
    type: ArrayType
    loc: Loc


@dataclass(frozen=True, slots=True)
class StreamArg:
    """A stream passed to a kernel call (only in a dataflow region: the callee is a process)."""

    stream: str
    type: StreamType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Call:
    """Call another kernel; `type` is its return type (None for none)."""

    callee: str
    args: tuple[Expr | ArrayArg | StreamArg, ...]
    type: ScalarType | None
    loc: Loc


Expr = Const | Var | Dim | Load | BinOp | UnaryOp | Compare | Logical | Select | Cast | Intrinsic | Call


def value_type(e: Expr) -> ScalarType:
    """The type of the value of `e`, which the caller knows to have one.

    Only a call of a kernel without a return type has none (TypeError here: a compiler bug).
    """
    if e.type is None:
        raise TypeError(f"{e!r} has no value")
    return e.type


# ---- statements --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assign:
    """Store to a local; the value wraps to the local's declared type."""

    name: str
    value: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Store:
    """Store to an array element; the value wraps to the element type.

    `pred` (set by if-conversion) is a bool: when it is false nothing is evaluated or stored.
    """

    array: str
    indices: tuple[Expr, ...]
    value: Expr
    loc: Loc
    pred: Expr | None = None


@dataclass(frozen=True, slots=True)
class For:
    """`for var in range(start, stop, step)`; kind: serial, prange, unroll or pipeline."""

    var: str
    start: Expr
    stop: Expr
    step: Const  # the frontend accepts only a constant step; the verifier checks it stays one
    kind: str
    body: tuple[Stmt, ...]
    loc: Loc
    ii: int | None = None  # pipeline: the initiation interval asked for
    factor: int | None = None  # unroll: None unrolls fully


@dataclass(frozen=True, slots=True)
class While:
    cond: Expr
    body: tuple[Stmt, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class CallStmt:
    call: Call
    loc: Loc


@dataclass(frozen=True, slots=True)
class Return:
    """Return a value; only as the last statement of a kernel with a return type."""

    value: Expr
    loc: Loc


@dataclass(frozen=True, slots=True)
class Alloc:
    """Declare a local array of `type`, zero-filled, with the given dim sizes."""

    name: str
    type: ArrayType
    dims: tuple[Expr, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Read:
    """`name = stream.read()`: pop the head of a stream parameter into a local (blocks while it is empty).

    The frontend hoists every `x.read()` of an expression into one of these, in evaluation order.
    `pred` (set by if-conversion) is a bool: when it is false nothing is read and `name` keeps its value.
    """

    name: str
    stream: str
    loc: Loc
    pred: Expr | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """`stream.write(value)`: push onto a stream parameter (blocks while it is full); wraps to the element type."""

    stream: str
    value: Expr
    loc: Loc
    pred: Expr | None = None


@dataclass(frozen=True, slots=True)
class StreamDecl:
    """`name = stream(elem, depth=EXPR)` in a dataflow region: a FIFO of `depth` elements (dims and params)."""

    name: str
    type: StreamType
    depth: Expr
    loc: Loc


Stmt = Assign | Store | For | While | If | CallStmt | Return | Alloc | Read | Write | StreamDecl


# ---- functions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: ScalarType | ArrayType | StreamType
    loc: Loc


@dataclass(frozen=True, slots=True)
class Local:
    """A local variable; `scope` is the prange loop variable whose body owns it, or ''."""

    name: str
    type: ScalarType
    scope: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class Table:
    """A constant table (a ROM in hardware)."""

    name: str
    elem: ScalarType
    values: tuple[int | float, ...]
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Function:
    """One kernel. `callees` names the kernels it calls, by their IR name."""

    name: str
    params: tuple[Param, ...]
    locals: tuple[Local, ...]
    body: tuple[Stmt, ...]
    ret: ScalarType | None
    tables: tuple[Table, ...]
    callees: tuple[str, ...]
    loc: Loc
