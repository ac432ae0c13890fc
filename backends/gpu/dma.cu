// Dynamic Mask Attention on the GPU: zoh, the per-prefix top-k thresholds, and each key's expiry.
//
// Definitions (algorithms/dma.py): zoh[b, g, j] = exp(softplus(value[b, j, :, :].flatten() . dt_proj[g]) * a[g]).
// Keys are ordered by (zoh descending, index ascending). A query row that sees the key prefix [0, L) (L = N when
// not causal, else L = clamp(i + 1 + Nk - Nq, 0, N)) keeps the top `keep` keys of that prefix, all of them when
// L <= keep. thr(L) = the keep-th best key of the prefix (value and index). Thresholds only rise with L, so
// each key j is kept exactly by the rows whose L lies in (j, EL[j]]: its "expiry" EL[j] (0 when never kept).
// The fused attention kernel (flash_fwd.cu, DMA mode) needs only EL and the zoh bias per key.
//
// dma_select computes thr(L) for L = P_s .. P_s + C - 1 in CTA s (P_s = keep + 1 + s C): a radix select finds
// the keep-th best of the prefix P_s (8 passes over 8-bit digits of an order-preserving 64-bit key), the
// top-keep set is gathered into shared memory and bitonic-sorted worst first (a sorted array is a min-heap
// with the worst kept key at the root), and one thread then slides the prefix forward C - 1 times: a new key
// that beats the root replaces it (sift-down). Not causal: one CTA per (b, g), L = N.

typedef unsigned int u32;
typedef unsigned long long u64;

__device__ __forceinline__ u64 order_key(double z) {  // larger z -> larger key (total order on non-NaN doubles)
    u64 u = (u64)__double_as_longlong(z);
    return (u >> 63) ? ~u : (u | 0x8000000000000000ull);
}

// a beats b: larger zoh, or equal zoh and lower index
__device__ __forceinline__ bool beats(u64 ua, int ja, u64 ub, int jb) { return ua > ub || (ua == ub && ja < jb); }

template <typename T>
__device__ __forceinline__ double to_double(T x) { return (double)x; }
template <>
__device__ __forceinline__ double to_double<unsigned short>(unsigned short x) {  // bfloat16 bits
    return (double)__uint_as_float((u32)x << 16);
}

