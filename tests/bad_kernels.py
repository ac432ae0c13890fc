"""Intentionally broken kernels for tests/test_frontend_errors.py.

Every kernel here is rejected by the frontend. The tests pin the exact line and
column of each error, so ADD NEW KERNELS AT THE END ONLY and never insert,
delete or reformat lines above them.
"""
# ruff: noqa: F821, F841, E731, B018, UP037

from __future__ import annotations

import numpy as np

from hls import Array, i8, i32, i64, kernel, pipeline, prange

GLOBAL_LIST = [1, 2, 3, 4]
GLOBAL_ARRAY = np.arange(4, dtype=np.int32)


@kernel
def float_literal(a: Array[i32, "N"]):
    for i in range(a.shape[0]):
        a[i] = a[i] * 1.5


@kernel
def list_literal(a: Array[i32, "N"]):
    xs = [1, 2, 3]
    a[0] = 0


@kernel
def dict_literal(a: Array[i32, "N"]):
    table = {0: 1, 1: 2}
    a[0] = 0


@kernel
def string_literal(a: Array[i32, "N"]):
    name = "hello"
    a[0] = 0


@kernel
def self_recursive(n: i32) -> i32:
    r = 0
    if n > 0:
        r = self_recursive(n - 1) + 1
    return r


@kernel
def ping(n: i32) -> i32:
    r = 0
    if n > 0:
        r = pong(n - 1)
    return r


@kernel
def pong(n: i32) -> i32:
    r = 0
    if n > 0:
        r = ping(n - 1)
    return r


@kernel
def global_list(a: Array[i32, "N"]):
    for i in range(a.shape[0]):
        a[i] = GLOBAL_LIST[i]


@kernel
def global_array(a: Array[i32, "N"]):
    for i in range(a.shape[0]):
        a[i] = a[i] + GLOBAL_ARRAY[i]


@kernel
def try_except(a: Array[i32, "N"]):
    try:
        a[0] = 1
    except IndexError:
        a[0] = 0


@kernel
def lambda_expr(a: Array[i32, "N"]):
    inc = lambda x: x + 1
    a[0] = 0


@kernel
def break_in_pipeline(a: Array[i32, "N"]):
    for i in pipeline(range(a.shape[0]), ii=1):
        if a[i] < 0:
            break
        a[i] = 0


@kernel
def print_call(a: Array[i32, "N"]):
    print(a[0])


@kernel
def numpy_call(a: Array[i32, "N"], out: Array[i64, 1]):
    out[0] = np.sum(a)


@kernel
def true_division(a: Array[i32, "N"]):
    for i in range(a.shape[0]):
        a[i] = a[i] / 2


@kernel
def power(a: Array[i32, "N"]):
    for i in range(a.shape[0]):
        a[i] = a[i] ** 2


@kernel
def tuple_unpack(a: Array[i32, "N"]):
    x, y = a[0], a[1]
    a[0] = 0


@kernel
def prange_shared_local(a: Array[i32, "N"], out: Array[i64, 1]):
    acc = i64(0)
    for i in prange(a.shape[0]):
        acc += a[i]
    out[0] = acc


@kernel
def wide_shift(a: Array[i64, "N"], b: Array[i64, "N"], c: Array[i64, "N"], out: Array[i64, "N"]):
    for i in range(a.shape[0]):
        out[i] = (a[i] * b[i] * c[i]) >> 1


@kernel
def assign_loop_var(a: Array[i32, "N"]):
    for i in range(a.shape[0]):
        a[i] = 0
        i = i + 1


@kernel
def missing_annotation(a: Array[i32, "N"], n):
    a[0] = n


@kernel
def too_few_indices(m: Array[i32, "M", "N"]):
    for i in range(m.shape[0]):
        m[i] = 0


@kernel
def too_many_indices(a: Array[i32, "N"], out: Array[i32, "N"]):
    for i in range(a.shape[0]):
        out[i] = a[i, 0]


@kernel
def continue_in_loop(a: Array[i32, "N"]):
    for i in range(a.shape[0]):
        if a[i] < 0:
            continue
        a[i] = 0


@kernel
def list_comprehension(a: Array[i32, "N"]):
    xs = [x for x in range(3)]


@kernel
def chained_assign(a: Array[i32, "N"]):
    x = y = 0
    a[0] = x


@kernel
def global_list_value(a: Array[i32, "N"]):
    xs = GLOBAL_LIST
    a[0] = 0


@kernel
def len_call(a: Array[i32, "N"]):
    for i in range(len(a)):
        a[i] = 0


@kernel
def wide_floordiv_aug(a: Array[i64, "N"], b: Array[i64, "N"]):
    for i in range(a.shape[0]):
        x = a[i]
        x //= a[i] * b[i]
        a[i] = x


@kernel
def wide_compare(a: Array[i64, "N"], b: Array[i64, "N"], out: Array[i8, "N"]):
    for i in range(a.shape[0]):
        if a[i] * b[i] > 0:
            out[i] = 1


@kernel
def loop_var_after_loop(a: Array[i32, "N"], out: Array[i32, 1]):
    for i in range(a.shape[0]):
        a[i] = 0
    out[0] = i


@kernel
def unknown_local_annotation(a: Array[i32, "N"]):
    x: int32 = 0
    a[0] = x


@kernel
def undefined_param_annotation(a: Array[i33, "N"]):
    a[0] = 0


@kernel
def calls_unannotated(a: Array[i32, "N"]):
    missing_annotation(a, 1)


@kernel
def int_return(n: i32) -> int:
    return n


@kernel
def calls_int_return(a: Array[i32, "N"]):
    a[0] = int_return(1)


@kernel
def prange_local_read_outside(a: Array[i32, "N"], out: Array[i32, 1]):
    for i in prange(a.shape[0]):
        t = a[i]
    out[0] = t


@kernel
def returns_nothing(a: Array[i32, "N"]):
    a[0] = 1


@kernel
def uses_a_missing_value(a: Array[i32, "N"]):
    a[1] = returns_nothing(a) + 1
