// Flash attention forward on tensor cores (mma.sync m16n8k16), dense or block-sparse, causal, GQA.
//
// Compiled at run time by NVRTC (backends/gpu/_runtime.py); no headers, so it builds with NVRTC alone.
//
// Layout (row-major, contiguous): q [B, H, Nq, D], k/v [B, Hkv, Nk, D], o [B, H, Nq, D], lse [B, H, Nq] float32
// (natural-log log-sum-exp of the scaled scores). Query head h reads kv head h / (H / Hkv).
// Causal is bottom-right aligned: key j is visible to query i when j <= i + (Nk - Nq).
// A row with no visible key gets o = 0 and lse = -inf. The softmax scale must be > 0 (scale_log2 = scale log2 e).
//
// KIND 0: bfloat16 in and out; KIND 1: float16 in and out; both accumulate in float32.
// KIND 2: float32 in and out, computed as "bf16x3": every operand x is first split (kernel split_bf16) into
// hi = bf16(x) and lo = bf16(x - hi), and each product a*b is hi*hi + hi*lo + lo*hi
// with float32 accumulation (the dropped lo*lo term is ~2^-16 relative), so the result is close to
// float32 accuracy (~1e-5 relative) at tensor-core speed. No TF32 anywhere. The tensor cores' float32
// accumulation truncates; for KIND 2 each key tile's P V is summed apart and added to O in float32.
//
// Work split (FlashAttention-2 style): one CTA per (query tile of BM = 16 * MT * NW rows, b * H + h); warp w
// owns query rows 16 MT w .. 16 MT (w + 1) - 1 of the tile (MT m16 tiles, so that each K/V fragment read from
// shared memory feeds MT mmas) and keeps its row max/sum and its O accumulator in registers, and its Q
// fragments too when QREG (else Q stays in shared memory). Key tiles of BN rows stream through shared memory
// with cp.async, double-buffered. S = Q K^T
// and O += P V run on mma.sync; P stays in registers (the accumulator layout of S is the A-operand layout).
// Shared-memory rows are padded by 8 elements (16 bytes), so ldmatrix and cp.async are bank-conflict free.
//
// Block-sparse (kv_num != nullptr): the CTA's query tile lies inside query block qb = tile / q_tiles_per_block
// of the index; with row = b * idx_b_stride + h * idx_h_stride + qb (strides 0 broadcast the index over
// batch or heads) it visits key blocks kv_idx[row * max_blocks + 0 .. kv_num[row] - 1], each of
// kv_tiles_per_block kernel tiles of BN keys. Tiles past Nk or causally invisible to the whole query tile are skipped.

#include "common.cuh"  // u16/u32/u64, NEG_INF, smem_addr, pack2, ex2

