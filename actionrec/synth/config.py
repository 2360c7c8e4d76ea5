"""How hard the rendered clips are: the ranges every scene, camera and actor placement is drawn from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthConfig:
    """How hard the scenes are. Every range is symmetric in space and time, so no class gains a cue."""

    # Standing height / frame height: from the whole body small in the frame (hands still visible at 64 px) to an
    # upper-body view whose feet leave the frame, as a webcam or a classroom camera sees a person.
    figure_height: tuple[float, float] = (0.5, 0.95)
    yaw_max: float = 0.8  # body turned up to ±46° from the camera: limbs moving forwards stay visible
    x_range: float = 0.26  # how far the actor's pelvis may stray from the middle, fraction of frame width
    textured: bool = True  # gradients, textures, floor and furniture; False: a flat grey background
    distractors: tuple[int, int] = (0, 2)  # moving shapes behind the actor
    distractor_speed: float = 0.35  # fraction of the frame width per 2 s, either direction
    pan: float = 0.03  # camera pan, fraction of frame width per clip; below the walking speed
    zoom: tuple[float, float] = (0.96, 1.06)  # start and end zoom are drawn independently: zooms in or out
    shake: float = 0.004  # hand-held shake amplitude, fraction of frame width
    roll: float = 0.015  # camera roll in radians
    gain: tuple[float, float] = (0.65, 1.25)  # exposure
    tint: float = 0.1  # per-channel colour cast
    flicker: float = 0.06  # lighting that brightens and dims during the clip
    illumination: float = 0.3  # spatial light gradient across the frame
    noise: tuple[float, float] = (0.0, 3.0)  # sensor noise sigma, grey levels
    blur: tuple[float, float] = (0.0, 0.6)  # defocus sigma in pixels
    jpeg_quality: tuple[int, int] = (60, 92)  # MJPG quality range used by write_benchmark
    # Share of training clips cut as a window over a change (`render.transition_plan`): another action takes 4 to
    # frames // 2 - 3 frames at the start or the end, and the class still holds the clip's middle.
    transitions: float = 0.25

    @staticmethod
    def plain() -> SynthConfig:
        """A still camera over a flat background: for tests and for looking at the figure alone."""
        return SynthConfig(
            textured=False, distractors=(0, 0), pan=0.0, zoom=(1.0, 1.0), shake=0.0, roll=0.0,
            gain=(1.0, 1.0), tint=0.0, flicker=0.0, illumination=0.0, noise=(0.0, 0.0), blur=(0.0, 0.0),
            transitions=0.0,
        )  # fmt: skip


DEFAULT_CONFIG = SynthConfig()
