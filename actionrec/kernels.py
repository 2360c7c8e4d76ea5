"""Fused CPU kernels for the attention gates at fp32: C source, compiled on first use into a per-user cache (under a
second with the system's C compiler), loaded with ctypes. Inference takes them on dense (contiguous or channels_last_3d)
fp32 CPU tensors, training (an autograd function with its own backward) on channels_last_3d ones, the layout training
uses. Where there is no compiler, or elsewhere, the blocks use the torch formulation: same numbers, more passes.

A block's relu(identity + Ms * (Mc * x)) then reads x three times and writes it once, in place: one pass pools over
T, H, W (mean and max together; the shared MLP and sigmoid run on the pooled values inside the same call), one pools
Mc * x over channels without writing it, one applies both gates, adds the shortcut and clamps. The 7x7 convolution
of the two pooled maps is a direct convolution vectorised along W (oneDNN is slow on two input channels).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import math
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from .cpu import cache_root, cpu_facts

log = logging.getLogger(__name__)

DISABLE_ENV = "ACTIONREC_NO_FUSED"  # set to 1 to always use the plain torch formulation
SMALL = 1 << 15  # elements under which one thread does the whole kernel: thread start-up would cost more
SPAN = 256  # positions per task of the channels-last channel pool (SPAN in the C source)

_C = r"""
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
"""
SOURCE = f"#define SPAN {SPAN}\n{_C}"  # one value of SPAN for the C loops and the Python work buffer


def _cache_dir() -> Path:
    return cache_root() / "kernels"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verified(path: Path) -> bool:
    """The cached library is whole: its bytes hash to what the build wrote beside it (`<name>.sha256`). Loading a
    cut or overwritten shared object can kill the process with SIGBUS, which no handler can turn into a message."""
    try:
        return path.read_bytes()[:4] == b"\x7fELF" and _digest(path) == path.with_suffix(".sha256").read_text().strip()
    except OSError:
        return False


def _compile(compiler: list[str], flags: list[str], out: Path) -> bool:
    """Build the library into `out` (and its `.sha256` beside it), each file replaced atomically."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "attention_kernels.c"
        src.write_text(SOURCE, encoding="utf-8")
        built = Path(tmp) / out.name
        cmd = [*compiler, *flags, "-shared", "-fPIC", str(src), "-o", str(built)]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            log.debug("fused attention kernels: %s failed: %s", " ".join(compiler), e)
            return False
        if result.returncode != 0:
            log.debug("fused attention kernels: %s failed:\n%s", " ".join(cmd), result.stderr)
            return False
        digest = Path(tmp) / "digest"
        digest.write_text(_digest(built) + "\n")
        os.replace(built, out)  # atomic: another process sees the whole library or none
        os.replace(digest, out.with_suffix(".sha256"))
        return True


def _compiler() -> list[str] | None:
    """$CC split like a shell would (`ccache gcc` works), else cc, gcc or clang on the PATH."""
    if os.environ.get("CC", "").strip():
        return shlex.split(os.environ["CC"])
    found = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    return [found] if found else None