__device__ __forceinline__ void cp_async16(u32 dst, const void* src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

__device__ __forceinline__ void ldsm_x4(u32 addr, u32& r0, u32& r1, u32& r2, u32& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(u32 addr, u32& r0, u32& r1, u32& r2, u32& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

// d += a (16x16, row) * b (16x8, col); element type bf16 (KIND 0, 2) or f16 (KIND 1).
template <int KIND>
__device__ __forceinline__ void mma(float* d, const u32* a, u32 b0, u32 b1) {
    if (KIND == 1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
}

// Split float32 into bf16 hi and lo (x ~ hi + lo), for KIND 2.
extern "C" __global__ void split_bf16(const float* __restrict__ x, u16* __restrict__ hi, u16* __restrict__ lo,
                                      long long n) {
    const long long step = (long long)gridDim.x * blockDim.x;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += step) {
        float f = x[i];
        u32 h = pack2<0>(f, 0.0f) & 0xffffu;
        float rest = f - __uint_as_float(h << 16);
        hi[i] = (u16)h;
        lo[i] = (u16)(pack2<0>(rest, 0.0f) & 0xffffu);
    }
}

// Copy `rows` rows of D elements (row `row0` onwards of a matrix of n_rows rows, `stride` elements apart) into
// padded shared memory; rows past n_rows are zero-filled.
template <int D, int NT>
__device__ __forceinline__ void load_rows(u32 sdst, const u16* __restrict__ g, int row0, int rows, int n_rows,
                                          long long stride, int tid) {
    constexpr int CH = D / 8;  // 16-byte chunks per row
    constexpr int LD = D + 8;
    for (int c = tid; c < rows * CH; c += NT) {
        int r = c / CH, cc = c % CH;
        int gr = row0 + r;
        bool ok = gr < n_rows;
        const u16* src = g + (ok ? gr : 0) * stride + cc * 8;
        cp_async16(sdst + (u32)((r * LD + cc * 8) * 2), src, ok ? 16 : 0);
    }
}

// The sequence of key tiles one CTA visits: dense (tiles 0..n-1) or from the block index.
struct Tiles {
    const int* idx;  // kv_idx row of this (b, h, qb), or nullptr (dense)
    int total;       // tiles in the sequence (before skipping)
    int per_block;   // kernel tiles per index block
    int block_n;
    int nk, last_key;  // keys < nk exist; keys > last_key are invisible to every row of the tile
    int bn;
    const int* tmax;     // DMA: largest key expiry per key tile, or nullptr
    int L_first, L_last;  // DMA: prefix lengths seen by the first and the last row of the query tile

    __device__ __forceinline__ int j0(int n) const {
        if (idx == nullptr) return n * bn;
        return idx[n / per_block] * block_n + (n % per_block) * bn;
    }
    __device__ __forceinline__ int next(int n) const {  // first live tile at or after n
        while (n < total) {
            int j = j0(n);
            if (j < nk && j <= last_key && (tmax == nullptr || (j + 1 <= L_last && tmax[j / bn] >= L_first))) break;
            ++n;
        }
        return n;
    }
};

// MT: 16-row m-tiles per warp (2 halves the shared-memory reads of K and V per mma: each B fragment feeds MT mmas).
// QREG: Q fragments live in registers for the whole CTA (else they are re-read from shared memory per tile).
// DMA: Dynamic Mask Attention (dma.cu): key j is kept for row i when j < L_i <= expiry[j] (L_i: the prefix
// length row i sees) and adds bias[j] (zoh log2 e) to the scaled score; key tiles whose tile_max is below the
// tile's first L are skipped.
template <int KIND, int D, int NW, int BN, int MT, bool QREG, bool DMA>
__global__ void __launch_bounds__(NW * 32)
flash_fwd(const u16* __restrict__ q, const u16* __restrict__ k, const u16* __restrict__ v,
          const u16* __restrict__ q_lo, const u16* __restrict__ k_lo, const u16* __restrict__ v_lo,
          void* __restrict__ o, float* __restrict__ lse,
          long long q_bs, long long q_hs, long long q_rs, long long k_bs, long long k_hs, long long k_rs,
          const float* __restrict__ bias, const int* __restrict__ expiry, const int* __restrict__ tile_max,
          const int* __restrict__ kv_num, const int* __restrict__ kv_idx, int max_blocks, int idx_b_stride,
          int idx_h_stride, int q_tiles_per_block, int kv_tiles_per_block, int block_n,
          int H, int Hkv, int Nq, int Nk, float scale_log2, int causal, int head_major) {
    constexpr int WM = 16 * MT;   // query rows per warp
    constexpr int BM = WM * NW;   // query rows per CTA
    constexpr int NT = NW * 32;
    constexpr int LD = D + 8;
    constexpr int PL = KIND == 2 ? 2 : 1;  // operand planes (hi, lo)
    constexpr int KT = BN * LD;            // elements of one K or V plane tile
    constexpr int STAGE = 2 * PL * KT;     // K planes then V planes
    extern __shared__ __align__(16) u16 smem[];
    // stage 0 at [0, STAGE), stage 1 at [STAGE, 2 STAGE); Q (PL * BM * LD) overlays stage 1 before the loop
    // when QREG, else it has its own area at 2 STAGE.

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int n_qtiles = (Nq + BM - 1) / BM;
    // Blocks start in x-fastest order. head_major (grid [B H, tiles]): every head's longest (causal) query tile
    // first, then the next (longest-processing-time-first: balances causal grids of a few waves). Else (grid
    // [tiles, B H]) one head's tiles after another, so concurrent CTAs share K/V in L2 (long sequences).
    const int qtile = n_qtiles - 1 - (head_major ? blockIdx.y : blockIdx.x);
    const int bh = head_major ? blockIdx.x : blockIdx.y, b = bh / H, h = bh % H;
    const int hk = h / (H / Hkv);
    const int i0 = qtile * BM;
    const int off = Nk - Nq;

    const long long q_off = b * q_bs + h * q_hs;
    const u16* qp[2] = {q + q_off, q_lo + q_off};
    const long long kv_off = b * k_bs + hk * k_hs;
    const u16* kp[2] = {k + kv_off, k_lo + kv_off};
    const u16* vp[2] = {v + kv_off, v_lo + kv_off};

    Tiles tiles;
    tiles.bn = BN;
    tiles.nk = Nk;
    tiles.last_key = causal ? i0 + BM - 1 + off : 0x7fffffff;
    tiles.block_n = block_n;
    tiles.per_block = kv_tiles_per_block;
    tiles.tmax = nullptr;
    auto prefix_len = [&](int row) { return causal ? max(0, min(Nk, row + 1 + off)) : Nk; };
    const size_t key_row = ((size_t)b * Hkv + hk) * Nk;  // DMA: bias/expiry row of this (b, kv head)
    if (DMA) {
        tiles.tmax = tile_max + ((size_t)b * Hkv + hk) * ((Nk + BN - 1) / BN);
        tiles.L_first = prefix_len(i0);
        tiles.L_last = prefix_len(min(i0 + BM, Nq) - 1);
    }
    if (kv_num == nullptr) {
        tiles.idx = nullptr;
        int end = causal ? min(Nk, i0 + BM + off) : Nk;
        tiles.total = end > 0 ? (end + BN - 1) / BN : 0;
    } else {
        int qb = qtile / q_tiles_per_block;
        size_t row = (size_t)b * idx_b_stride + (size_t)h * idx_h_stride + qb;
        tiles.idx = kv_idx + row * max_blocks;
        tiles.total = kv_num[row] * kv_tiles_per_block;
    }

    const u32 s0 = smem_addr(smem);
    const u32 sq = s0 + (u32)((QREG ? STAGE : 2 * STAGE) * 2);
    auto stage_addr = [&](int s) { return s0 + (u32)(s * STAGE * 2); };
    auto load_kv = [&](int n, int s) {
        int j0 = tiles.j0(n);
        u32 base = stage_addr(s);
#pragma unroll
        for (int p = 0; p < PL; ++p) {
            load_rows<D, NT>(base + (u32)(p * KT * 2), kp[p], j0, BN, Nk, k_rs, tid);
            load_rows<D, NT>(base + (u32)((PL + p) * KT * 2), vp[p], j0, BN, Nk, k_rs, tid);
        }
    };
    // ldmatrix address of the A fragment (16 x 16) of m-tile mt, k-step ks, plane p in the Q area
    auto q_addr = [&](int p, int mt, int ks) {
        return sq + (u32)((p * BM * LD + (warp * WM + mt * 16 + (lane & 15)) * LD + ks * 16 + (lane >> 4) * 8) * 2);
    };

    // Q tile -> shared memory (and registers when QREG), first K/V tile -> stage 0.
    int n = tiles.next(0);
#pragma unroll
    for (int p = 0; p < PL; ++p) load_rows<D, NT>(sq + (u32)(p * BM * LD * 2), qp[p], i0, BM, Nq, q_rs, tid);
    if (n < tiles.total) load_kv(n, 0);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
    u32 qf[QREG ? MT : 1][PL][QREG ? D / 16 : 1][4];
    if (QREG) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int p = 0; p < PL; ++p)
#pragma unroll
                for (int ks = 0; ks < D / 16; ++ks)
                    ldsm_x4(q_addr(p, mt, ks), qf[mt][p][ks][0], qf[mt][p][ks][1], qf[mt][p][ks][2], qf[mt][p][ks][3]);
        __syncthreads();
    }

    float acc[MT][D / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int i = 0; i < D / 8; ++i) acc[mt][i][0] = acc[mt][i][1] = acc[mt][i][2] = acc[mt][i][3] = 0.0f;
    float m_row[MT][2], l_row[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) m_row[mt][0] = m_row[mt][1] = NEG_INF, l_row[mt][0] = l_row[mt][1] = 0.0f;
    const int row_a = i0 + warp * WM + g;  // this thread's rows: row_a + 16 mt + 8 r

    int stage = 0;
    while (n < tiles.total) {
        const int nn = tiles.next(n + 1);
        if (nn < tiles.total) load_kv(nn, stage ^ 1);
        cp_async_commit();
        if (nn < tiles.total) cp_async_wait<1>(); else cp_async_wait<0>();
        __syncthreads();

        const int j0 = tiles.j0(n);
        const u32 sk = stage_addr(stage), sv = sk + (u32)(PL * KT * 2);

        float kb[DMA ? BN / 8 : 1][2];  // DMA: bias and expiry of this thread's keys j0 + 8 nt + 2 t + c
        int ke[DMA ? BN / 8 : 1][2];
        if (DMA) {
#pragma unroll
            for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
                for (int c = 0; c < 2; ++c) {
                    const int j = j0 + nt * 8 + 2 * t + c;
                    kb[DMA ? nt : 0][c] = j < Nk ? bias[key_row + j] : 0.0f;
                    ke[DMA ? nt : 0][c] = j < Nk ? expiry[key_row + j] : 0;
                }
        }

        // S = Q K^T (WM x BN per warp)
        float s[MT][BN / 8][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int i = 0; i < BN / 8; ++i) s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 32; ++kk) {
            u32 qs[MT][PL][2][4];  // A fragments of k-steps 2kk and 2kk+1
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int p = 0; p < PL; ++p)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        if (QREG) {
#pragma unroll
                            for (int x = 0; x < 4; ++x)
                                qs[mt][p][e][x] = qf[QREG ? mt : 0][p][QREG ? 2 * kk + e : 0][x];
                        } else {
                            ldsm_x4(q_addr(p, mt, 2 * kk + e), qs[mt][p][e][0], qs[mt][p][e][1], qs[mt][p][e][2],
                                    qs[mt][p][e][3]);
                        }
                    }
#pragma unroll
            for (int nt = 0; nt < BN / 8; ++nt) {
                u32 kf[PL][4];
#pragma unroll
                for (int p = 0; p < PL; ++p) {
                    u32 a = sk + (u32)((p * KT + (nt * 8 + (lane & 7)) * LD + kk * 32 + (lane >> 3) * 8) * 2);
                    ldsm_x4(a, kf[p][0], kf[p][1], kf[p][2], kf[p][3]);
                }
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    mma<KIND>(s[mt][nt], qs[mt][0][0], kf[0][0], kf[0][1]);
                    mma<KIND>(s[mt][nt], qs[mt][0][1], kf[0][2], kf[0][3]);
                    if (PL == 2) {
                        mma<KIND>(s[mt][nt], qs[mt][0][0], kf[PL - 1][0], kf[PL - 1][1]);
                        mma<KIND>(s[mt][nt], qs[mt][0][1], kf[PL - 1][2], kf[PL - 1][3]);
                        mma<KIND>(s[mt][nt], qs[mt][PL - 1][0], kf[0][0], kf[0][1]);
                        mma<KIND>(s[mt][nt], qs[mt][PL - 1][1], kf[0][2], kf[0][3]);
                    }
                }
            }
        }

        // Mask (only on tiles that need it), then the online softmax in the log2 domain: with scale > 0 the row
        // max of the raw scores gives the scaled max, and p = 2^(s scale_log2 - m) is one FFMA and one ex2.
        const bool need_mask = j0 + BN > Nk || (causal && j0 + BN - 1 > i0 + off);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                const int row = row_a + 16 * mt + 8 * r;
                const int limit = causal ? min(Nk - 1, row + off) : Nk - 1;  // last visible key
                const int L = prefix_len(row);
                float mx = NEG_INF;
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
                    for (int c = 0; c < 2; ++c) {
                        const int j = j0 + nt * 8 + 2 * t + c;
                        if (DMA) {  // scores already scaled and biased (log2 domain)
                            const bool keep = j < L && L <= ke[DMA ? nt : 0][c];
                            s[mt][nt][2 * r + c] = keep ? fmaf(s[mt][nt][2 * r + c], scale_log2, kb[DMA ? nt : 0][c])
                                                        : NEG_INF;
                        } else if (need_mask && j > limit) {
                            s[mt][nt][2 * r + c] = NEG_INF;
                        }
                        mx = fmaxf(mx, s[mt][nt][2 * r + c]);
                    }
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float m_new = fmaxf(m_row[mt][r], DMA ? mx : mx * scale_log2);
                const float m_use = m_new == NEG_INF ? 0.0f : m_new;
                const float alpha = ex2(m_row[mt][r] - m_use);
                float sum = 0.0f;
