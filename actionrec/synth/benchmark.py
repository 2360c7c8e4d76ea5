"""The benchmark: every class rendered by many actors in UCF-101 layout, test actors held out of training; some
training clips show another action blending in or out, the test clips one action each."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ActionrecError
from ..io.files import exclusive, write_text_atomic
from .actions import ACTION_CLASSES, CLASSES
from .actors import cartoon_actor, make_actor
from .difficulty import DEFAULT_CONFIG, SynthConfig
from .renderer import render_clip, render_transition
from .writers import write_boxes, write_splits, write_video


@dataclass(frozen=True)
class BenchmarkSummary:
    """What write_benchmark wrote."""

    out: Path
    classes: tuple[str, ...]
    n_train: int  # clips in trainlist01.txt
    n_test: int  # clips in testlist01.txt


_TRANSITION_STREAM = 0x7A5
SYNTH_CARD = "synth.json"  # written beside the split files: marks a data folder as rendered, not real
SYNTH_DATA = (
    f"synthetic: {len(ACTION_CLASSES)} actions and no_action of rendered articulated figures (actionrec synth), "
    "split by actor"
)
SPLIT_FILES = ("classInd.txt", "trainlist01.txt", "testlist01.txt")
LOCK_NAME = ".actionrec.lock"  # `io.files.exclusive`'s lock inside a folder: not content


def benchmark_groups(clips_per_class: int) -> tuple[int, int]:
    """(actor groups, how many of them are held out for test): one clip of each class per actor, up to 240
    actors, ~20% of them test. A network trained on few actors learns their clothes, not the actions (measured: 20
    training actors, 72 % train vs 50 % test accuracy)."""
    if clips_per_class < 2:
        raise ValueError("clips_per_class must be at least 2 (one train and one test actor)")
    n_groups = min(240, clips_per_class)
    return n_groups, max(1, round(0.2 * n_groups))


def clip_rng(seed: int, action: str, group: int, clip: int, *streams: int) -> np.random.Generator:
    """The generator of one clip: a function of (seed, class, actor group, clip index) only; extra `streams` give
    generators of that clip independent of it."""
    return np.random.default_rng([seed, zlib.crc32(action.encode()), group, clip, *streams])


def is_transition_clip(seed: int, action: str, group: int, clip: int, config: SynthConfig = DEFAULT_CONFIG) -> bool:
    """Whether a training clip is a `render_transition` one: drawn apart from the clip's own generator, so either
    kind re-renders alone from `clip_rng`."""
    return bool(clip_rng(seed, action, group, clip, _TRANSITION_STREAM).random() < config.transitions)


def write_benchmark(
    out: Path,
    *,
    clips_per_class: int = 40,
    seed: int = 0,
    size: tuple[int, int] = (128, 128),
    frames: int = 48,
    fps: float = 25.0,
    progress: Callable[[int, int], None] | None = None,
    config: SynthConfig = DEFAULT_CONFIG,
    force: bool = False,
) -> BenchmarkSummary:
    """Render the benchmark in UCF-101 layout under `out`; test actors (groups g01..) never appear in train.

    Clip k of a class belongs to group k % n_groups + 1; a training clip is a `render_transition` one with
    probability `config.transitions` (`is_transition_clip`). Its box track is a JSON beside the video. Every file
    is written atomically, so an interrupted run leaves only whole files. `out` must be empty (or new), or hold a
    complete benchmark of these very settings, which is rendered again identically; `force` first removes the files
    an earlier benchmark left there (`prepare_folder`). One process at a time writes a folder.
    """
    out = Path(out)
    n_groups, n_test_groups = benchmark_groups(clips_per_class)
    card = benchmark_card(seed=seed, clips_per_class=clips_per_class, size=size, frames=frames, fps=fps, config=config)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ActionrecError(f"{out}: cannot make the benchmark folder ({e.strerror or e})") from None
    with exclusive(out, "benchmark"):
        prepare_folder(out, card, force=force)
        summary = _render(out, n_groups, n_test_groups, seed, clips_per_class, size, frames, fps, progress, config)
        write_text_atomic(out / SYNTH_CARD, json.dumps(card, indent=1) + "\n")  # last: the benchmark is complete
    return summary


def benchmark_card(
    *, seed: int, clips_per_class: int, size: tuple[int, int], frames: int, fps: float, config: SynthConfig
) -> dict[str, Any]:
    """The synth.json card: marks the folder as rendered and records every setting the clips depend on."""
    w, h = size
    card = {
        "synthetic": True,
        "what": SYNTH_DATA,
        "seed": seed,
        "clips_per_class": clips_per_class,
        "size": [w, h],
        "frames": frames,
        "fps": fps,
        "config": asdict(config),
    }
    return json.loads(json.dumps(card))  # as it reads back: tuples become lists


def prepare_folder(out: Path, card: dict[str, Any], *, force: bool = False) -> None:
    """Check that a benchmark with `card` may be written into `out`: an empty folder, or one holding the complete
    benchmark of the same card (re-rendered file by file, identically). Anything else (an interrupted run, another
    size or seed, other files) is refused with one line, so that old clips never sit unlisted beside new ones;
    `force` removes the files a benchmark writes (clips, box tracks, split files, card, temporary files) and goes on
    if nothing else is there."""
    content = [p for p in out.iterdir() if p.name != LOCK_NAME]
    if not content or _card(out) == card:
        return
    if not force:
        raise ActionrecError(
            f"{out}: already holds {len(content)} entries that are not a complete benchmark of these settings (an "
            "interrupted run, or another --seed/--size/--frames/--clips-per-class); give an empty folder, or --force "
            "to remove the earlier benchmark's files and start clean"
        )
    for path in _benchmark_files(out):
        path.unlink(missing_ok=True)
    for action in CLASSES:
        folder = out / action
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    others = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME)
    if others:
        raise ActionrecError(
            f"{out}: holds files that synth did not write ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}"
            "); --force removes only a benchmark's own files: give an empty folder"
        )


def _card(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / SYNTH_CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _benchmark_files(out: Path) -> list[Path]:
    """What write_benchmark writes in `out` (whatever its settings), with the hidden temporary files of a killed run."""
    files = [out / name for name in (*SPLIT_FILES, SYNTH_CARD)]
    files += [p for name in (*SPLIT_FILES, SYNTH_CARD) for p in out.glob(f".{name}.*")]
    for action in CLASSES:
        for pattern in (f"v_{action}_g*_c*.avi", f"v_{action}_g*_c*.json", f".v_{action}_g*_c*.*"):
            files += (out / action).glob(pattern)
    return [p for p in files if p.is_file() or p.is_symlink()]


def _render(
    out: Path,
    n_groups: int,
    n_test_groups: int,
    seed: int,
    clips_per_class: int,
    size: tuple[int, int],
    frames: int,
    fps: float,
    progress: Callable[[int, int], None] | None,
    config: SynthConfig,
) -> BenchmarkSummary:
    """The clips, box tracks and split files of write_benchmark."""
    actors = {g: make_actor(g, seed) for g in range(1, n_groups + 1)}
    if not config.appearance:
        actors = {g: cartoon_actor(a, np.random.default_rng([seed, 0xCA7, g])) for g, a in actors.items()}
    total, done = len(CLASSES) * clips_per_class, 0
    train: list[tuple[str, int]] = []  # (video, 1-based label)
    test: list[str] = []
    for label, action in enumerate(CLASSES, start=1):
        (out / action).mkdir(parents=True, exist_ok=True)
        for k in range(clips_per_class):
            group, clip = k % n_groups + 1, k // n_groups + 1
            rng = clip_rng(seed, action, group, clip)
            test_actor = group <= n_test_groups
            transition = frames >= 8 and not test_actor and is_transition_clip(seed, action, group, clip, config)
            render = render_transition if transition else render_clip
            clip_frames, boxes = render(
                action, rng=rng, size=size, frames=frames, fps=fps, actor=actors[group], config=config
            )
            stem = f"v_{action}_g{group:02d}_c{clip:02d}"
            quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
            write_video(out / action / f"{stem}.avi", clip_frames, fps, quality)
            write_boxes(out / action / f"{stem}.json", size, fps, boxes)
            rel = f"{action}/{stem}.avi"
            if test_actor:
                test.append(rel)
            else:
                train.append((rel, label))
            done += 1
            if progress is not None:
                progress(done, total)
    write_splits(out, CLASSES, train, test)
    return BenchmarkSummary(out=out, classes=CLASSES, n_train=len(train), n_test=len(test))
