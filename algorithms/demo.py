"""The main demo: one kernel source, every backend, checked to agree."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

import backends
from hls.checker import CheckFailure, check
from hls.errors import KernelError
from hls.lang import Kernel, kernel
from hls.strategies import fixed_dims, random_arguments
from hls.types import Array, i32

LIBRARY_MODULES = (
    "algorithms.qk",
    "algorithms.detect",
    "algorithms.sdpa",
    "algorithms.fixed",
    "algorithms.dma",
    "algorithms.examples",
)


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


HARDWARE = ("myhdl", "verilator")
HW_DIM = 3


def _equivalence(kernels: list[Kernel], names: list[str], examples: int, size: int | None) -> int:
    print(f"   {'kernel':24s} {'agree with python':32s} {'not run':24s} time")
    failures = 0
    for k in kernels:
        t0 = time.perf_counter()
        try:
            report = check(k, backends=names, examples=examples, dims=fixed_dims(k, size) if size else None)
            agree = ", ".join(report.agreed) or "-"
            skipped = "; ".join(f"{n} ({why})" for n, why in report.skipped.items()) or "-"
        except CheckFailure as err:
            failures += 1
            agree, skipped = "DISAGREE (see below)", "-"
            print(err)
        print(f"   {k.__name__:24s} {agree:32s} {skipped:24s} {time.perf_counter() - t0:5.1f} s")
    return failures


def _qk_unit() -> int:
    """Lower the QK unit at 64 x 64 x 64, dense and sparse, and run both on Verilator."""
    from algorithms import csr, masks, qk
    from hls.compiler import Design, lower

    print("\n4. The QK unit in hardware (64 queries x 64 keys x D=64, int8), lowered from the same kernels")
    rng = np.random.default_rng(1)
    q = rng.integers(-128, 128, (64, 64)).astype(np.int8)
    k = rng.integers(-128, 128, (64, 64)).astype(np.int8)
    mask = masks.a_shape_mask(64, 64, n_init=4, n_local=8)
    c = csr.RowCSR.from_mask(mask)
    t0 = time.perf_counter()
    dense = lower(qk.qk_dense, M=64, N=64, D=64)
    sparse = lower(qk.qk_coo_values, M=64, N=64, D=64, E=c.nnz)
    print(f"   lowered both in {time.perf_counter() - t0:.2f} s")
    print("   " + str(dense.report).replace("\n", "\n   "))
    Design.build_verilator_many([dense, sparse])
    s = np.zeros((64, 64), np.int32)
    _, dense_cycles = dense.simulate_verilator({"q": q, "k": k, "s": s})
    values = np.zeros(c.nnz, np.int32)
    _, sparse_cycles = sparse.simulate_verilator(
        {"q": q, "k": k, "rows": qk.csr_rows(c.indptr), "cols": c.indices.copy(), "values": values}
    )
    ok = np.array_equal(s, qk.qk_reference(q, k)) and np.array_equal(
        values, qk.qk_csr_values_reference(q, k, c.indptr, c.indices)
    )
    print(
        f"   Verilator: dense {dense_cycles} cycles; A-shape (4 sink, 8 window) {c.nnz} kept scores "
        f"({c.nnz / mask.size:.1%}): {sparse_cycles} cycles, {dense_cycles / sparse_cycles:.1f}x fewer; "
        f"results {'equal to numpy' if ok else 'DIFFERENT'}"
    )
    return 0 if ok else 1


def main(examples: int = 100) -> int:
    names = backends.names()
    print("attnhls demo: each kernel is written once; every backend runs that same source.")
    print(f"backends: {', '.join(names)}")
    if "NUMBA_ENABLE_CUDASIM" not in os.environ and shutil.which("nvidia-smi") is None:
        # NOTE: before anything imports numba.cuda; with a GPU present the real device is used.
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        print("no NVIDIA GPU here: numba-cuda runs on Numba's CUDA simulator")
    print()
    software = [n for n in names if n not in HARDWARE]
    print(
        f"1. Hypothesis equivalence against the python reference ({examples} examples per kernel; integer "
        "results bit-exact, float results within tolerance)"
    )
    failures = _equivalence(library_kernels(), software, examples, None)
    hw_examples = max(1, min(examples, 10))
    print(
        f"\n2. The same kernels as hardware (hls.lower, then MyHDL and Verilator simulation), {hw_examples} "
        f"examples each, dims fixed to {HW_DIM} where the annotations draw them (one design per kernel)"
    )
    kernels = [k for k in library_kernels() if backends.get("myhdl").unsupported(k) is None]
    t0 = time.perf_counter()
    backends.prebuild([(k, fixed_dims(k, HW_DIM)) for k in kernels if fixed_dims(k, HW_DIM) is not None and not k.dims])
    print(f"   (Verilator models built in one batch: {time.perf_counter() - t0:.1f} s)")
    failures += _equivalence(kernels, list(HARDWARE), hw_examples, HW_DIM)
    print(
        "   float kernels are not lowered (hardware needs fixed-point types): "
        + ", ".join(k.__name__ for k in library_kernels() if k not in kernels)
    )

    from algorithms.qk import qk_dense, qk_reference

    print("\n3. The integer QK kernel on the same int8 inputs: software")
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
        print(
            f"   M=N={dims['M']:<4d} D={dims['D']:<3d} {backend:10s} {took * 1e3:9.2f} ms "
            f"({gops / took:8.3g} GOP/s); numpy {t_np * 1e3:8.2f} ms; results {same}"
        )
        failures += same != "equal"

    failures += _qk_unit()
    print("\n5. Unsupported Python is refused at the user's line, with the fix:")
    try:
        _bad_kernel.ir  # noqa: B018
    except KernelError as err:
        print("   " + str(err).replace("\n", "\n   "))
    failures += _tutorial()
    print("\nall backends agree" if not failures else f"\n{failures} disagreement(s)")
    return 1 if failures else 0


def _tutorial() -> int:
    """Run examples/tutorial.py (a new sparse pattern, from the idea to verified HDL); 1 when it fails."""
    path = Path(__file__).resolve().parent.parent / "examples" / "tutorial.py"
    print("\n6. The tutorial, examples/tutorial.py: a new sparse pattern from the idea to verified hardware")
    if not path.exists():
        print(f"   not run: {path} is not here (the tutorial ships with the repository, not the package)")
        return 0
    spec = importlib.util.spec_from_file_location("attnhls_tutorial", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return 1 if module.main(Path("build") / "tutorial") else 0


def add_command(sub: Any) -> None:
    """Add `attnhls demo` to the CLI's subparsers (found through the entry point `attnhls.commands`)."""
    what = "check every library kernel on every backend and show the results"
    p = sub.add_parser(
        "demo",
        help=what,
        description=what,
        epilog="example:\n  attnhls demo --examples 20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--examples", type=int, default=100, help="Hypothesis examples per kernel (default: 100)")
    p.set_defaults(func=lambda args: main(examples=args.examples))


if __name__ == "__main__":
    raise SystemExit(main())
