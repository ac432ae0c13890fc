// Flash attention forward for Hopper (sm_90a): wgmma.mma_async, TMA, warp specialisation. Dense or block-sparse,
// causal, GQA; bfloat16 or float16 in and out, float32 accumulation.
//
// Compiled at run time by NVRTC for sm_90a (backends/gpu/_runtime.py); no headers. Layouts, masks and the
// block-sparse index are those of flash_fwd.cu (the mma.sync kernel, kept for other GPUs and float32):
// q [B, H, Nq, D], k/v [B, Hkv, Nk, D], o like q, lse [B, H, Nq] float32; causal is bottom-right aligned;
// a row with no visible key gets o = 0 and lse = -inf (lse == nullptr: not written).
//
// Work items: query tiles of BM = 128 rows of one (b, h). A CTA (3 warpgroups) takes one item (grid = items) or,
// persistent (grid = SMs), items blockIdx.x, + gridDim.x, ...
// - Warpgroup 0 (producer; setmaxnreg drops it to 24 registers): one thread loads each item's Q tile and then its
//   K and V tiles of BN keys into a ring of STAGES shared-memory stages with TMA (cp.async.bulk.tensor, 128-byte
//   swizzle, zero fill past Nk and Nq), signalling full_k / full_v / q_full mbarriers with the byte count; it
//   waits on a stage's empty mbarrier (q_empty for Q) before refilling it, so a persistent CTA's next Q and K/V
//   arrive while its consumers finish the last item.
// - Warpgroups 1 and 2 (consumers): each owns 64 query rows. Per key tile: S = Q K^T with wgmma m64nBNk16 (Q and
//   K from shared memory through matrix descriptors, K-major), mask, online softmax in registers (log2 domain),
//   P converted in registers to the A-operand layout, O += P V with wgmma m64nDk16 (P from registers, V from
//   shared memory, MN-major), then one arrive per warp on the stage's empty barrier. OVERLAP issues S of the
//   next tile before the softmax of this one (FlashAttention-3's intra-warpgroup pipelining). The two consumer
//   warpgroups run independently, so one's softmax also overlaps the other's matrix products.
// Registers: ptxas compiles the whole kernel under the launch cap (168 a thread at 384 threads); setmaxnreg only
// moves the hardware allocation, so S, P and O of a d = 128 tile must fit 168 (OVERLAP does not, see attention.py).
//
// Shared memory (1024-byte aligned): Q [D/64][BM][64], then STAGES K tiles [D/64][BN][64], then STAGES V tiles,
// each 64-column slab stored as TMA's 128-byte swizzle writes it (16-byte chunk c of row r at c ^ (r % 8)),
// which is the canonical SW128 layout wgmma reads: K-major (Q, K: rows 128 B apart, 8-row groups 1024 B apart,
// k-steps of 16 elements by advancing the start address 32 B) and MN-major (V: keys 128 B apart, 8-key groups
// 1024 B apart, 64-column slabs BN * 128 B apart).

#include "common.cuh"  // u16/u32/u64, NEG_INF, smem_addr, pack2, ex2

struct __align__(64) TmaMap {
    u64 opaque[16];  // CUtensorMap, encoded on the host by cuTensorMapEncodeTiled
};

// ---- mbarriers and TMA ----

__device__ __forceinline__ void mbar_init(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
// Wait until the phase of parity `parity` has completed (a fresh barrier counts its phase "1" as completed).
__device__ __forceinline__ void mbar_wait(u32 bar, u32 parity) {
    u32 done;
    do {
        asm volatile(
            "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
            : "=r"(done) : "r"(bar), "r"(parity) : "memory");
    } while (!done);
}
// Box (64 columns, rows, 1) at column c0, row r0 of matrix z of a 3-D tensor map -> shared memory at dst.
__device__ __forceinline__ void tma_load(u32 dst, const TmaMap* map, int c0, int r0, int z, u32 bar) {
    asm volatile(
        "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];"
        ::"r"(dst), "l"((u64)map), "r"(c0), "r"(r0), "r"(z), "r"(bar) : "memory");
}

// ---- wgmma ----

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory"); }
// Pin registers in program order around wgmma (the compiler must not move their reads or writes across it).
template <int N>
__device__ __forceinline__ void pin(float (&x)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i) asm volatile("" : "+f"(x[i])::"memory");
}
template <int N>
__device__ __forceinline__ void pin(u32 (&x)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) asm volatile("" : "+r"(x[i][j])::"memory");
}

