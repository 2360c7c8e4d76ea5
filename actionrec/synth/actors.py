"""Actors: body proportions and clothing, one identity per actor group (UCF-101's g01..gNN)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

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


_SKIN_TONES = ((255, 224, 196), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 56, 34))
_HAIR = ((20, 15, 10), (60, 40, 20), (110, 70, 30), (200, 170, 100), (150, 150, 150), (120, 40, 20))


def hsv_colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> RGB:
    """A colour of random hue with saturation and value drawn from the given ranges."""
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val))
    return round(r * 255), round(g * 255), round(b * 255)


def make_actor(group: int, seed: int = 0) -> Actor:
    """The actor of group `group` (1-based) for benchmark seed `seed`: the same in every class."""
    return random_actor(np.random.default_rng([seed, 0xAC7, group]))


def random_actor(rng: np.random.Generator) -> Actor:
    """An actor drawn from `rng`: proportions, skin, hair, and clothes that stand out from each other."""
    u = rng.uniform
    shirt = hsv_colour(rng, (0.35, 1.0), (0.35, 1.0))
    trousers = hsv_colour(rng, (0.1, 0.8), (0.12, 0.75))
    while sum(abs(a - b) for a, b in zip(shirt, trousers, strict=True)) < 90:  # keep arms and legs distinct
        trousers = hsv_colour(rng, (0.1, 0.8), (0.12, 0.75))
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))]
    # Bare arms stand out from the shirt.
    while sum(abs(a - b) for a, b in zip(shirt, skin, strict=True)) < 90:
        shirt = hsv_colour(rng, (0.35, 1.0), (0.35, 1.0))
    return Actor(
        head_r=u(0.056, 0.072),
        neck=u(0.02, 0.035),
        torso=u(0.27, 0.32),
        shoulder=u(0.085, 0.115),
        hip=u(0.045, 0.065),
        upper_arm=u(0.15, 0.18),
        forearm=u(0.14, 0.17),
        thigh=u(0.22, 0.26),
        shin=u(0.21, 0.25),
        foot=u(0.05, 0.07),
        arm_w=u(0.036, 0.05),
        leg_w=u(0.046, 0.064),
        skin=skin,
        hair=_HAIR[rng.integers(len(_HAIR))],
        shirt=shirt,
        trousers=trousers,
        shoes=hsv_colour(rng, (0.0, 0.5), (0.05, 0.35)),
        long_sleeves=bool(rng.random() < 0.5),
        shorts=bool(rng.random() < 0.25),
    )
