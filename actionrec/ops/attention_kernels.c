/* Fused CPU kernels of the attention blocks: channel and spatial pooling, the 7x7 spatial convolution, gates +
   add + ReLU (on fp32 or bf16 activations), and their backward (fp32). actionrec/ops/fused_attention.py compiles this
   file (with SPAN defined) and calls it through ctypes after checking shapes, dtypes and layouts. */
#include <math.h>
#include <stdint.h>
#include <string.h>


/* Loops over independent rows or chunks run on OpenMP threads. Compiled with -fopenmp, the library binds to the
   libgomp that torch has already loaded, so these loops share torch's thread pool instead of fighting it. */

/* Activations are fp32 or bf16 (the top half of an fp32, stored as uint16_t); every sum, max and gate is fp32.
   Kernels 1-3 are written once over a constant B16 flag and inlined, so each exported variant (`name` for fp32,
   `name_bf16`) is compiled with its loads and stores known. bf16 -> fp32 is a shift; fp32 -> bf16 rounds to
   nearest even, as torch does. */
#define INLINE static inline __attribute__((always_inline))

INLINE float load(const void *p, int64_t i, const int B16) {
    if (!B16) return ((const float *)p)[i];
    uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

INLINE uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;  /* NaN stays NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

INLINE void store(void *p, int64_t i, float v, const int B16) {
    if (B16) ((uint16_t *)p)[i] = to_bf16(v);
    else ((float *)p)[i] = v;
}

/* ReLU as torch's: v > 0 stays, a NaN stays NaN (so a damaged model's NaN reaches the pipeline's guard), the rest
   is +0. Tested on the bits: -ffinite-math-only (the flags) may fold a float NaN test away, never an integer one. */
INLINE float relu(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u = u - 0x80000000u <= 0x7f800000u ? 0u : u;  /* -0 to -inf: the sign bit set and not a NaN */
    memcpy(&v, &u, sizeof v);
    return v;
}

INLINE const void *at(const void *p, int64_t i, const int B16) { return (const char *)p + i * (B16 ? 2 : 4); }

/* 1. mean and max of each row (N*C rows of S = T*H*W values): one read of x. */
INLINE void row_mean_max(const void *restrict x, int64_t S, float *mean, float *max, const int B16) {
    float sum = 0.0f, mx = load(x, 0, B16);
    for (int64_t i = 0; i < S; i++) { float v = load(x, i, B16); sum += v; mx = v > mx ? v : mx; }
    *mean = sum / (float)S;
    *max = mx;
}

/* Mc = sigmoid(W2 relu(W1 avg) + W2 relu(W1 max)) for each sample from its pools; w1 is (H, C), w2 (C, H). */
static void shared_mlp(const float *avg, const float *max, int64_t N, int64_t C, const float *w1, int64_t H,
                       const float *w2, float *gate, float *ha, float *hm) {
    for (int64_t n = 0; n < N; n++) {
        for (int64_t h = 0; h < H; h++) {
            float a = 0.0f, m = 0.0f;
            for (int64_t c = 0; c < C; c++) {
                a += w1[h * C + c] * avg[n * C + c];
                m += w1[h * C + c] * max[n * C + c];
            }
            ha[h] = relu(a);
            hm[h] = relu(m);
        }
        for (int64_t c = 0; c < C; c++) {
            float v = 0.0f;
            for (int64_t h = 0; h < H; h++) v += w2[c * H + h] * ha[h] + w2[c * H + h] * hm[h];
            gate[n * C + c] = 1.0f / (1.0f + expf(-v));
        }
    }
}

/* The channel gate of x (N, C, S): pools in one read of x, then the MLP. work holds 2 N C + 2 H floats. */
INLINE void channel_gate_t(const void *x, int64_t N, int64_t C, int64_t S, const float *w1, int64_t H,
                           const float *w2, float *gate, float *work, int threads, const int B16) {
    float *avg = work, *max = work + N * C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < N * C; r++) row_mean_max(at(x, r * S, B16), S, avg + r, max + r, B16);
    shared_mlp(avg, max, N, C, w1, H, w2, gate, work + 2 * N * C, work + 2 * N * C + H);
}

/* 2. mean and max over channels of gate[n, c] * x[n, c, s], without writing the product: out is (N, 2, S). */
enum { CHUNK = 512 };

