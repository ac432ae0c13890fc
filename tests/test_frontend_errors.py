"""Every unsupported construct is refused with a KernelError at the user's line.

The broken kernels live in tests/bad_kernels.py; each case below pins the exact
message, fix and location (1-based line, 0-based column) of one of them, and
that the rendered error shows the source line with a caret under the column.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import backends
import hls._expressions
import hls.frontend
import hls.lang
from hls import Kernel, KernelError, runtime
from tests import bad_kernels

BAD_FILE = bad_kernels.__file__
SOURCE = Path(BAD_FILE).read_text().splitlines()

_EXACT_FIX = "wrap it to 64 bits or fewer first, e.g. `i64(...)`, or use narrower operand types"
_CALL_FIX = "kernels can call other @kernel functions, min, max, abs and the type casts (i32(x), ...)"
_MUTABLE_GLOBAL = "global `{0}` is a mutable {1}; kernels cannot read mutable globals"
_MUTABLE_FIX = "pass it as an Array argument, or make it a constant with `{0} = hls.table(i32, ...)`"
_TYPE_FIX = "use i8..i64, u8..u64, Int(w), UInt(w), bool, f32, f64 or Array[...]"


@dataclass(frozen=True)
class Case:
    kernel: str  # name of the kernel in tests/bad_kernels.py
    line: int  # 1-based line in tests/bad_kernels.py
    col: int  # 0-based column
    at: str  # the source text that starts at the column
    message: str
    fix: str


CASES = [
    # --- constructs the kernel language does not have ---
    Case(
        "float_literal",
        22,
        22,
        "1.5",
        "float literal 1.5 in an integer kernel: kernels whose signature has no float type are exact integer kernels",
        "use a fixed-point integer type (scale by 2**k and shift), or declare f32/f64 arguments for a float kernel "
        "(which the hardware backends do not run)",
    ),
    Case(
        "list_literal",
        27,
        9,
        "[1, 2, 3]",
        "lists are not supported in kernels",
        "pass an Array argument, or use hls.table(...) for constants",
    ),
    Case(
        "dict_literal",
        33,
        12,
        "{0: 1, 1: 2}",
        "dicts are not supported in kernels",
        "use an Array indexed by an integer key",
    ),
    Case("string_literal", 39, 11, '"hello"', "strings are not supported in kernels", "use integer codes"),
    Case(
        "self_recursive",
        47,
        12,
        "self_recursive(n - 1)",
        "recursion is not supported in kernels: `self_recursive` calls itself (self_recursive -> self_recursive)",
        "write the recursion as a loop",
    ),
    Case(
        "ping",
        55,
        12,
        "pong(n - 1)",
        "recursion is not supported in kernels: `ping` calls itself through `pong` (ping -> pong -> ping)",
        "write the recursion as a loop",
    ),
    Case(
        "pong",
        63,
        12,
        "ping(n - 1)",
        "recursion is not supported in kernels: `pong` calls itself through `ping` (pong -> ping -> pong)",
        "write the recursion as a loop",
    ),
    Case(
        "global_list",
        70,
        15,
        "GLOBAL_LIST[i]",
        _MUTABLE_GLOBAL.format("GLOBAL_LIST", "list"),
        _MUTABLE_FIX.format("GLOBAL_LIST"),
    ),
    Case(
        "global_array",
        76,
        22,
        "GLOBAL_ARRAY[i]",
        _MUTABLE_GLOBAL.format("GLOBAL_ARRAY", "ndarray"),
        _MUTABLE_FIX.format("GLOBAL_ARRAY"),
    ),
    Case(
        "try_except", 81, 4, "try:", "try/except is not supported in kernels", "remove it; kernels cannot catch errors"
    ),
    Case(
        "lambda_expr",
        89,
        10,
        "lambda x: x + 1",
        "lambda is not supported in kernels",
        "define another @kernel and call it",
    ),
    Case(
        "break_in_pipeline",
        97,
        12,
        "break",
        "break is not supported in kernels",
        "use a while loop whose condition ends the loop",
    ),
    Case("print_call", 103, 4, "print(a[0])", "call to `print` is not supported in kernels", _CALL_FIX),
    Case("numpy_call", 108, 13, "np.sum(a)", "call to `np.sum` is not supported in kernels", _CALL_FIX),
    Case(
        "true_division",
        114,
        15,
        "a[i] / 2",
        "`/` is true division, which integer kernels do not have",
        "use `//` for floor division (or >> for powers of two)",
    ),
    Case(
        "power",
        120,
        15,
        "a[i] ** 2",
        "operator `**` is not supported in kernels",
        "kernels support + - * // % << >> & | ^ (and / on floats); for powers use << or multiply",
    ),
    Case(
        "tuple_unpack",
        125,
        4,
        "x, y = a[0], a[1]",
        "tuple unpacking is not supported in kernels",
        "assign each variable on its own line",
    ),
    Case(
        "prange_shared_local",
        133,
        8,
        "acc += a[i]",
        "local `acc` is shared between prange iterations (declared at line 131)",
        "prange iterations run in parallel: declare the local inside the prange body "
        "and write per-iteration results to an Array",
    ),
    # i64 * i64 is typed as a 128-bit value, and that times i64 as 192 bits (the
    # frontend multiplies the ranges of the operand *types*); `>>` needs it exact.
    Case(
        "wide_shift",
        140,
        18,
        "a[i] * b[i] * c[i]) >> 1",
        f"`>>` needs the exact value of `a[i] * b[i] * c[i]`, which may need 192 bits "
        f"(range {-(1 << 191)}..{(1 << 191) - 1})",
        _EXACT_FIX,
    ),
    Case(
        "assign_loop_var",
        147,
        8,
        "i = i + 1",
        "loop variable `i` cannot be assigned inside its loop",
        "use another local",
    ),
    Case(
        "missing_annotation",
        151,
        43,
        "n):",
        "parameter `n` needs a type annotation",
        'annotate it, e.g. `n: i32` or `n: Array[i8, "N"]`',
    ),
    Case(
        "too_few_indices",
        158,
        8,
        "m[i] = 0",
        "`m` has 2 dimension(s) but 1 index(es) were given",
        "give one index per dimension",
    ),
    Case(
        "too_many_indices",
        164,
        17,
        "a[i, 0]",
        "`a` has 1 dimension(s) but 2 index(es) were given",
        "give one index per dimension",
    ),
    # --- more of the same families ---
    Case(
        "continue_in_loop",
        171,
        12,
        "continue",
        "continue is not supported in kernels",
        "put the rest of the body under an if",
    ),
    Case(
        "list_comprehension",
        177,
        9,
        "[x for x in range(3)]",
        "comprehensions are not supported in kernels",
        "write a for loop that stores into an Array",
    ),
    Case(
        "chained_assign",
        182,
        4,
        "x = y = 0",
        "only one target per assignment is supported in kernels",
        "assign each variable on its own line",
    ),
    Case(
        "global_list_value",
        188,
        9,
        "GLOBAL_LIST",
        _MUTABLE_GLOBAL.format("GLOBAL_LIST", "list"),
        _MUTABLE_FIX.format("GLOBAL_LIST"),
    ),
    Case("len_call", 194, 19, "len(a)", "call to `len` is not supported in kernels", "use `a.shape[0]`"),
    Case(
        "wide_floordiv_aug",
        202,
        14,
        "a[i] * b[i]",
        f"`//` needs the exact value of `a[i] * b[i]`, which may need 128 bits (range {-(1 << 127)}..{(1 << 127) - 1})",
        _EXACT_FIX,
    ),
    Case(
        "wide_compare",
        209,
        11,
        "a[i] * b[i] > 0",
        f"a comparison needs the exact value of `a[i] * b[i]`, which may need 128 bits "
        f"(range {-(1 << 127)}..{(1 << 127) - 1})",
        _EXACT_FIX,
    ),
    Case(
        "loop_var_after_loop",
        217,
        13,
        "i",
        "loop variable `i` is only defined inside its loop",
        "copy it to a local inside the loop, e.g. `last = i`",
    ),
    Case(
        "unknown_local_annotation",
        222,
        7,
        "int32 = 0",
        "annotation `int32` is not a kernel type",
        "use i8..i64, u8..u64, Int(w) or UInt(w) with a constant w, bool, f32 or f64",
    ),
    # The whole annotation dict fails to evaluate, so the error points at the decorator line.
    Case(
        "undefined_param_annotation",
        226,
        0,
        "@kernel",
        "the annotations of kernel `undefined_param_annotation` cannot be evaluated: name 'i33' is not defined",
        "import the types (Array, i8, ...) at module level",
    ),
    Case(
        "calls_unannotated",
        233,
        26,
        "1)",
        "parameter `n` of kernel `missing_annotation` needs a type annotation",
        "annotate `n` in the definition of `missing_annotation`",
    ),
    Case("int_return", 237, 26, "int:", "return type has unsupported type <class 'int'>", _TYPE_FIX),
    Case(
        "calls_int_return",
        243,
        11,
        "int_return(1)",
        "the return type of kernel `int_return` has unsupported type <class 'int'>",
        _TYPE_FIX,
    ),
    Case(
        "prange_local_read_outside",
        250,
        13,
        "t",
        "local `t` belongs to the prange loop at 'i' and cannot be read outside it",
        "store per-iteration results in an Array",
    ),
    Case(
        "uses_a_missing_value",
        260,
        11,
        "returns_nothing(a)",
        "kernel `returns_nothing` returns no value, so its call has none to use",
        "call it as a statement, `returns_nothing(a)`, or give `returns_nothing` a return type",
    ),
]


def _kernel(name: str) -> Kernel:
    k = getattr(bad_kernels, name)
    assert isinstance(k, Kernel)
    return k


def _ir_error(k: Kernel) -> KernelError:
    with pytest.raises(KernelError) as info:
        _ = k.ir
    return info.value


def _check(err: KernelError, case: Case) -> None:
    assert err.message == case.message
    assert err.fix == case.fix
    assert err.loc is not None
    assert err.loc.file == BAD_FILE
    assert (err.loc.line, err.loc.col) == (case.line, case.col)
    source_line = SOURCE[case.line - 1]
    assert source_line[case.col :].startswith(case.at), "the case's line/col no longer match tests/bad_kernels.py"
    text = str(err)
    assert text.startswith(f"{BAD_FILE}:{case.line}:{case.col + 1}: error: ")
    lines = text.split("\n")
    assert lines == [
        f"{BAD_FILE}:{case.line}:{case.col + 1}: error: {case.message}",
        f"    {source_line}",
        f"    {' ' * case.col}^",
        f"  fix: {case.fix}",
    ]
    # The caret sits right under the first character of the offending text.
    assert lines[1][lines[2].index("^") :].startswith(case.at)


FRONTEND_FILES = {Path(m.__file__).resolve() for m in (hls.frontend, hls._expressions)}


def _assert_no_frontend_frames(err: BaseException, last: tuple[str, str]) -> None:
    frames = traceback.extract_tb(err.__traceback__)
    assert [f for f in frames if Path(f.filename).resolve() in FRONTEND_FILES] == []
    assert (Path(frames[-1].filename).resolve(), frames[-1].name) == (Path(last[0]).resolve(), last[1])


@pytest.mark.parametrize("case", CASES, ids=[c.kernel for c in CASES])
def test_kernel_ir_raises_at_the_users_line(case: Case) -> None:
    err = _ir_error(_kernel(case.kernel))
    _check(err, case)
    _assert_no_frontend_frames(err, (hls.lang.__file__, "ir"))


def test_every_bad_kernel_has_a_case() -> None:
    kernels = {n for n, v in vars(bad_kernels).items() if isinstance(v, Kernel)}
    assert kernels - {"returns_nothing"} == {c.kernel for c in CASES}  # NOTE: a valid kernel the bad ones call
    assert len(CASES) == len(kernels) - 1


def test_the_error_is_raised_again_on_each_access() -> None:
    k = _kernel("ping")
    first, second = _ir_error(k), _ir_error(k)
    assert first is not second
    assert (first.message, first.loc) == (second.message, second.loc)
    # A kernel that fails to parse has no callees either (parsing fills them in before the recursion check).
    with pytest.raises(KernelError):
        _ = k.callees


_I32 = np.int32
_RUN_ARGS = {
    "float_literal": lambda: (np.arange(3, dtype=_I32),),
    "self_recursive": lambda: (3,),
    "ping": lambda: (2,),
    "pong": lambda: (2,),
    "global_array": lambda: (np.arange(4, dtype=_I32),),
    "print_call": lambda: (np.arange(2, dtype=_I32),),
    "wide_shift": lambda: tuple(np.arange(3, dtype=np.int64) for _ in range(4)),
    "calls_unannotated": lambda: (np.arange(2, dtype=_I32),),
}


@pytest.mark.parametrize("name", sorted(_RUN_ARGS))
def test_backends_run_raises_the_same_error(name: str) -> None:
    case = next(c for c in CASES if c.kernel == name)
    args = _RUN_ARGS[name]()
    before = [a.copy() for a in args if isinstance(a, np.ndarray)]
    with pytest.raises(KernelError) as info:
        backends.run(_kernel(name), *args, backend="python")
    err = info.value
    _check(err, case)
    _assert_no_frontend_frames(err, (runtime.__file__, "run"))
    after = [a for a in args if isinstance(a, np.ndarray)]
    assert all(np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_calling_a_bad_kernel_directly_raises_the_same_error() -> None:
    case = next(c for c in CASES if c.kernel == "true_division")
    with pytest.raises(KernelError) as info:
        _kernel("true_division")(np.arange(3, dtype=_I32))
    _check(info.value, case)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert not any(Path(f.filename).resolve() in FRONTEND_FILES for f in frames)
