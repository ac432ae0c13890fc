"""Benchmark backends.gpu attention against torch on the GPU, side by side in one run.

    python -m benchmarks.bench_gpu [--quick] [--out DIR] [--sweep]

B = 1, H = 16, d = 64 and 128, N = 4096, 16384, 65536 (--quick: 4096 and 16384). Rows:
- dense bf16 and float32, non-causal and causal: ours (`backends.gpu.flash_attention`) against
  `torch.nn.functional.scaled_dot_product_attention` in the same dtype (`is_causal=True` when causal;
  never a float mask; torch picks its own fastest kernel). Our float32 runs as "bf16x3" (see
  backends/gpu/attention.py); torch's float32 keeps TF32 off (its default).
- dma: Flash-DMA bf16, causal, keep_window_size 1024, H_kv = H, random zoh: "ours" is the fused attention
  (`flash_dma_attention` with a prepared plan), "ref" our top-k selection (`dma_prepare`: zoh, thresholds,
  expiry); ratio = select ms / attention ms must stay <= 1 (the selection no longer than the attention).
- block-sparse bf16, causal, 128 x 128 blocks: ours (`block_sparse_attention`) against
  `torch.nn.attention.flex_attention` (compiled) on the same block set: "a_shape" (128 sink + 1024 window,
  flex's BlockMask from `create_block_mask`, partial and full blocks) and "topk" (each query block keeps the
  diagonal block and 8 random earlier blocks, flex's BlockMask from `BlockMask.from_kv_blocks`, diagonal
  blocks causal-masked, the others full).
Each row names the kernel "ours" ran (w: flash_wgmma.cu, the wgmma kernel on compute capability 9.0 for 16-bit
inputs; m: flash_fwd.cu, mma.sync) and, where that was the wgmma kernel, times the mma kernel on the same call
("mma ms", `kernel="mma"`).
TFLOP/s counts 4 * d * (kept query-key pairs) per head (dense causal: N(N+1)/2 pairs; sparse: the pairs the
element mask keeps). Times: CUDA events around a loop of back-to-back calls (so per-call host overhead
is hidden when the GPU is the bottleneck), after warm-up; median over samples. ratio = torch ms / ours ms
(> 1: ours is faster). Accuracy, before timing: dense rows give ‖out - exact‖ / ‖exact‖ of ours ("err ours")
and of torch ("err ref") on 64 query rows (all heads) against float64; "topk" rows give ours against flex
("err ours"; flex is bf16 too); "a_shape" rows none (ours keeps whole blocks, flex the exact A-shape).
Writes <out>/bench_gpu.json (default benchmarks/out/gpu) and prints the table last. Needs torch and a GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.sdpa import block_index
from backends import gpu
from backends.gpu.attention import last_kernel

REPO = Path(__file__).resolve().parent.parent
SIZES = [4096, 16384, 65536]
HEADS = 16
DIMS = [64, 128]
SINK, WINDOW, BLOCK = 128, 1024, 128
TOPK_BLOCKS = 8
SAMPLED_ROWS = 64  # query rows (all heads) checked against float64
DMA_KEEP = 1024


def time_ms(torch: Any, fn: Callable[[], Any], budget_ms: float = 300.0) -> float:
    """Median ms per call: warm-up, then samples of back-to-back calls between CUDA events."""
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    est = max(start.elapsed_time(end), 1e-3)
    calls = max(1, min(50, int(20.0 / est)))  # ~20 ms per sample
    samples = max(3, min(15, int(budget_ms / (est * calls))))
    times = []
    for _ in range(samples):
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / calls)
    return statistics.median(times)


def rel_err(torch: Any, a: Any, b: Any) -> float:
    a, b = a.double(), b.double()
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def sampled_reference(torch: Any, q: Any, k: Any, v: Any, causal: bool, rows: Any) -> Any:
    """float64 attention output of the query rows `rows` (all heads): the accuracy reference."""
    s = torch.matmul(q[:, :, rows].double(), k.double().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        s = s.masked_fill(torch.arange(k.shape[2], device="cuda")[None, :] > rows[:, None], float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v.double())


def a_shape_blocks(n: int) -> np.ndarray:
    """[QB, KB] bool: blocks holding a kept pair of the causal A-shape (SINK sink keys, WINDOW window)."""
    qb = np.arange(-(-n // BLOCK))[:, None]
    kb = np.arange(-(-n // BLOCK))[None, :]
    i_lo, i_hi, j_lo, j_hi = qb * BLOCK, qb * BLOCK + BLOCK - 1, kb * BLOCK, kb * BLOCK + BLOCK - 1
    causal = j_lo <= i_hi
    nearest = np.maximum(i_lo - j_hi, 0)  # smallest i - j >= 0 in the block
    return causal & ((j_lo < SINK) | (nearest < WINDOW))


def a_shape_pairs(n: int) -> int:
    i = np.arange(n, dtype=np.int64)
    local = np.minimum(i + 1, WINDOW)
    return int((local + np.clip(np.minimum(SINK, i + 1 - WINDOW), 0, None)).sum())


def topk_blocks(n: int, rng: np.random.Generator) -> np.ndarray:
    nb = -(-n // BLOCK)
    blocks = np.eye(nb, dtype=bool)
    for qb in range(1, nb):
        blocks[qb, rng.choice(qb, min(qb, TOPK_BLOCKS), replace=False)] = True
    return blocks


def dense_rows(torch: Any, n: int, d: int, dtype: str, causal: bool) -> dict[str, Any]:
    tdt = {"bf16": torch.bfloat16, "f32": torch.float32}[dtype]
    q, k, v = (torch.randn(1, HEADS, n, d, device="cuda", dtype=tdt) for _ in range(3))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    ours = gpu.flash_attention(q, k, v, causal=causal)
    ref = sdpa(q, k, v, is_causal=causal)
    rows = torch.linspace(0, n - 1, SAMPLED_ROWS, device="cuda").long()
    exact = sampled_reference(torch, q, k, v, causal, rows)
    errs = [rel_err(torch, x[:, :, rows], exact) for x in (ours, ref)]
    del exact
    t_ours = time_ms(torch, lambda: gpu.flash_attention(q, k, v, causal=causal))
    kernel = last_kernel()
    t_mma = (
        time_ms(torch, lambda: gpu.flash_attention(q, k, v, causal=causal, kernel="mma"))
        if kernel.startswith("flash_wgmma")
        else t_ours
    )
    t_ref = time_ms(torch, lambda: sdpa(q, k, v, is_causal=causal))
    pairs = n * (n + 1) // 2 if causal else n * n
    return {
        "kind": "dense",
        "variant": "causal" if causal else "full",
        "dtype": dtype,
        "n": n,
        "d": d,
        "pairs": pairs,
        "ours_ms": t_ours,
        "kernel": kernel,
        "mma_ms": t_mma,
        "ref": "torch sdpa",
        "ref_ms": t_ref,
        "rel_err": errs[0],
        "ref_rel_err": errs[1],
    }


def sparse_rows(torch: Any, n: int, d: int, variant: str) -> dict[str, Any]:
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

    q, k, v = (torch.randn(1, HEADS, n, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    if variant == "a_shape":
        blocks = a_shape_blocks(n)

        def mask_mod(b, h, qi, kv):
            return (kv <= qi) & ((kv < SINK) | (qi - kv < WINDOW))

        bm = create_block_mask(mask_mod, None, None, n, n, device="cuda", BLOCK_SIZE=BLOCK)
        flex_blocks = bm.to_dense()[0, 0].bool().cpu().numpy()
        if not np.array_equal(flex_blocks, blocks):
            print(
                f"note: flex's A-shape blocks differ from ours ({int(flex_blocks.sum())} vs {int(blocks.sum())}); "
                f"using flex's"
            )
            blocks = flex_blocks
        pairs = a_shape_pairs(n)
    else:
        blocks = topk_blocks(n, np.random.default_rng(n))

        def mask_mod(b, h, qi, kv):
            return kv <= qi

        diag = np.eye(blocks.shape[0], dtype=bool)
        part_n, part_i = gpu_index(diag)
        full_n, full_i = gpu_index(blocks & ~diag)
        bm = BlockMask.from_kv_blocks(
            *(torch.tensor(x, device="cuda")[None, None] for x in (part_n, part_i)),
            *(torch.tensor(x, device="cuda")[None, None] for x in (full_n, full_i)),
            BLOCK_SIZE=BLOCK,
            mask_mod=mask_mod,
            seq_lengths=(n, n),
        )
        pairs = int((blocks & ~diag).sum()) * BLOCK * BLOCK + blocks.shape[0] * BLOCK * (BLOCK + 1) // 2
    counts, index = gpu_index(blocks)
    idx = gpu.BlockIndex(counts, index, BLOCK, BLOCK)
    flex = torch.compile(flex_attention)
    ours = gpu.block_sparse_attention(q, k, v, idx, causal=True)
    ref = flex(q, k, v, block_mask=bm)
    err = rel_err(torch, ours, ref) if variant == "topk" else float("nan")  # a_shape: ours keeps whole blocks
    t_ours = time_ms(torch, lambda: gpu.block_sparse_attention(q, k, v, idx, causal=True))
    kernel = last_kernel()
    t_mma = (
        time_ms(torch, lambda: gpu.block_sparse_attention(q, k, v, idx, causal=True, kernel="mma"))
        if kernel.startswith("flash_wgmma")
        else t_ours
    )
    t_ref = time_ms(torch, lambda: flex(q, k, v, block_mask=bm))
    return {
        "kind": "sparse",
        "variant": variant,
        "dtype": "bf16",
        "n": n,
        "d": d,
        "pairs": pairs,
        "blocks": int(blocks.sum()),
        "ours_ms": t_ours,
        "kernel": kernel,
        "mma_ms": t_mma,
        "ref": "flex_attention",
        "ref_ms": t_ref,
        "rel_err": err,
        "ref_rel_err": float("nan"),
    }


def dma_row(torch: Any, n: int, d: int) -> dict[str, Any]:
    """Flash-DMA, bf16, causal, keep DMA_KEEP: the selection (zoh, top-k, expiry) against the attention it feeds."""
    q, k, v = (torch.randn(1, n, HEADS, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    gen = np.random.default_rng(n)
    dt_proj = torch.tensor(gen.standard_normal((HEADS, HEADS * d)) * 0.05, device="cuda")  # float64, resident
    a_coef = torch.tensor(-np.exp(gen.standard_normal(HEADS)), device="cuda")
    plan = gpu.dma_prepare(v, dt_proj, a_coef, n, DMA_KEEP, causal=True)
    t_select = time_ms(torch, lambda: gpu.dma_prepare(v, dt_proj, a_coef, n, DMA_KEEP, causal=True))
    t_attn = time_ms(torch, lambda: gpu.flash_dma_attention(q, k, v, dt_proj, a_coef, DMA_KEEP, True, plan=plan))
    kernel = last_kernel()
    rows = np.arange(n, dtype=np.int64) + 1
    return {
        "kind": "dma",
        "variant": f"keep{DMA_KEEP}",
        "dtype": "bf16",
        "n": n,
        "d": d,
        "pairs": int(np.minimum(rows, DMA_KEEP).sum()),
        "ours_ms": t_attn,
        "kernel": kernel,
        "mma_ms": t_attn,
        "ref": "our top-k select",
        "ref_ms": t_select,
        "rel_err": float("nan"),
        "ref_rel_err": float("nan"),
    }


def gpu_index(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(kv_num_blocks, kv_indices) of a [QB, KB] block matrix, indices padded to KB columns (flex's layout)."""
    counts, index = block_index(blocks)
    padded = np.zeros((blocks.shape[0], blocks.shape[1]), np.int32)
    padded[:, : index.shape[1]] = index
    return counts, padded