INLINE void chunk_pool(const void *restrict x, const float *restrict g, int64_t C, int64_t S, int64_t len,
                       float *restrict mean, float *restrict max, const int B16) {
    float s[CHUNK], m[CHUNK];
    for (int64_t i = 0; i < len; i++) { float v = load(x, i, B16) * g[0]; s[i] = v; m[i] = v; }
    for (int64_t c = 1; c < C; c++) {
        const void *restrict xc = at(x, c * S, B16);
        float gc = g[c];
        for (int64_t i = 0; i < len; i++) { float v = load(xc, i, B16) * gc; s[i] += v; m[i] = v > m[i] ? v : m[i]; }
    }
    for (int64_t i = 0; i < len; i++) { mean[i] = s[i] / (float)C; max[i] = m[i]; }
}

INLINE void spatial_pool_t(const void *x, const float *gate, int64_t N, int64_t C, int64_t S, float *out,
                           int threads, const int B16) {
    int64_t chunks = (S + CHUNK - 1) / CHUNK;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < N * chunks; t++) {
        int64_t n = t / chunks, s0 = (t % chunks) * CHUNK;
        int64_t len = S - s0 < CHUNK ? S - s0 : CHUNK;
        float *mean = out + n * 2 * S + s0;
        chunk_pool(at(x, n * C * S + s0, B16), gate + n * C, C, S, len, mean, mean + S, B16);
    }
}

/* 3. out = relu(identity + (x * gate[n, c]) * smap[n, s]): both gates, the add and the ReLU in one pass. */
INLINE void row_apply(const void *x, float g, const float *restrict sm, const void *restrict id, int64_t S,
                      void *out, const int B16) {  /* out may be x */
    for (int64_t i = 0; i < S; i++) {
        float v = load(id, i, B16) + (load(x, i, B16) * g) * sm[i];
        store(out, i, relu(v), B16);
    }
}

INLINE void gate_add_relu_t(const void *x, const float *gate, const float *smap, const void *identity, int64_t N,
                            int64_t C, int64_t S, void *out, int threads, const int B16) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < N * C; r++)
        row_apply(at(x, r * S, B16), gate[r], smap + (r / C) * S, at(identity, r * S, B16), S,
                  (void *)at(out, r * S, B16), B16);
}

/* Channels-last (N, S, C) versions of 1-3, vectorised along C; smap and the pooled maps stay (N, S). */

/* work holds 2 N C (ceil(S / SPAN) + 1) + 2 H floats: partial pools per span, then the totals. */
INLINE void channel_gate_cl_t(const void *x, int64_t N, int64_t C, int64_t S, const float *w1, int64_t H,
                              const float *w2, float *gate, float *work, int threads, const int B16) {
    int64_t spans = (S + SPAN - 1) / SPAN;
    float *psum = work, *pmax = work + N * spans * C, *avg = pmax + N * spans * C, *max = avg + N * C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < N * spans; t++) {
        int64_t n = t / spans, s0 = (t % spans) * SPAN, s1 = s0 + SPAN < S ? s0 + SPAN : S;
        float *restrict ps = psum + t * C, *restrict pm = pmax + t * C;
        const void *restrict xs = at(x, (n * S + s0) * C, B16);
        for (int64_t c = 0; c < C; c++) { ps[c] = 0.0f; pm[c] = load(xs, c, B16); }
        for (int64_t s = s0; s < s1; s++, xs = at(xs, C, B16))
            for (int64_t c = 0; c < C; c++) { float v = load(xs, c, B16); ps[c] += v; pm[c] = v > pm[c] ? v : pm[c]; }
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float a = 0.0f, m = pmax[n * spans * C + c];
            for (int64_t k = 0; k < spans; k++) {
                a += psum[(n * spans + k) * C + c];
                float v = pmax[(n * spans + k) * C + c];
                m = v > m ? v : m;
            }
            avg[n * C + c] = a / (float)S;
            max[n * C + c] = m;
        }
    shared_mlp(avg, max, N, C, w1, H, w2, gate, max + N * C, max + N * C + H);
}

INLINE void spatial_pool_cl_t(const void *x, const float *gate, int64_t N, int64_t C, int64_t S, float *out,
                              int threads, const int B16) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < N * S; p++) {
        int64_t n = p / S, s = p % S;
        const void *restrict xp = at(x, p * C, B16);
        const float *restrict g = gate + n * C;
        float sum = 0.0f, mx = load(xp, 0, B16) * g[0];
        for (int64_t c = 0; c < C; c++) { float v = load(xp, c, B16) * g[c]; sum += v; mx = v > mx ? v : mx; }
        out[n * 2 * S + s] = sum / (float)C;
        out[n * 2 * S + S + s] = mx;
    }
}

