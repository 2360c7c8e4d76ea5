"""Fused CPU kernels for the attention gates at inference: C source, compiled on first use into a per-user cache
(well under a second with the system's C compiler), loaded with ctypes. Where there is no compiler, or the tensors
are not contiguous fp32 on the CPU, callers use the plain torch formulation instead: same numbers, more passes.

Eager torch needs about eleven passes over a block's activations for relu(identity + Ms * (Mc * x)); these
kernels need five, as many as the plain block's add and ReLU: one that pools over T, H, W (mean and max
together), one that pools Mc * x over channels without writing Mc * x, and one that applies both gates, adds the
shortcut and clamps. The MLP and the 7x7 convolution stay in torch: they touch only pooled maps.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)

DISABLE_ENV = "ACTIONREC_NO_FUSED"  # set to 1 to always use the plain torch formulation
SMALL = 1 << 15  # elements under which one thread does the whole kernel: thread start-up would cost more

SOURCE = r"""
#include <pthread.h>
#include <stdint.h>

typedef void (*task_fn)(const void *ctx, int64_t begin, int64_t end);
typedef struct { task_fn fn; const void *ctx; int64_t begin, end; } job_t;

static void *run_job(void *p) {
    const job_t *j = (const job_t *)p;
    j->fn(j->ctx, j->begin, j->end);
    return 0;
}

/* Split [0, n) into `threads` contiguous ranges, one per thread; the caller's thread takes the first. */
static void parallel_for(int64_t n, int threads, task_fn fn, const void *ctx) {
    enum { MAX_THREADS = 256 };
    pthread_t tid[MAX_THREADS];
    job_t jobs[MAX_THREADS];
    int started[MAX_THREADS];
    if (threads > n) threads = (int)n;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads < 1) threads = 1;
    for (int t = 0; t < threads; t++) {
        jobs[t].fn = fn; jobs[t].ctx = ctx;
        jobs[t].begin = n * t / threads; jobs[t].end = n * (t + 1) / threads;
    }
    for (int t = 1; t < threads; t++) {
        started[t] = pthread_create(&tid[t], 0, run_job, &jobs[t]) == 0;
        if (!started[t]) run_job(&jobs[t]);
    }
    run_job(&jobs[0]);
    for (int t = 1; t < threads; t++)
        if (started[t]) pthread_join(tid[t], 0);
}

/* 1. mean and max of each row (N*C rows of S = T*H*W values): one read of x. */
typedef struct { const float *x; int64_t S; float *mean, *max; } rowpool_t;

static void row_mean_max(const float *restrict x, int64_t S, float *mean, float *max) {
    float sum = 0.0f, mx = x[0];
    for (int64_t i = 0; i < S; i++) { float v = x[i]; sum += v; mx = v > mx ? v : mx; }
    *mean = sum / (float)S;
    *max = mx;
}

static void rowpool_task(const void *p, int64_t r0, int64_t r1) {
    const rowpool_t *a = (const rowpool_t *)p;
    for (int64_t r = r0; r < r1; r++) row_mean_max(a->x + r * a->S, a->S, a->mean + r, a->max + r);
}

void channel_pool(const float *x, int64_t rows, int64_t S, float *mean, float *max, int threads) {
    rowpool_t a = {x, S, mean, max};
    parallel_for(rows, threads, rowpool_task, &a);
}

/* 2. mean and max over channels of gate[n, c] * x[n, c, s], without writing the product: out is (N, 2, S). */
typedef struct { const float *x, *gate; int64_t C, S, chunks; float *out; } chanpool_t;
enum { CHUNK = 512 };

static void chanpool_task(const void *p, int64_t t0, int64_t t1) {
    const chanpool_t *a = (const chanpool_t *)p;
    for (int64_t t = t0; t < t1; t++) {
        int64_t n = t / a->chunks, s0 = (t % a->chunks) * CHUNK;
        int64_t len = a->S - s0 < CHUNK ? a->S - s0 : CHUNK;
        float s[CHUNK], m[CHUNK];
        const float *x = a->x + n * a->C * a->S + s0;
        const float *g = a->gate + n * a->C;
        for (int64_t i = 0; i < len; i++) { float v = x[i] * g[0]; s[i] = v; m[i] = v; }
        for (int64_t c = 1; c < a->C; c++) {
            const float *xc = x + c * a->S;
            float gc = g[c];
            for (int64_t i = 0; i < len; i++) { float v = xc[i] * gc; s[i] += v; m[i] = v > m[i] ? v : m[i]; }
        }
        float *mean = a->out + n * 2 * a->S + s0, *max = mean + a->S;
        for (int64_t i = 0; i < len; i++) { mean[i] = s[i] / (float)a->C; max[i] = m[i]; }
    }
}

void spatial_pool(const float *x, const float *gate, int64_t N, int64_t C, int64_t S, float *out, int threads) {
    int64_t chunks = (S + CHUNK - 1) / CHUNK;
    chanpool_t a = {x, gate, C, S, chunks, out};
    parallel_for(N * chunks, threads, chanpool_task, &a);
}

/* 3. out = relu(identity + (x * gate[n, c]) * smap[n, s]), the gates, the add and the ReLU in one pass. */
typedef struct { const float *x, *gate, *smap, *identity; int64_t C, S; float *out; } apply_t;

