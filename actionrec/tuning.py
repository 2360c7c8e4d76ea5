"""Defaults that were measured, not derived: each is one machine's result, named here once with the bench that
measured it and the CPU it ran on, so that another machine's numbers can replace it in one place.
Re-measure with the named script; bench/README.md has the tables."""

from __future__ import annotations

# Back end (torch, CPU, fp32): 3D ResNets at least this wide run faster in channels_last_3d. bench/bench_network.py
# on a 2-core AMD EPYC (AVX2): r3d18 16x112x112 1.37x at width 64, 1.05x at 16; the shipped width-16 r3d10 at
# 8x64x64 0.98x, so it stays contiguous. bf16 always runs channels_last_3d (oneDNN's bf16 kernels want it).
CHANNELS_LAST_MIN_WIDTH = 32
# Training runs channels_last_3d at every width (training/loop.py): the convolutions' backward passes gain more than
# inference does. One fp32 training step on the same 2-core EPYC: the shipped r3d10 w16 8x64x64 1.64x, r3d18 w64
# 16x112x112 1.23x, dense3d 1.21x, c3d 1.17x.

# Back end (torch, CPU, eager): parts of each batch run at once on worker threads, each with its share of the
# threads. bench/bench_streams.py, 2 cores: the shipped model's batch of 8 ran 1.07-1.28x faster as 2 x 4 on one
# thread each; r3d18 w16 and w64 1.09x and 1.11x; a tiny model (r3d10 w8, 4x32x32) 0.93x.
CPU_STREAMS = 2

# Decoding: frames up to this many pixels decode on one FFmpeg thread (320x240 mp4v: 0.45 CPU-s on one thread, 0.70
# on two, and slower in wall time too); larger ones keep FFmpeg's choice (from about 960x540 frame threads cost no
# extra CPU and halve the wall time). bench/bench_predict.py, 2-core AMD EPYC.
SINGLE_THREAD_DECODE_MAX_PIXELS = 640 * 480

# ONNX Runtime (`runtime.backends.OnnxBackend`, settings there): OpenVINO's threads are left unpinned (full predict
# of a 3-minute video 1.60-1.68 s against 1.84-1.86 s pinned, the network alone the same; bench/bench_onnx.py);
# ORT's own CPU provider runs Conv3d as im2col + GEMM, 1.6-2.1x torch's time per convolution
# (bench/bench_onnx_conv.py), so OpenVINO is preferred where it is present.
