r"""Numerical gradients by central differences, and a gradient checker built on them.

``numerical_gradient`` perturbs one coordinate at a time, but evaluates the perturbations in vectorised
chunks (``jax.lax.map`` with a batch size, i.e. ``vmap`` over a bounded number of one-hot steps), so
memory stays at ``chunk_size * size(x)`` elements whatever the size of ``x``.

Default step sizes, by dtype: :math:`h = \epsilon_{\text{mach}}^{1/3}`, which balances the
:math:`O(h^2)` truncation error of central differences against the :math:`O(\epsilon/h)` rounding
error: about 6.1e-6 for float64, 4.9e-3 for float32, 1.6e-1 for bfloat16 (useless: check in float64).

torch_ref.gradcheck is the same module in torch (``torch.func.vmap`` over chunks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxmath._validation import check_scalar_in_range

__all__ = ["GradientCheck", "check_gradients", "default_eps", "numerical_gradient"]

CHUNK_ELEMENTS = 1 << 22  # at most this many elements of perturbed inputs alive at once

#: (rtol, atol) at which check_gradients passes, by dtype of x: the analytic gradient g and the
#: numerical one n agree when |g - n| <= atol + rtol * |n| elementwise.
GRADCHECK_TOLERANCES = {
    np.dtype("float64"): (1e-6, 1e-9),
    np.dtype("float32"): (1e-2, 1e-3),
}


class GradientCheck(NamedTuple):
    """Result of :func:`check_gradients`."""

    max_relative_error: float  # max |g - n| / max(|g|, |n|) over entries not both 0
    max_absolute_error: float  # max |g - n|
    passed: bool  # |g - n| <= atol + rtol * |n| everywhere
    rtol: float
    atol: float


def default_eps(dtype: Any) -> float:
    """The central-difference step for ``dtype``: the cube root of its machine epsilon."""
    dtype = np.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    return float(np.cbrt(jnp.finfo(dtype).eps))


def _flat_input(x: Any) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    leaves = jax.tree.leaves(x)
    if not leaves:
        raise ValueError("x must contain at least one array, got an empty pytree")
    for leaf in leaves:
        dtype = jnp.asarray(leaf).dtype
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"x must hold floating-point arrays only, got dtype {dtype}")
    return ravel_pytree(jax.tree.map(jnp.asarray, x))


def _check_scalar_output(f: Callable[[Any], jax.Array], x: Any) -> None:
    out = jax.eval_shape(f, x)
    shape = getattr(out, "shape", None)
    if shape != ():
        raise ValueError(f"f must return a scalar, got output of shape {shape}")


def _least_precise_dtype(x: Any) -> np.dtype:
    """The floating dtype of x's leaves with the largest machine epsilon (x's dtype if uniform)."""
    dtypes = {np.dtype(jnp.result_type(leaf)) for leaf in jax.tree.leaves(x)}
    return max(dtypes, key=lambda dtype: float(jnp.finfo(dtype).eps))


def _entry_steps(x: Any, eps: float | None, dtype: np.dtype) -> jax.Array:
    """One step per entry of the flattened x: ``eps``, or the default of the entry's own dtype."""
    return jnp.concatenate(
        [
            jnp.full((jnp.size(leaf),), default_eps(jnp.result_type(leaf)) if eps is None else eps)
            for leaf in jax.tree.leaves(x)
        ]
    ).astype(dtype)


@functools.partial(jax.jit, static_argnames=("eps", "chunk"))
def _central_differences(f: jax.tree_util.Partial, x: Any, eps: float | None, chunk: int) -> Any:
    """The central-difference gradient, compiled once per ``f``, step, chunk and shapes of ``x``.

    ``f`` is a ``jax.tree_util.Partial``: its function is part of jit's cache key (by identity),
    its bound arrays are traced arguments, so new data for the same function reuses the compiled
    code. In a pytree of mixed precisions the flat vector is the widest dtype: each perturbed
    entry is rounded to its own leaf's dtype (as ``f`` receives it) before the step taken is read.
    """
    _check_scalar_output(f, x)  # at trace time only: once per compiled shape
    flat, unravel = ravel_pytree(x)
    steps = _entry_steps(x, eps, flat.dtype)

    def as_received(vector: jax.Array) -> jax.Array:
        return ravel_pytree(unravel(vector))[0]

    def partial_derivative(index: jax.Array) -> jax.Array:
        step = jnp.zeros_like(flat).at[index].set(steps[index])
        upper, lower = as_received(flat + step), as_received(flat - step)
        taken = upper[index] - lower[index]
        return (f(unravel(upper)) - f(unravel(lower))) / taken

    gradient = jax.lax.map(partial_derivative, jnp.arange(flat.size), batch_size=chunk)
    return unravel(gradient.astype(flat.dtype))


