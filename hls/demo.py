"""The main demo: one kernel source, every backend, checked to agree."""

from __future__ import annotations

import importlib
import os
import shutil
import time

import numpy as np

import backends
from hls.checker import CheckFailure, check
from hls.errors import KernelError
from hls.lang import Kernel, kernel
from hls.strategies import random_arguments
from hls.types import Array, i32

LIBRARY_MODULES = ("algorithms.qk", "algorithms.detect", "algorithms.sdpa", "algorithms.fixed", "algorithms.dma",
                   "algorithms.examples")


def library_kernels() -> list[Kernel]:
    """Every kernel of the library modules, in definition order."""
    out = []
    for name in LIBRARY_MODULES:
        module = importlib.import_module(name)
        out += [v for v in vars(module).values() if isinstance(v, Kernel)]
    return out


@kernel
def _bad_kernel(x: Array[i32, "N"], out: Array[i32, "N"]):
    for i in range(x.shape[0]):
        out[i] = x[i] * 0.5


def main(examples: int = 100) -> int:
    names = backends.names()
    print("attnhls demo: each kernel is written once; every backend runs that same source.")
    print(f"backends: {', '.join(names)}")
    if "NUMBA_ENABLE_CUDASIM" not in os.environ and shutil.which("nvidia-smi") is None:
        # NOTE: before anything imports numba.cuda; with a GPU present the real device is used.
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        print("no NVIDIA GPU here: numba-cuda runs on Numba's CUDA simulator")
    print()
    print(f"1. Hypothesis equivalence against the python reference ({examples} examples per kernel; integer "
          "results bit-exact, float results within tolerance)")
    print(f"   {'kernel':24s} {'agree with python':32s} {'not run':24s} time")
    failures = 0
    for k in library_kernels():
        t0 = time.perf_counter()
        try:
            report = check(k, backends="all", examples=examples)
            agree = ", ".join(report.agreed) or "-"
            skipped = "; ".join(f"{n} ({why})" for n, why in report.skipped.items()) or "-"
        except CheckFailure as err:
            failures += 1
            agree, skipped = "DISAGREE (see below)", "-"
            print(err)
        print(f"   {k.__name__:24s} {agree:32s} {skipped:24s} {time.perf_counter() - t0:5.1f} s")

    from algorithms.qk import qk_dense, qk_reference

    print("\n2. The integer QK kernel, run three ways on the same int8 inputs")
    for backend, dims in (("python", {"M": 32, "N": 32, "D": 16}), ("numba-cpu", {"M": 512, "N": 512, "D": 64})):
        q, k, s = random_arguments(qk_dense, dims, seed=1)
        backends.run(qk_dense, q, k, s, backend=backend)  # warm-up (compiles numba once)
        t0 = time.perf_counter()
        backends.run(qk_dense, q, k, s, backend=backend)
        took = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = qk_reference(q, k)
        t_np = time.perf_counter() - t0
        same = "equal" if np.array_equal(s, ref) else "DIFFERENT"
        gops = 2 * q.shape[0] * k.shape[0] * q.shape[1] / 1e9
        print(f"   M=N={dims['M']:<4d} D={dims['D']:<3d} {backend:10s} {took * 1e3:9.2f} ms "
              f"({gops / took:8.3g} GOP/s); numpy {t_np * 1e3:8.2f} ms; results {same}")
        failures += same != "equal"

    print("\n3. Unsupported Python is refused at the user's line, with the fix:")
    try:
        _bad_kernel.ir  # noqa: B018
    except KernelError as err:
        print("   " + str(err).replace("\n", "\n   "))
    print("\nall backends agree" if not failures else f"\n{failures} disagreement(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
