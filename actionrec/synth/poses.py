"""Pose tracks: the 21 columns of a figure's pose over time, and the pose function of each base action."""

from __future__ import annotations

from math import tau as TAU

import numpy as np

# A pose track is a (T, 21) float array: five body columns, then four angles per limb. A limb's
# direction is d(a, f) = (s*sin a, cos a*cos f, cos a*sin f) in body axes (x to image-right at yaw 0, y down,
# z towards the camera), with s = -1 for the limb on the image-left at yaw 0 and +1 for the other: a swings
# it outwards in the frontal plane, f forwards. Angles are absolute (not relative to the parent limb), so a
# hanging arm stays vertical when the torso bends.

TF, TS, YAW, LIFT, DX = range(5)  # torso forward lean, torso sideways lean, body yaw, jump height, x offset
LIMB_COL = {"arm_l": 5, "arm_r": 9, "leg_l": 13, "leg_r": 17}  # (upper a, upper f, lower a, lower f)
N_POSE = 21
REST_ARM = (0.10, 0.0, 0.06, 0.08)
REST_LEG = (0.04, 0.0, 0.02, 0.0)

Angles = tuple[float | np.ndarray, float | np.ndarray, float | np.ndarray, float | np.ndarray]


def _pose(
    n: int,
    *,
    torso_flex: float | np.ndarray = 0.0,
    torso_side: float | np.ndarray = 0.0,
    yaw: float | np.ndarray = 0.0,
    lift: float | np.ndarray = 0.0,
    dx: float | np.ndarray = 0.0,
    arm_l: Angles = REST_ARM,
    arm_r: Angles = REST_ARM,
    leg_l: Angles = REST_LEG,
    leg_r: Angles = REST_LEG,
) -> np.ndarray:
    out = np.empty((n, N_POSE))
    for col, value in ((TF, torso_flex), (TS, torso_side), (YAW, yaw), (LIFT, lift), (DX, dx)):
        out[:, col] = value
    for name, angles in (("arm_l", arm_l), ("arm_r", arm_r), ("leg_l", leg_l), ("leg_r", leg_r)):
        for j, value in enumerate(angles):
            out[:, LIMB_COL[name] + j] = value
    return out


def mirror_track(track: np.ndarray) -> np.ndarray:
    """The left-right mirror image of a pose track: limbs swap sides, leans, yaw and x offsets change sign."""
    out = track.copy()
    for a, b in (("arm_l", "arm_r"), ("leg_l", "leg_r")):
        ia, ib = LIMB_COL[a], LIMB_COL[b]
        out[:, ia : ia + 4], out[:, ib : ib + 4] = track[:, ib : ib + 4], track[:, ia : ia + 4]
    out[:, [TS, YAW, DX]] *= -1.0
    return out


