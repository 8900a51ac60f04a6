"""Numerical gradients by central differences, and a gradient checker: twin of jaxmath.gradcheck.

The perturbations are evaluated in vectorised chunks with ``torch.func.vmap``, so ``f`` must be
written with vmap-compatible torch ops (all of torch_ref is). See jaxmath.gradcheck for the math, the
default steps and the pass tolerances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from torch_ref._tree import ravel_tree, tree_leaves
from torch_ref._validation import check_scalar_in_range

__all__ = ["GradientCheck", "check_gradients", "default_eps", "numerical_gradient"]

CHUNK_ELEMENTS = 1 << 22

GRADCHECK_TOLERANCES = {
    torch.float64: (1e-6, 1e-9),
    torch.float32: (1e-2, 1e-3),
}


class GradientCheck(NamedTuple):
    """Result of :func:`check_gradients`."""

    max_relative_error: float
    max_absolute_error: float
    passed: bool
    rtol: float
    atol: float


def default_eps(dtype: Any) -> float:
    """The central-difference step for ``dtype``: the cube root of its machine epsilon."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"dtype must be a floating-point dtype, got {str(dtype).removeprefix('torch.')}"
        )
    return float(torch.finfo(dtype).eps) ** (1.0 / 3.0)


def _flat_input(x: Any) -> tuple[torch.Tensor, Callable[[torch.Tensor], Any]]:
    leaves = tree_leaves(x)
    if not leaves:
        raise ValueError("x must contain at least one array, got an empty pytree")
    for leaf in leaves:
        if not isinstance(leaf, torch.Tensor) or not leaf.is_floating_point():
            dtype = str(getattr(leaf, "dtype", type(leaf).__name__)).removeprefix("torch.")
            raise TypeError(f"x must hold floating-point arrays only, got dtype {dtype}")
    flat, unravel = ravel_tree(x)
    return flat.detach(), unravel


def _least_precise_dtype(x: Any) -> torch.dtype:
    """The floating dtype of x's leaves with the largest machine epsilon (x's dtype if uniform)."""
    return max({leaf.dtype for leaf in tree_leaves(x)}, key=lambda dtype: torch.finfo(dtype).eps)


def _entry_steps(x: Any, eps: float | None, flat: torch.Tensor) -> torch.Tensor:
    """One step per entry of the flattened x: ``eps``, or the default of the entry's own dtype."""
    return torch.cat(
        [
            torch.full(
                (leaf.numel(),),
                default_eps(leaf.dtype) if eps is None else eps,
                dtype=flat.dtype,
                device=flat.device,
            )
            for leaf in tree_leaves(x)
        ]
    )


def _as_received(vectors: torch.Tensor, x: Any) -> torch.Tensor:
    """Rows of flattened x with each entry rounded to its own leaf's dtype, as ``f`` receives it."""
    leaves = tree_leaves(x)
    pieces = torch.split(vectors, [leaf.numel() for leaf in leaves], dim=-1)
    return torch.cat(
        [
            piece.to(leaf.dtype).to(vectors.dtype)
            for piece, leaf in zip(pieces, leaves, strict=True)
        ],
        dim=-1,
    )


def numerical_gradient(f: Callable[[Any], torch.Tensor], x: Any, eps: float | None = None) -> Any:
    r"""Central-difference gradient of scalar ``f`` at ``x`` (a tensor or pytree of tensors); the
    default step is :func:`default_eps` of each tensor's own dtype."""
    flat, unravel = _flat_input(x)
    if eps is not None:
        check_scalar_in_range("eps", eps, 0.0, low_inclusive=False)
    with torch.no_grad():
        out = f(unravel(flat))
        if not isinstance(out, torch.Tensor) or out.shape != ():
            raise ValueError(
                f"f must return a scalar, got output of shape {tuple(getattr(out, 'shape', ()))}"
                if isinstance(out, torch.Tensor)
                else f"f must return a scalar, got {type(out).__name__}"
            )
        size = flat.numel()
        if size == 0:  # nothing to perturb
            return unravel(torch.zeros_like(flat))
        chunk = max(1, min(size, CHUNK_ELEMENTS // max(size, 1)))
        entry_steps = _entry_steps(x, eps, flat)
        batched_f = torch.func.vmap(lambda vector: f(unravel(vector)))
        pieces = []
        for start in range(0, size, chunk):
            indices = torch.arange(start, min(start + chunk, size), device=flat.device)
            steps = torch.zeros(len(indices), size, dtype=flat.dtype, device=flat.device)
            steps[torch.arange(len(indices)), indices] = entry_steps[indices]
            upper, lower = _as_received(flat + steps, x), _as_received(flat - steps, x)
            taken = (
                upper[torch.arange(len(indices)), indices]
                - lower[torch.arange(len(indices)), indices]
            )
            pieces.append((batched_f(upper) - batched_f(lower)) / taken)
        return unravel(torch.cat(pieces))


def check_gradients(
    f: Callable[[Any], torch.Tensor],
    x: Any,
    grad: Callable[[Any], Any] | None = None,
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> GradientCheck:
    """Compare an analytic gradient (default: torch.autograd) with :func:`numerical_gradient`."""
    analytic = _autograd(f, x) if grad is None else grad(x)
    numerical = numerical_gradient(f, x, eps=eps)
    analytic_flat = ravel_tree(analytic)[0].detach()
    numerical_flat = ravel_tree(numerical)[0]
    if analytic_flat.shape != numerical_flat.shape:
        raise ValueError(
            f"grad must return the structure of x ({numerical_flat.numel()} elements), "
            f"got {analytic_flat.numel()} elements"
        )
    default_rtol, default_atol = GRADCHECK_TOLERANCES.get(
        _least_precise_dtype(numerical), GRADCHECK_TOLERANCES[torch.float32]
    )
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    check_scalar_in_range("rtol", rtol, 0.0)
    check_scalar_in_range("atol", atol, 0.0)
    difference = torch.abs(analytic_flat - numerical_flat)
    scale = torch.maximum(torch.abs(analytic_flat), torch.abs(numerical_flat))
    relative = torch.where(scale > 0, difference / torch.where(scale > 0, scale, 1.0), 0.0)
    passed = bool(torch.all(difference <= atol + rtol * torch.abs(numerical_flat)))
    return GradientCheck(
        # a zero-size x has nothing to disagree on: errors 0 (the max of nothing raised here)
        max_relative_error=float(relative.max()) if relative.numel() else 0.0,
        max_absolute_error=float(difference.max()) if difference.numel() else 0.0,
        passed=passed,
        rtol=float(rtol),
        atol=float(atol),
    )


def _autograd(f: Callable[[Any], torch.Tensor], x: Any) -> Any:
    flat, unravel = _flat_input(x)
    flat = flat.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(f(unravel(flat)), flat)
    return unravel(gradient)
