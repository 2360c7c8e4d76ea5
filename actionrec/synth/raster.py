"""Drawing one frame's contents with anti-aliased sub-pixel cv2 primitives: distractors, the stool, the actor
(shaded solids, parts furthest from the camera first), and the box of the pixels the actor changed."""

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


def _shade(colour, factor: float) -> tuple[float, float, float]:
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
                    ("limb", (f"hip_{side}", f"knee_{side}"), actor.leg_w, actor.trousers),
                    ("limb", (f"knee_{side}", f"ankle_{side}"), 0.85 * actor.leg_w, shin),
                    ("limb", (f"ankle_{side}", f"toe_{side}"), 0.9 * actor.leg_w, actor.shoes),
                ],
            )
        )
    groups.append(
        (
            "torso",
            [
                ("limb", ("neck", "head"), 0.9 * actor.arm_w, actor.skin),
                ("torso", ("torso_sl", "torso_sr", "torso_hr", "torso_hl"), actor.girth, actor.shirt),
                ("limb", ("torso_hl", "torso_hr"), 0.8 * actor.leg_w, actor.trousers),
            ],
        )
    )
    groups.append(("head", [("head", ("head",), actor.head_r, actor.hair)]))
    for side in ("l", "r"):
        groups.append(
            (
                f"arm_{side}",
                [
                    ("limb", (f"shoulder_{side}", f"elbow_{side}"), actor.arm_w, actor.shirt),
                    ("limb", (f"elbow_{side}", f"wrist_{side}"), 0.85 * actor.arm_w, sleeve),
                    ("disc", (f"wrist_{side}",), 0.6 * actor.arm_w, actor.skin),
                ],
            )
        )
    return groups


_DEPTH_JOINTS = {
    "leg_l": ("knee_l", "ankle_l"), "leg_r": ("knee_r", "ankle_r"), "arm_l": ("elbow_l", "wrist_l"),
    "arm_r": ("elbow_r", "wrist_r"), "torso": ("pelvis", "neck"), "head": ("head",),
}  # fmt: skip
# A solid's shading: its rim in shadow, its body, and a highlight towards the light (colour factor, width, offset).
_EDGE, _BODY, _HIGHLIGHT = 0.55, 0.9, 1.15


def draw_limb(
    img: np.ndarray, a: np.ndarray, b: np.ndarray, width: float, colour: RGB, f: float, light: np.ndarray
) -> None:
    """A shaded capsule from `a` to `b` (image px): a dark rim, its body, and a highlight on the side of `light`."""
    d = b - a
    n = float(np.hypot(*d))
    d = d / n if n > 1e-6 else np.array([0.0, 1.0])
    towards = light - float(light @ d) * d  # the light's direction across the limb
    p0, p1 = _fixed(a), _fixed(b)
    cv2.line(img, tuple(p0), tuple(p1), _shade(colour, _EDGE * f), max(1, round(width)), cv2.LINE_AA, _SHIFT)
    if width < 2.5:  # too thin for more than a rim: a mid tone over it
        cv2.line(img, tuple(p0), tuple(p1), _shade(colour, 0.8 * f), 1, cv2.LINE_AA, _SHIFT)
        return
    for factor, w, off in ((_BODY, 0.7, 0.1), (_HIGHLIGHT, 0.3, 0.22)):
        shift = _fixed(towards * off * width)
        cv2.line(
            img, tuple(p0 + shift), tuple(p1 + shift), _shade(colour, factor * f), max(1, round(w * width)),
            cv2.LINE_AA, _SHIFT,
        )  # fmt: skip


def _torso(img: np.ndarray, corners: np.ndarray, girth: float, colour: RGB, f: float, light: np.ndarray) -> None:
    """The torso as a shaded solid: `corners` (shoulder l, r, hip r, l) widened by `girth` about its middle line."""
    top, bottom = corners[:2].mean(axis=0), corners[2:].mean(axis=0)
    mid = np.array([top, top, bottom, bottom])
    wide = mid + girth * (corners - mid)
    cv2.fillConvexPoly(img, _fixed(wide), _shade(colour, _EDGE * f), cv2.LINE_AA, _SHIFT)
    width = float(np.hypot(*(wide[1] - wide[0])))
    inner = mid + 0.78 * (wide - mid) + 0.12 * width * light
    inner[:2] += 0.08 * (bottom - top)  # the body's shading leaves a darker line at the shoulders
    cv2.fillConvexPoly(img, _fixed(inner), _shade(colour, _BODY * f), cv2.LINE_AA, _SHIFT)
    if width >= 4:
        axis = np.array([top + 0.2 * (bottom - top), bottom - 0.1 * (bottom - top)]) + 0.22 * width * light
        cv2.line(
            img, tuple(_fixed(axis[0])), tuple(_fixed(axis[1])), _shade(colour, _HIGHLIGHT * f),
            max(1, round(0.3 * width)), cv2.LINE_AA, _SHIFT,
        )  # fmt: skip


