"""How hard the rendered clips are: the ranges every scene, camera, sensor and actor placement is drawn from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthConfig:
    """How hard the scenes are. Every range is symmetric in space and time, so no class gains a cue."""

    # Standing height / frame height: from a small whole figure (a quarter of the frame, as a camera across a room
    # or a field sees a person) to a waist-up view whose legs leave the frame, as a webcam sees a person.
    figure_height: tuple[float, float] = (0.25, 1.7)
    yaw_max: float = 1.05  # body turned up to ±60° from the camera: front and oblique views, sides from walking
    elevation: float = 0.3  # camera looking down (or up) at the body by up to ±17°
    x_range: float = 0.26  # how far the actor's pelvis may stray from the middle, fraction of frame width
    textured: bool = True  # rooms, offices, walls and outdoor ground; False: a flat grey background
    distractors: tuple[int, int] = (0, 2)  # moving shapes behind the actor
    distractor_speed: float = 0.35  # fraction of the frame width per 2 s, either direction
    pan: float = 0.03  # camera pan, fraction of frame width per clip; below the walking speed
    zoom: tuple[float, float] = (0.85, 1.25)  # start and end zoom (about the body) drawn independently: in or out
    shake: float = 0.006  # hand-held shake amplitude, fraction of frame width
    roll: float = 0.02  # camera roll in radians
    gain: tuple[float, float] = (0.6, 1.25)  # exposure
    tint: float = 0.1  # per-channel colour cast
    flicker: float = 0.06  # lighting that brightens and dims during the clip
    illumination: float = 0.3  # spatial light gradient across the frame
    light_side: float = 1.0  # the key light on the body comes from above, up to 45° to either side
    background_blur: tuple[float, float] = (0.0, 1.6)  # depth of field: the scene's defocus sigma, frame px at 128
    noise: tuple[float, float] = (0.0, 7.0)  # sensor noise sigma, grey levels
    blur: tuple[float, float] = (0.0, 0.9)  # defocus sigma in pixels
    grey: float = 0.15  # share of clips filmed in grey-scale
    low_res: tuple[float, float] = (0.3, 1.0)  # the sensor's resolution / the frame's (above 0.9: full resolution)
    compression: float = 0.4  # share of clips whose frames carry strong JPEG blocking (quality 12..50)
    jpeg_quality: tuple[int, int] = (60, 92)  # MJPG quality range used by write_benchmark
    # Share of training clips cut as a window over a change (`renderer.transition_plan`): another action takes 4 to
    # frames // 2 - 3 frames at the start or the end, and the class still holds the clip's middle.
    transitions: float = 0.25
    # Two levers for ablations (docs/zero-shot.md): False draws the flat bright cartoon figures the renderer began
    # with (one colour per part, no shading or hair, bright clothes, one build), and plays every class in one fixed
    # style (its amplitude, height, side and depth drawn once per class, not per clip; speed and phase still vary).
    appearance: bool = True
    motion_styles: bool = True

    @staticmethod
    def plain() -> SynthConfig:
        """A still camera over a flat background, the whole figure in view: for tests and for looking at the
        figure alone."""
        return SynthConfig(
            figure_height=(0.5, 0.95), elevation=0.0, textured=False, distractors=(0, 0), pan=0.0, zoom=(1.0, 1.0),
            shake=0.0, roll=0.0, gain=(1.0, 1.0), tint=0.0, flicker=0.0, illumination=0.0, light_side=0.0,
            background_blur=(0.0, 0.0), noise=(0.0, 0.0), blur=(0.0, 0.0), grey=0.0, low_res=(1.0, 1.0),
            compression=0.0, transitions=0.0,
        )  # fmt: skip


DEFAULT_CONFIG = SynthConfig()
