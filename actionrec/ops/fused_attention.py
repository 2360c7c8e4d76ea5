"""Fused CPU kernels for the attention gates: C source, compiled on first use into a per-user cache (under a second
with the system's C compiler), loaded with ctypes. Inference takes them on dense (contiguous or channels_last_3d) fp32
or bf16 CPU tensors (bf16: pools and gates in fp32, the result rounded to bf16 once, with AVX-512 BF16 instructions
where the CPU has them), training (an autograd function with its own backward) on channels_last_3d fp32 or bf16
ones, the layout training uses. Where there is no compiler, or elsewhere, the blocks use the torch formulation: same
numbers, more passes.

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
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F

from ..cpu import cache_root, cpu_facts

log = logging.getLogger(__name__)

DISABLE_ENV = "ACTIONREC_NO_FUSED"  # set to 1 to always use the plain torch formulation
SMALL = 1 << 15  # elements under which one thread does the whole kernel: thread start-up would cost more
SPAN = 256  # positions per task of the channels-last channel pool (SPAN in the C source)
ACTIVATIONS = (torch.float32, torch.bfloat16)  # the dtypes the inference kernels take x and identity in
NATIVE_BF16 = ("gate_add_relu",)  # the kernels with an AVX-512 BF16 variant (`<name>[_cl]_bf16_avx512` in C)
NO_NATIVE_BF16 = "ACTIONREC_NO_AVX512_BF16"  # defined: the C source leaves those variants out

_C = (resources.files(__package__) / "attention_kernels.c").read_text(encoding="utf-8")  # package data
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


class _BuildError(Exception):
    """Why one build of the kernels failed (the compiler's first error line, or the file system's)."""


def _compile(compiler: list[str], flags: list[str], out: Path) -> None:
    """Build the library into `out` (and its `.sha256` beside it), each file replaced atomically. The build runs in a
    temporary folder inside `out`'s own folder, so the renames never cross file systems (a cache on disk with
    $TMPDIR on tmpfs), and that folder is removed whatever happens. Raises _BuildError saying why it failed."""
    try:
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
            src = Path(tmp) / "attention_kernels.c"
            src.write_text(SOURCE, encoding="utf-8")
            built = Path(tmp) / out.name
            cmd = [*compiler, *flags, "-shared", "-fPIC", str(src), "-o", str(built)]
            try:
                result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.SubprocessError) as e:
                raise _BuildError(f"{' '.join(compiler)} failed: {e}") from None
            if result.returncode != 0:
                log.debug("fused attention kernels: %s failed:\n%s", " ".join(cmd), result.stderr)
                first = next((line for line in result.stderr.splitlines() if line.strip()), "no message")
                raise _BuildError(f"{' '.join(compiler)} failed: {first.strip()}")
            digest = Path(tmp) / "digest"
            digest.write_text(_digest(built) + "\n")
            os.replace(built, out)  # atomic: another process sees the whole library or none
            os.replace(digest, out.with_suffix(".sha256"))
    except OSError as e:
        raise _BuildError(f"{out}: {e.strerror or e}") from None


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
    they can't be built, with one warning per process saying why (blocks then run on torch ops). With an unwritable
    cache they are built once per process, in a temporary folder removed as soon as the library is loaded."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return None
    compiler = _compiler()
    if not compiler:
        return _fall_back("no C compiler found (cc, gcc or clang on the PATH, or $CC)")
    folder = _writable_cache()
    if folder is not None:
        lib, why = _build_and_load(compiler, folder)
        return lib if lib is not None else _fall_back(why)
    with tempfile.TemporaryDirectory(prefix="actionrec-kernels-") as tmp:  # dlopen keeps the mapping once removed
        lib, why = _build_and_load(compiler, Path(tmp))
    if lib is None:
        return _fall_back(f"cache {_cache_dir()} is not writable, and {why}")
    log.warning(
        "fused attention kernels: cache %s is not writable; building them for every process (under a second each)",
        _cache_dir(),
    )
    return lib


def _fall_back(why: str) -> None:
    """The one warning of a process whose blocks run on torch ops instead of the kernels (`library` is cached)."""
    log.warning("fused attention kernels unavailable (%s); attention runs on plain torch ops, slower", why)
    return None


def _build_and_load(compiler: list[str], folder: Path) -> tuple[ctypes.CDLL | None, str]:
    """The kernels from `folder`, built there first where no verified copy is: (library, "") or (None, why not),
    trying the fastest flags first."""
    # -march=native: AVX2/AVX-512 where the CPU has them; the rest lets the compiler vectorise the sum and max
    # reductions: it may reorder the additions and assume finite activations. A NaN (a damaged model) still stays
    # NaN, as on ONNX Runtime and torch.compile, so the pipeline's guard sees it: the pools' sums carry it, and the
    # ReLU tests for it on the bits, which the flags cannot fold away (tests/ops: the NaN test).
    vectorise = ["-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math", "-ffinite-math-only"]
    why = ""
    for flags in (
        ["-O3", "-march=native", "-fopenmp", *vectorise],
        ["-O3", "-march=native", "-fopenmp", *vectorise, f"-D{NO_NATIVE_BF16}"],  # an assembler without AVX-512 BF16
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
                _compile(compiler, flags, path)
            return _bind(ctypes.CDLL(str(path))), ""
        except (_BuildError, OSError) as e:  # a failed build, or a library that does not load
            why = str(e)
            log.debug("fused attention kernels: %s: %s", path, e)
    return None, why


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.bf16_native_kernels.argtypes, lib.bf16_native_kernels.restype = [], i32
    for variant in ("", "_cl", "_bf16", "_cl_bf16"):
        getattr(lib, "channel_gate" + variant).argtypes = [p, i64, i64, i64, p, i64, p, p, p, i32]
        getattr(lib, "spatial_pool" + variant).argtypes = [p, p, i64, i64, i64, p, i32]
        getattr(lib, "gate_add_relu" + variant).argtypes = [p, p, p, p, i64, i64, i64, p, i32]
        for name in ("channel_gate", "spatial_pool", "gate_add_relu"):
            getattr(lib, name + variant).restype = None
    if lib.bf16_native_kernels():
        for variant in ("_bf16_avx512", "_cl_bf16_avx512"):
            getattr(lib, "gate_add_relu" + variant).argtypes = [p, p, p, p, i64, i64, i64, p, i32]
            getattr(lib, "gate_add_relu" + variant).restype = None
    lib.spatial_conv.argtypes = [p, p, i64, i64, i64, i64, i64, i64, i64, i64, p, i32]
    for variant in ("", "_bf16"):
        getattr(lib, "channel_pool_arg_cl" + variant).argtypes = [p, i64, i64, i64, p, p, p, p, p, i32]
        getattr(lib, "attention_grad_out_cl" + variant).argtypes = [p, p, p, p, i64, i64, i64, p, p, i32]
        getattr(lib, "attention_grad_x_cl" + variant).argtypes = [p, p, p, p, p, i64, i64, i64, p, p, p, i32]
        for name in ("channel_pool_arg_cl", "attention_grad_out_cl", "attention_grad_x_cl"):
            getattr(lib, name + variant).restype = None
    lib.spatial_conv.restype = None
    lib.conv_block.argtypes, lib.conv_block.restype = [i64], i32
    return lib


def _channels_last(x: torch.Tensor) -> bool:
    """(N, C, T, H, W) stored as (N, T, H, W, C), and not also plain contiguous (as when C or T*H*W is 1)."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d)


