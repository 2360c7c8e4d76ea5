"""Action segments against ground truth: frame-wise accuracy, the segmental edit score and F1@{10,25,50} (the action
segmentation field's metrics, as MS-TCN's evaluation computes them: `actionrec.runtime.segment_metrics`) and how
close the boundaries fall, for raw windows (each window's top label, boundaries midway between window centres)
against the smoothed segments (`SegmentConfig`), on multi-action sequences of held-out actors with per-frame truth
(`actionrec synth --sequences`).

    python bench/bench_segments.py                    # 24 sequences, seed 0: the shipped model's held-out actors
    python bench/bench_segments.py --seed 2 --tune    # the grid the defaults were picked on: another set of sequences
    python bench/bench_segments.py --data DIR         # sequences already written (seqNN.avi + seqNN.json)
    python bench/bench_segments.py --quick            # 2 short sequences: a smoke run, not a measurement

Protocol: each sequence is labelled as `predict` does (its windows, the model's preprocessing, --stride), once;
every method then segments the same window probabilities. Frames are labelled by the segment holding their centre.
Frame accuracy pools all frames; edit is the mean over sequences; F1@k pools the hits of all sequences. A true
boundary from action A to action B is "found" when the segments change from A to B within half a window span of it;
the boundary error is the mean distance of the found ones. Timing alone: "any boundary near" is the share of true
boundaries with a predicted one (whatever its labels) within half a window, "predicted near a true one" the share of
predicted boundaries with a true one within half a window. "windows inside" is the share of windows lying wholly
inside one true action whose top label is that action: the model's own accuracy on these sequences, which no
smoothing can raise much; "windows centred" counts every window by the action at its centre, so windows straddling
a boundary count too.

Rows: raw windows; the segmenter with the previous defaults (switch penalty 3, min 1 s, floor 0.05, boundaries
midway); today's defaults without the boundary refinement, refined from probabilities cut at `floor` (not
`refine_floor`), without the boundary floor, and whole; frame-level scores
(`frame_level`, tried and not shipped); and, as the bound that the windows' spacing sets, every window given the
true action at its centre with boundaries midway. Then the diagnosis: windows right by action (inside one action,
and centred in it), and the default segments' wrong frames by their distance to the nearest true boundary, with the
confusions of those far from any.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _inputs import CACHE
from _timing import header, set_threads

from actionrec.runtime.pipeline import load
from actionrec.runtime.segment_metrics import OVERLAPS, frame_labels, score_videos
from actionrec.runtime.segments import DEFAULT_SEGMENT_CONFIG, Segment, SegmentConfig, segment
from actionrec.synth import SEQUENCES_VERSION, SequenceTruth, read_truth, write_sequences

RAW = SegmentConfig(switch_penalty=0.0, min_duration_s=0.0)  # every window's own top label
PREVIOUS = SegmentConfig(switch_penalty=3.0, min_duration_s=1.0, floor=0.05, boundary_floor=0.0, refine=False)
TUNE_PENALTIES = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
TUNE_MIN_DURATIONS = (0.0, 0.5, 1.0, 1.5, 2.0)
TUNE_FLOORS = (1e-3, 1e-2, 5e-2)
TUNE_BOUNDARY_FLOORS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6)
TUNE_REFINE = (False, True)
FRAME_STEP_S, FRAME_PENALTY, FRAME_MIN_S = 0.04, 1.0, 1.0  # frame_level's settings: the best on seed 2
NEAR_S = 0.25  # wrong frames this close to a true boundary are boundary jitter


@dataclass
class Labelled:
    """One sequence's truth and its windows' class probabilities."""

    name: str
    truth: SequenceTruth
    probs: np.ndarray  # (W, C)
    starts: np.ndarray
    ends: np.ndarray


@dataclass(frozen=True)
class Row:
    """One method's scores over the whole set."""

    method: str
    frame_accuracy: float
    edit: float
    f1: dict[float, float]
    segments_per_sequence: float
    boundaries_found: float  # share of true A -> B boundaries with a predicted A -> B one within half a window
    boundaries_placed: float  # share of true boundaries with a predicted one (any labels) within half a window
    predicted_near: float  # share of predicted boundaries within half a window of a true one
    boundary_error_s: float  # mean distance from a found boundary to the true one