// value [B, N, G, D] (float32, float64 or bfloat16 bits); dt_proj [G, G * D]; zoh [B, G, N] float64.
// A small GEMM: each CTA takes ZJ keys, stages ZJ x ZE value and G x ZE dt_proj chunks in shared memory (as
// float64), and each thread sums its (key, kv head) dot products in the order of algorithms.dma (e ascending,
// compiled without FMA contraction, so zoh matches the CPU's to rounding). Shared memory: (ZJ + G) (ZE + 1) 8 B.
// ZJ = 16 spreads short sequences over more CTAs; ZJ = 64 re-reads dt_proj less on long ones.
#define ZE 64
template <typename T, int ZJ>
__global__ void __launch_bounds__(256)
dma_zoh(const T* __restrict__ value, const double* __restrict__ dt_proj, const double* __restrict__ a_coef,
        double* __restrict__ zoh, int B, int N, int G, int D) {
    extern __shared__ __align__(16) double zsm[];
    double* sv = zsm;                 // [ZJ][ZE + 1]
    double* sw = zsm + ZJ * (ZE + 1);  // [G][ZE + 1]
    const int E = G * D, tid = threadIdx.x;
    const long long row0 = (long long)blockIdx.x * ZJ;  // flat (b, j) row
    const long long rows = (long long)B * N;
    double acc[8];  // outputs o = tid + 256 r, r < 8, of the ZJ x G block (ZJ G <= 2048)
#pragma unroll
    for (int r = 0; r < 8; ++r) acc[r] = 0.0;
    for (int e0 = 0; e0 < E; e0 += ZE) {
        __syncthreads();
        for (int x = tid; x < ZJ * ZE; x += 256) {
            int jj = x / ZE, e = e0 + x % ZE;
            long long rr = row0 + jj;
            sv[jj * (ZE + 1) + x % ZE] = (rr < rows && e < E) ? to_double(value[rr * E + e]) : 0.0;
        }
        for (int x = tid; x < G * ZE; x += 256) {
            int g = x / ZE, e = e0 + x % ZE;
            sw[g * (ZE + 1) + x % ZE] = e < E ? dt_proj[(size_t)g * E + e] : 0.0;
        }
        __syncthreads();
        const int n_e = min(ZE, E - e0);
#pragma unroll
        for (int r = 0; r < 8; ++r) {
            const int o = tid + 256 * r;
            if (o < ZJ * G) {
                const double* pv = sv + (o / G) * (ZE + 1);
                const double* pw = sw + (o % G) * (ZE + 1);
                double s = acc[r];
                for (int e = 0; e < n_e; ++e) s += pv[e] * pw[e];
                acc[r] = s;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 8; ++r) {
        const int o = tid + 256 * r;
        const long long rr = row0 + o / G;
        if (o < ZJ * G && rr < rows) {
            const int g = o % G, b = (int)(rr / N), j = (int)(rr % N);
            const double dt = acc[r];
            const double softplus = fmax(dt, 0.0) + log(1.0 + exp(-fabs(dt)));
            zoh[((size_t)b * G + g) * N + j] = exp(softplus * a_coef[g]);
        }
    }
}

// In place: buf[i] = buf[i] + buf[i + 1] + ... + buf[255] (suffix) or buf[0] + ... + buf[i]; 256 threads.
__device__ __forceinline__ void block_scan256(u32* buf, bool suffix) {
    const int tid = threadIdx.x;
    for (int off = 1; off < 256; off <<= 1) {
        const int from = suffix ? tid + off : tid - off;
        const u32 y = (from >= 0 && from < 256) ? buf[from] : 0u;
        __syncthreads();
        buf[tid] += y;
        __syncthreads();
    }
}

// thr_key/thr_idx [B, G, N + 1]: thr(L) for L in (keep, N] (causal) or L = N (not causal). 256 threads.
// Dynamic shared memory (causal): pow2 >= keep heap entries (8 + 4 bytes) and seg_len prefetched keys (8 bytes).
extern "C" __global__ void __launch_bounds__(256)
dma_select(const double* __restrict__ zoh, int G, int N, int keep, int pow2, int causal, int seg_len,
           u64* __restrict__ thr_key, int* __restrict__ thr_idx) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    u64* heap_u = (u64*)smem_raw;
    u64* seg_u = heap_u + pow2;
    int* heap_j = (int*)(seg_u + seg_len);
    __shared__ u32 hist[256];
    __shared__ u32 chunk_count[256];
    __shared__ u64 s_prefix;
    __shared__ int s_rank, s_jcut, s_fill;

    const int tid = threadIdx.x, nt = blockDim.x;
    const int bg = blockIdx.y;
    const double* z = zoh + (size_t)bg * N;
    const int P = causal ? keep + 1 + blockIdx.x * seg_len : N;  // prefix length of this CTA's first L
    if (P > N || P <= keep) return;
    const int L_end = causal ? min(N, P + seg_len - 1) : N;

    // 1. radix select: the keep-th best key value of the prefix [0, P)
    u64 prefix = 0, mask = 0;
    int rank = keep;  // 1-based rank still to find among keys matching prefix/mask
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += nt) hist[i] = 0;
        __syncthreads();
        for (int j0 = 0; j0 < P; j0 += nt) {  // warp-aggregated: one atomic per distinct digit of a warp
            const int j = j0 + tid;
            const u64 u = j < P ? order_key(z[j]) : 0;
            const u32 bin = (j < P && (u & mask) == prefix) ? (u32)((u >> shift) & 255) : 256u;
            const u32 peers = __match_any_sync(0xffffffffu, bin);
            if (bin < 256 && (tid & 31) == __ffs(peers) - 1) atomicAdd(&hist[bin], (u32)__popc(peers));
        }
        __syncthreads();
        block_scan256(hist, true);  // hist[d]: keys with digit >= d; the digit holding the rank-th best key
        const u32 above = tid < 255 ? hist[tid + 1] : 0u;
        if (hist[tid] >= (u32)rank && above < (u32)rank) {
            s_rank = rank - (int)above;
            s_prefix = prefix | ((u64)tid << shift);
        }
        __syncthreads();
        rank = s_rank;
        prefix = s_prefix;
        mask |= 255ull << shift;
        __syncthreads();
    }
    // 2. ties: the rank-th lowest index among keys equal to the threshold value
    const u64 T = prefix;
    const int chunk = (P + nt - 1) / nt;
    {
        int lo = tid * chunk, hi = min(P, lo + chunk), c = 0;
        for (int j = lo; j < hi; ++j) c += order_key(z[j]) == T;
        chunk_count[tid] = c;
    }
    __syncthreads();
    block_scan256(chunk_count, false);  // inclusive prefix counts of threshold-valued keys per chunk
    {
        const u32 before = tid > 0 ? chunk_count[tid - 1] : 0u;
        if (chunk_count[tid] >= (u32)rank && before < (u32)rank) {  // this chunk holds the rank-th tie
            int need = rank - (int)before, lo = tid * chunk, hi = min(P, lo + chunk);
            for (int j = lo; j < hi; ++j)
                if (order_key(z[j]) == T && --need == 0) { s_jcut = j; break; }
        }
        if (tid == 0) s_fill = 0;
    }
    __syncthreads();
    const int jcut = s_jcut;
    const size_t out = (size_t)bg * (N + 1);
    if (!causal) {
        if (tid == 0) thr_key[out + N] = T, thr_idx[out + N] = jcut;
        return;
    }
    // 3. gather the top-keep set of the prefix, pad to pow2 with "best" entries, prefetch the segment's keys
    for (int j0 = 0; j0 < P; j0 += nt) {  // one atomic per warp: lanes take consecutive slots
        const int j = j0 + tid;
        const u64 u = j < P ? order_key(z[j]) : 0;
        const bool kept = j < P && (u > T || (u == T && j <= jcut));
        const u32 votes = __ballot_sync(0xffffffffu, kept);
        const int lane = tid & 31;
        int base = 0;
        if (lane == 0 && votes) base = atomicAdd(&s_fill, __popc(votes));
        base = __shfl_sync(0xffffffffu, base, 0);
        if (kept) {
            const int at = base + __popc(votes & ((1u << lane) - 1u));
            heap_u[at] = u;
            heap_j[at] = j;
        }
    }
    for (int i = keep + tid; i < pow2; i += nt) heap_u[i] = ~0ull, heap_j[i] = -1;
    for (int c = tid; c < L_end - P; c += nt) seg_u[c] = order_key(z[P + c]);
    __syncthreads();
    // 4. bitonic sort, worst key first: a sorted array is a min-heap (root = worst kept key = thr)
    for (int size = 2; size <= pow2; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int i = tid; i < pow2 / 2; i += nt) {
                const int lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
                const bool up = (lo & size) == 0;
                if (beats(heap_u[lo], heap_j[lo], heap_u[hi], heap_j[hi]) == up) {
                    u64 tu = heap_u[lo];
                    heap_u[lo] = heap_u[hi];
                    heap_u[hi] = tu;
                    int tj = heap_j[lo];
                    heap_j[lo] = heap_j[hi];
                    heap_j[hi] = tj;
                }
            }
            __syncthreads();
        }
    if (tid != 0) return;
    // 5. one thread slides the prefix end from P to L_end; a new key that beats the root replaces it
    thr_key[out + P] = heap_u[0];
    thr_idx[out + P] = heap_j[0];
    for (int L = P + 1; L <= L_end; ++L) {
        const int j = L - 1;
        const u64 u = seg_u[j - P];
        if (beats(u, j, heap_u[0], heap_j[0])) {
            int pos = 0;
            while (true) {
                int c = 2 * pos + 1;
                if (c >= keep) break;
                if (c + 1 < keep && beats(heap_u[c], heap_j[c], heap_u[c + 1], heap_j[c + 1])) ++c;
                if (!beats(u, j, heap_u[c], heap_j[c])) break;
                heap_u[pos] = heap_u[c];
                heap_j[pos] = heap_j[c];
                pos = c;
            }
            heap_u[pos] = u;
            heap_j[pos] = j;
        }
        thr_key[out + L] = heap_u[0];
        thr_idx[out + L] = heap_j[0];
    }
}