def _dense(x: torch.Tensor) -> bool:
    return x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last_3d)


def _plain_pair(x: torch.Tensor, identity: torch.Tensor, dtypes: tuple[torch.dtype, ...]) -> bool:
    """Real (not fake or traced) CPU tensors of one 5-D shape and one of `dtypes`, outside tracing and compiling,
    kernels built."""
    return (
        type(x) is torch.Tensor  # not a fake or traced tensor (torch.export, ONNX export)
        and type(identity) is torch.Tensor
        and x.device.type == "cpu"
        and x.dtype in dtypes
        and identity.dtype == x.dtype
        and x.dim() == 5
        and x.shape == identity.shape
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
        and library() is not None
    )


def usable(x: torch.Tensor, identity: torch.Tensor) -> bool:
    """Whether the fused kernels can run this block: inference on fp32 or bf16 CPU tensors of one shape and dtype,
    both contiguous or both channels_last_3d."""
    return (
        not torch.is_grad_enabled()
        and _plain_pair(x, identity, ACTIVATIONS)
        and _dense(x)
        and _dense(identity)
        and _channels_last(x) == _channels_last(identity)
    )


def _threads(numel: int) -> int:
    return 1 if numel < SMALL else torch.get_num_threads()


def native_bf16_kernels() -> bool:
    """Whether the bf16 kernels that write their result use AVX-512 BF16 instructions here: this build has them and
    this CPU has the avx512_bf16 flag (else the portable C rounds to bf16 with integer arithmetic)."""
    lib = library()
    return lib is not None and _native_bf16(lib)