// Shared-memory matrix descriptor, 128-byte swizzle: start address, leading and stride byte offsets.
__device__ __forceinline__ u64 sw128_desc(u32 addr, u32 lbo, u32 sbo) {
    return (u64)((addr & 0x3FFFF) >> 4) | ((u64)(lbo >> 4) << 16) | ((u64)(sbo >> 4) << 32) | (1ull << 62);
}

#define WG_D32                                                                        \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "          \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define WG_D64                                                                        \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "          \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define WG_F8(b) \
    "+f"(d[b]), "+f"(d[b + 1]), "+f"(d[b + 2]), "+f"(d[b + 3]), "+f"(d[b + 4]), "+f"(d[b + 5]), "+f"(d[b + 6]), "+f"(d[b + 7])
#define WG_F32 WG_F8(0), WG_F8(8), WG_F8(16), WG_F8(24)
#define WG_F64 WG_F32, WG_F8(32), WG_F8(40), WG_F8(48), WG_F8(56)

// d (64 x N per warpgroup, float32) = (scale_d ? d : 0) + A (64 x 16, descriptor, K-major) B (16 x N, K-major);
// O0.. name the operands after the accumulators ("%32", ...).
#define WGMMA_SS(N, TY, DREGS, DCONS, O0, O1, O2)                                                             \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " O2 ", 0;\n"                                           \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TY "." TY " " DREGS ", " O0 ", " O1       \
                 ", p, 1, 1, 0, 0;\n}\n"                                                                   \
                 : DCONS : "l"(da), "l"(db), "r"(scale_d))
// d = (scale_d ? d : 0) + A (64 x 16, registers: the m16n8k16 A fragment per warp) B (16 x N, descriptor, MN-major)
#define WGMMA_RS(N, TY, DREGS, DCONS, O0, O1, O2, O3, O4, O5)                                                 \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " O5 ", 0;\n"                                           \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TY "." TY " " DREGS ", {" O0 ", " O1 ", " \
                 O2 ", " O3 "}, " O4 ", p, 1, 1, 1;\n}\n"                                                   \
                 : DCONS : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d))

template <int N, int KIND>
__device__ __forceinline__ void wgmma_ss(float* d, u64 da, u64 db, int scale_d) {
    if (N == 64 && KIND == 1) WGMMA_SS(64, "f16", WG_D32, WG_F32, "%32", "%33", "%34");
    if (N == 64 && KIND != 1) WGMMA_SS(64, "bf16", WG_D32, WG_F32, "%32", "%33", "%34");
    if (N == 128 && KIND == 1) WGMMA_SS(128, "f16", WG_D64, WG_F64, "%64", "%65", "%66");
    if (N == 128 && KIND != 1) WGMMA_SS(128, "bf16", WG_D64, WG_F64, "%64", "%65", "%66");
}
template <int N, int KIND>
__device__ __forceinline__ void wgmma_rs(float* d, const u32* a, u64 db, int scale_d) {
    if (N == 64 && KIND == 1) WGMMA_RS(64, "f16", WG_D32, WG_F32, "%32", "%33", "%34", "%35", "%36", "%37");
    if (N == 64 && KIND != 1) WGMMA_RS(64, "bf16", WG_D32, WG_F32, "%32", "%33", "%34", "%35", "%36", "%37");
    if (N == 128 && KIND == 1) WGMMA_RS(128, "f16", WG_D64, WG_F64, "%64", "%65", "%66", "%67", "%68", "%69");
    if (N == 128 && KIND != 1) WGMMA_RS(128, "bf16", WG_D64, WG_F64, "%64", "%65", "%66", "%67", "%68", "%69");
}

// The key tiles one CTA visits: dense (tiles 0..total-1) or from the block index (as in flash_fwd.cu).
struct Tiles {
    const int* idx;  // kv_idx row of this (b, h, qb), or nullptr (dense)
    int total;       // tiles in the sequence (before skipping)
    int per_block;   // kernel tiles per index block
    int block_n;
    int nk, last_key;  // keys < nk exist; keys > last_key are invisible to every row of the tile
    int bn;