#pragma unroll
                for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
                    for (int c = 0; c < 2; ++c) {
                        float p = DMA ? ex2(s[mt][nt][2 * r + c] - m_use)
                                      : ex2(fmaf(s[mt][nt][2 * r + c], scale_log2, -m_use));
                        s[mt][nt][2 * r + c] = p;
                        sum += p;
                    }
                l_row[mt][r] = l_row[mt][r] * alpha + sum;
                m_row[mt][r] = m_new;
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt) {
                    acc[mt][dt][2 * r] *= alpha;
                    acc[mt][dt][2 * r + 1] *= alpha;
                }
            }

        // O += P V. P (in s) becomes A fragments: k-step kk of m-tile mt is the S tiles 2kk and 2kk+1.
        auto pack_p = [&](int kk, int mt, u32 (&pa)[PL][4]) {
            const float* src[4] = {&s[mt][2 * kk][0], &s[mt][2 * kk][2], &s[mt][2 * kk + 1][0],
                                   &s[mt][2 * kk + 1][2]};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                pa[0][i] = pack2<KIND>(src[i][0], src[i][1]);
                if (PL == 2) {
                    float x = src[i][0] - __uint_as_float(pa[0][i] << 16);
                    float y = src[i][1] - __uint_as_float(pa[0][i] & 0xffff0000u);
                    pa[PL - 1][i] = pack2<KIND>(x, y);
                }
            }
        };
        auto load_v = [&](int kk, int dt, u32 (&vf)[PL][4]) {
#pragma unroll
            for (int p = 0; p < PL; ++p) {
                const int i = lane >> 3;
                u32 a = sv + (u32)((p * KT + (kk * 16 + (lane & 7) + (i & 1) * 8) * LD + dt * 16 + (i >> 1) * 8) * 2);
                ldsm_x4_t(a, vf[p][0], vf[p][1], vf[p][2], vf[p][3]);
            }
        };
        // d2 += pa * (vf n-tiles 0 and 1); with hi/lo planes: hi*hi + hi*lo + lo*hi
        auto mma_pv = [&](float* d0, float* d1, const u32 (&pa)[PL][4], const u32 (&vf)[PL][4]) {
            mma<KIND>(d0, pa[0], vf[0][0], vf[0][1]);
            mma<KIND>(d1, pa[0], vf[0][2], vf[0][3]);
            if (PL == 2) {
                mma<KIND>(d0, pa[0], vf[PL - 1][0], vf[PL - 1][1]);
                mma<KIND>(d1, pa[0], vf[PL - 1][2], vf[PL - 1][3]);
                mma<KIND>(d0, pa[PL - 1], vf[0][0], vf[0][1]);
                mma<KIND>(d1, pa[PL - 1], vf[0][2], vf[0][3]);
            }
        };
        if (PL == 2) {
            // float32 ("bf16x3"): the tensor cores' float32 accumulation truncates, a bias that would grow with the
            // number of keys (2e-4 relative at 64K keys); each tile's P V goes into a fresh accumulator and is added
            // to O in round-to-nearest float32, so the bias stays that of one tile.
            u32 pall[BN / 16][MT][PL][4];
#pragma unroll
            for (int kk = 0; kk < BN / 16; ++kk)
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) pack_p(kk, mt, pall[kk][mt]);
#pragma unroll
            for (int dt = 0; dt < D / 16; ++dt) {
                float part[MT][2][4];
#pragma unroll
                for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                    for (int i = 0; i < 4; ++i) part[mt][0][i] = part[mt][1][i] = 0.0f;
#pragma unroll
                for (int kk = 0; kk < BN / 16; ++kk) {
                    u32 vf[PL][4];
                    load_v(kk, dt, vf);
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) mma_pv(part[mt][0], part[mt][1], pall[kk][mt], vf);
                }
