"""Sample-input generators shared by the case rows (NumPy arrays in the requested dtype)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.special


def normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, scale: float = 2.0) -> Any:
    """``scale`` * standard normal draws; a 0-d shape gives a 0-d array, not a NumPy scalar."""
    return np.asarray(scale * rng.standard_normal(shape)).astype(dtype)


def uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: str, low: float, high: float
) -> Any:
    return rng.uniform(low, high, size=shape).astype(dtype)


def class_indices(rng: np.random.Generator, shape: tuple[int, ...], num_classes: int) -> Any:
    return rng.integers(0, num_classes, size=shape).astype(np.int64)


def probabilities(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, axis: int) -> Any:
    return scipy.special.softmax(rng.standard_normal(shape), axis=axis).astype(dtype)


def extremes(dtype: str) -> Any:
    """Inputs at the edges: +-1e4, +-100, +-20, +-1e-7, 0."""
    return np.array([-1e4, -100.0, -20.0, -1.0, -1e-7, 0.0, 1e-7, 1.0, 20.0, 100.0, 1e4], dtype)
