"""Intentionally broken kernels for tests/test_frontend_errors.py.

Every kernel here is rejected by the frontend. The tests pin the exact line and
column of each error, so ADD NEW KERNELS AT THE END ONLY and never insert,
delete or reformat lines above them.
"""
# ruff: noqa: F841, E731, B018

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