def sequences(data: Path | None, count: int, seed: int, size: tuple[int, int]) -> list[Path]:
    """The sequences' videos: those in `data`, else `count` rendered once into the bench cache."""
    if data is not None:
        videos = sorted(data.glob("seq*.avi"))
        if not videos:
            raise SystemExit(f"{data}: no seqNN.avi files (write them with `actionrec synth --sequences N -o DIR`)")
        return videos
    folder = CACHE / f"sequences-v{SEQUENCES_VERSION}-seed{seed}-{size[0]}x{size[1]}"
    videos = [folder / f"seq{i + 1:02d}.avi" for i in range(count)]
    if not all(v.exists() and v.with_suffix(".json").exists() for v in videos):
        print(f"rendering {count} sequences into {folder} ...", flush=True)
        write_sequences(folder, count, seed=seed, size=size)
    return videos


def label_all(recognizer, videos: list[Path], stride: int | None) -> list[Labelled]:
    out = []
    for video in videos:
        probs, windows = recognizer.window_probs(video, stride=stride)
        starts = np.array([w.start_s for w in windows])
        ends = np.array([w.end_s for w in windows])
        out.append(Labelled(video.stem, read_truth(video.with_suffix(".json")), probs, starts, ends))
    return out


def changes(items: list[tuple[str, float, float]]) -> list[tuple[str, str, float]]:
    """(label before, label after, time) of each change between consecutive (label, start, end) segments."""
    return [(a[0], b[0], b[1]) for a, b in itertools.pairwise(items)]


def frame_level(
    probs: np.ndarray, starts: np.ndarray, ends: np.ndarray, labels: tuple[str, ...], duration_s: float
) -> list[Segment]:
    """The alternative tried for issue 19 and not shipped: every FRAME_STEP_S step scored by the mean log-probability
    of the windows covering it (equal weights: a triangular or Gaussian weight over the window did worse), a Viterbi
    pass over the steps (switch penalty FRAME_PENALTY nats x s), runs under FRAME_MIN_S merged into the neighbour
    that explains them better, each run labelled by its windows' top mean probability."""
    n = int(np.ceil(duration_s / FRAME_STEP_S))
    t = (np.arange(n) + 0.5) * FRAME_STEP_S
    centres, halves = 0.5 * (starts + ends), 0.5 * (ends - starts)
    w = (np.abs(t[:, None] - centres[None, :]) <= halves[None, :]).astype(np.float64)
    uncovered = w.sum(axis=1) == 0
    w[uncovered, np.argmin(np.abs(t[uncovered, None] - centres[None, :]), axis=1)] = 1.0
    w /= w.sum(axis=1, keepdims=True)
    score = w @ np.log(np.maximum(probs, DEFAULT_SEGMENT_CONFIG.floor))  # (steps, C)
    total, back = FRAME_STEP_S * score[0], np.zeros(score.shape, dtype=int)
    for k in range(1, n):
        best = int(np.argmax(total))
        stay = total >= total[best] - FRAME_PENALTY
        back[k] = np.where(stay, np.arange(len(labels)), best)
        total = np.where(stay, total, total[best] - FRAME_PENALTY) + FRAME_STEP_S * score[k]
    path = [int(np.argmax(total))]
    for k in range(n - 1, 0, -1):
        path.append(int(back[k, path[-1]]))
    runs = _runs(path[::-1])
    while len(runs) > 1:
        k = min(range(len(runs)), key=lambda i: runs[i][2] - runs[i][1])
        _, a, b = runs[k]
        if (b - a) * FRAME_STEP_S >= FRAME_MIN_S:
            break
        neighbours = [runs[i][0] for i in (k - 1, k + 1) if 0 <= i < len(runs)]
        runs[k] = (max(neighbours, key=lambda c: score[a:b, c].sum()), a, b)
        runs = _runs([c for c, a, b in runs for _ in range(b - a)])

    def top(a: int, b: int) -> tuple[int, float]:
        mean = w[a:b].sum(axis=0) @ probs / w[a:b].sum()
        return int(np.argmax(mean)), float(mean.max())

    runs = _runs([top(a, b)[0] for _, a, b in runs for _ in range(b - a)])
    return [
        Segment(a * FRAME_STEP_S, duration_s if i == len(runs) - 1 else b * FRAME_STEP_S, labels[c], top(a, b)[1])
        for i, (c, a, b) in enumerate(runs)
    ]


