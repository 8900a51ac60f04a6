"""Argument validation shared by every jaxmath module (private).

Every public function validates at its boundary and raises ``ValueError`` / ``TypeError`` whose message
names the argument and the bad value, as torch.optim does (``"lr must be >= 0, got -1.0"``).

Under ``jax.jit`` only static facts can be checked: shapes, dtypes, option strings and Python scalars.
Checks on array *values* (a class index out of range, a probability outside [0, 1]) run only when the
array is concrete (not a tracer); under jit they are skipped, which each public docstring says.
torch_ref has a twin of this module that raises the same messages.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def check_option(name: str, value: Any, allowed: Collection[Any]) -> None:
    """Raise ValueError unless ``value`` is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(repr(option) for option in allowed)
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_reduction(reduction: Any) -> None:
    """Raise ValueError unless ``reduction`` is 'mean', 'sum' or 'none'."""
    check_option("reduction", reduction, REDUCTIONS)


def check_scalar_in_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
) -> None:
    """Raise ValueError unless the Python number ``value`` lies in [low, high] (or (low, high])."""
    if isinstance(value, jax.core.Tracer):
        return
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if low is not None and (value < low or (not low_inclusive and value == low)):
        bound = f">= {low}" if low_inclusive else f"> {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    if value != value:  # NaN passes every comparison above
        raise ValueError(f"{name} must not be NaN, got {value!r}")


def _as_array(name: str, x: Any) -> jax.Array:
    try:
        return jnp.asarray(x)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}: {error}") from None


def as_float_array(name: str, x: Any) -> jax.Array:
    """Return ``x`` as a JAX array, raising TypeError unless its dtype is floating point.

    Python floats and nested lists are accepted and take JAX's default float dtype.
    """
    array = _as_array(name, x)
    if not jnp.issubdtype(array.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {array.dtype}")
    return array


def as_int_array(name: str, x: Any) -> jax.Array:
    """Return ``x`` as a JAX array, raising TypeError unless its dtype is integer."""
    array = _as_array(name, x)
    if not jnp.issubdtype(array.dtype, jnp.integer):
        raise TypeError(
            f"{name} must be an integer array of class indices, got dtype {array.dtype}"
        )
    return array


def check_axis(name: str, axis: Any, ndim: int) -> int:
    """Return ``axis`` normalised to [0, ndim), raising unless it is an int in [-ndim, ndim)."""
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise TypeError(f"{name} must be an int, got {axis!r}")
    lowest, highest = -max(ndim, 1), max(ndim, 1) - 1
    if not lowest <= axis <= highest:
        raise ValueError(
            f"{name} must be in [{lowest}, {highest}] for a {ndim}-d input, got {axis}"
        )
    return int(axis) % max(ndim, 1)


def check_axes(name: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """Return ``axis`` (an int, a tuple/list of ints, or None for all) as sorted axes in [0, ndim).

    A 0-d input has one axis, 0 (or -1), as in torch. Raises on a repeated dimension and on an empty
    tuple (torch refuses ``dim=()`` for logsumexp while NumPy reduces over nothing: we refuse too).
    """
    if axis is None:
        return tuple(range(max(ndim, 1)))
    if isinstance(axis, tuple | list):
        if not axis:
            raise ValueError(f"{name} must name at least one dimension, got {axis!r}")
        axes = tuple(check_axis(name, single, ndim) for single in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"{name} must not repeat a dimension, got {tuple(axis)!r}")
        return tuple(sorted(axes))
    return (check_axis(name, axis, ndim),)


def check_bool(name: str, value: Any) -> None:
    """Raise TypeError unless ``value`` is a Python bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def check_same_shape(name: str, array: Any, other_name: str, other: Any) -> None:
    """Raise ValueError unless both arrays have the same shape (no silent broadcasting)."""
    if tuple(array.shape) != tuple(other.shape):
        raise ValueError(
            f"{name} must have the same shape as {other_name} {tuple(other.shape)}, "
            f"got {tuple(array.shape)}"
        )


def check_broadcastable(name: str, array: Any, target_shape: Sequence[int]) -> None:
    """Raise ValueError unless ``array`` broadcasts to ``target_shape``."""
    try:
        broadcast = np.broadcast_shapes(tuple(array.shape), tuple(target_shape))
    except ValueError:
        broadcast = None
    if broadcast == tuple(target_shape):
        return
    raise ValueError(
        f"{name} of shape {tuple(array.shape)} does not broadcast to {tuple(target_shape)}"
    )


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values (not a tracer under jit/grad/vmap), so value checks can run."""
    return not isinstance(x, jax.core.Tracer)


def scalar_hyperparameter(name: str, value: Any) -> Any:
    """A hyperparameter that may come as a 0-d array (``optax.inject_hyperparams`` passes every
    numeric hyperparameter, defaults included, as a jnp array: concrete in ``init``, traced inside
    a jitted ``update``).

    A concrete 0-d real array is returned as the Python number it holds (``float`` or ``int``, by
    its dtype), so the caller validates it, and computes with it, exactly as that number. A traced
    0-d real array is returned as it is: its value cannot be checked, only its shape and dtype. An
    array of another shape, or of a bool or complex dtype, is a TypeError naming the argument.
    Anything else (a Python number, a schedule, a string) is returned unchanged for the caller's
    own checks.
    """
    if not isinstance(value, jax.Array | np.ndarray):
        return value
    dtype = value.dtype
    if np.ndim(value) != 0:
        raise TypeError(
            f"{name} must be a real number or a 0-d array, got an array of shape "
            f"{tuple(np.shape(value))}"
        )
    if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real number or a 0-d real array, got dtype {dtype}")
    if not is_concrete(value):
        return value
    return int(value) if jnp.issubdtype(dtype, jnp.integer) else float(value)