@functools.lru_cache(maxsize=1)
def _native_bf16(lib: ctypes.CDLL) -> bool:
    return bool(lib.bf16_native_kernels()) and cpu_facts().avx512_bf16


def _kernel(name: str, x: torch.Tensor | None = None):
    """The C function `name`; for the layout- and dtype-specific ones, its variant for x's memory layout and dtype
    (`_cl`, `_bf16`), the AVX-512 BF16 one where there is one (`NATIVE_BF16`) and `native_bf16_kernels()`."""
    lib = library()
    if lib is None:
        raise RuntimeError("fused attention kernels unavailable (check kernels.usable first)")
    if x is None:
        return getattr(lib, name)
    variant = name + ("_cl" if _channels_last(x) and not name.endswith("_cl") else "")
    if x.dtype == torch.bfloat16:
        variant += "_bf16_avx512" if name in NATIVE_BF16 and native_bf16_kernels() else "_bf16"
    return getattr(lib, variant)


def _check(
    kernel: str, x: torch.Tensor, *, same_as_x: tuple[str, ...] = (), **shapes: tuple[torch.Tensor, tuple[int, ...]]
) -> None:
    """What the C code reads by raw pointer, checked before it runs: x a 5-D fp32 or bf16 CPU tensor stored densely
    (contiguous or channels_last_3d), each other tensor on the CPU with the shape given (`name=(tensor, shape)`),
    in x's dtype if its name is in `same_as_x`, else fp32. A ValueError names the kernel and the tensor; nothing is
    read out of bounds."""
    if not (x.dim() == 5 and x.dtype in ACTIVATIONS and x.device.type == "cpu" and _dense(x)):
        raise ValueError(
            f"{kernel}: x must be a dense (contiguous or channels_last_3d) 5-D float32 or bfloat16 CPU tensor, got "
            f"{x.dtype} {tuple(x.shape)} on {x.device} with strides {x.stride()}"
        )
    for name, (t, shape) in shapes.items():
        dtype = x.dtype if name in same_as_x else torch.float32
        if tuple(t.shape) != shape or t.dtype != dtype or t.device.type != "cpu":
            raise ValueError(
                f"{kernel}: {name} must be {str(dtype).removeprefix('torch.')} {shape} on the CPU, got "
                f"{t.dtype} {tuple(t.shape)}"
            )


