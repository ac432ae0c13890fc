"""Snapshot the hardware of every integer catalog kernel and the random kernels, to compare two commits.

    python -m tests.hdl_snapshot OUT            # writes OUT/<kernel>.{v,vhd,py,txt} and OUT/summary.json
    diff -r BEFORE AFTER                         # a refactor of the compiler must show no difference

Per kernel: the MyHDL source, the Verilog and VHDL MyHDL converts it to, the report, and the outputs
and cycle counts of python, myhdl and verilator on three seeded full-range inputs (catalog kernels
with dims fixed to 8). Used to show that a change of the compiler's structure changed no design.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

import backends
from hls import lower
from hls.strategies import fixed_dims, random_arguments
from tests.catalog import CASES
from tests.random_kernels import generate_cases

DIM = 8
SEEDS = (0, 1, 2)


def _digest(values: list) -> list:
    out = []
    for v in values:
        if isinstance(v, np.ndarray):
            out.append(f"{v.dtype}{list(v.shape)}:{hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:16]}")
        else:
            out.append(repr(v))
    return out


def snapshot(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for case in CASES:
        if "float" in case.tags or case.kernel.strategy is not None or case.kernel.dims:
            continue
        items.append((case.kernel, fixed_dims(case.kernel, DIM)))
    items += [(c.kernel, {}) for c in generate_cases(2026, 200)]
    hdl = [n for n in ("myhdl", "verilator") if backends.available(n) is None]
    summary: dict = {"backends": hdl, "kernels": {}}
    designs = {}
    for kern, dims in items:
        try:
            designs[kern.__name__] = lower(kern, **dims)
        except Exception as err:  # noqa: BLE001 - a refusal is part of the snapshot
            summary["kernels"][kern.__name__] = {"lower": f"{type(err).__name__}: {err}"}
    if "verilator" in hdl:
        type(next(iter(designs.values()))).build_verilator_many(list(designs.values()))
    for kern, dims in items:
        name = kern.__name__
        if name not in designs:
            continue
        d = designs[name]
        for suffix, text in ((".py", d.myhdl_source), (".v", d.verilog), (".vhd", d.vhdl), (".txt", str(d.report))):
            (out / f"{name}{suffix}").write_text(text)
        runs: dict = {}
        # NOTE: kernels whose `values=` narrow an input (a loop bound) would run for hours on full-range values.
        for seed in SEEDS if not kern.values else ():
            args = random_arguments(kern, dims, seed=seed)
            for backend in ["python", *hdl]:
                work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
                try:
                    r = backends.run(kern, *work, backend=backend, **dims)
                    runs[f"{seed}/{backend}"] = {"out": _digest(work), "value": repr(r.value), "cycles": r.cycles}
                except Exception as err:  # noqa: BLE001 - run-time errors are part of the snapshot too
                    runs[f"{seed}/{backend}"] = {"error": type(err).__name__}
        summary["kernels"][name] = runs
        print(name, file=sys.stderr, flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


if __name__ == "__main__":
    snapshot(Path(sys.argv[1]))