def _writable_cache() -> Path | None:
    """The kernel cache folder, made if needed, when this process can write there; else None."""
    folder = _cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
        return folder
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The compiled kernels, built once per machine and source version and verified before each load; None where
    they can't be built. With an unwritable cache they are built once per process, in a temporary folder."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return None
    compiler = _compiler()
    if not compiler:
        return None
    folder = _writable_cache()
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="actionrec-kernels-"))
        log.warning(
            "fused attention kernels: cache %s is not writable; building them for this process only (in %s)",
            _cache_dir(),
            folder,
        )
    # -march=native: AVX2/AVX-512 where the CPU has them; the rest lets the compiler vectorise the sum and max
    # reductions: it may reorder the additions and assume finite activations (no NaN or inf in a trained network)
    vectorise = ["-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math", "-ffinite-math-only"]
    for flags in (
        ["-O3", "-march=native", "-fopenmp", *vectorise],
        ["-O3", "-fopenmp", *vectorise],
        ["-O3", *vectorise],  # no OpenMP: one thread per kernel
    ):
        key = hashlib.sha256(
            "\0".join([SOURCE, *compiler, *flags, cpu_facts().fingerprint(), platform.machine()]).encode()
        )
        path = folder / f"attention-{key.hexdigest()[:16]}.so"
        try:
            if not _verified(path):
                if path.exists():
                    log.info("fused attention kernels: %s is damaged; building it again", path)
                if not _compile(compiler, flags, path):
                    continue
            return _bind(ctypes.CDLL(str(path)))
        except OSError as e:  # unwritable cache, or a library that does not load
            log.debug("fused attention kernels: %s: %s", path, e)
    return None


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for layout in ("", "_cl"):
        getattr(lib, "channel_gate" + layout).argtypes = [p, i64, i64, i64, p, i64, p, p, p, i32]
        getattr(lib, "spatial_pool" + layout).argtypes = [p, p, i64, i64, i64, p, i32]
        getattr(lib, "gate_add_relu" + layout).argtypes = [p, p, p, p, i64, i64, i64, p, i32]
    lib.spatial_conv.argtypes = [p, p, i64, i64, i64, i64, i64, i64, i64, i64, p, i32]
    lib.channel_pool_arg_cl.argtypes = [p, i64, i64, i64, p, p, p, p, p, i32]
    lib.attention_grad_out_cl.argtypes = [p, p, p, p, i64, i64, i64, p, p, i32]
    lib.attention_grad_x_cl.argtypes = [p, p, p, p, p, i64, i64, i64, p, p, p, i32]
    for name in ("channel_pool_arg_cl", "attention_grad_out_cl", "attention_grad_x_cl"):
        getattr(lib, name).restype = None
    for name in ("channel_gate", "spatial_pool", "gate_add_relu"):
        getattr(lib, name).restype = getattr(lib, name + "_cl").restype = None
    lib.spatial_conv.restype = None
    lib.conv_vectors.argtypes, lib.conv_vectors.restype = [i64], i32
    return lib


def _channels_last(x: torch.Tensor) -> bool:
    """(N, C, T, H, W) stored as (N, T, H, W, C), and not also plain contiguous (as when C or T*H*W is 1)."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d)


def _dense(x: torch.Tensor) -> bool:
    return x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last_3d)


def _plain_fp32_pair(x: torch.Tensor, identity: torch.Tensor) -> bool:
    """Real (not fake or traced) fp32 CPU tensors of one 5-D shape, outside tracing and compiling, kernels built."""
    return (
        type(x) is torch.Tensor  # not a fake or traced tensor (torch.export, ONNX export)
        and type(identity) is torch.Tensor
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and identity.dtype == torch.float32
        and x.dim() == 5
        and x.shape == identity.shape
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
        and library() is not None
    )


def usable(x: torch.Tensor, identity: torch.Tensor) -> bool:
    """Whether the fused kernels can run this block: inference on fp32 CPU tensors of one shape, both contiguous
    or both channels_last_3d."""
    return (
        not torch.is_grad_enabled()
        and _plain_fp32_pair(x, identity)
        and _dense(x)
        and _dense(identity)
        and _channels_last(x) == _channels_last(identity)
    )


def _threads(numel: int) -> int:
    return 1 if numel < SMALL else torch.get_num_threads()


def _kernel(name: str, x: torch.Tensor | None = None):
    """The C function `name`; for the layout-specific ones, its variant for x's memory layout."""
    lib = library()
    if lib is None:
        raise RuntimeError("fused attention kernels unavailable (check kernels.usable first)")
    return getattr(lib, name + "_cl" if x is not None and _channels_last(x) else name)


