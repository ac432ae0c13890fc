"""What the kernel frontend accepts, as data: the operators and calls it maps to IR, and what it refuses.

Each refused statement or expression type maps to the (message, fix) of the
KernelError the frontend raises at the user's line.
"""

from __future__ import annotations

import ast
import builtins

from hls import lang

__all__ = ["ARITH_OPS", "COMPARE_OPS", "FLOAT_FNS", "LOOP_MARKERS", "OP_FIX", "REJECTED_EXPRS", "REJECTED_STMTS"]

ARITH_OPS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.Div: "/",
}
COMPARE_OPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
LOOP_MARKERS = {lang.prange: "prange", lang.unroll: "unroll", lang.pipeline: "pipeline", builtins.range: "range"}
FLOAT_FNS = {lang.exp: "exp", lang.log: "log", lang.sqrt: "sqrt"}
REJECTED_STMTS = {
    ast.Try: ("try/except is not supported in kernels", "remove it; kernels cannot catch errors"),
    ast.With: ("`with` is not supported in kernels", "remove the with block"),
    ast.Raise: ("raise is not supported in kernels", "check inputs before calling the kernel"),
    ast.Import: ("import is not supported in kernels", "import at module level"),
    ast.ImportFrom: ("import is not supported in kernels", "import at module level"),
    ast.Global: ("global is not supported in kernels", "pass the value as an argument"),
    ast.Nonlocal: ("nonlocal is not supported in kernels", "pass the value as an argument"),
    ast.Delete: ("del is not supported in kernels", "remove it"),
    ast.Assert: ("assert is not supported in kernels", "check inputs before calling the kernel"),
    ast.FunctionDef: (
        "nested functions are not supported in kernels",
        "define another @kernel at module level and call it",
    ),
    ast.ClassDef: ("classes are not supported in kernels", "use arrays and scalars"),
    ast.Break: ("break is not supported in kernels", "use a while loop whose condition ends the loop"),
    ast.Continue: ("continue is not supported in kernels", "put the rest of the body under an if"),
}
REJECTED_EXPRS = {
    ast.List: ("lists are not supported in kernels", "pass an Array argument, or use hls.table(...) for constants"),
    ast.Tuple: ("tuples are not supported in kernels", "use separate scalars or an Array"),
    ast.Dict: ("dicts are not supported in kernels", "use an Array indexed by an integer key"),
    ast.Set: ("sets are not supported in kernels", "use a boolean Array as a membership mask"),
    ast.ListComp: ("comprehensions are not supported in kernels", "write a for loop that stores into an Array"),
    ast.SetComp: ("comprehensions are not supported in kernels", "write a for loop that stores into an Array"),
    ast.DictComp: ("comprehensions are not supported in kernels", "write a for loop that stores into an Array"),
    ast.GeneratorExp: ("generator expressions are not supported in kernels", "write a for loop"),
    ast.Lambda: ("lambda is not supported in kernels", "define another @kernel and call it"),
    ast.JoinedStr: ("strings are not supported in kernels", "use integer codes"),
    ast.Await: ("await is not supported in kernels", "remove it"),
    ast.Yield: ("yield is not supported in kernels", "store results into an Array argument"),
    ast.YieldFrom: ("yield is not supported in kernels", "store results into an Array argument"),
    ast.NamedExpr: ("the walrus operator is not supported in kernels", "assign on its own line"),
    ast.Starred: ("star-unpacking is not supported in kernels", "pass arguments one by one"),
    ast.Slice: ("slices are not supported in kernels", "index one element at a time in a loop"),
}
OP_FIX = "kernels support + - * // % << >> & | ^ (and / on floats); for powers use << or multiply"