INLINE void gate_add_relu_cl_t(const void *x, const float *gate, const float *smap, const void *identity,
                               int64_t N, int64_t C, int64_t S, void *out, int threads, const int B16) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < N * S; p++) {
        const void *xp = at(x, p * C, B16), *restrict id = at(identity, p * C, B16);
        const float *restrict g = gate + (p / S) * C;
        void *op = (void *)at(out, p * C, B16);  /* op may be xp */
        float sm = smap[p];
        for (int64_t c = 0; c < C; c++) {
            float v = load(id, c, B16) + (load(xp, c, B16) * g[c]) * sm;
            store(op, c, relu(v), B16);
        }
    }
}

/* The exported kernels 1-3: `name` on fp32 activations, `name_bf16` on bf16 ones, for each layout. */
#define POOL_ARGS const void *x, int64_t N, int64_t C, int64_t S, const float *w1, int64_t H, const float *w2, \
                  float *gate, float *work, int threads
#define SPOOL_ARGS const void *x, const float *gate, int64_t N, int64_t C, int64_t S, float *out, int threads
#define APPLY_ARGS const void *x, const float *gate, const float *smap, const void *identity, int64_t N, int64_t C, \
                   int64_t S, void *out, int threads
#define EXPORT(name, ARGS, ...) \
    void name(ARGS) { name##_t(__VA_ARGS__, 0); } \
    void name##_bf16(ARGS) { name##_t(__VA_ARGS__, 1); }
EXPORT(channel_gate, POOL_ARGS, x, N, C, S, w1, H, w2, gate, work, threads)
EXPORT(channel_gate_cl, POOL_ARGS, x, N, C, S, w1, H, w2, gate, work, threads)
EXPORT(spatial_pool, SPOOL_ARGS, x, gate, N, C, S, out, threads)
EXPORT(spatial_pool_cl, SPOOL_ARGS, x, gate, N, C, S, out, threads)
EXPORT(gate_add_relu, APPLY_ARGS, x, gate, smap, identity, N, C, S, out, threads)
EXPORT(gate_add_relu_cl, APPLY_ARGS, x, gate, smap, identity, N, C, S, out, threads)

/* 3 in bf16 with AVX-512 BF16 (vcvtneps2bf16 rounds 16 values to nearest even in one instruction), compiled for
   that ISA whatever -march says; the caller picks them only on a CPU with the avx512_bf16 flag
   (`bf16_native_kernels` says whether this build has them; ACTIONREC_NO_AVX512_BF16 leaves them out, for a toolchain
   without that ISA). 16 lanes at a time, the tail masked. */
#if defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 10) && !defined(ACTIONREC_NO_AVX512_BF16)
#include <immintrin.h>
#define AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

int bf16_native_kernels(void) { return 1; }

AVX512_BF16 static inline __m512 load16(const uint16_t *p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

AVX512_BF16 static inline void store16(uint16_t *p, __m512 v, __mmask16 m) {
    __m512i bits = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(bits, _mm512_set1_epi32(0x7f800000));  /* relu(): NaN stays, as there */
    __m256bh h = _mm512_cvtneps_pbh(_mm512_mask_mov_ps(_mm512_max_ps(v, _mm512_setzero_ps()), nan, v));
    _mm256_mask_storeu_epi16(p, m, (__m256i)h);
}

AVX512_BF16 static inline __mmask16 tail(int64_t left) { return left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1); }

AVX512_BF16 void gate_add_relu_bf16_avx512(APPLY_ARGS) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < N * C; r++) {
        const uint16_t *xr = (const uint16_t *)x + r * S, *id = (const uint16_t *)identity + r * S;
        const float *sm = smap + (r / C) * S;
        uint16_t *o = (uint16_t *)out + r * S;
        __m512 g = _mm512_set1_ps(gate[r]);
        for (int64_t i = 0; i < S; i += 16) {
            __mmask16 m = tail(S - i);
            __m512 v = _mm512_fmadd_ps(_mm512_mul_ps(load16(xr + i, m), g), _mm512_maskz_loadu_ps(m, sm + i),
                                       load16(id + i, m));
            store16(o + i, v, m);
        }
    }
}