static void apply_task(const void *p, int64_t r0, int64_t r1) {
    const apply_t *a = (const apply_t *)p;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * a->S, *id = a->identity + r * a->S, *sm = a->smap + (r / a->C) * a->S;
        float *o = a->out + r * a->S, g = a->gate[r];
        for (int64_t i = 0; i < a->S; i++) { float v = id[i] + (x[i] * g) * sm[i]; o[i] = v > 0.0f ? v : 0.0f; }
    }
}

void gate_add_relu(const float *x, const float *gate, const float *smap, const float *identity, int64_t N,
                   int64_t C, int64_t S, float *out, int threads) {
    apply_t a = {x, gate, smap, identity, C, S, out};
    parallel_for(N * C, threads, apply_task, &a);
}
"""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "actionrec" / "kernels"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next((line for line in f if line.startswith(("model name", "flags"))), "")
    except OSError:
        return platform.processor()


def _compile(compiler: str, flags: list[str], out: Path) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "attention_kernels.c"
        src.write_text(SOURCE, encoding="utf-8")
        built = Path(tmp) / out.name
        cmd = [compiler, *flags, "-shared", "-fPIC", "-pthread", str(src), "-o", str(built)]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            log.debug("fused attention kernels: %s failed: %s", compiler, e)
            return False
        if result.returncode != 0:
            log.debug("fused attention kernels: %s failed:\n%s", " ".join(cmd), result.stderr)
            return False
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(built, out)  # atomic: another process sees the whole library or none
        return True


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The compiled kernels, built once per machine and source version; None where they can't be built."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        return None
    # -march=native: AVX2/AVX-512 where the CPU has them; the rest lets the compiler vectorise the sum and max
    # reductions: it may reorder the additions and assume finite activations (no NaN or inf in a trained network)
    vectorise = ["-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math", "-ffinite-math-only"]
    for flags in (["-O3", "-march=native", *vectorise], ["-O3", *vectorise]):
        key = hashlib.sha256("\0".join([SOURCE, compiler, *flags, _cpu_model(), platform.machine()]).encode())
        path = _cache_dir() / f"attention-{key.hexdigest()[:16]}.so"
        try:
            if not path.is_file() and not _compile(compiler, flags, path):
                continue
            return _bind(ctypes.CDLL(str(path)))
        except OSError as e:  # unwritable cache, or a library that does not load
            log.debug("fused attention kernels: %s: %s", path, e)
    return None


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.channel_pool.argtypes = [p, i64, i64, p, p, i32]
    lib.spatial_pool.argtypes = [p, p, i64, i64, i64, p, i32]
    lib.gate_add_relu.argtypes = [p, p, p, p, i64, i64, i64, p, i32]
    for fn in (lib.channel_pool, lib.spatial_pool, lib.gate_add_relu):
        fn.restype = None
    return lib


def usable(x: torch.Tensor, identity: torch.Tensor) -> bool:
    """Whether the fused kernels can run this block: inference on contiguous fp32 CPU tensors of one shape."""
    return (
        not torch.is_grad_enabled()
        and type(x) is torch.Tensor  # not a fake or traced tensor (torch.export, ONNX export)
        and type(identity) is torch.Tensor
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and identity.dtype == torch.float32
        and x.dim() == 5
        and x.shape == identity.shape
        and x.is_contiguous()
        and identity.is_contiguous()
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
        and library() is not None
    )


def _threads(numel: int) -> int:
    return 1 if numel < SMALL else torch.get_num_threads()


def channel_pool(x: torch.Tensor) -> torch.Tensor:
    """(2N, C, 1, 1, 1): mean over T, H, W of each (n, c) in the first N rows, max in the last N."""
    lib = library()
    assert lib is not None
    n, c = x.shape[:2]
    out = torch.empty(2, n, c, dtype=x.dtype)
    lib.channel_pool(x.data_ptr(), n * c, x[0, 0].numel(), out[0].data_ptr(), out[1].data_ptr(), _threads(x.numel()))
    return out.view(2 * n, c, 1, 1, 1)


def spatial_pool(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """(N, 2, T, H, W): mean and max over channels of gate * x, for gate (N, C, 1, 1, 1)."""
    lib = library()
    assert lib is not None
    n, c, *thw = x.shape
    gate = gate.contiguous()
    out = torch.empty(n, 2, *thw, dtype=x.dtype)
    lib.spatial_pool(x.data_ptr(), gate.data_ptr(), n, c, out[0, 0].numel(), out.data_ptr(), _threads(x.numel()))
    return out


def gate_add_relu(x: torch.Tensor, gate: torch.Tensor, smap: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
    """relu(identity + (x * gate) * smap) for gate (N, C, 1, 1, 1) and smap (N, 1, T, H, W), in one pass."""
    lib = library()
    assert lib is not None
    n, c = x.shape[:2]
    gate, smap = gate.contiguous(), smap.contiguous()
    out = torch.empty_like(x)
    lib.gate_add_relu(
        x.data_ptr(),
        gate.data_ptr(),
        smap.data_ptr(),
        identity.data_ptr(),
        n,
        c,
        x[0, 0].numel(),
        out.data_ptr(),
        _threads(x.numel()),
    )
    return out