    __device__ __forceinline__ int j0(int n) const {
        if (idx == nullptr) return n * bn;
        return idx[n / per_block] * block_n + (n % per_block) * bn;
    }
    __device__ __forceinline__ int next(int n) const {  // first live tile at or after n
        while (n < total) {
            int j = j0(n);
            if (j < nk && j <= last_key) break;
            ++n;
        }
        return n;
    }
};

template <int D, int BN, int STAGES>
struct Layout {
    static constexpr int BM = 128;
    static constexpr u32 Q_BYTES = BM * D * 2;
    static constexpr u32 KV_BYTES = BN * D * 2;
    static constexpr u32 K0 = Q_BYTES;
    static constexpr u32 V0 = K0 + STAGES * KV_BYTES;
    static constexpr u32 BAR = V0 + STAGES * KV_BYTES;  // full_k[STAGES], full_v[STAGES], empty[STAGES], q_full, q_empty
    static constexpr u32 BYTES = BAR + (3 * STAGES + 2) * 8 + 1024;  // + alignment slack
};

// Work item w (0 .. n_qtiles * BH - 1): its query tile (longest first), (b, h), and the key tiles it visits.
struct Work {
    int qtile, bh, b, h, hk, i0;
    Tiles tiles;
};

template <int BM, int BN>
__device__ __forceinline__ Work work_item(int w, int n_qtiles, int BH, int head_major, int H, int Hkv, int Nq, int Nk,
                                         int causal, const int* kv_num, const int* kv_idx, int max_blocks,
                                         int idx_b_stride, int idx_h_stride, int q_tiles_per_block,
                                         int kv_tiles_per_block, int block_n) {
    Work x;
    // head_major: every head's longest (causal) query tile first, then the next (balances causal grids of a few
    // waves); else one head's tiles after another, so that concurrent CTAs share K/V in L2.
    const int r = head_major ? w / BH : w % n_qtiles;
    x.bh = head_major ? w % BH : w / n_qtiles;
    x.qtile = n_qtiles - 1 - r;
    x.b = x.bh / H;
    x.h = x.bh % H;
    x.hk = x.h / (H / Hkv);
    x.i0 = x.qtile * BM;
    const int off = Nk - Nq;
    Tiles& t = x.tiles;
    t.bn = BN;
    t.nk = Nk;
    t.last_key = causal ? x.i0 + BM - 1 + off : 0x7fffffff;
    t.block_n = block_n;
    t.per_block = kv_tiles_per_block;
    if (kv_num == nullptr) {
        t.idx = nullptr;
        const int end = causal ? min(Nk, x.i0 + BM + off) : Nk;
        t.total = end > 0 ? (end + BN - 1) / BN : 0;
    } else {
        const size_t row = (size_t)x.b * idx_b_stride + (size_t)x.h * idx_h_stride + x.qtile / q_tiles_per_block;
        t.idx = kv_idx + row * max_blocks;
        t.total = kv_num[row] * kv_tiles_per_block;
    }
    return x;
}

