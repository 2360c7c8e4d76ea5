/* Fused CPU kernels of the attention blocks: channel and spatial pooling, the 7x7 spatial convolution, gates +
   add + ReLU, and their backward. actionrec/kernels.py compiles this file (with SPAN defined) and calls it through
   ctypes after checking shapes, dtypes and layouts. */
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));  /* GCC/Clang vector extension: one AVX register, or two SSE */

/* Loops over independent rows or chunks run on OpenMP threads. Compiled with -fopenmp, the library binds to the
   libgomp that torch has already loaded, so these loops share torch's thread pool instead of fighting it. */

/* 1. mean and max of each row (N*C rows of S = T*H*W values): one read of x. */
static void row_mean_max(const float *restrict x, int64_t S, float *mean, float *max) {
    float sum = 0.0f, mx = x[0];
    for (int64_t i = 0; i < S; i++) { float v = x[i]; sum += v; mx = v > mx ? v : mx; }
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
            ha[h] = a > 0.0f ? a : 0.0f;
            hm[h] = m > 0.0f ? m : 0.0f;
        }
        for (int64_t c = 0; c < C; c++) {
            float v = 0.0f;
            for (int64_t h = 0; h < H; h++) v += w2[c * H + h] * ha[h] + w2[c * H + h] * hm[h];
            gate[n * C + c] = 1.0f / (1.0f + expf(-v));
        }
    }
}

/* The channel gate of x (N, C, S): pools in one read of x, then the MLP. work holds 2 N C + 2 H floats. */
void channel_gate(const float *x, int64_t N, int64_t C, int64_t S, const float *w1, int64_t H, const float *w2,
                  float *gate, float *work, int threads) {
    float *avg = work, *max = work + N * C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < N * C; r++) row_mean_max(x + r * S, S, avg + r, max + r);
    shared_mlp(avg, max, N, C, w1, H, w2, gate, work + 2 * N * C, work + 2 * N * C + H);
}

/* 2. mean and max over channels of gate[n, c] * x[n, c, s], without writing the product: out is (N, 2, S). */
enum { CHUNK = 512 };

static void chunk_pool(const float *restrict x, const float *restrict g, int64_t C, int64_t S, int64_t len,
                       float *restrict mean, float *restrict max) {
    float s[CHUNK], m[CHUNK];
    for (int64_t i = 0; i < len; i++) { float v = x[i] * g[0]; s[i] = v; m[i] = v; }
    for (int64_t c = 1; c < C; c++) {
        const float *restrict xc = x + c * S;
        float gc = g[c];
        for (int64_t i = 0; i < len; i++) { float v = xc[i] * gc; s[i] += v; m[i] = v > m[i] ? v : m[i]; }
    }
    for (int64_t i = 0; i < len; i++) { mean[i] = s[i] / (float)C; max[i] = m[i]; }
}

void spatial_pool(const float *x, const float *gate, int64_t N, int64_t C, int64_t S, float *out, int threads) {
    int64_t chunks = (S + CHUNK - 1) / CHUNK;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < N * chunks; t++) {
        int64_t n = t / chunks, s0 = (t % chunks) * CHUNK;
        int64_t len = S - s0 < CHUNK ? S - s0 : CHUNK;
        float *mean = out + n * 2 * S + s0;
        chunk_pool(x + n * C * S + s0, gate + n * C, C, S, len, mean, mean + S);
    }
}

/* 3. out = relu(identity + (x * gate[n, c]) * smap[n, s]): both gates, the add and the ReLU in one pass. */
static void row_apply(const float *x, float g, const float *restrict sm, const float *restrict id, int64_t S,
                      float *out) {  /* out may be x */
    for (int64_t i = 0; i < S; i++) { float v = id[i] + (x[i] * g) * sm[i]; out[i] = v > 0.0f ? v : 0.0f; }
}

void gate_add_relu(const float *x, const float *gate, const float *smap, const float *identity, int64_t N,
                   int64_t C, int64_t S, float *out, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < N * C; r++)
        row_apply(x + r * S, gate[r], smap + (r / C) * S, identity + r * S, S, out + r * S);
}

/* Channels-last (N, S, C) versions of 1-3, vectorised along C; smap and the pooled maps stay (N, S). */

