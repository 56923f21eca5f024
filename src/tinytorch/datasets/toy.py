"""Two-dimensional toy problems: interleaved spirals and two moons.

Both are small enough to train in seconds and to draw whole, which makes them the place to
see what a model learns: a straight line cannot separate either, a small MLP can. Both
are deterministic given ``seed`` and return NumPy arrays, so they work before any of the
library is built:

    X, y = make_spiral_data(n_points=200, noise=0.1)   # X float32 (400, 2), y int64 (400,)

``n_points`` counts the points of *each* class (as in the cs231n spiral), and the rows
come back shuffled, so any slice of them holds every class.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def make_spiral_data(
    n_points: int = 100,
    n_classes: int = 2,
    noise: float = 0.1,
    seed: int | None = 0,
    *,
    turns: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """Points on ``n_classes`` interleaved spiral arms: ``X`` float32 (N, 2), ``y`` int64 (N,).

    Arm ``k`` starts at radius 0.2 and angle 2*pi*k/n_classes and winds ``turns`` full
    turns outwards to radius 1; ``noise`` is the standard deviation of the Gaussian noise
    added to each coordinate. N = n_points * n_classes.

    The default 0.8 turns keeps the two-class spiral with noise 0.1 learnable by a 2-16-2
    MLP (>= 95% training accuracy); around 1.5 turns it needs a wider or deeper network.
    """
    _check_count("make_spiral_data", "n_points", n_points, minimum=1)
    _check_count("make_spiral_data", "n_classes", n_classes, minimum=2)
    _check_nonnegative("make_spiral_data", "noise", noise)
    _check_positive("make_spiral_data", "turns", turns)
    rng = _generator("make_spiral_data", seed)

    position = np.linspace(0.0, 1.0, n_points)  # 0 at the centre end of an arm, 1 at the tip
    radius = 0.2 + 0.8 * position
    points, labels = [], []
    for k in range(n_classes):
        angle = 2 * np.pi * (turns * position + k / n_classes)
        arm = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        points.append(arm + noise * rng.standard_normal(arm.shape))
        labels.append(np.full(n_points, k))
    return _shuffled(np.concatenate(points), np.concatenate(labels), rng)


def make_moons(
    n_points: int = 100,
    noise: float = 0.1,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: ``X`` float32 (2 * n_points, 2), ``y`` int64 in {0, 1}.

    Moon 0 is the upper half of the unit circle centred at (0, 0); moon 1 is the lower half
    of the unit circle centred at (1, 0.5), hooked into it. ``noise`` is the standard
    deviation of the Gaussian noise added to each coordinate.
    """
    _check_count("make_moons", "n_points", n_points, minimum=1)
    _check_nonnegative("make_moons", "noise", noise)
    rng = _generator("make_moons", seed)

    angle = np.linspace(0.0, np.pi, n_points)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    points = np.concatenate([upper, lower])
    points = points + noise * rng.standard_normal(points.shape)
    labels = np.repeat([0, 1], n_points)
    return _shuffled(points, labels, rng)


def _shuffled(points: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    order = rng.permutation(len(labels))
    return points[order].astype(np.float32), labels[order].astype(np.int64)


def _check_count(function: str, name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{function}: {name} must be an integer >= {minimum}, got {value!r}")


def _check_nonnegative(function: str, name: str, value: object) -> None:
    if not _is_finite_number(value) or value < 0:
        raise ValueError(f"{function}: {name} must be a finite number >= 0, got {value!r}")


def _check_positive(function: str, name: str, value: object) -> None:
    if not _is_finite_number(value) or value <= 0:
        raise ValueError(f"{function}: {name} must be a finite number > 0, got {value!r}")


def _is_finite_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def _generator(function: str, seed: object) -> np.random.Generator:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"{function}: seed must be an integer >= 0 or None, got {seed!r}")
    return np.random.default_rng(seed)