AVX512_BF16 void gate_add_relu_cl_bf16_avx512(APPLY_ARGS) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < N * S; p++) {
        const uint16_t *xp = (const uint16_t *)x + p * C, *id = (const uint16_t *)identity + p * C;
        const float *g = gate + (p / S) * C;
        uint16_t *o = (uint16_t *)out + p * C;
        __m512 sm = _mm512_set1_ps(smap[p]);
        for (int64_t c = 0; c < C; c += 16) {
            __mmask16 m = tail(C - c);
            __m512 v = _mm512_fmadd_ps(_mm512_mul_ps(load16(xp + c, m), _mm512_maskz_loadu_ps(m, g + c)), sm,
                                       load16(id + c, m));
            store16(o + c, v, m);
        }
    }
}
#else
int bf16_native_kernels(void) { return 0; }
#endif

/* 4. The spatial gate's convolution (before its sigmoid), on an input already zero-padded by half a kernel on
   every side and on the right up to a whole number of blocks: in (N, CI, T + KT - 1, H + KH - 1, WB + KW - 1) with
   WB = W rounded up to a multiple of conv_block(W), weight (1, CI, KT, KH, KW), out (N, 1, T, H, W). Each tap
   updates NV independent vector accumulators (LANES NV neighbouring outputs), so that the multiply-adds overlap
   instead of waiting on one another, and narrow maps don't compute lanes they throw away; two output rows share each
   input row's loads (conv_row2), and the network's 7-wide kernels are unrolled. */
#ifdef __AVX512F__
enum { LANES = 16 };  /* one AVX-512 register per vector */
#else
enum { LANES = 8 };  /* one AVX register, or two SSE */
#endif
typedef float vec __attribute__((vector_size(4 * LANES)));  /* GCC/Clang vector extension */

static int conv_vectors(int64_t W) { return W > 2 * LANES ? 4 : W > LANES ? 2 : 1; }

int conv_block(int64_t W) { return LANES * conv_vectors(W); }  /* outputs per step along W */

static inline __attribute__((always_inline)) void conv_row(const float *in, const float *wgt, int64_t CI, int64_t KT,
                                                           int64_t KH, int64_t KW, int64_t HP, int64_t WP,
                                                           int64_t plane, int64_t W, float *o, const int NV) {
    for (int64_t w0 = 0; w0 < W; w0 += LANES * NV) {
        vec acc[4] = {{0}, {0}, {0}, {0}};
        for (int64_t c = 0; c < CI; c++)
            for (int64_t dt = 0; dt < KT; dt++)
                for (int64_t dh = 0; dh < KH; dh++) {
                    const float *irow = in + c * plane + (dt * HP + dh) * WP + w0;
                    const float *k = wgt + ((c * KT + dt) * KH + dh) * KW;
                    for (int64_t dw = 0; dw < KW; dw++) {
                        float kv = k[dw];
                        for (int b = 0; b < NV; b++) {
                            vec v;  /* unaligned load of 8 neighbours */
                            memcpy(&v, irow + dw + LANES * b, sizeof v);
                            acc[b] += kv * v;
                        }
                    }
                }
        float res[4 * LANES];
        memcpy(res, acc, sizeof acc);
        for (int64_t j = 0; j < LANES * NV && w0 + j < W; j++) o[w0 + j] = res[j];
    }
}

/* One input row's taps for two neighbouring output rows: row 0 with the kernel row k0, row 1 with k1 (each only
   where USE0 / USE1), so that each load feeds both. */
static inline __attribute__((always_inline)) void taps2(const float *irow, const float *k0, const float *k1,
                                                        const int KW, vec *a0, vec *a1, const int NV, const int USE0,
                                                        const int USE1) {
    for (int dw = 0; dw < KW; dw++)
        for (int b = 0; b < NV; b++) {
            vec v;  /* unaligned load of 8 neighbours */
            memcpy(&v, irow + dw + LANES * b, sizeof v);
            if (USE0) a0[b] += k0[dw] * v;
            if (USE1) a1[b] += k1[dw] * v;
        }
}