/* work holds 2 N C (ceil(S / SPAN) + 1) + 2 H floats: partial pools per span, then the totals. */
void channel_gate_cl(const float *x, int64_t N, int64_t C, int64_t S, const float *w1, int64_t H, const float *w2,
                     float *gate, float *work, int threads) {
    int64_t spans = (S + SPAN - 1) / SPAN;
    float *psum = work, *pmax = work + N * spans * C, *avg = pmax + N * spans * C, *max = avg + N * C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < N * spans; t++) {
        int64_t n = t / spans, s0 = (t % spans) * SPAN, s1 = s0 + SPAN < S ? s0 + SPAN : S;
        float *restrict ps = psum + t * C, *restrict pm = pmax + t * C;
        const float *restrict xs = x + (n * S + s0) * C;
        for (int64_t c = 0; c < C; c++) { ps[c] = 0.0f; pm[c] = xs[c]; }
        for (int64_t s = s0; s < s1; s++, xs += C)
            for (int64_t c = 0; c < C; c++) { float v = xs[c]; ps[c] += v; pm[c] = v > pm[c] ? v : pm[c]; }
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

void spatial_pool_cl(const float *x, const float *gate, int64_t N, int64_t C, int64_t S, float *out, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < N * S; p++) {
        int64_t n = p / S, s = p % S;
        const float *restrict xp = x + p * C, *restrict g = gate + n * C;
        float sum = 0.0f, mx = xp[0] * g[0];
        for (int64_t c = 0; c < C; c++) { float v = xp[c] * g[c]; sum += v; mx = v > mx ? v : mx; }
        out[n * 2 * S + s] = sum / (float)C;
        out[n * 2 * S + S + s] = mx;
    }
}

void gate_add_relu_cl(const float *x, const float *gate, const float *smap, const float *identity, int64_t N,
                      int64_t C, int64_t S, float *out, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < N * S; p++) {
        const float *xp = x + p * C, *restrict g = gate + (p / S) * C, *restrict id = identity + p * C;
        float *op = out + p * C, sm = smap[p];  /* op may be xp */
        for (int64_t c = 0; c < C; c++) { float v = id[c] + (xp[c] * g[c]) * sm; op[c] = v > 0.0f ? v : 0.0f; }
    }
}

/* 4. The spatial gate's convolution (before its sigmoid), on an input already zero-padded by half a kernel on
   every side and on the right up to a whole number of blocks: in (N, CI, T + KT - 1, H + KH - 1, WB + KW - 1) with
   WB = W rounded up to a multiple of 8 * conv_vectors(W), weight (1, CI, KT, KH, KW), out (N, 1, T, H, W). Each tap
   updates NV independent vector accumulators (8 NV neighbouring outputs), so that the multiply-adds overlap instead
   of waiting on one another, and narrow maps don't compute lanes they throw away. */
int conv_vectors(int64_t W) { return W > 16 ? 4 : W > 8 ? 2 : 1; }

static inline __attribute__((always_inline)) void conv_row(const float *in, const float *wgt, int64_t CI, int64_t KT,
                                                           int64_t KH, int64_t KW, int64_t HP, int64_t WP,
                                                           int64_t plane, int64_t W, float *o, const int NV) {
    for (int64_t w0 = 0; w0 < W; w0 += 8 * NV) {
        v8 acc[4] = {{0}, {0}, {0}, {0}};
        for (int64_t c = 0; c < CI; c++)
            for (int64_t dt = 0; dt < KT; dt++)
                for (int64_t dh = 0; dh < KH; dh++) {
                    const float *irow = in + c * plane + (dt * HP + dh) * WP + w0;
                    const float *k = wgt + ((c * KT + dt) * KH + dh) * KW;
                    for (int64_t dw = 0; dw < KW; dw++) {
                        float kv = k[dw];
                        for (int b = 0; b < NV; b++) {
                            v8 v;  /* unaligned load of 8 neighbours */
                            memcpy(&v, irow + dw + 8 * b, sizeof v);
                            acc[b] += kv * v;
                        }
                    }
                }
        float res[32];
        memcpy(res, acc, sizeof acc);
        for (int64_t j = 0; j < 8 * NV && w0 + j < W; j++) o[w0 + j] = res[j];
    }
}

