"""Speed fixes for MyHDL, with the same results.

MyHDL spends most of an elaboration, a conversion and a simulation of our
generated designs on three slow helpers, which `install()` replaces where
MyHDL looks them up:

- `intbv(min=..., max=...)` takes its width from a two's-complement bit string
  that `myhdl._bin._int2bitstring` builds one bit at a time; a generated
  datapath declares each of its exact-width variables every time it runs.
  Replaced by `int2bitstring`, the same strings from Python's int formatting
  (tests/test_hls.py compares the two).
- Every `@always`/`@instance` asks `inspect.stack()` for its caller's frame;
  that reads the source lines of every frame on the stack (deep under pytest),
  which MyHDL never looks at. Replaced by `stack()`, the same frames without them.
- Every generator's AST (`myhdl._util._makeAST`) tokenizes its source three
  times, once per elaboration and again per conversion. `make_ast` keeps the
  prepared source of each function (its code object cannot change) and
  compiles a fresh tree from it each time, as MyHDL does.
"""

from __future__ import annotations
import __future__

import ast
import functools
import inspect
import sys
import types
from types import CodeType, FrameType, FunctionType

_FUTURE_FLAGS = functools.reduce(
    lambda a, b: a | b, (getattr(__future__, f).compiler_flag for f in __future__.all_feature_names)
)


def int2bitstring(num: int) -> str:
    """The minimal two's-complement bit string of `num`, as `myhdl._bin._int2bitstring` writes it."""
    if num >= 0:
        return format(num, "b")
    width = (~num).bit_length() + 1  # the sign bit and the magnitude's bits
    return format(num & ((1 << width) - 1), "b")


def stack() -> list[tuple]:
    """`inspect.stack()` from the caller outwards: (frame, file, line, function, None, None) per frame."""
    out = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        out.append((frame, frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None, None))
        frame = frame.f_back
    return out


_sources: dict[CodeType, tuple[str, str | None, int]] = {}


def make_ast(f: FunctionType) -> ast.Module:
    """`myhdl._util._makeAST(f)`: the module AST of f's dedented source, with `sourcefile` and `lineoffset`."""
    from myhdl._util import _dedent

    prepared = _sources.get(f.__code__)
    if prepared is None:
        lines, first = inspect.getsourcelines(f)
        prepared = _sources[f.__code__] = (_dedent("".join(lines)), inspect.getsourcefile(f), first - 1)
    source, file, offset = prepared
    tree = compile(
        source,
        filename="<unknown>",
        mode="exec",
        dont_inherit=True,
        flags=ast.PyCF_ONLY_AST | (f.__code__.co_flags & _FUTURE_FLAGS),
    )
    tree.sourcefile, tree.lineoffset = file, offset
    return tree


@functools.cache
def install() -> None:
    from myhdl import _bin, _block, _instance, _util
    from myhdl.conversion import _analyze

    _bin._int2bitstring = int2bitstring
    fast_inspect = types.SimpleNamespace(**{**vars(inspect), "stack": stack})
    _instance.inspect = _block.inspect = fast_inspect
    for module in (_util, _instance, _analyze):
        module._makeAST = make_ast
