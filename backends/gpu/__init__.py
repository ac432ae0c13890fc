"""Fast attention kernels for NVIDIA GPUs (CUDA C++ on tensor cores, compiled by NVRTC, launched via cuda.core).

    from backends import gpu
    o = gpu.flash_attention(q, k, v, causal=True)                       # dense, GQA, causal
    o = gpu.block_sparse_attention(q, k, v, kv_num_blocks, kv_indices,  # block-CSR index of algorithms/sdpa.py
                                   block_m=128, block_n=128, causal=True)
    o = gpu.flash_dma_attention(query, key, value, dt_proj, a_coef, keep_window_size=1024, causal=True)

Layouts, precisions and limits: backends/gpu/attention.py. These kernels need a real GPU of compute
capability >= 8.0 (their tensor-core PTX cannot run on Numba's CUDA simulator); without one a call raises
GpuUnavailableError naming the fix, after checking its arguments. Importing this package needs no GPU.
"""

from backends.gpu._runtime import GpuUnavailableError, require_gpu
from backends.gpu.attention import (
    SUPPORTED_D,
    BlockIndex,
    Tile,
    WgmmaTile,
    block_sparse_attention,
    flash_attention,
    last_kernel,
)
from backends.gpu.dma import DmaPlan, dma_prepare, dma_topk_threshold, flash_dma_attention

__all__ = [
    "SUPPORTED_D",
    "BlockIndex",
    "DmaPlan",
    "GpuUnavailableError",
    "Tile",
    "WgmmaTile",
    "block_sparse_attention",
    "dma_prepare",
    "dma_topk_threshold",
    "flash_attention",
    "flash_dma_attention",
    "last_kernel",
    "require_gpu",
]
