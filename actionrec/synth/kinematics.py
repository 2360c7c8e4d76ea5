"""Forward kinematics: an actor's joint positions over time from a pose track."""

from __future__ import annotations

import numpy as np

from .actors import Actor
from .poses import DX, LIFT, LIMB_COL, TF, TS, YAW

# Joints in body units (standing height ~1), orthographic projection after the body's yaw.

JOINTS = (
    "pelvis", "neck", "head",
    "shoulder_l", "elbow_l", "wrist_l", "hip_l", "knee_l", "ankle_l", "toe_l", "torso_sl", "torso_hl",
    "shoulder_r", "elbow_r", "wrist_r", "hip_r", "knee_r", "ankle_r", "toe_r", "torso_sr", "torso_hr",
)  # fmt: skip
J = {name: i for i, name in enumerate(JOINTS)}


def _direction(a: np.ndarray, f: np.ndarray, s: float) -> np.ndarray:
    ca = np.cos(a)
    return np.stack([s * np.sin(a), ca * np.cos(f), ca * np.sin(f)], axis=-1)


def skeleton(track: np.ndarray, actor: Actor) -> np.ndarray:
    """Joint positions (T, len(JOINTS), 3): x right, y down with the feet on y = 0, z towards the camera."""
    n = len(track)
    tf, ts = track[:, TF], track[:, TS]
    up = np.stack([np.sin(ts), -np.cos(ts) * np.cos(tf), np.cos(ts) * np.sin(tf)], axis=-1)
    across = np.stack([np.cos(ts), np.sin(ts), np.zeros(n)], axis=-1)
    p = np.zeros((n, len(JOINTS), 3))
    p[:, J["neck"]] = actor.torso * up
    p[:, J["head"]] = p[:, J["neck"]] + (actor.neck + actor.head_r) * up
    for side, s in (("l", -1.0), ("r", 1.0)):
        arm, leg = LIMB_COL[f"arm_{side}"], LIMB_COL[f"leg_{side}"]
        shoulder = p[:, J["neck"]] + s * actor.shoulder * across - 0.02 * up
        elbow = shoulder + actor.upper_arm * _direction(track[:, arm], track[:, arm + 1], s)
        wrist = elbow + actor.forearm * _direction(track[:, arm + 2], track[:, arm + 3], s)
        hip = np.array([s * actor.hip, 0.0, 0.0])
        knee = hip + actor.thigh * _direction(track[:, leg], track[:, leg + 1], s)
        ankle = knee + actor.shin * _direction(track[:, leg + 2], track[:, leg + 3], s)
        for name, point in (("shoulder", shoulder), ("elbow", elbow), ("wrist", wrist)):
            p[:, J[f"{name}_{side}"]] = point
        for name, point in (("hip", hip), ("knee", knee), ("ankle", ankle)):
            p[:, J[f"{name}_{side}"]] = point
        p[:, J[f"toe_{side}"]] = ankle + actor.foot * np.array([0.0, 0.1, 1.0])
        p[:, J[f"torso_s{side}"]] = p[:, J["neck"]] + s * (actor.shoulder + 0.3 * actor.arm_w) * across
        p[:, J[f"torso_h{side}"]] = np.array([s * (actor.hip + 0.5 * actor.leg_w), 0.02, 0.0])
    cy, sy = np.cos(track[:, YAW])[:, None], np.sin(track[:, YAW])[:, None]
    x, z = p[..., 0].copy(), p[..., 2].copy()
    p[..., 0], p[..., 2] = x * cy + z * sy, -x * sy + z * cy
    feet = [J["ankle_l"], J["ankle_r"], J["toe_l"], J["toe_r"]]
    p[..., 1] -= (p[:, feet, 1].max(axis=1) + 0.45 * actor.leg_w + track[:, LIFT])[:, None]
    p[..., 0] += track[:, DX][:, None]
    return p