SWEEP = [
    gpu.Tile(4, 64, 1, True),
    gpu.Tile(8, 64, 1, True),
    gpu.Tile(4, 64, 2, True),
    gpu.Tile(4, 128, 2, True),
    gpu.Tile(4, 32, 2, False),
    gpu.Tile(4, 64, 2, False),
    gpu.Tile(4, 128, 2, False),
    gpu.Tile(8, 64, 2, False),
    gpu.Tile(8, 32, 2, False),
]


def sweep(torch: Any, sparse_only: bool = True) -> None:
    """Time the kernel variants of SWEEP at N = 16384 (to choose attention.DEFAULT_TILES): dense non-causal, and
    block-sparse on the A-shape index."""
    from backends.gpu import _runtime
    from backends.gpu.attention import KIND, SOURCE

    n = 16384
    idx = gpu.BlockIndex(*gpu_index(a_shape_blocks(n)), BLOCK, BLOCK)
    for dtype, d in [("bf16", 64), ("bf16", 128), ("f32", 64), ("f32", 128)]:
        tdt = {"bf16": torch.bfloat16, "f32": torch.float32}[dtype]
        q, k, v = (torch.randn(1, HEADS, n, d, device="cuda", dtype=tdt) for _ in range(3))
        for tile in SWEEP:
            smem = tile.smem_bytes(d, 2 if dtype == "f32" else 1)
            if smem > 227 * 1024:
                continue
            runs = {
                "sparse": lambda tile=tile, q=q, k=k, v=v: gpu.block_sparse_attention(
                    q, k, v, idx, causal=True, tile=tile
                )
            }
            if not sparse_only:
                runs["dense"] = lambda tile=tile, q=q, k=k, v=v: gpu.flash_attention(q, k, v, tile=tile)
            for what, fn in runs.items():
                try:
                    ms = time_ms(torch, fn, 150)
                    attrs = _runtime.kernel(SOURCE, tile.name(KIND[dtype], d)).attributes
                except Exception as exc:  # noqa: BLE001 - report and go on
                    print(f"sweep {what} {dtype} d={d} {tile}: {exc}")
                    continue
                print(
                    f"sweep {what} {dtype} d={d} {tile}: {ms:.3f} ms, {attrs.num_regs} regs, "
                    f"{attrs.local_size_bytes} B local, {smem} B smem",
                    flush=True,
                )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 4096 and 16384 only")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "gpu"))
    ap.add_argument("--sweep", action="store_true", help="also time the kernel tile variants")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print(
            "bench_gpu: torch is not installed here; this benchmark compares against torch's SDPA and "
            "flex_attention and needs torch with CUDA (on the lent GPU, python3 has it)",
            file=sys.stderr,
        )
        return 2
    if not torch.cuda.is_available():
        print("bench_gpu: torch sees no CUDA GPU; run on a machine with an NVIDIA GPU", file=sys.stderr)
        return 2
    gpu.require_gpu()
    if args.sweep:
        sweep(torch)
    rows = []
    for n in SIZES[:2] if args.quick else SIZES:
        for d in DIMS:
            for dtype in ("bf16", "f32"):
                for causal in (False, True):
                    rows.append(dense_rows(torch, n, d, dtype, causal))
                    print(_line(rows[-1]), flush=True)
            for variant in ("a_shape", "topk"):
                rows.append(sparse_rows(torch, n, d, variant))
                print(_line(rows[-1]), flush=True)
            rows.append(dma_row(torch, n, d))
            print(_line(rows[-1]), flush=True)
            torch.cuda.empty_cache()
    for r in rows:
        r["ours_tflops"] = 4 * r["d"] * r["pairs"] * HEADS / r["ours_ms"] / 1e9
        r["ref_tflops"] = 4 * r["d"] * r["pairs"] * HEADS / r["ref_ms"] / 1e9
        r["ratio"] = r["ref_ms"] / r["ours_ms"]
        r["vs_mma"] = r["mma_ms"] / r["ours_ms"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "B": 1,
        "H": HEADS,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_gpu" + (" --quick" if args.quick else ""),
    }
    (out / "bench_gpu.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    print(
        f"\n{info['device']}, torch {info['torch']}, B=1, H={HEADS}; ratio = ref ms / ours ms; kernel: w = wgmma "
        f"(flash_wgmma.cu), m = mma.sync (flash_fwd.cu); mma ms: the mma kernel on the same call"
    )
    print(
        f"{'kind':6} {'variant':8} {'dtype':5} {'N':>6} {'d':>4} | {'k':1} {'ours ms':>9} {'TFLOP/s':>8} "
        f"{'mma ms':>9} | {'ref':16} {'ms':>9} {'TFLOP/s':>8} | {'ratio':>6} {'err ours':>8} {'err ref':>8}"
    )
    for r in rows:
        print(
            f"{r['kind']:6} {r['variant']:8} {r['dtype']:5} {r['n']:>6} {r['d']:>4} | "
            f"{'w' if r['kernel'].startswith('flash_wgmma') else 'm'} {r['ours_ms']:9.3f} {r['ours_tflops']:8.1f} "
            f"{r['mma_ms']:9.3f} | {r['ref']:16} {r['ref_ms']:9.3f} {r['ref_tflops']:8.1f} | "
            f"{r['ratio']:6.2f} {r['rel_err']:8.1e} {r['ref_rel_err']:8.1e}"
        )
    return 0


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['kind']} {r['variant']} {r['dtype']} N={r['n']} d={r['d']}: ours {r['ours_ms']:.3f} ms "
        f"({r['kernel']}; mma {r['mma_ms']:.3f} ms), {r['ref']} {r['ref_ms']:.3f} ms, rel err {r['rel_err']:.1e}"
    )


if __name__ == "__main__":
    sys.exit(main())
