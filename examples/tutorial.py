"""Tutorial: a new sparse attention pattern, from an idea to verified hardware, in one file.

    python examples/tutorial.py [OUT_DIR]          # default OUT_DIR: build/tutorial

The idea: a *dilated local window*. Each query keeps its LOCAL nearest earlier keys and, beyond
them, every DILATION-th earlier key (a cheap way to see far back). The steps:

1. the pattern as a boolean mask, and its picture;
2. the QK scores of that pattern as a kernel: one Python function;
3. `hls.check`: Hypothesis draws inputs, every backend must agree with the Python reference and
   with a numpy function; coverage says when the drawn sizes never reach the far, dilated keys;
4. `hls.lower`: the kernel as scheduled hardware; its report, and the design written to a folder
   (MyHDL, Verilog, VHDL, a self-checking testbench, report.json, report.html);
5. the hardware simulated by Verilator on a real-size input, compared with numpy.

Run by `make demo` at its end, and by the tests (tests/test_examples.py).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

import backends
from algorithms.plots import plot_mask
from hls import Array, check, i8, i32, kernel, lower, pipeline, prange, unroll

LOCAL = 4  # the nearest earlier keys every query keeps
DILATION = 8  # beyond them, every DILATION-th earlier key


# ---- 1. the pattern ------------------------------------------------------------------------------------------


def dilated_mask(n: int) -> np.ndarray:
    """Query i keeps key j when 0 <= i - j < LOCAL, or when i - j >= LOCAL and (i - j) % DILATION == 0."""
    i, j = np.indices((n, n))
    off = i - j
    return (off >= 0) & ((off < LOCAL) | (off % DILATION == 0))


# ---- 2. the kernel -------------------------------------------------------------------------------------------


@kernel
def qk_dilated(q: Array[i8, "N", "D"], k: Array[i8, "N", "D"], s: Array[i32, "N", "N"]):
    """Scores of the dilated local window (0 where the pattern drops the key)."""
    for i in prange(q.shape[0]):
        for j in pipeline(range(k.shape[0]), ii=1):
            off = i - j
            acc = i32(0)
            if 0 <= off < LOCAL:  # the local band
                for d in unroll(range(q.shape[1])):
                    acc += q[i, d] * k[j, d]
            elif off >= LOCAL and off % DILATION == 0:  # the far, dilated keys: only from N > DILATION
                for d in unroll(range(q.shape[1])):
                    acc += q[i, d] * k[j, d]
            s[i, j] = acc


def qk_dilated_reference(q: np.ndarray, k: np.ndarray, s: np.ndarray) -> dict[str, np.ndarray]:
    """The same scores in numpy (int64 products, then int32: what the kernel computes)."""
    full = q.astype(np.int64) @ k.astype(np.int64).T
    return {"s": np.where(dilated_mask(q.shape[0]), full, 0).astype(np.int32)}


# ---- 3 to 5 --------------------------------------------------------------------------------------------------


def main(out: Path = Path("build/tutorial"), examples: int = 30) -> int:
    """Run every step; print what each shows and where the files went. Returns 0 when everything agrees."""
    out.mkdir(parents=True, exist_ok=True)
    print("1. the pattern")
    mask = dilated_mask(64)
    picture = out / "dilated_mask.png"
    plot_mask(mask, title=f"dilated window: LOCAL={LOCAL}, DILATION={DILATION}", path=picture)
    print(f"   density at N=64: {mask.mean():.1%}; picture: {picture}")

    print("2./3. the kernel on every backend, against the python reference and numpy")
    names = [n for n in backends.names() if backends.available(n) is None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NOTE: the warning is shown below, as part of the report
        narrow = check(qk_dilated, backends=names, examples=examples, reference=qk_dilated_reference)
    print("   with the default sizes (dims up to 6):\n   " + str(narrow).replace("\n", "\n   "))
    assert narrow.warnings, "the far keys should be out of reach of dims up to 6"
    wide = check(
        qk_dilated,
        backends=names,
        examples=examples,
        reference=qk_dilated_reference,
        dims={"N": st.integers(1, 3 * DILATION), "D": st.integers(1, 4)},
    )
    print("   with N up to 24, as the warning suggests:\n   " + str(wide).replace("\n", "\n   "))
    if wide.warnings:
        return 1

    print("4. hardware")
    design = lower(qk_dilated, N=32, D=16)
    print("   " + str(design.report).replace("\n", "\n   "))
    for path in design.save(out / "hdl", force=True):
        print(f"   wrote {path}")

    print("5. the hardware simulated by Verilator on a real-size input")
    rng = np.random.default_rng(0)
    q, k = (rng.integers(-128, 128, (32, 16), dtype=np.int8) for _ in range(2))
    s = np.zeros((32, 32), np.int32)
    result = backends.run(qk_dilated, q, k, s, backend="verilator" if "verilator" in names else "myhdl")
    same = np.array_equal(s, qk_dilated_reference(q, k, s)["s"])
    print(
        f"   {result.backend}: {result.cycles} cycles for {32 * 32} scores "
        f"({int(dilated_mask(32).sum())} kept); equal to numpy: {same}"
    )
    print(f"\nthe tutorial's files are in {out.resolve()} (open hdl/report.html in a browser)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("build/tutorial")))