def channel_gate(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """Mc (N, C, 1, 1, 1) = sigmoid(MLP(mean) + MLP(max)) over T, H, W, for the MLP's 1x1x1 weights w1 (hidden, C,
    1, 1, 1) and w2 (C, hidden, 1, 1, 1); the pools read x once, the MLP runs on the pooled values alone."""
    n, c, *thw = x.shape
    positions, hidden = math.prod(thw), w1.shape[0]
    w1, w2 = w1.detach().float().contiguous(), w2.detach().float().contiguous()
    gate = torch.empty(n, c, 1, 1, 1)
    spans = -(-positions // SPAN) if _channels_last(x) else 0  # the channels-last kernel's partial pools
    work = torch.empty(2 * n * c * (spans + 1) + 2 * hidden)
    _kernel("channel_gate", x)(
        x.data_ptr(), n, c, positions, w1.data_ptr(), hidden, w2.data_ptr(), gate.data_ptr(), work.data_ptr(),
        _threads(x.numel()),
    )  # fmt: skip
    return gate


def spatial_pool(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """(N, 2, T, H, W), contiguous: mean and max over channels of gate * x, for gate (N, C, 1, 1, 1)."""
    n, c, *thw = x.shape
    gate = gate.contiguous()
    out = torch.empty(n, 2, *thw, dtype=x.dtype)
    _kernel("spatial_pool", x)(
        x.data_ptr(), gate.data_ptr(), n, c, math.prod(thw), out.data_ptr(), _threads(x.numel())
    )  # fmt: skip
    return out


def gate_add_relu(
    x: torch.Tensor, gate: torch.Tensor, smap: torch.Tensor, identity: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """relu(identity + (x * gate) * smap) for gate (N, C, 1, 1, 1) and smap (N, 1, T, H, W), in one pass, in x's
    layout; with `inplace`, written over x."""
    n, c, *thw = x.shape
    gate, smap = gate.contiguous(), smap.contiguous()
    out = x if inplace else torch.empty_like(x)  # empty_like keeps x's layout
    _kernel("gate_add_relu", x)(
        x.data_ptr(), gate.data_ptr(), smap.data_ptr(), identity.data_ptr(), n, c, math.prod(thw), out.data_ptr(),
        _threads(x.numel()),
    )  # fmt: skip
    return out


def spatial_conv(pooled: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The spatial gate's convolution before its sigmoid: pooled (N, CI, T, H, W), weight (1, CI, kt, kh, kw) with
    odd sides, zero padding of half the kernel (as SpatialGate's conv) -> (N, 1, T, H, W)."""
    n, ci, t, h, w = pooled.shape
    kt, kh, kw = weight.shape[2:]
    if weight.shape[:2] != (1, ci) or not (kt % 2 and kh % 2 and kw % 2):
        raise ValueError(f"spatial_conv: weight {tuple(weight.shape)} must be (1, {ci}, odd, odd, odd)")
    weight = weight.detach().float().contiguous()
    block = 8 * _kernel("conv_vectors")(w)  # outputs per step of the C loop, which reads whole blocks
    padded = F.pad(pooled.contiguous(), (kw // 2, kw // 2 + -w % block, kh // 2, kh // 2, kt // 2, kt // 2))
    out = torch.empty(n, 1, t, h, w)
    _kernel("spatial_conv")(
        padded.data_ptr(), weight.data_ptr(), n, ci, t, h, w, kt, kh, kw, out.data_ptr(),
        _threads(pooled.numel() * kt * kh * kw),
    )  # fmt: skip
    return out


# ---- training: the block's gates as one autograd function (channels-last fp32 CPU tensors) ----


def trainable(x: torch.Tensor, identity: torch.Tensor) -> bool:
    """Whether `attention_residual` can run this block with gradients: fp32 CPU tensors of one shape, both
    channels_last_3d (the layout `actionrec train` uses), outside tracing, compiling and autocast (its small torch
    ops would run in bf16 beside fp32 kernels)."""
    return (
        torch.is_grad_enabled()
        and not torch.is_autocast_enabled("cpu")
        and _plain_fp32_pair(x, identity)
        and _channels_last(x)
        and _channels_last(identity)
    )


class _AttentionResidual(torch.autograd.Function):
    """relu(identity + Ms * (Mc * x)) with gradients, where the big tensors are read and written by the C kernels
    (forward: 2 reads of x and 1 write; backward: 2 passes over the activations and a broadcast add) and only the
    small tensors (the pooled vectors through the shared MLP, the pooled maps through the spatial convolution) go
    through torch's autograd."""

    @staticmethod
    def forward(ctx, x, identity, w1, w2, wconv):
        n, c, *thw = x.shape
        s, hidden, threads = math.prod(thw), w1.shape[0], _threads(x.numel())
        spans = -(-s // SPAN)
        avg, mx = torch.empty(n, c), torch.empty(n, c)
        arg = torch.empty(n, c, dtype=torch.int64)
        work, iwork = torch.empty(2 * n * c * spans), torch.empty(n * c * spans, dtype=torch.int64)  # C scratch
        library().channel_pool_arg_cl(
            x.data_ptr(), n, c, s, avg.data_ptr(), mx.data_ptr(), arg.data_ptr(), work.data_ptr(), iwork.data_ptr(),
            threads,
        )  # fmt: skip
        with torch.enable_grad():  # the small graphs, differentiated again in backward
            pools = torch.cat([avg, mx]).requires_grad_()  # (2N, C)
            w1_, w2_ = w1.detach().requires_grad_(), w2.detach().requires_grad_()
            mlp = F.linear(F.relu(F.linear(pools, w1_.view(hidden, c))), w2_.view(c, hidden))  # (2N, C)
            gate = torch.sigmoid(mlp[:n] + mlp[n:])  # (N, C): Mc
        gate5 = gate.detach().view(n, c, 1, 1, 1)
        pooled = spatial_pool(x, gate5)  # (N, 2, T, H, W)
        with torch.enable_grad():
            pooled_ = pooled.requires_grad_()
            wconv_ = wconv.detach().requires_grad_()
            smap = torch.sigmoid(F.conv3d(pooled_, wconv_, padding=tuple(k // 2 for k in wconv.shape[2:])))
        out = gate_add_relu(x, gate5, smap.detach(), identity)  # a new tensor in x's layout
        ctx.save_for_backward(x, out, arg)
        ctx.graphs = (pools, w1_, w2_, gate, pooled_, wconv_, smap)
        ctx.spans = spans
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, out, arg = ctx.saved_tensors
        pools, w1_, w2_, gate, pooled_, wconv_, smap = ctx.graphs
        n, c, *thw = x.shape
        s, threads = math.prod(thw), _threads(x.numel())
        grad = grad.contiguous(memory_format=torch.channels_last_3d)
        gate_ = gate.detach()  # (N, C), contiguous from the sigmoid
        gp, dsmap = torch.empty_like(x), torch.empty(n, 1, *thw)
        library().attention_grad_out_cl(
            grad.data_ptr(), out.data_ptr(), x.data_ptr(), gate_.data_ptr(), n, c, s, gp.data_ptr(), dsmap.data_ptr(),
            threads,
        )  # fmt: skip
        dpooled, dwconv = torch.autograd.grad(smap, (pooled_, wconv_), dsmap)
        dpooled = dpooled.contiguous()
        smap_ = smap.detach().contiguous()
        dx, dgate, work = torch.empty_like(x), torch.empty(n, c), torch.empty(n * c * ctx.spans)
        library().attention_grad_x_cl(
            gp.data_ptr(), x.data_ptr(), gate_.data_ptr(), smap_.data_ptr(), dpooled.data_ptr(), n, c, s,
            dx.data_ptr(), dgate.data_ptr(), work.data_ptr(), threads,
        )  # fmt: skip
        dpools, dw1, dw2 = torch.autograd.grad(gate, (pools, w1_, w2_), dgate)
        dx.add_((dpools[:n] / s).view(n, c, 1, 1, 1))  # the mean pool's share, to every position
        flat = dx.permute(0, 2, 3, 4, 1).view(n, s, c)  # the same memory, (N, S, C)
        flat.scatter_add_(1, arg.view(n, 1, c), dpools[n:].view(n, 1, c))  # the max pool's, to its position
        return dx, gp, dw1, dw2, dwconv


def attention_residual(
    x: torch.Tensor, identity: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, wconv: torch.Tensor
) -> torch.Tensor:
    """relu(identity + Ms * (Mc * x)) with gradients to x, identity and the three weights (see `trainable`)."""
    return _AttentionResidual.apply(x, identity, w1, w2, wconv)