def _head(img: np.ndarray, c: np.ndarray, r: float, actor: Actor, f: float, yaw: float, light: np.ndarray) -> None:
    """A shaded head with hair: a cap (or long hair behind) on the back of the head, the face turned by `yaw`."""
    side = np.sin(yaw)
    hair = _shade(actor.hair, f)
    if actor.hair_style == 1:  # long hair falls behind the head to the shoulders
        _ellipse(img, c + np.array([-0.25 * side, 0.25]) * r, (1.1 * r, 1.15 * r), 0.0, 0, 360, hair)
    _disc(img, c, r, _shade(actor.skin, 0.72 * f))  # a rounder head than a limb: a softer rim
    _disc(img, c + np.array([0.2 * side, 0.0]) * r + 0.06 * r * light, 0.9 * r, _shade(actor.skin, _BODY * f))
    if actor.hair_style == 1:  # the chin and jaw in front of the long hair
        _disc(img, c + np.array([0.1 * side, 0.3]) * r, 0.7 * r, _shade(actor.skin, _BODY * f))
    if r >= 2.5:
        _disc(img, c + np.array([0.25 * side, 0.0]) * r + 0.35 * r * light, 0.35 * r, _shade(actor.skin, 1.08 * f))
    if r >= 4.0:  # eyes and mouth as shadows, the far eye hidden in a side view
        dark = _shade(actor.skin, 0.45 * f)
        for eye in (-0.33, 0.33):
            x = eye * np.cos(yaw) + 0.45 * side
            if abs(x) < 0.8:
                _disc(img, c + np.array([x, 0.05]) * r, 0.11 * r, dark)
        _ellipse(
            img,
            c + np.array([0.45 * side, 0.5]) * r,
            (0.22 * r * abs(np.cos(yaw)) + 0.05 * r, 0.06 * r),
            0.0,
            0,
            360,
            dark,
        )
    if actor.hair_style != 2:  # a cap of hair over the top and the back of the head
        back = c + np.array([-0.22 * side, -0.08]) * r
        _ellipse(img, back, (1.04 * r, 0.95 * r), float(np.degrees(0.4 * side)), 170 - 35 * side, 370 - 35 * side, hair)
    elif r >= 2.5:
        _ellipse(img, c + np.array([-0.1 * side, -0.1]) * r, (0.95 * r, 0.8 * r), 0.0, 200, 340, _shade(hair, 0.8))


def _ellipse(
    img: np.ndarray, c: np.ndarray, axes: tuple[float, float], angle: float, a0: float, a1: float, colour
) -> None:
    ax = (max(1, round(axes[0] * _ONE)), max(1, round(axes[1] * _ONE)))
    cv2.ellipse(img, tuple(_fixed(c)), ax, angle, a0, a1, colour, -1, cv2.LINE_AA, _SHIFT)


def draw_figure(
    img: np.ndarray,
    parts: list,
    pts: np.ndarray,
    z: np.ndarray,
    scale: float,
    yaw: float,
    actor: Actor,
    light: np.ndarray,
    flat: bool = False,
) -> None:
    """Draw the actor at image points `pts` (J, 2), the parts furthest from the camera (depths `z`) first, lit
    from the image direction `light` (a unit vector pointing at the light); `flat`: one colour per part, no
    shading, a plain disc for the head (the cartoon figure of SynthConfig.appearance off)."""
    zs = z.tolist()
    torso_z = 0.5 * (zs[J["pelvis"]] + zs[J["neck"]])
    depth = {g: sum(zs[J[k]] for k in ks) / len(ks) for g, ks in _DEPTH_JOINTS.items()}
    depth["head"] = max(depth["head"], torso_z + 1e-3)
    for group, items in sorted(parts, key=lambda gi: depth[gi[0]]):
        factor = min(max(1.0 + 1.5 * (depth[group] - torso_z), 0.78), 1.12)  # nearer is brighter
        for kind, names, width, colour in items:
            if flat:
                _flat_part(img, kind, [pts[J[k]] for k in names], width * scale, colour, actor)
            elif kind == "limb":
                draw_limb(img, pts[J[names[0]]], pts[J[names[1]]], width * scale, colour, factor, light)
            elif kind == "disc":
                c = pts[J[names[0]]]
                _disc(img, c, width * scale, _shade(colour, _EDGE * factor))
                _disc(img, c + 0.2 * width * scale * light, 0.7 * width * scale, _shade(colour, _BODY * factor))
            elif kind == "torso":
                _torso(img, pts[[J[k] for k in names]], width, colour, factor, light)
            else:
                _head(img, pts[J["head"]], width * scale, actor, factor, yaw, light)


def _flat_part(img: np.ndarray, kind: str, points: list[np.ndarray], width: float, colour: RGB, actor: Actor) -> None:
    """One part of the flat cartoon figure: a stroke, a filled quad or a disc in a single colour."""
    if kind == "limb":
        p0, p1 = _fixed(points[0]), _fixed(points[1])
        cv2.line(img, tuple(p0), tuple(p1), colour, max(1, round(width)), cv2.LINE_AA, _SHIFT)
    elif kind == "torso":
        cv2.fillConvexPoly(img, _fixed(np.array(points)), colour, cv2.LINE_AA, _SHIFT)
    elif kind == "disc":
        _disc(img, points[0], width, colour)
    else:
        _disc(img, points[0], width, actor.skin)


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box x0, y0, x1, y1 (exclusive ends) of the pixels that differ; zeros when none do."""
    changed = np.any(before != after, axis=2)
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    if not len(rows):
        return 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
