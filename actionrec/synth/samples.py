"""The shipped sample clips: one short clip per sample class, and a multi-action sequence with its segments."""

from __future__ import annotations

import json
from pathlib import Path

from ..io.files import write_text_atomic
from .difficulty import SynthConfig
from .renderer import render_clip, render_sequence
from .writers import write_mp4

SAMPLE_CLIPS = ("walk_left", "jumping_jack", "wave_both_hands", "sit_down", "punch")  # one short clip each
SAMPLE_SEQUENCE = ("walk_right", "wave_one_hand", "jumping_jack", "squat")  # the long clip, in this order
# The samples show the whole figure, feet on the floor, in colour from a clean sensor: the benchmark's ranges but
# for its small and upper-body views, grey-scale, low-resolution and blocky clips.
SAMPLE_CONFIG = SynthConfig(figure_height=(0.55, 0.75), grey=0.0, low_res=(1.0, 1.0), compression=0.0)


def write_samples(
    out: Path, *, seed: int = 2024, size: tuple[int, int] = (128, 128), frames: int = 48, fps: float = 25.0
) -> list[Path]:
    """Write the shipped sample clips: one short clip per `SAMPLE_CLIPS` class and `sequence.mp4`, one actor doing
    `SAMPLE_SEQUENCE` one after another (its segments in `sequence.json`). Actors are fresh draws from `seed`,
    so none of them is in the benchmark's training split. MPEG-4 part 2 keeps them small."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k, action in enumerate(SAMPLE_CLIPS):
        clip, _ = render_clip(action, seed=seed + k, size=size, frames=frames, fps=fps, config=SAMPLE_CONFIG)
        written.append(write_mp4(out / f"{action}.mp4", clip, fps))
    seq, _, segments = render_sequence(
        SAMPLE_SEQUENCE,
        seed=seed + len(SAMPLE_CLIPS),
        size=size,
        frames_per_action=2 * frames,
        fps=fps,
        config=SAMPLE_CONFIG,
    )
    written.append(write_mp4(out / "sequence.mp4", seq, fps))
    meta = {"fps": fps, "segments": [{"label": a, "start_frame": s, "end_frame": e} for a, s, e in segments]}
    write_text_atomic(out / "sequence.json", json.dumps(meta, indent=1))
    return written