__device__ __forceinline__ bool kept_at(const u64* tk, const int* ti, int L, int keep, u64 u, int j) {
    return L <= keep || !beats(tk[L], ti[L], u, j);  // j is at least as good as the threshold key
}

// expiry [B, G, N] int32 (rows with j < L <= EL keep key j); tile_max [B, G, ceil(N / bn)] (zeroed before):
// the largest expiry in each key tile of bn keys. bias [B, G, N] float32 = zoh * log2(e).
extern "C" __global__ void dma_expiry(const double* __restrict__ zoh, const u64* __restrict__ thr_key,
                                      const int* __restrict__ thr_idx, int BG, int N, int keep, int causal, int bn,
                                      int* __restrict__ expiry, int* __restrict__ tile_max, float* __restrict__ bias) {
    long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (t >= (long long)BG * N) return;
    const int j = (int)(t % N), bg = (int)(t / N);
    const double zj = zoh[t];
    const u64 u = order_key(zj);
    const u64* tk = thr_key + (size_t)bg * (N + 1);
    const int* ti = thr_idx + (size_t)bg * (N + 1);
    int el = 0;
    if (!causal) {
        el = kept_at(tk, ti, N, keep, u, j) ? N : 0;
    } else if (kept_at(tk, ti, j + 1, keep, u, j)) {
        int lo = j + 1, hi = N;  // kept at lo; find the last kept L in [lo, hi]
        while (lo < hi) {
            int mid = lo + (hi - lo + 1) / 2;
            if (kept_at(tk, ti, mid, keep, u, j)) lo = mid; else hi = mid - 1;
        }
        el = lo;
    }
    expiry[t] = el;
    bias[t] = (float)(zj * 1.4426950408889634);
    if (el > 0) atomicMax(&tile_max[(size_t)bg * ((N + bn - 1) / bn) + j / bn], el);
}

// Per-row thresholds in the library's format (algorithms.dma.dma_topk_threshold): thr [B, G, M] float64
// (-DBL_MAX: keep every visible key), jcut [B, G, M] int32.
extern "C" __global__ void dma_rows(const double* __restrict__ zoh, const u64* __restrict__ thr_key,
                                    const int* __restrict__ thr_idx, int BG, int M, int N, int keep, int causal,
                                    double* __restrict__ thr, int* __restrict__ jcut) {
    long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (t >= (long long)BG * M) return;
    const int i = (int)(t % M), bg = (int)(t / M);
    const int L = causal ? max(0, min(N, i + 1 + N - M)) : N;
    if (L <= keep) {
        thr[t] = -1.7976931348623157e308;
        jcut[t] = N;
    } else {
        const int jc = thr_idx[(size_t)bg * (N + 1) + L];
        thr[t] = zoh[(size_t)bg * N + jc];
        jcut[t] = jc;
    }
}