def ease(x: np.ndarray) -> np.ndarray:
    """Smoothstep on [0, 1]: zero velocity at both ends, and ease(1 - x) = 1 - ease(x) (time-symmetric)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _bump(x: np.ndarray) -> np.ndarray:
    """0 outside [0, 1], rising smoothly to 1 at x = 0.5."""
    return np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0.0, 1.0)) ** 2, 0.0)


# The base actions, each a pose track as a function of (phase in cycles, or progress 0..1 for one-shot actions;
# seconds; per-clip style params). Derived actions (walk_right, stand_up, lower_arms) have none of their own.
Params = dict[str, float]


def walk(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    s, c = np.sin(TAU * u), np.cos(TAU * u)
    a = p["amp"]
    th_l, th_r = 0.42 * a * s, -0.42 * a * s
    swing_l, swing_r = np.maximum(c, 0.0) ** 1.5, np.maximum(-c, 0.0) ** 1.5  # the leg moving forwards bends
    ua_l, ua_r = -0.35 * a * s, 0.35 * a * s
    return _pose(
        len(u),
        torso_flex=0.06,
        torso_side=0.03 * s,
        lift=0.012 * np.abs(c),
        dx=-p["speed"] * t,  # the base walks to the image left; walk_right is its mirror image
        arm_l=(0.1, ua_l, 0.06, ua_l + 0.25 + 0.15 * np.abs(s)),
        arm_r=(0.1, ua_r, 0.06, ua_r + 0.25 + 0.15 * np.abs(s)),
        leg_l=(0.04, th_l, 0.02, th_l - 0.12 - 0.95 * a * swing_l),
        leg_r=(0.04, th_r, 0.02, th_r - 0.12 - 0.95 * a * swing_r),
    )


def run(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    s = np.sin(TAU * u)
    a = p["amp"]
    knee_l, knee_r = np.maximum(s, 0.0), np.maximum(-s, 0.0)
    th_l, th_r = -0.15 + 1.15 * a * knee_l, -0.15 + 1.15 * a * knee_r
    ua_l, ua_r = -0.75 * a * s, 0.75 * a * s
    return _pose(
        len(u),
        torso_flex=0.14,
        lift=0.045 * a * np.abs(np.sin(TAU * u + 0.6)),
        arm_l=(0.15, ua_l, -0.25, ua_l + 1.6),
        arm_r=(0.15, ua_r, -0.25, ua_r + 1.6),
        leg_l=(0.05, th_l, 0.03, th_l - 0.3 - 1.5 * knee_l),
        leg_r=(0.05, th_r, 0.03, th_r - 0.3 - 1.5 * knee_r),
    )


def jump(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    v = np.mod(u, 1.0)
    flight = np.clip((v - 0.3) / 0.45, 0.0, 1.0)
    in_air = (v > 0.3) & (v < 0.75)
    take_off = np.where(v < 0.3, np.sin(np.pi * v / 0.3), 0.0)  # crouch and spring
    landing = np.where(v > 0.75, np.sin(np.pi * (v - 0.75) / 0.25), 0.0)  # absorb the landing, stand up
    crouch = 0.9 * p["amp"] * (take_off + landing)
    tuck = np.where(in_air, np.sin(np.pi * flight), 0.0) * p["tuck"]
    lift = np.where(in_air, 4.0 * flight * (1.0 - flight), 0.0) * p["height"]
    arm_f = -0.8 * np.where(v < 0.3, crouch, 0.0) + 2.4 * np.where(in_air, np.sin(np.pi * flight), 0.0)
    th = 1.0 * crouch + 0.8 * tuck
    leg = (0.06, th, 0.03, th - 1.8 * crouch - 1.4 * tuck)
    arm = (0.2, arm_f, 0.12, arm_f + 0.2)
    return _pose(len(u), torso_flex=0.45 * crouch, lift=lift, arm_l=arm, arm_r=arm, leg_l=leg, leg_r=leg)


def jumping_jack(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    w = 0.5 - 0.5 * np.cos(TAU * u)
    ua = 0.12 + 2.8 * p["amp"] * w
    arm = (ua, 0.06, ua + 0.15 * w, 0.06)
    leg = (0.04 + p["spread"] * w, 0.0, 0.02 + 0.9 * p["spread"] * w, 0.0)
    return _pose(len(u), lift=0.05 * np.abs(np.sin(TAU * u)), arm_l=arm, arm_r=arm, leg_l=leg, leg_r=leg)


def wave_one_hand(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    """A forearm wave with the elbow anywhere from below the shoulder (the hand at face height) to above the head,
    or (style "arc") the whole arm swinging in a big arc over the head; either hand."""
    s = np.sin(TAU * u)
    if p["arc"] > 0:
        ua = p["raise"] + 0.38 * p["amp"] * s
        wave = (ua, p["forward"], ua + 0.15, p["forward"])
    else:
        wave = (p["raise"], p["forward"], 2.95 + 0.42 * p["amp"] * s, p["hand_f"])
    if p["side"] > 0:
        return _pose(len(u), torso_side=-0.04, arm_r=wave)
    return _pose(len(u), torso_side=0.04, arm_l=wave)


def wave_both_hands(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    """Both hands waving up high: forearms swinging from raised elbows, or (style "arc") both whole arms swinging in
    big arcs over the head; outwards together, or both to the same side. The arms never come down to the sides
    (jumping_jack) and keep swinging (raise_arms_side raises them once)."""
    swing = 0.42 * p["amp"] * np.sin(TAU * u)
    other = swing if p["symmetric"] > 0 else -swing  # both outwards together, or both to the same side
    if p["arc"] > 0:
        return _pose(
            len(u),
            arm_l=(p["raise"] + swing, p["forward"], p["raise"] + swing + p["bend"], p["forward"]),
            arm_r=(p["raise"] + other, p["forward"], p["raise"] + other + p["bend"], p["forward"]),
        )
    return _pose(
        len(u),
        arm_l=(p["raise"], p["forward"], 3.0 + swing, 0.15),
        arm_r=(p["raise"], p["forward"], 3.0 + other, 0.15),
    )


def clap(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    openness = (0.5 + 0.5 * np.cos(TAU * u)) ** 0.7  # hands meet at u = 0.5
    arm = (0.12 + 0.25 * openness, p["elbow_f"], -0.8 + 1.2 * p["amp"] * openness, 1.45)
    return _pose(len(u), arm_l=arm, arm_r=arm)


def squat(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    c = (0.5 - 0.5 * np.cos(TAU * u)) * p["depth"]
    arm_f = 1.45 * c * p["arms_forward"]
    arm = (0.12, arm_f, 0.06, arm_f + 0.1)
    leg = (0.1 + 0.12 * c, 1.45 * c, 0.05, -0.35 * c)
    return _pose(len(u), torso_flex=0.55 * c, arm_l=arm, arm_r=arm, leg_l=leg, leg_r=leg)


def sit_down(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    mid = np.sin(np.pi * u)
    arm_f = 0.5 * mid + 0.35 * u
    arm = (0.12, arm_f, 0.06, arm_f + 0.9 * u)
    leg = (0.06 + 0.1 * u, 1.5 * u, 0.02 + 0.06 * u, 0.02 * u)
    return _pose(len(u), torso_flex=0.55 * mid + 0.05 * u, arm_l=arm, arm_r=arm, leg_l=leg, leg_r=leg)


def punch(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    v = np.mod(u, 1.0)
    e_l, e_r = _bump(2.0 * v), _bump(2.0 * v - 1.0)  # left then right
    guard = np.array([0.35, 0.45, -0.35, 2.5])
    punch = np.array([0.12, 1.5, -0.05, 1.55])

    def arm(e: np.ndarray) -> Angles:
        a = guard[:, None] + (punch - guard)[:, None] * e[None, :]
        return a[0], a[1], a[2], a[3]

    leg = (0.15, 0.12, 0.08, -0.08)
    twist = 0.45 * (e_l - e_r)  # the punching shoulder turns forwards
    return _pose(len(u), torso_flex=0.1, yaw=twist, arm_l=arm(e_l), arm_r=arm(e_r), leg_l=leg, leg_r=leg)


def kick(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    v = np.mod(u, 1.0)
    chamber = np.where(v < 0.55, np.sin(np.pi * np.clip(v / 0.55, 0.0, 1.0)), 0.0)
    extend = np.where((v > 0.15) & (v < 0.45), np.sin(np.pi * np.clip((v - 0.15) / 0.3, 0.0, 1.0)), 0.0)
    th = 1.35 * p["amp"] * chamber
    kick = (0.06, th, 0.03, th - 1.7 * chamber * (1.0 - extend))
    support = (0.05, 0.1, 0.03, -0.05)
    guard = (0.45, 0.4, -0.2, 2.2)
    legs = {"leg_r": kick, "leg_l": support} if p["side"] > 0 else {"leg_l": kick, "leg_r": support}
    return _pose(len(u), torso_flex=-0.2 * chamber, arm_l=guard, arm_r=guard, **legs)


def bend(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    c = (0.5 - 0.5 * np.cos(TAU * u)) * p["depth"]
    arm = (0.08, 0.35 * c, 0.05, 0.45 * c)
    knees = p["knees"] * c  # from straight legs to knees bent as the back goes down
    leg = (0.05, -0.12 * c + knees, 0.03, 0.05 * c - knees)
    return _pose(len(u), torso_flex=1.35 * c, arm_l=arm, arm_r=arm, leg_l=leg, leg_r=leg)


def raise_arms(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    top = p["top"]  # from shoulder height (about pi / 2) to straight above the head
    if p["sideways"] > 0:
        arm = (0.1 + (top - 0.1) * u, 0.05, 0.06 + (top + 0.05 - 0.06) * u, 0.05 + 0.03 * u)
    else:
        arm = (0.1 - 0.05 * u, top * u, 0.06 - 0.02 * u, 0.08 + (top - 0.03) * u)
    return _pose(len(u), arm_l=arm, arm_r=arm)


# How an idle person holds the arms: hanging, crossed over the chest, hands on the hips, in the pockets, behind the
# back. Upper arm (a, f), forearm (a, f).
IDLE_ARMS: tuple[Angles, ...] = (
    REST_ARM,
    (0.12, 0.45, -1.25, 1.4),
    (0.55, -0.2, -0.75, 0.15),
    (0.12, -0.05, -0.08, 0.3),
    (0.15, -0.35, -0.6, -0.9),
)


def idle(u: np.ndarray, t: np.ndarray, p: Params) -> np.ndarray:
    """no_action: someone standing about, shifting the weight from leg to leg (the pelvis sways, the unloaded knee
    bends), turning the torso and head a little now and then, the arms held in one of `IDLE_ARMS` (each arm its own
    in some clips). The phase u paces the weight shifts."""
    w = np.sin(TAU * u)
    shift = p["shift"]
    unload_l, unload_r = np.maximum(w, 0.0) * shift, np.maximum(-w, 0.0) * shift  # weight on the other leg
    stance = p["stance"]

    def leg(unload: np.ndarray, lean: np.ndarray) -> Angles:
        return (stance + lean, 0.9 * unload, stance * 0.5 + lean, -0.6 * unload)

    turn = p["turn"] * np.sin(TAU * (p["turn_hz"] * t + p["turn_phase"]))
    arm_l = IDLE_ARMS[int(p["arms_l"])]
    arm_r = IDLE_ARMS[int(p["arms_r"])]
    return _pose(
        len(u),
        torso_flex=p["lean"],
        torso_side=-0.05 * shift * w,
        yaw=turn,
        dx=0.04 * shift * w,
        arm_l=arm_l,
        arm_r=arm_r,
        leg_l=leg(unload_l, 0.08 * shift * w),
        leg_r=leg(unload_r, -0.08 * shift * w),
    )
