"""One random generator for the whole library, so ``manual_seed`` makes runs repeatable.

Weight initialisation, dropout masks and data shuffling all draw from ``generator()``.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reseed the library's generator: the same seed gives the same weights and masks."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _generator
