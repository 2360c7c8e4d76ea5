"""Drawing one frame's contents with anti-aliased sub-pixel cv2 primitives: distractors, the stool, the actor
(parts furthest from the camera first), and the box of the pixels the actor changed."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .actors import RGB, Actor
from .kinematics import J
from .scenes import Distractor

_SHIFT = 4  # cv2 drawing with 4 fractional bits: sub-pixel positions, so slow motion stays smooth
_ONE = 1 << _SHIFT
_STOOL_COLOUR = (96, 64, 40)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32)


def _transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]


def _shade(colour: RGB, factor: float) -> tuple[float, float, float]:
    return tuple(min(255.0, c * factor) for c in colour)


def _disc(img: np.ndarray, c: np.ndarray, r: float, colour) -> None:
    cv2.circle(img, tuple(_fixed(c)), max(_ONE // 2, round(r * _ONE)), colour, -1, cv2.LINE_AA, _SHIFT)


def draw_distractors(
    img: np.ndarray, distractors: Sequence[Distractor], m: np.ndarray, zoom: float, time_s: float
) -> None:
    """Draw the distractors where they are `time_s` seconds from the clip's middle, through the camera map `m`."""
    for kind, colour, centre, velocity, size, angle, spin in distractors:
        c = centre + velocity * time_s / 2.0
        rot = angle + spin * time_s
        if kind == "disc":
            _disc(img, _transform(m, c), size * zoom * 0.6, colour)
            continue
        if kind == "box":
            corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * size * 0.5
        elif kind == "triangle":
            corners = np.array([[0, -1], [0.87, 0.5], [-0.87, 0.5]]) * size * 0.6
        else:
            corners = np.array([[-1, -0.12], [1, -0.12], [1, 0.12], [-1, 0.12]]) * size
        r = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
        pts = _transform(m, corners @ r.T + c)
        cv2.fillConvexPoly(img, _fixed(pts), colour, cv2.LINE_AA, _SHIFT)


def stool_polys(pelvis_world: np.ndarray, ground_y: float, px: float) -> list[np.ndarray]:
    """Seat and two legs, in world px, with the seat top just under the seated hip."""
    x, top = pelvis_world[0], pelvis_world[1] + 0.035 * px
    half, seat, leg = 0.13 * px, 0.035 * px, 0.02 * px
    polys = [np.array([[x - half, top], [x + half, top], [x + half, top + seat], [x - half, top + seat]])]
    for lx in (x - half + leg, x + half - 2 * leg):
        bottom = top + seat
        polys.append(np.array([[lx, bottom], [lx + leg, bottom], [lx + leg, ground_y], [lx, ground_y]]))
    return polys


def draw_stool(img: np.ndarray, polys: list[np.ndarray], m: np.ndarray) -> None:
    """Draw a stool's polygons (world px) through the camera map `m`."""
    for poly in polys:
        cv2.fillConvexPoly(img, _fixed(_transform(m, poly)), _STOOL_COLOUR, cv2.LINE_AA, _SHIFT)


def figure_parts(actor: Actor) -> list[tuple[str, list[tuple]]]:
    """Drawing groups in a fixed order, each (group name, [(kind, joint names, width, colour)])."""
    sleeve = actor.shirt if actor.long_sleeves else actor.skin
    shin = actor.skin if actor.shorts else actor.trousers
    groups = []
    for side in ("l", "r"):
        groups.append(
            (
                f"leg_{side}",
                [
                    ("line", (f"hip_{side}", f"knee_{side}"), actor.leg_w, actor.trousers),
                    ("line", (f"knee_{side}", f"ankle_{side}"), 0.85 * actor.leg_w, shin),
                    ("line", (f"ankle_{side}", f"toe_{side}"), 0.9 * actor.leg_w, actor.shoes),
                ],
            )
        )
    groups.append(
        (
            "torso",
            [
                ("poly", ("torso_sl", "torso_sr", "torso_hr", "torso_hl"), 0.0, actor.shirt),
                ("line", ("pelvis", "neck"), 0.09, actor.shirt),
                ("line", ("torso_hl", "torso_hr"), actor.leg_w, actor.trousers),
                ("line", ("neck", "head"), 0.8 * actor.arm_w, actor.skin),
            ],
        )
    )
    groups.append(("head", [("head", ("head",), actor.head_r, actor.hair)]))
    for side in ("l", "r"):
        groups.append(
            (
                f"arm_{side}",
                [
                    ("line", (f"shoulder_{side}", f"elbow_{side}"), actor.arm_w, actor.shirt),
                    ("line", (f"elbow_{side}", f"wrist_{side}"), 0.85 * actor.arm_w, sleeve),
                    ("disc", (f"wrist_{side}",), 0.62 * actor.arm_w, actor.skin),
                ],
            )
        )
    return groups


_DEPTH_JOINTS = {
    "leg_l": ("knee_l", "ankle_l"), "leg_r": ("knee_r", "ankle_r"), "arm_l": ("elbow_l", "wrist_l"),
    "arm_r": ("elbow_r", "wrist_r"), "torso": ("pelvis", "neck"), "head": ("head",),
}  # fmt: skip


def draw_figure(
    img: np.ndarray, parts: list, pts: np.ndarray, z: np.ndarray, scale: float, yaw: float, skin: RGB
) -> None:
    """Draw the actor at image points `pts` (J, 2), the parts furthest from the camera (depths `z`) first."""
    fixed = [tuple(p) for p in np.round(pts * _ONE).astype(np.int32).tolist()]
    zs = z.tolist()
    torso_z = 0.5 * (zs[J["pelvis"]] + zs[J["neck"]])
    depth = {g: sum(zs[J[k]] for k in ks) / len(ks) for g, ks in _DEPTH_JOINTS.items()}
    depth["head"] = max(depth["head"], torso_z + 1e-3)
    for group, items in sorted(parts, key=lambda gi: depth[gi[0]]):
        factor = min(max(1.0 + 1.5 * (depth[group] - torso_z), 0.78), 1.12)  # nearer is brighter
        for kind, names, width, colour in items:
            c = _shade(colour, factor)
            if kind == "line":
                thickness = max(1, round(width * scale))
                cv2.line(img, fixed[J[names[0]]], fixed[J[names[1]]], c, thickness, cv2.LINE_AA, _SHIFT)
            elif kind == "disc":
                _disc(img, pts[J[names[0]]], width * scale, c)
            elif kind == "poly":
                cv2.fillConvexPoly(img, np.array([fixed[J[k]] for k in names]), c, cv2.LINE_AA, _SHIFT)
            else:  # head: hair, then the face turned the way the body faces
                r = width * scale
                _disc(img, pts[J["head"]], r, c)
                face = pts[J["head"]] + np.array([0.25 * np.sin(yaw), 0.12]) * r
                _disc(img, face, 0.72 * r, _shade(skin, factor))


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box x0, y0, x1, y1 (exclusive ends) of the pixels that differ; zeros when none do."""
    changed = np.any(before != after, axis=2)
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    if not len(rows):
        return 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
