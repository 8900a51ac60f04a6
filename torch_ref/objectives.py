r"""Test functions for optimizers on torch tensors: the twin of jaxmath.objectives (same names,
parameters, formulas, minima and messages). x of shape (..., d) -> f of shape (...).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from torch_ref._validation import as_float_tensor, check_scalar_in_range

__all__ = [
    "beale",
    "booth",
    "himmelblau",
    "ill_conditioned_quadratic",
    "rastrigin",
    "rosenbrock",
    "saddle",
]

#: Known minima for the default parameters: name -> ((point, value), ...), Python floats.
MINIMA: dict[str, tuple[tuple[tuple[float, ...], float], ...]] = {
    "rosenbrock": (((1.0, 1.0), 0.0),),
    "beale": (((3.0, 0.5), 0.0),),
    "himmelblau": (
        ((3.0, 2.0), 0.0),
        ((-2.805118086952745, 3.131312518250573), 0.0),
        ((-3.779310253377747, -3.283185991286170), 0.0),
        ((3.584428340330492, -1.848126526964404), 0.0),
    ),
    "booth": (((1.0, 3.0), 0.0),),
    "rastrigin": (((0.0, 0.0), 0.0),),
    "ill_conditioned_quadratic": (((0.0, 0.0), 0.0),),
    "saddle": (((0.0, 1.0), -0.25), ((0.0, -1.0), -0.25)),
}


def _points(x: Any, dims: int | None = None, minimum: int = 1) -> torch.Tensor:
    """``x`` as a float array of shape (..., d), d == dims (or d >= minimum)."""
    x = as_float_tensor("x", x)
    shape = tuple(x.shape)
    if x.ndim == 0:
        raise ValueError("x must have shape (..., d) with the coordinates last, got ()")
    if dims is not None and x.shape[-1] != dims:
        raise ValueError(f"x must have shape (..., {dims}), got {shape}")
    if x.shape[-1] < minimum:
        raise ValueError(
            f"x must have at least {minimum} coordinates on its last axis, got {shape}"
        )
    return x


def rosenbrock(x: torch.Tensor, a: float = 1.0, b: float = 100.0) -> torch.Tensor:
    r""":math:`f(x) = \sum_{i=1}^{d-1} b\,(x_{i+1} - x_i^2)^2 + (a - x_i)^2`, x (..., d), d >= 2.

    The banana valley: minimum 0 at :math:`(a, a^2)` for d = 2, at (1, ..., 1) for a = 1 (any d).
    Reference: ``scipy.optimize.rosen`` (a = 1, b = 100, coordinates on the first axis there).
    """
    x = _points(x, minimum=2)
    check_scalar_in_range("a", a)
    check_scalar_in_range("b", b)
    head, tail = x[..., :-1], x[..., 1:]
    return torch.sum(b * (tail - head * head) ** 2 + (a - head) ** 2, dim=-1)


def beale(x: torch.Tensor) -> torch.Tensor:
    r""":math:`(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2`, x (..., 2).

    Minimum 0 at (3, 0.5); flat valleys and steep walls (values ~1e5 at the corners of [-4.5, 4.5]²).
    """
    x = _points(x, 2)
    u, v = x[..., 0], x[..., 1]
    return (1.5 - u + u * v) ** 2 + (2.25 - u + u * v**2) ** 2 + (2.625 - u + u * v**3) ** 2


def himmelblau(x: torch.Tensor) -> torch.Tensor:
    r""":math:`(x^2 + y - 11)^2 + (x + y^2 - 7)^2`, x (..., 2): four minima of value 0, at (3, 2),
    (-2.805118, 3.131313), (-3.779310, -3.283186), (3.584428, -1.848127); a local maximum at
    (-0.270845, -0.923039)."""
    x = _points(x, 2)
    u, v = x[..., 0], x[..., 1]
    return (u * u + v - 11) ** 2 + (u + v * v - 7) ** 2


def booth(x: torch.Tensor) -> torch.Tensor:
    r""":math:`(x + 2y - 7)^2 + (2x + y - 5)^2`, x (..., 2): a convex quadratic (Hessian
    [[10, 8], [8, 10]], condition number 9), minimum 0 at (1, 3)."""
    x = _points(x, 2)
    u, v = x[..., 0], x[..., 1]
    return (u + 2 * v - 7) ** 2 + (2 * u + v - 5) ** 2


def rastrigin(x: torch.Tensor, A: float = 10.0) -> torch.Tensor:
    r""":math:`A d + \sum_i x_i^2 - A\cos(2\pi x_i)`, x (..., d): minimum 0 at the origin,
    surrounded by a lattice of local minima near the integers."""
    x = _points(x)
    check_scalar_in_range("A", A)
    return A * x.shape[-1] + torch.sum(x * x - A * torch.cos(2 * math.pi * x), dim=-1)


def ill_conditioned_quadratic(x: torch.Tensor, condition_number: float = 100.0) -> torch.Tensor:
    r""":math:`\tfrac12 \sum_i \lambda_i x_i^2` with :math:`\lambda_i = \kappa^{i/(d-1)}`
    (:math:`\lambda_0 = 1`, :math:`\lambda_{d-1} = \kappa`; 1 when d = 1), x (..., d): minimum 0 at
    the origin; gradient descent needs lr < 2/κ and ~κ steps, which is what momentum and adaptive
    methods improve on.

    Args:
        condition_number: :math:`\kappa` >= 1 (default: 100.0).
    """
    x = _points(x)
    check_scalar_in_range("condition_number", condition_number, 1.0)
    dims = x.shape[-1]
    exponents = torch.arange(dims, dtype=x.dtype) / max(dims - 1, 1)
    curvatures = torch.tensor(condition_number, dtype=x.dtype) ** exponents
    return 0.5 * torch.sum(curvatures * x * x, dim=-1)


def saddle(x: torch.Tensor) -> torch.Tensor:
    r""":math:`x^2 + y^4/4 - y^2/2`, x (..., 2): a saddle point at the origin (value 0, gradient 0,
    Hessian diag(2, -1)), minima -1/4 at (0, ±1). Gradient descent started on the line y = 0 stays
    on it and stalls at the saddle; any y ≠ 0 escapes, slowly near it."""
    x = _points(x, 2)
    u, v = x[..., 0], x[..., 1]
    return u * u + v**4 / 4 - v * v / 2