#pragma unroll
                for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        acc[mt][2 * dt][i] += part[mt][0][i];
                        acc[mt][2 * dt + 1][i] += part[mt][1][i];
                    }
            }
        } else {
#pragma unroll
            for (int kk = 0; kk < BN / 16; ++kk) {
                u32 pa[MT][PL][4];
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) pack_p(kk, mt, pa[mt]);
#pragma unroll
                for (int dt = 0; dt < D / 16; ++dt) {
                    u32 vf[PL][4];
                    load_v(kk, dt, vf);
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) mma_pv(acc[mt][2 * dt], acc[mt][2 * dt + 1], pa[mt], vf);
                }
            }
        }
        __syncthreads();  // everyone is done with this stage before it is refilled
        stage ^= 1;
        n = nn;
    }

    // Epilogue: finish the row sums across the quad, normalize, store O and LSE.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            float l = l_row[mt][r];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            const int row = row_a + 16 * mt + 8 * r;
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            if (row < Nq) {
                const long long base = q_off + row * q_rs;
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt) {
                    const int col = dt * 8 + 2 * t;
                    float x = acc[mt][dt][2 * r] * inv, y = acc[mt][dt][2 * r + 1] * inv;
                    if (KIND == 2) {
                        float* op = (float*)o + base + col;
                        op[0] = x;
                        op[1] = y;
                    } else {
                        *(u32*)((u16*)o + base + col) = pack2<KIND>(x, y);
                    }
                }
                if (t == 0) {
                    lse[(size_t)bh * Nq + row] = l > 0.0f ? m_row[mt][r] * 0.6931471805599453f + logf(l) : NEG_INF;
                }
            }
        }
}