/* Output rows h and h + 1 together: KH + 1 input rows loaded per channel and frame instead of 2 KH. */
static inline __attribute__((always_inline)) void conv_row2(const float *in, const float *wgt, int64_t CI,
                                                            int64_t KT, int64_t KH, const int KW, int64_t HP,
                                                            int64_t WP, int64_t plane, int64_t W, float *o0,
                                                            float *o1, const int NV) {
    for (int64_t w0 = 0; w0 < W; w0 += LANES * NV) {
        vec a0[4] = {{0}, {0}, {0}, {0}}, a1[4] = {{0}, {0}, {0}, {0}};
        for (int64_t c = 0; c < CI; c++)
            for (int64_t dt = 0; dt < KT; dt++) {
                const float *irow = in + c * plane + dt * HP * WP + w0, *k = wgt + (c * KT + dt) * KH * KW;
                taps2(irow, k, k, KW, a0, a1, NV, 1, 0);
                for (int64_t r = 1; r < KH; r++)
                    taps2(irow + r * WP, k + r * KW, k + (r - 1) * KW, KW, a0, a1, NV, 1, 1);
                taps2(irow + KH * WP, k, k + (KH - 1) * KW, KW, a0, a1, NV, 0, 1);
            }
        float r0[4 * LANES], r1[4 * LANES];
        memcpy(r0, a0, sizeof a0);
        memcpy(r1, a1, sizeof a1);
        for (int64_t j = 0; j < LANES * NV && w0 + j < W; j++) { o0[w0 + j] = r0[j]; o1[w0 + j] = r1[j]; }
    }
}

void spatial_conv(const float *in, const float *wgt, int64_t N, int64_t CI, int64_t T, int64_t H, int64_t W,
                  int64_t KT, int64_t KH, int64_t KW, float *out, int threads) {
    const int nv = conv_vectors(W);
    const int64_t TP = T + KT - 1, HP = H + KH - 1, WP = (W + LANES * nv - 1) / (LANES * nv) * (LANES * nv) + KW - 1;
    const int64_t plane = TP * HP * WP;  /* one padded channel of one sample */
    const int64_t pairs = (H + 1) / 2;  /* output rows h, h + 1 per task; the last row of an odd H alone */
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t task = 0; task < N * T * pairs; task++) {
        int64_t nt = task / pairs, h = task % pairs * 2, n = nt / T, t = nt % T;
        const float *base = in + n * CI * plane + (t * HP + h) * WP;
        float *o = out + (nt * H + h) * W;
        /* the network's kernels are 7 wide: a constant KW lets the compiler unroll the taps along W */
        #define CONV_ROWS(kw, nv_) (h + 1 < H ? conv_row2(base, wgt, CI, KT, KH, kw, HP, WP, plane, W, o, o + W, nv_) \
                                              : conv_row(base, wgt, CI, KT, KH, kw, HP, WP, plane, W, o, nv_))
        #define CONV_NV(kw) (nv == 4 ? CONV_ROWS(kw, 4) : nv == 2 ? CONV_ROWS(kw, 2) : CONV_ROWS(kw, 1))
        if (KW == 7) CONV_NV(7);
        else CONV_NV(KW);
    }
}

/* 5. Training (autograd), channels-last only: the layout `actionrec train` uses. x is (N, S, C) in memory, fp32
   or bf16 (bf16 autocast training) as in 1-3: the activations and their gradients in that dtype, the rest fp32. */

/* Channel pools with the first position of each maximum: avg, max (N, C); arg (N, C), a position in 0..S-1.
   work holds 2 N C ceil(S / SPAN) floats, iwork N C ceil(S / SPAN) positions. */
INLINE void channel_pool_arg_cl_t(const void *x, int64_t N, int64_t C, int64_t S, float *avg, float *max,
                                  int64_t *arg, float *work, int64_t *iwork, int threads, const int B16) {
    int64_t spans = (S + SPAN - 1) / SPAN;
    float *psum = work, *pmax = work + N * spans * C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < N * spans; t++) {
        int64_t n = t / spans, s0 = (t % spans) * SPAN, s1 = s0 + SPAN < S ? s0 + SPAN : S;
        float *restrict ps = psum + t * C, *restrict pm = pmax + t * C;
        int64_t *restrict pa = iwork + t * C;
        const void *restrict xs = at(x, (n * S + s0) * C, B16);
        for (int64_t c = 0; c < C; c++) { ps[c] = 0.0f; pm[c] = load(xs, c, B16); pa[c] = s0; }
        for (int64_t s = s0; s < s1; s++, xs = at(xs, C, B16))
            for (int64_t c = 0; c < C; c++) {
                float v = load(xs, c, B16);
                ps[c] += v;
                if (v > pm[c]) { pm[c] = v; pa[c] = s; }
            }
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float a = 0.0f, m = pmax[n * spans * C + c];
            int64_t at = iwork[n * spans * C + c];
            for (int64_t k = 0; k < spans; k++) {
                int64_t i = (n * spans + k) * C + c;
                a += psum[i];
                if (pmax[i] > m) { m = pmax[i]; at = iwork[i]; }
            }
            avg[n * C + c] = a / (float)S;
            max[n * C + c] = m;
            arg[n * C + c] = at;
        }
}