def numerical_gradient(f: Callable[[Any], jax.Array], x: Any, eps: float | None = None) -> Any:
    r"""Central-difference gradient of a scalar function ``f`` at ``x``.

    .. math:: \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}
              {(x_i + h) - (x_i - h)}

    The denominator is the step actually taken after rounding, which removes most of the
    representation error of :math:`x_i \pm h` in float32.

    The whole evaluation is one ``jax.jit``-compiled function, cached (by jit) per ``f``, step and
    shapes of ``x``: calling again with the same ``f`` and shapes reuses it, where the old eager
    version recompiled on every call (~0.7-1 s). Define ``f`` once rather than as a new lambda per
    call; for a function of data that changes between calls, pass
    ``jax.tree_util.Partial(function, *data)`` (``f(x) = function(*data, x)``): the data are traced,
    so new values of the same shapes reuse the compiled code too.

    Args:
        f: a JAX-traceable function of ``x`` returning a scalar.
        x: an array or any pytree of floating-point arrays.
        eps: the step :math:`h` (default: :func:`default_eps` of each array's own dtype, so a
            pytree mixing float32 and float64 gets each its step); must be > 0.

    Returns:
        A pytree with the structure, shapes and dtypes of ``x``.
    """
    flat, _ = _flat_input(x)
    if eps is not None:
        check_scalar_in_range("eps", eps, 0.0, low_inclusive=False)
        eps = float(eps)
    size = flat.size
    if size == 0:  # nothing to perturb: the gradient of a zero-size input is zero-size
        return jax.tree.map(jnp.zeros_like, x)
    chunk = max(1, min(size, CHUNK_ELEMENTS // max(size, 1)))
    if not isinstance(f, jax.tree_util.Partial):
        f = jax.tree_util.Partial(f)
    return _central_differences(f, jax.tree.map(jnp.asarray, x), eps=eps, chunk=chunk)


def check_gradients(
    f: Callable[[Any], jax.Array],
    x: Any,
    grad: Callable[[Any], Any] | None = None,
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> GradientCheck:
    """Compare an analytic gradient of ``f`` at ``x`` with :func:`numerical_gradient`.

    Args:
        f: a JAX-traceable scalar function of ``x`` (an array or pytree of float arrays).
        x: where to check.
        grad: a function returning the analytic gradient at ``x`` with x's structure (default:
            ``jax.grad(f)``); pass your hand-written backward here.
        eps: the finite-difference step (default: by dtype, see :func:`default_eps`).
        rtol, atol: pass tolerances (default: ``GRADCHECK_TOLERANCES`` by x's least precise dtype:
            float64 (1e-6, 1e-9), float32 (1e-2, 1e-3)). Checking in float64 is the meaningful test;
            float32 central differences carry errors near 1e-4 relative. Each must be >= 0. A
            zero-size ``x`` passes with errors 0.

    Returns:
        A :class:`GradientCheck` with the max relative and absolute errors and ``passed``.
    """
    analytic = (jax.grad(f) if grad is None else grad)(x)
    numerical = numerical_gradient(f, x, eps=eps)
    analytic_flat, _ = ravel_pytree(analytic)
    numerical_flat, _ = ravel_pytree(numerical)
    if analytic_flat.shape != numerical_flat.shape:
        raise ValueError(
            f"grad must return the structure of x ({numerical_flat.size} elements), "
            f"got {analytic_flat.size} elements"
        )
    default_rtol, default_atol = GRADCHECK_TOLERANCES.get(
        _least_precise_dtype(numerical), GRADCHECK_TOLERANCES[np.dtype("float32")]
    )
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    check_scalar_in_range("rtol", rtol, 0.0)
    check_scalar_in_range("atol", atol, 0.0)
    difference = jnp.abs(analytic_flat - numerical_flat)
    scale = jnp.maximum(jnp.abs(analytic_flat), jnp.abs(numerical_flat))
    relative = jnp.where(scale > 0, difference / jnp.where(scale > 0, scale, 1.0), 0.0)
    passed = bool(jnp.all(difference <= atol + rtol * jnp.abs(numerical_flat)))
    return GradientCheck(
        # a zero-size x has nothing to disagree on: errors 0 (the max of nothing raised here)
        max_relative_error=float(jnp.max(relative)) if relative.size else 0.0,
        max_absolute_error=float(jnp.max(difference)) if difference.size else 0.0,
        passed=passed,
        rtol=float(rtol),
        atol=float(atol),
    )