def _runs(path: list[int]) -> list[tuple[int, int, int]]:
    """(label, first step, stop step) of each run of equal labels."""
    out: list[tuple[int, int, int]] = []
    for k, c in enumerate(path):
        if out and out[-1][0] == c:
            out[-1] = (c, out[-1][1], k + 1)
        else:
            out.append((c, k, k + 1))
    return out


def evaluate(
    method: str, data: list[Labelled], labels: tuple[str, ...], config: SegmentConfig | None, half: float
) -> Row:
    """Score `config`'s segments (None: `frame_level`'s) against the truth."""
    pairs, n_segments, found, placed, near, errors = [], 0, [], [], [], []
    for item in data:
        fps, frames = item.truth.fps, item.truth.frames
        if config is None:
            segs = frame_level(item.probs, item.starts, item.ends, labels, frames / fps)
        else:
            segs = segment(item.probs, item.starts, item.ends, labels, config, duration_s=frames / fps)
        pairs.append((frame_labels(segs, frames, fps), item.truth.frame_labels()))
        n_segments += len(segs)
        predicted = changes([(s.label, s.start_s, s.end_s) for s in segs])
        true = changes([(a, s / fps, e / fps) for a, s, e in item.truth.segments])
        for before, after, t in true:
            distances = [abs(p - t) for a, b, p in predicted if (a, b) == (before, after)]
            hit = bool(distances) and min(distances) <= half
            found.append(hit)
            placed.append(any(abs(p - t) <= half for _, _, p in predicted))
            if hit:
                errors.append(min(distances))
        near += [any(abs(p - t) <= half for _, _, t in true) for _, _, p in predicted]
    scores = score_videos(pairs)
    return Row(
        method,
        scores.frame_accuracy,
        scores.edit,
        scores.f1,
        n_segments / len(data),
        float(np.mean(found)) if found else 1.0,
        float(np.mean(placed)) if placed else 1.0,
        float(np.mean(near)) if near else 1.0,
        float(np.mean(errors)) if errors else 0.0,
    )