void spatial_conv(const float *in, const float *wgt, int64_t N, int64_t CI, int64_t T, int64_t H, int64_t W,
                  int64_t KT, int64_t KH, int64_t KW, float *out, int threads) {
    const int nv = conv_vectors(W);
    const int64_t TP = T + KT - 1, HP = H + KH - 1, WP = (W + 8 * nv - 1) / (8 * nv) * (8 * nv) + KW - 1;
    const int64_t plane = TP * HP * WP;  /* one padded channel of one sample */
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < N * T * H; row++) {
        int64_t n = row / (T * H), t = (row / H) % T, h = row % H;
        const float *base = in + n * CI * plane + (t * HP + h) * WP;
        if (nv == 4) conv_row(base, wgt, CI, KT, KH, KW, HP, WP, plane, W, out + row * W, 4);
        else if (nv == 2) conv_row(base, wgt, CI, KT, KH, KW, HP, WP, plane, W, out + row * W, 2);
        else conv_row(base, wgt, CI, KT, KH, KW, HP, WP, plane, W, out + row * W, 1);
    }
}

/* 5. Training (autograd), channels-last only: the layout `actionrec train` uses. x is (N, S, C) in memory. */

/* Channel pools with the first position of each maximum: avg, max (N, C); arg (N, C), a position in 0..S-1.
   work holds 2 N C ceil(S / SPAN) floats, iwork N C ceil(S / SPAN) positions. */
void channel_pool_arg_cl(const float *x, int64_t N, int64_t C, int64_t S, float *avg, float *max, int64_t *arg,
                         float *work, int64_t *iwork, int threads) {
    int64_t spans = (S + SPAN - 1) / SPAN;
    float *psum = work, *pmax = work + N * spans * C;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < N * spans; t++) {
        int64_t n = t / spans, s0 = (t % spans) * SPAN, s1 = s0 + SPAN < S ? s0 + SPAN : S;
        float *restrict ps = psum + t * C, *restrict pm = pmax + t * C;
        int64_t *restrict pa = iwork + t * C;
        const float *restrict xs = x + (n * S + s0) * C;
        for (int64_t c = 0; c < C; c++) { ps[c] = 0.0f; pm[c] = xs[c]; pa[c] = s0; }
        for (int64_t s = s0; s < s1; s++, xs += C)
            for (int64_t c = 0; c < C; c++) {
                float v = xs[c];
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
void attention_grad_out_cl(const float *g, const float *out, const float *x, const float *gate, int64_t N, int64_t C,
                           int64_t S, float *gp, float *dms, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < N * S; p++) {
        const float *restrict gq = g + p * C, *restrict oq = out + p * C, *restrict xq = x + p * C;
        const float *restrict gc = gate + (p / S) * C;
        float *restrict gpq = gp + p * C, acc = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            float v = oq[c] > 0.0f ? gq[c] : 0.0f;
            gpq[c] = v;
            acc += v * gc[c] * xq[c];
        }
        dms[p] = acc;
    }
}

/* Backward, second pass: the gradient of y = gate * x from the gated add (gp * Ms) and from the spatial pools
   (dpool (N, 2, S): mean's share to every channel, max's to the first channel that attains it); writes
   dx = dy * gate and dgate[n, c] = sum_s dy * x. work holds N C ceil(S / SPAN) floats. */
void attention_grad_x_cl(const float *gp, const float *x, const float *gate, const float *smap, const float *dpool,
                         int64_t N, int64_t C, int64_t S, float *dx, float *dgate, float *work, int threads) {
    int64_t spans = (S + SPAN - 1) / SPAN;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < N * spans; t++) {
        int64_t n = t / spans, s0 = (t % spans) * SPAN, s1 = s0 + SPAN < S ? s0 + SPAN : S;
        const float *restrict gc = gate + n * C;
        float *restrict pd = work + t * C;
        for (int64_t c = 0; c < C; c++) pd[c] = 0.0f;
        for (int64_t s = s0; s < s1; s++) {
            int64_t p = n * S + s;
            const float *restrict gq = gp + p * C, *restrict xq = x + p * C;
            float *restrict dq = dx + p * C;
            int64_t am = 0;
            float mx = xq[0] * gc[0];
            for (int64_t c = 1; c < C; c++) { float v = xq[c] * gc[c]; if (v > mx) { mx = v; am = c; } }
            float sm = smap[p], dmean = dpool[n * 2 * S + s] / (float)C, dmax = dpool[n * 2 * S + S + s];
            for (int64_t c = 0; c < C; c++) {
                float dy = gq[c] * sm + dmean + (c == am ? dmax : 0.0f);
                dq[c] = dy * gc[c];
                pd[c] += dy * xq[c];
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