// Grid: G CTAs (1-D) over n_qtiles * BH work items, CTA c taking items c, c + G, ... (G = the number of items:
// one each; G = the number of SMs: persistent, the producer loading the next item's Q and K/V while the
// consumers finish the last one).
template <int KIND, int D, int BN, int STAGES, bool OVERLAP>
__global__ void __launch_bounds__(384, 1)
flash_wgmma(const __grid_constant__ TmaMap tq, const __grid_constant__ TmaMap tk, const __grid_constant__ TmaMap tv,
            void* __restrict__ o, float* __restrict__ lse, long long q_bs, long long q_hs, long long q_rs,
            const int* __restrict__ kv_num, const int* __restrict__ kv_idx, int max_blocks, int idx_b_stride,
            int idx_h_stride, int q_tiles_per_block, int kv_tiles_per_block, int block_n,
            int BH, int H, int Hkv, int Nq, int Nk, float scale_log2, int causal, int head_major) {
    using L = Layout<D, BN, STAGES>;
    constexpr int BM = L::BM;
    constexpr int KC = D / 64;  // 64-column slabs of Q, K, V
    extern __shared__ __align__(1024) unsigned char smem_raw[];
    const u32 base = (smem_addr(smem_raw) + 1023u) & ~1023u;
    const u32 sq = base, bar = base + L::BAR;
    const u32 q_full = bar + 8u * 3 * STAGES, q_empty = q_full + 8u;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int n_qtiles = (Nq + BM - 1) / BM;
    const int n_work = n_qtiles * BH;
    const int off = Nk - Nq;
    auto item = [&](int w) {
        return work_item<BM, BN>(w, n_qtiles, BH, head_major, H, Hkv, Nq, Nk, causal, kv_num, kv_idx, max_blocks,
                                 idx_b_stride, idx_h_stride, q_tiles_per_block, kv_tiles_per_block, block_n);
    };
    auto k_smem = [&](int st) { return base + L::K0 + (u32)st * L::KV_BYTES; };
    auto v_smem = [&](int st) { return base + L::V0 + (u32)st * L::KV_BYTES; };
    auto full_k = [&](int st) { return bar + 8u * st; };
    auto full_v = [&](int st) { return bar + 8u * (STAGES + st); };
    auto empty = [&](int st) { return bar + 8u * (2 * STAGES + st); };

    if (tid == 0) {
#pragma unroll
        for (int s = 0; s < STAGES; ++s) {
            mbar_init(full_k(s), 1);  // the producer's expect_tx
            mbar_init(full_v(s), 1);
            mbar_init(empty(s), 8);   // one arrive per consumer warp
        }
        mbar_init(q_full, 1);
        mbar_init(q_empty, 8);
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    }
    __syncthreads();

    if (warp < 4) {  // producer warpgroup
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;");
        if (tid == 0) {
            asm volatile("prefetch.tensormap [%0];" ::"l"((u64)&tk) : "memory");
            asm volatile("prefetch.tensormap [%0];" ::"l"((u64)&tv) : "memory");
            int it = 0, wi = 0;  // K/V tiles and work items loaded so far
            for (int w = blockIdx.x; w < n_work; w += gridDim.x, ++wi) {
                const Work x = item(w);
                mbar_wait(q_empty, ((u32)wi & 1u) ^ 1u);
                mbar_expect_tx(q_full, L::Q_BYTES);
#pragma unroll
                for (int c = 0; c < KC; ++c) tma_load(sq + (u32)(c * BM * 128), &tq, c * 64, x.i0, x.bh, q_full);
                const int kvz = x.b * Hkv + x.hk;
                for (int n = x.tiles.next(0); n < x.tiles.total; n = x.tiles.next(n + 1), ++it) {
                    const int st = it % STAGES;
                    const u32 ph = (u32)(it / STAGES) & 1u;
                    mbar_wait(empty(st), ph ^ 1u);
                    const int j0 = x.tiles.j0(n);
                    mbar_expect_tx(full_k(st), L::KV_BYTES);
#pragma unroll
                    for (int c = 0; c < KC; ++c)
                        tma_load(k_smem(st) + (u32)(c * BN * 128), &tk, c * 64, j0, kvz, full_k(st));
                    mbar_expect_tx(full_v(st), L::KV_BYTES);
#pragma unroll
                    for (int c = 0; c < KC; ++c)
                        tma_load(v_smem(st) + (u32)(c * BN * 128), &tv, c * 64, j0, kvz, full_v(st));
                }
            }
        }
    } else {  // consumer warpgroups (setmaxnreg needs the two roles as the branches of one if/else)
        asm volatile("setmaxnreg.inc.sync.aligned.u32 240;");
        const int cw = warp / 4 - 1;  // consumer warpgroup: query rows 64 cw .. 64 cw + 63 of the tile
        const int g = lane >> 2, t = lane & 3;
        const u32 sq_wg = sq + (u32)(cw * 64 * 128);

        float acc[D / 2];  // O: n8 block dt, element 4 dt + 2 r + c = row row_a + 8 r, column 8 dt + 2 t + c
        float s[BN / 2];   // S and P, same layout over keys
    #pragma unroll
        for (int i = 0; i < BN / 2; ++i) s[i] = 0.0f;
        u32 pa[BN / 16][4];  // P as A fragments: k-step kk (keys 16 kk ..) is S n8 blocks 2 kk and 2 kk + 1
        float m_row[2], l_row[2];
        int i0 = 0, row_a = 0;

        // Issue S = Q K^T (stage st) as one wgmma group (the caller has fenced).
        auto issue_qk = [&](int st) {
            const u32 sk = k_smem(st);
    #pragma unroll
            for (int kc = 0; kc < D / 16; ++kc) {
                const u64 da = sw128_desc(sq_wg + (u32)((kc / 4) * BM * 128 + (kc % 4) * 32), 16, 1024);
                const u64 db = sw128_desc(sk + (u32)((kc / 4) * BN * 128 + (kc % 4) * 32), 16, 1024);
                wgmma_ss<BN, KIND>(s, da, db, kc > 0);
            }
            wgmma_commit();
        };
        // Issue O += P V (stage st) as one wgmma group.
        auto issue_pv = [&](int st) {
            const u32 sv = v_smem(st);
    #pragma unroll
            for (int kk = 0; kk < BN / 16; ++kk) {
                const u64 db = sw128_desc(sv + (u32)(kk * 16 * 128), BN * 128, 1024);
                wgmma_rs<D, KIND>(acc, pa[kk], db, 1);
            }
            wgmma_commit();
        };
        // Mask (only tiles that need it) and online softmax of S (keys j0 ..) in the log2 domain (scale > 0: the
        // max of raw scores gives the scaled max; p = 2^(s scale_log2 - m) is one FFMA and one ex2); S becomes P
        // and alpha the factor that O must be rescaled by.
        auto softmax = [&](int j0, float (&alpha)[2]) {
            const bool need_mask = j0 + BN > Nk || (causal && j0 + BN - 1 > i0 + cw * 64 + off);
    #pragma unroll
            for (int r = 0; r < 2; ++r) {
                const int row = row_a + 8 * r;
                const int limit = causal ? min(Nk - 1, row + off) : Nk - 1;  // last visible key
                float mx = NEG_INF;
    #pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt)
    #pragma unroll
                    for (int c = 0; c < 2; ++c) {
                        const int j = j0 + nt * 8 + 2 * t + c;
                        float& x = s[4 * nt + 2 * r + c];
                        if (need_mask && j > limit) x = NEG_INF;
                        mx = fmaxf(mx, x);
                    }
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float m_new = fmaxf(m_row[r], mx * scale_log2);
                const float m_use = m_new == NEG_INF ? 0.0f : m_new;
                alpha[r] = ex2(m_row[r] - m_use);
                float sum = 0.0f;
    #pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt)
    #pragma unroll
                    for (int c = 0; c < 2; ++c) {
                        float& x = s[4 * nt + 2 * r + c];
                        x = ex2(fmaf(x, scale_log2, -m_use));
                        sum += x;
                    }
                l_row[r] = l_row[r] * alpha[r] + sum;
                m_row[r] = m_new;
            }
        };
        auto rescale = [&](const float (&alpha)[2]) {
    #pragma unroll
            for (int dt = 0; dt < D / 8; ++dt)
    #pragma unroll
                for (int r = 0; r < 2; ++r) {
                    acc[4 * dt + 2 * r] *= alpha[r];
                    acc[4 * dt + 2 * r + 1] *= alpha[r];
                }
        };
        auto pack_p = [&]() {
    #pragma unroll
            for (int kk = 0; kk < BN / 16; ++kk)
    #pragma unroll
                for (int i = 0; i < 4; ++i) pa[kk][i] = pack2<KIND>(s[8 * kk + 2 * i], s[8 * kk + 2 * i + 1]);
        };
        auto release = [&](u32 bar_addr) {
            __syncwarp();
            if (lane == 0) mbar_arrive(bar_addr);
        };

        int it = 0, wi = 0;  // K/V tiles and work items consumed so far (the producer's sequence)
        for (int w = blockIdx.x; w < n_work; w += gridDim.x, ++wi) {
            const Work x = item(w);
            i0 = x.i0;
            row_a = i0 + cw * 64 + (warp & 3) * 16 + g;  // this thread's rows: row_a and row_a + 8
    #pragma unroll
            for (int i = 0; i < D / 2; ++i) acc[i] = 0.0f;
            m_row[0] = m_row[1] = NEG_INF;
            l_row[0] = l_row[1] = 0.0f;
            mbar_wait(q_full, (u32)wi & 1u);

            if (!OVERLAP) {  // per tile: S, softmax, O += P V, each waited for
                for (int n = x.tiles.next(0); n < x.tiles.total; n = x.tiles.next(n + 1), ++it) {
                    const int st = it % STAGES;
                    const u32 ph = (u32)(it / STAGES) & 1u;
                    mbar_wait(full_k(st), ph);
                    pin(s);
                    pin(acc);
                    wgmma_fence();
                    issue_qk(st);
                    wgmma_wait<0>();
                    pin(s);
                    float alpha[2];
                    softmax(x.tiles.j0(n), alpha);
                    rescale(alpha);
                    pack_p();
                    mbar_wait(full_v(st), ph);
                    pin(acc);
                    pin(pa);
                    wgmma_fence();
                    issue_pv(st);
                    wgmma_wait<0>();
                    pin(acc);
                    pin(pa);
                    release(empty(st));
                }
            } else {  // FlashAttention-3 order: S of tile n+1 runs on the tensor cores while tile n's softmax runs
                int n = x.tiles.next(0);
                if (n < x.tiles.total) {
                    int prev = it % STAGES;
                    u32 prev_ph = (u32)(it / STAGES) & 1u;
                    ++it;
                    mbar_wait(full_k(prev), prev_ph);
                    pin(s);
                    pin(acc);
                    wgmma_fence();
                    issue_qk(prev);
                    wgmma_wait<0>();
                    pin(s);
                    float alpha[2];
                    softmax(x.tiles.j0(n), alpha);
                    pack_p();
                    for (n = x.tiles.next(n + 1); n < x.tiles.total; n = x.tiles.next(n + 1), ++it) {
                        const int st = it % STAGES;
                        const u32 ph = (u32)(it / STAGES) & 1u;
                        mbar_wait(full_k(st), ph);
                        pin(s);
                        pin(acc);
                        pin(pa);
                        wgmma_fence();
                        issue_qk(st);  // S_n = Q K_n
                        mbar_wait(full_v(prev), prev_ph);
                        issue_pv(prev);   // O += P_{n-1} V_{n-1}
                        wgmma_wait<1>();  // S_n is done (groups complete in order)
                        pin(s);
                        softmax(x.tiles.j0(n), alpha);
                        wgmma_wait<0>();  // P_{n-1} V_{n-1} is done
                        pin(acc);
                        pin(pa);
                        release(empty(prev));
                        rescale(alpha);
                        pack_p();
                        prev = st;
                        prev_ph = ph;
                    }
                    mbar_wait(full_v(prev), prev_ph);
                    pin(acc);
                    pin(pa);
                    wgmma_fence();
                    issue_pv(prev);
                    wgmma_wait<0>();
                    pin(acc);
                    pin(pa);
                    release(empty(prev));
                }
            }
            release(q_empty);  // every wgmma reading this Q has completed

            // Epilogue: finish the row sums across the quad, normalise, store O and LSE.
            const long long q_off = x.b * q_bs + x.h * q_hs;
    #pragma unroll
            for (int r = 0; r < 2; ++r) {
                float l = l_row[r];
                l += __shfl_xor_sync(0xffffffffu, l, 1);
                l += __shfl_xor_sync(0xffffffffu, l, 2);
                const int row = row_a + 8 * r;
                const float inv = l > 0.0f ? 1.0f / l : 0.0f;
                if (row < Nq) {
                    u16* op = (u16*)o + q_off + row * q_rs;
    #pragma unroll
                    for (int dt = 0; dt < D / 8; ++dt)
                        *(u32*)(op + dt * 8 + 2 * t) =
                            pack2<KIND>(acc[4 * dt + 2 * r] * inv, acc[4 * dt + 2 * r + 1] * inv);
                    if (t == 0 && lse != nullptr)
                        lse[(size_t)x.bh * Nq + row] = l > 0.0f ? m_row[r] * 0.6931471805599453f + logf(l) : NEG_INF;
                }
            }
        }
    }
}