/* Backward, first pass: gp = g where out > 0 (the ReLU), the gradient of the shortcut and of Ms * y; and
   dms[n, s] = sum_c gp * gate[n, c] * x, the gradient of the spatial map. */
INLINE void attention_grad_out_cl_t(const void *g, const void *out, const void *x, const float *gate, int64_t N,
                                    int64_t C, int64_t S, void *gp, float *dms, int threads, const int B16) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < N * S; p++) {
        const void *restrict gq = at(g, p * C, B16), *restrict oq = at(out, p * C, B16);
        const void *restrict xq = at(x, p * C, B16);
        const float *restrict gc = gate + (p / S) * C;
        void *restrict gpq = (void *)at(gp, p * C, B16);
        float acc = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            float v = load(oq, c, B16) > 0.0f ? load(gq, c, B16) : 0.0f;  /* exact in bf16: a copy or a zero */
            store(gpq, c, v, B16);
            acc += v * gc[c] * load(xq, c, B16);
        }
        dms[p] = acc;
    }
}

/* Backward, second pass: the gradient of y = gate * x from the gated add (gp * Ms) and from the spatial pools
   (dpool (N, 2, S): mean's share to every channel, max's to the first channel that attains it); writes
   dx = dy * gate and dgate[n, c] = sum_s dy * x. work holds N C ceil(S / SPAN) floats. */
INLINE void attention_grad_x_cl_t(const void *gp, const void *x, const float *gate, const float *smap,
                                  const float *dpool, int64_t N, int64_t C, int64_t S, void *dx, float *dgate,
                                  float *work, int threads, const int B16) {
    int64_t spans = (S + SPAN - 1) / SPAN;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < N * spans; t++) {
        int64_t n = t / spans, s0 = (t % spans) * SPAN, s1 = s0 + SPAN < S ? s0 + SPAN : S;
        const float *restrict gc = gate + n * C;
        float *restrict pd = work + t * C;
        for (int64_t c = 0; c < C; c++) pd[c] = 0.0f;
        for (int64_t s = s0; s < s1; s++) {
            int64_t p = n * S + s;
            const void *restrict gq = at(gp, p * C, B16), *restrict xq = at(x, p * C, B16);
            void *restrict dq = (void *)at(dx, p * C, B16);
            int64_t am = 0;
            float mx = load(xq, 0, B16) * gc[0];
            for (int64_t c = 1; c < C; c++) {
                float v = load(xq, c, B16) * gc[c];
                if (v > mx) { mx = v; am = c; }
            }
            float sm = smap[p], dmean = dpool[n * 2 * S + s] / (float)C, dmax = dpool[n * 2 * S + S + s];
            for (int64_t c = 0; c < C; c++) {
                float dy = load(gq, c, B16) * sm + dmean + (c == am ? dmax : 0.0f);
                store(dq, c, dy * gc[c], B16);
                pd[c] += dy * load(xq, c, B16);
            }
        }
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float a = 0.0f;
            for (int64_t k = 0; k < spans; k++) a += work[(n * spans + k) * C + c];
            dgate[n * C + c] = a;
        }
}

/* The exported training kernels: `name` on fp32 activations, `name_bf16` on bf16 ones. */
#define ARG_ARGS const void *x, int64_t N, int64_t C, int64_t S, float *avg, float *max, int64_t *arg, float *work, \
                 int64_t *iwork, int threads
#define GOUT_ARGS const void *g, const void *out, const void *x, const float *gate, int64_t N, int64_t C, int64_t S, \
                  void *gp, float *dms, int threads
#define GX_ARGS const void *gp, const void *x, const float *gate, const float *smap, const float *dpool, int64_t N, \
                int64_t C, int64_t S, void *dx, float *dgate, float *work, int threads
EXPORT(channel_pool_arg_cl, ARG_ARGS, x, N, C, S, avg, max, arg, work, iwork, threads)
EXPORT(attention_grad_out_cl, GOUT_ARGS, g, out, x, gate, N, C, S, gp, dms, threads)
EXPORT(attention_grad_x_cl, GX_ARGS, gp, x, gate, smap, dpool, N, C, S, dx, dgate, work, threads)