def windows_inside(data: list[Labelled], labels: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Per true action: (windows wholly inside it whose top label is it, windows wholly inside it)."""
    counts: dict[str, tuple[int, int]] = {}
    for item in data:
        fps = item.truth.fps
        for p, s, e in zip(item.probs, item.starts, item.ends, strict=True):
            owner = [a for a, first, end in item.truth.segments if first / fps - 1e-6 <= s and e <= end / fps + 1e-6]
            if owner:
                right, total = counts.get(owner[0], (0, 0))
                counts[owner[0]] = (right + (labels[int(np.argmax(p))] == owner[0]), total + 1)
    return counts


def centred_windows(data: list[Labelled], labels: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Per true action: (windows whose centre lies in it whose top label is it, windows whose centre lies in it)."""
    counts: dict[str, tuple[int, int]] = {}
    for item in data:
        truth = item.truth.frame_labels()
        for p, s, e in zip(item.probs, item.starts, item.ends, strict=True):
            owner = truth[min(int(0.5 * (s + e) * item.truth.fps), len(truth) - 1)]
            right, total = counts.get(owner, (0, 0))
            counts[owner] = (right + (labels[int(np.argmax(p))] == owner), total + 1)
    return counts


def truth_at_centres(data: list[Labelled], labels: tuple[str, ...]) -> list[Labelled]:
    """The windows with the true action at their centre as their only label: what perfect windows would say."""
    out = []
    for item in data:
        truth = item.truth.frame_labels()
        probs = np.zeros_like(item.probs)
        for k, (s, e) in enumerate(zip(item.starts, item.ends, strict=True)):
            label = truth[min(int(0.5 * (s + e) * item.truth.fps), len(truth) - 1)]
            if label in labels:  # a model without no_action cannot say it: no label for that window
                probs[k, labels.index(label)] = 1.0
        out.append(dataclasses.replace(item, probs=probs))
    return out


def wrong_frames(
    data: list[Labelled], labels: tuple[str, ...], config: SegmentConfig, half: float
) -> tuple[dict[str, int], collections.Counter[tuple[str, str]]]:
    """The segments' wrong frames by distance to the nearest true boundary (within NEAR_S, within half a window,
    farther), and (true, predicted) frame counts of the farther ones."""
    bins = {f"<= {NEAR_S:g} s": 0, f"<= {half:.2f} s": 0, "farther": 0}
    far: collections.Counter[tuple[str, str]] = collections.Counter()
    for item in data:
        fps, frames = item.truth.fps, item.truth.frames
        segs = segment(item.probs, item.starts, item.ends, labels, config, duration_s=frames / fps)
        bounds = np.array([start for _, start, _ in item.truth.segments[1:]], dtype=np.float64)
        for i, (p, t) in enumerate(zip(frame_labels(segs, frames, fps), item.truth.frame_labels(), strict=True)):
            if p == t:
                continue
            distance = float(np.abs(bounds - i).min()) / fps if len(bounds) else np.inf
            key = next((k for k, limit in zip(bins, (NEAR_S, half), strict=False) if distance <= limit), "farther")
            bins[key] += 1
            if key == "farther":
                far[(t, p)] += 1
    return bins, far


def describe(config: SegmentConfig) -> str:
    refined = f"refined from {config.refine_floor:g}" if config.refine else "midway"
    return (
        f"segments (switch penalty {config.switch_penalty:g}, min {config.min_duration_s:g} s, "
        f"floor {config.floor:g}, boundary floor {config.boundary_floor:g}, {refined})"
    )


def table(rows: list[Row]) -> str:
    head = "| method | frame acc | edit | " + " | ".join(f"F1@{round(k * 100)}" for k in OVERLAPS)
    head += " | segments / seq | boundaries found | their error | any boundary near | predicted near a true one |"
    lines = [head, "|---|" + "---:|" * (7 + len(OVERLAPS))]
    for r in rows:
        f1 = " | ".join(f"{r.f1[k] * 100:.1f}" for k in OVERLAPS)
        lines.append(
            f"| {r.method} | {r.frame_accuracy * 100:.1f} % | {r.edit * 100:.1f} | {f1} | "
            f"{r.segments_per_sequence:.1f} | {r.boundaries_found * 100:.0f} % | {r.boundary_error_s:.2f} s | "
            f"{r.boundaries_placed * 100:.0f} % | {r.predicted_near * 100:.0f} % |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path, default=None, help="model file or name [default: the shipped model]")
    p.add_argument("--data", type=Path, default=None, help="a folder of seqNN.avi + seqNN.json [default: render]")
    p.add_argument("--sequences", type=int, default=24, help="sequences to render [default: 24]")
    p.add_argument("--seed", type=int, default=0, help="their seed: 0 reports, 2 tuned the defaults [default: 0]")
    p.add_argument("--stride", type=int, default=None, help="frames between window starts [default: predict's]")
    p.add_argument("--threads", type=int, default=None, help="network threads [default: torch's]")
    p.add_argument("--tune", action="store_true", help="also score the grid the defaults were picked on")
    p.add_argument("--top", type=int, default=15, help="grid rows to print [default: 15]")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--quick", action="store_true", help="2 short sequences at 64x64: a smoke run")
    args = p.parse_args(argv)

    set_threads(1 if args.quick else args.threads)
    count = 2 if args.quick else args.sequences
    size = (64, 64) if args.quick else (128, 128)
    print(header(), flush=True)
    started = time.perf_counter()
    videos = sequences(args.data, count, args.seed, size)
    recognizer = load(args.model, threads=1 if args.quick else args.threads)
    labels = recognizer.meta.labels
    data = label_all(recognizer, videos, args.stride)
    spec = recognizer.meta.preprocessing
    fps = data[0].truth.fps
    half = ((spec.clip_len - 1) * spec.frame_step + 1) / fps / 2
    default = DEFAULT_SEGMENT_CONFIG
    ablations = [
        dataclasses.replace(default, refine=False),
        dataclasses.replace(default, refine_floor=default.floor),
        dataclasses.replace(default, boundary_floor=0.0),
        default,
    ]
    configs = [("raw windows (top label each)", RAW), (f"previous defaults: {describe(PREVIOUS)}", PREVIOUS)]
    configs += [(describe(c), c) for c in ablations]
    rows = [evaluate(name, data, labels, config, half) for name, config in configs]
    rows.append(
        evaluate(
            f"frame-level scores (not shipped: {FRAME_STEP_S:g} s steps, penalty {FRAME_PENALTY:g}, "
            f"min {FRAME_MIN_S:g} s)",
            data,
            labels,
            None,
            half,
        )
    )
    bound = "bound: true action at each window's centre, midway"
    rows.append(evaluate(bound, truth_at_centres(data, labels), labels, RAW, half))
    grid: list[Row] = []
    if args.tune:
        axes = (TUNE_PENALTIES, TUNE_MIN_DURATIONS, TUNE_FLOORS, TUNE_BOUNDARY_FLOORS, TUNE_REFINE)
        for penalty, minimum, floor, boundary_floor, refine in itertools.product(*axes):
            config = SegmentConfig(penalty, minimum, floor, boundary_floor, refine)
            grid.append(evaluate(describe(config), data, labels, config, half))
    seconds = time.perf_counter() - started
    actions = sum(len(d.truth.segments) for d in data)
    total_s = sum(d.truth.frames / d.truth.fps for d in data)
    per_action = windows_inside(data, labels)
    inside = sum(r for r, _ in per_action.values()) / max(1, sum(t for _, t in per_action.values()))
    where = args.data or f"`actionrec synth --sequences {count} --seed {args.seed}` (rendered into {CACHE})"
    print(
        f"\n{len(data)} sequences ({actions} actions, {total_s / 60:.1f} min of video) from {where}; model "
        f"{args.model or 'shipped'}, stride {args.stride or 'default'}, half a window {half:.2f} s; windows inside "
        f"one action labelled right: {inside * 100:.1f} %; {seconds:.0f} s\n"
    )
    print(table(rows))
    per_centre = centred_windows(data, labels)
    print("\nwindows labelled right, by action: wholly inside it | centred in it")
    for action, (r, t) in sorted(per_centre.items(), key=lambda kv: kv[1][0] / kv[1][1]):
        ri, ti = per_action.get(action, (0, 0))
        print(f"  {action:16s} {ri:3d}/{ti:<3d} | {r:3d}/{t}")
    bins, far = wrong_frames(data, labels, DEFAULT_SEGMENT_CONFIG, half)
    frames = sum(d.truth.frames for d in data)
    print(
        "\ndefault segments' wrong frames, by distance to the nearest true boundary: "
        + ", ".join(f"{k}: {v} ({v / frames * 100:.1f} % of frames)" for k, v in bins.items())
    )
    print(
        "  the farther ones (true -> labelled: frames): "
        + ", ".join(f"{a} -> {b}: {n}" for (a, b), n in far.most_common(8))
    )
    if grid:
        best = max(grid, key=lambda r: (r.f1[0.5], r.frame_accuracy))
        print(f"\ngrid (sorted by F1@50, then frame accuracy); best: {best.method}\n")
        print(table(sorted(grid, key=lambda r: (r.f1[0.5], r.frame_accuracy), reverse=True)[: args.top]))
    if args.out is not None:
        result = {
            "header": header(),
            "sequences": len(data),
            "seed": args.seed,
            "stride": args.stride,
            "windows_inside_right": inside,
            "windows_inside_by_action": per_action,
            "windows_centred_by_action": per_centre,
            "wrong_frames_by_distance": bins,
            "wrong_frames_far": [[a, b, n] for (a, b), n in far.most_common()],
            "rows": [asdict(r) for r in rows],
            "grid": [asdict(r) for r in grid],
        }
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
