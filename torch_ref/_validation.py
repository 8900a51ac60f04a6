"""Argument validation shared by every torch_ref module (private); the twin of jaxmath._validation.

Same checks, same messages: the parity suite asserts that both packages reject the same bad input
with the same exception type and message. torch tensors are always concrete, so the value checks that
jaxmath skips under jit always run here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import torch

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
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if low is not None and (value < low or (not low_inclusive and value == low)):
        bound = f">= {low}" if low_inclusive else f"> {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    if value != value:
        raise ValueError(f"{name} must not be NaN, got {value!r}")


def _as_tensor(name: str, x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}: {error}") from None


def as_float_tensor(name: str, x: Any) -> torch.Tensor:
    """Return ``x`` as a tensor, raising TypeError unless its dtype is floating point."""
    tensor = _as_tensor(name, x)
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be a floating-point array, got dtype {_dtype_name(tensor)}")
    return tensor


def as_int_tensor(name: str, x: Any) -> torch.Tensor:
    """Return ``x`` as a tensor, raising TypeError unless its dtype is integer."""
    tensor = _as_tensor(name, x)
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(
            f"{name} must be an integer array of class indices, got dtype {_dtype_name(tensor)}"
        )
    return tensor


def _dtype_name(tensor: torch.Tensor) -> str:
    """'float32' rather than 'torch.float32', so messages read the same as jaxmath's."""
    return str(tensor.dtype).removeprefix("torch.")


def check_axis(name: str, axis: Any, ndim: int) -> int:
    """Return ``axis`` normalised to [0, ndim), raising unless it is an int in [-ndim, ndim)."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{name} must be an int, got {axis!r}")
    lowest, highest = -max(ndim, 1), max(ndim, 1) - 1
    if not lowest <= axis <= highest:
        raise ValueError(
            f"{name} must be in [{lowest}, {highest}] for a {ndim}-d input, got {axis}"
        )
    return axis % max(ndim, 1)


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


def check_same_shape(name: str, tensor: Any, other_name: str, other: Any) -> None:
    """Raise ValueError unless both tensors have the same shape (no silent broadcasting)."""
    if tuple(tensor.shape) != tuple(other.shape):
        raise ValueError(
            f"{name} must have the same shape as {other_name} {tuple(other.shape)}, "
            f"got {tuple(tensor.shape)}"
        )


def check_broadcastable(name: str, tensor: Any, target_shape: Sequence[int]) -> None:
    """Raise ValueError unless ``tensor`` broadcasts to ``target_shape``."""
    try:
        broadcast = tuple(torch.broadcast_shapes(tuple(tensor.shape), tuple(target_shape)))
    except RuntimeError:
        broadcast = None
    if broadcast == tuple(target_shape):
        return
    raise ValueError(
        f"{name} of shape {tuple(tensor.shape)} does not broadcast to {tuple(target_shape)}"
    )


def is_concrete(tensor: torch.Tensor) -> bool:
    """False inside a ``torch.func`` transform (vmap, grad), where a value check would need
    ``.item()`` on a batched tensor: as jaxmath skips value checks under jit, torch_ref skips them
    there (eager calls are checked)."""
    return not torch._C._functorch.is_functorch_wrapped_tensor(tensor)
