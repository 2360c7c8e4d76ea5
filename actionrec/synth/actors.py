"""Actors: body shape, skin, hair and clothing, one identity per actor group (UCF-101's g01..gNN)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace

import numpy as np

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Actor:
    """One actor identity. Lengths are fractions of standing height; colours are RGB 0..255."""

    head_r: float  # head radius
    neck: float  # neck length between the top of the torso and the chin
    torso: float  # pelvis to base of the neck
    shoulder: float  # half the shoulder width
    hip: float  # half the hip width
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    foot: float  # shoe length, pointing where the body faces
    arm_w: float  # limb thicknesses
    leg_w: float
    skin: RGB
    hair: RGB
    shirt: RGB
    trousers: RGB
    shoes: RGB
    long_sleeves: bool  # forearms in shirt colour instead of skin
    shorts: bool  # shins in skin colour instead of trousers
    girth: float = 1.0  # torso width factor: slim (0.85) to heavy (1.35)
    hair_style: int = 0  # 0 short, 1 long (down to the shoulders), 2 shaved or bald


# Skin tones from very light to very dark, as photographed under indoor light.
_SKIN_TONES = (
    (236, 204, 180), (224, 186, 160), (212, 170, 140), (198, 152, 118), (182, 134, 100), (160, 112, 80),
    (138, 94, 66), (112, 74, 52), (88, 58, 42), (66, 44, 34), (230, 190, 150), (200, 160, 120),
)  # fmt: skip
_HAIR = ((20, 16, 14), (38, 28, 22), (60, 42, 30), (96, 66, 40), (140, 100, 60), (190, 160, 110), (150, 146, 140))
# Clothing palettes (saturation and value ranges) and how often each is worn: most people wear dark or muted clothes.
_DARK = ((0.0, 0.45), (0.06, 0.32))
_MUTED = ((0.05, 0.4), (0.3, 0.75))
_BRIGHT = ((0.4, 1.0), (0.5, 1.0))
_LIGHT = ((0.0, 0.15), (0.75, 0.97))  # white and pale shirts
_SHIRT_PALETTES = ((_DARK, 0.35), (_MUTED, 0.3), (_BRIGHT, 0.2), (_LIGHT, 0.15))
_TROUSER_PALETTES = ((_DARK, 0.5), (_MUTED, 0.3), (((0.35, 0.65), (0.2, 0.5)), 0.2))  # the last: blue jeans


def hsv_colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> RGB:
    """A colour of random hue with saturation and value drawn from the given ranges."""
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val))
    return round(r * 255), round(g * 255), round(b * 255)


def _clothing(rng: np.random.Generator, palettes: tuple, jeans: bool = False) -> RGB:
    """A colour from one of `palettes` ((sat, val), weight), picked by weight; the jeans palette is blue."""
    weights = np.array([w for _, w in palettes])
    k = int(rng.choice(len(palettes), p=weights / weights.sum()))
    sat, val = palettes[k][0]
    if jeans and k == len(palettes) - 1:
        r, g, b = colorsys.hsv_to_rgb(rng.uniform(0.58, 0.64), rng.uniform(*sat), rng.uniform(*val))
        return round(r * 255), round(g * 255), round(b * 255)
    return hsv_colour(rng, sat, val)


def make_actor(group: int, seed: int = 0) -> Actor:
    """The actor of group `group` (1-based) for benchmark seed `seed`: the same in every class."""
    return random_actor(np.random.default_rng([seed, 0xAC7, group]))


def random_actor(rng: np.random.Generator) -> Actor:
    """An actor drawn from `rng`: body shape, skin, hair, and clothes mostly dark or muted, as people dress."""
    u = rng.uniform
    build = u(0.85, 1.3)  # slim to broad: shoulders, hips and limbs together
    shirt = _clothing(rng, _SHIRT_PALETTES)
    trousers = _clothing(rng, _TROUSER_PALETTES, jeans=True)
    return Actor(
        head_r=u(0.054, 0.074),
        neck=u(0.02, 0.035),
        torso=u(0.27, 0.32),
        shoulder=build * u(0.08, 0.105),
        hip=build * u(0.042, 0.06),
        upper_arm=u(0.15, 0.18),
        forearm=u(0.14, 0.17),
        thigh=u(0.22, 0.26),
        shin=u(0.21, 0.25),
        foot=u(0.05, 0.07),
        arm_w=build * u(0.036, 0.05),
        leg_w=build * u(0.046, 0.064),
        skin=_SKIN_TONES[rng.integers(len(_SKIN_TONES))],
        hair=_HAIR[rng.integers(len(_HAIR))],
        shirt=shirt,
        trousers=trousers,
        shoes=hsv_colour(rng, (0.0, 0.4), (0.05, 0.5)),
        long_sleeves=bool(rng.random() < 0.6),
        shorts=bool(rng.random() < 0.15),
        girth=u(0.85, 1.35),
        hair_style=int(rng.choice(3, p=[0.55, 0.3, 0.15])),
    )


def cartoon_actor(actor: Actor, rng: np.random.Generator) -> Actor:
    """`actor` as the flat cartoon of SynthConfig.appearance off: bright clothes, one build, short sleeves, no
    shorts; body proportions and skin stay."""
    return replace(
        actor,
        shoulder=0.09, hip=0.05, arm_w=0.042, leg_w=0.054, girth=1.0,
        shirt=hsv_colour(rng, *_BRIGHT), trousers=hsv_colour(rng, *_BRIGHT), shoes=hsv_colour(rng, *_BRIGHT),
        long_sleeves=False, shorts=False,
    )  # fmt: skip
