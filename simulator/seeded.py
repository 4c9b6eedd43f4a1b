"""Deterministic randomness: numbers that are pure functions of a seed and a key.

Python's built-in `hash()` is salted per process, so keys are hashed with BLAKE2b instead; the same
seed and key give the same number in every process, in any order of calls.
"""

from __future__ import annotations

import hashlib
from statistics import NormalDist

_STANDARD_NORMAL = NormalDist()
_SCALE = 1.0 / (1 << 53)


def unit(seed: int, *key: object) -> float:
    """A number in [0, 1) determined by `seed` and `key` (ints and strings)."""
    digest = hashlib.blake2b(repr((seed, *key)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) * _SCALE


def normal(seed: int, *key: object) -> float:
    """A standard-normal number determined by `seed` and `key`."""
    u = unit(seed, *key)
    return _STANDARD_NORMAL.inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12))


def choice(seed: int, options: tuple, *key: object):
    """One of `options`, determined by `seed` and `key`."""
    return options[int(unit(seed, *key) * len(options))]