def channel_gate(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """Mc (N, C, 1, 1, 1) = sigmoid(MLP(mean) + MLP(max)) over T, H, W, for the MLP's 1x1x1 weights w1 (hidden, C,
    1, 1, 1) and w2 (C, hidden, 1, 1, 1); the pools read x once, the MLP runs on the pooled values alone."""
    n, c, *thw = x.shape
    positions, hidden = math.prod(thw), w1.shape[0]
    _check("channel_gate", x, w1=(w1, (hidden, c, 1, 1, 1)), w2=(w2, (c, hidden, 1, 1, 1)))
    w1, w2 = w1.detach().contiguous(), w2.detach().contiguous()
    gate = torch.empty(n, c, 1, 1, 1)
    spans = -(-positions // SPAN) if _channels_last(x) else 0  # the channels-last kernel's partial pools
    work = torch.empty(2 * n * c * (spans + 1) + 2 * hidden)
    _kernel("channel_gate", x)(
        x.data_ptr(), n, c, positions, w1.data_ptr(), hidden, w2.data_ptr(), gate.data_ptr(), work.data_ptr(),
        _threads(x.numel()),
    )  # fmt: skip
    return gate


def spatial_pool(x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """(N, 2, T, H, W), contiguous fp32: mean and max over channels of gate * x, for gate (N, C, 1, 1, 1)."""
    n, c, *thw = x.shape
    _check("spatial_pool", x, gate=(gate, (n, c, 1, 1, 1)))
    gate = gate.contiguous()
    out = torch.empty(n, 2, *thw)
    _kernel("spatial_pool", x)(
        x.data_ptr(), gate.data_ptr(), n, c, math.prod(thw), out.data_ptr(), _threads(x.numel())
    )  # fmt: skip
    return out


def gate_add_relu(
    x: torch.Tensor, gate: torch.Tensor, smap: torch.Tensor, identity: torch.Tensor, *, inplace: bool = False
) -> torch.Tensor:
    """relu(identity + (x * gate) * smap) for gate (N, C, 1, 1, 1) and smap (N, 1, T, H, W) in fp32, in one pass,
    in x's layout and dtype (identity in both too); with `inplace`, written over x."""
    n, c, *thw = x.shape
    _check(
        "gate_add_relu",
        x,
        same_as_x=("identity",),
        gate=(gate, (n, c, 1, 1, 1)),
        smap=(smap, (n, 1, *thw)),
        identity=(identity, (n, c, *thw)),
    )
    if _channels_last(identity) != _channels_last(x) or not _dense(identity):
        raise ValueError(
            "gate_add_relu: identity must be stored in x's layout (both contiguous or both channels_last_3d)"
        )
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
    if pooled.dim() != 5 or pooled.dtype != torch.float32 or pooled.device.type != "cpu":
        raise ValueError(
            f"spatial_conv: pooled must be a 5-D float32 CPU tensor, got {pooled.dtype} {tuple(pooled.shape)}"
        )
    n, ci, t, h, w = pooled.shape
    kt, kh, kw = weight.shape[2:]
    if weight.shape[:2] != (1, ci) or not (kt % 2 and kh % 2 and kw % 2):
        raise ValueError(f"spatial_conv: weight {tuple(weight.shape)} must be (1, {ci}, odd, odd, odd)")
    weight = weight.detach().float().contiguous()
    block = _kernel("conv_block")(w)  # outputs per step of the C loop, which reads whole blocks
    padded = F.pad(pooled.contiguous(), (kw // 2, kw // 2 + -w % block, kh // 2, kh // 2, kt // 2, kt // 2))
    out = torch.empty(n, 1, t, h, w)
    _kernel("spatial_conv")(
        padded.data_ptr(), weight.data_ptr(), n, ci, t, h, w, kt, kh, kw, out.data_ptr(),
        _threads(pooled.numel() * kt * kh * kw),
    )  # fmt: skip
    return out


# ---- training: the block's gates as one autograd function (channels-last fp32 CPU tensors) ----


def trainable(x: torch.Tensor, identity: torch.Tensor) -> bool:
    """Whether `attention_residual` can run this block with gradients: fp32 or bf16 (bf16 autocast training) CPU
    tensors of one shape and dtype, both channels_last_3d (the layout `actionrec train` uses), outside tracing and
    compiling."""
    return (
        torch.is_grad_enabled()
        and _plain_pair(x, identity, ACTIVATIONS)
        and _channels_last(x)
        and _channels_last(identity)
    )


class _AttentionResidual(torch.autograd.Function):
    """relu(identity + Ms * (Mc * x)) with gradients, where the big tensors are read and written by the C kernels
    (forward: 2 reads of x and 1 write; backward: 2 passes over the activations and a broadcast add) and only the
    small tensors (the pooled vectors through the shared MLP, the pooled maps through the spatial convolution) go
    through torch's autograd, in fp32 also under bf16 autocast (bf16 activations: their gradients are bf16)."""

    @staticmethod
    def forward(ctx, x, identity, w1, w2, wconv):
        n, c, *thw = x.shape
        s, hidden, threads = math.prod(thw), w1.shape[0], _threads(x.numel())
        spans = -(-s // SPAN)
        avg, mx = torch.empty(n, c), torch.empty(n, c)
        arg = torch.empty(n, c, dtype=torch.int64)
        work, iwork = torch.empty(2 * n * c * spans), torch.empty(n * c * spans, dtype=torch.int64)  # C scratch
        _kernel("channel_pool_arg_cl", x)(
            x.data_ptr(), n, c, s, avg.data_ptr(), mx.data_ptr(), arg.data_ptr(), work.data_ptr(), iwork.data_ptr(),
            threads,
        )  # fmt: skip
        # the small graphs, differentiated again in backward; in fp32 under bf16 autocast too, as at inference
        with torch.enable_grad(), torch.autocast("cpu", enabled=False):
            pools = torch.cat([avg, mx]).requires_grad_()  # (2N, C)
            w1_, w2_ = w1.detach().requires_grad_(), w2.detach().requires_grad_()
            mlp = F.linear(F.relu(F.linear(pools, w1_.view(hidden, c))), w2_.view(c, hidden))  # (2N, C)
            gate = torch.sigmoid(mlp[:n] + mlp[n:])  # (N, C): Mc
        gate5 = gate.detach().view(n, c, 1, 1, 1)
        pooled = spatial_pool(x, gate5)  # (N, 2, T, H, W)
        with torch.enable_grad(), torch.autocast("cpu", enabled=False):
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
        grad = grad.to(x.dtype).contiguous(memory_format=torch.channels_last_3d)
        gate_ = gate.detach()  # (N, C), contiguous from the sigmoid
        gp, dsmap = torch.empty_like(x), torch.empty(n, 1, *thw)
        _kernel("attention_grad_out_cl", x)(
            grad.data_ptr(), out.data_ptr(), x.data_ptr(), gate_.data_ptr(), n, c, s, gp.data_ptr(), dsmap.data_ptr(),
            threads,
        )  # fmt: skip
        dpooled, dwconv = torch.autograd.grad(smap, (pooled_, wconv_), dsmap)
        dpooled = dpooled.contiguous()
        smap_ = smap.detach().contiguous()
        dx, dgate, work = torch.empty_like(x), torch.empty(n, c), torch.empty(n * c * ctx.spans)
        _kernel("attention_grad_x_cl", x)(
            gp.data_ptr(), x.data_ptr(), gate_.data_ptr(), smap_.data_ptr(), dpooled.data_ptr(), n, c, s,
            dx.data_ptr(), dgate.data_ptr(), work.data_ptr(), threads,
        )  # fmt: skip
        dpools, dw1, dw2 = torch.autograd.grad(gate, (pools, w1_, w2_), dgate)
        dx.add_((dpools[:n] / s).view(n, c, 1, 1, 1))  # the mean pool's share, to every position
        flat = dx.permute(0, 2, 3, 4, 1).view(n, s, c)  # the same memory, (N, S, C)
        flat.scatter_add_(
            1, arg.view(n, 1, c), dpools[n:].view(n, 1, c).to(dx.dtype)
        )  # the max pool's, to its position
        return dx, gp, dw1, dw2, dwconv


def attention_residual(
    x: torch.Tensor, identity: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, wconv: torch.Tensor
) -> torch.Tensor:
    """relu(identity + Ms * (Mc * x)) with gradients to x, identity and the three weights (see `trainable`)."""
    c, hidden = x.shape[1], w1.shape[0]
    _check(
        "attention_residual",
        x,
        same_as_x=("identity",),
        identity=(identity, tuple(x.shape)),
        w1=(w1, (hidden, c, 1, 1, 1)),
        w2=(w2, (c, hidden, 1, 1, 1)),
    )
    if not (_channels_last(x) and _channels_last(identity)):
        raise ValueError("attention_residual: x and identity must both be channels_last_3d")
    return _AttentionResidual.apply(x, identity, w1, w2, wconv)
