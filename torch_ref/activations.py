"""Activation functions and the softmax family in torch tensor ops: the twin of jaxmath.activations.

Written out from the formulas (the torch.nn.functional function each mirrors is the upstream reference
it is tested against, so it is not called here). See jaxmath.activations for the math and conventions;
``axis`` keeps jaxmath's name where torch says ``dim``.
"""

from __future__ import annotations

import math

import torch

from torch_ref._validation import (
    as_float_tensor,
    check_axes,
    check_axis,
    check_bool,
    check_option,
    check_scalar_in_range,
)

__all__ = [
    "gelu",
    "leaky_relu",
    "log_softmax",
    "logsumexp",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]

GELU_APPROXIMATIONS = ("none", "tanh")


def _negative_abs(x: torch.Tensor) -> torch.Tensor:
    """-|x| with derivative 0 at x = 0 (ties in torch.minimum split the gradient)."""
    return torch.minimum(x, -x)


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    r"""Logistic sigmoid :math:`1 / (1 + e^{-x})`, each branch fed only its half (never overflows)."""
    x = as_float_tensor("x", x)
    positive = x >= 0
    zero = torch.zeros_like(x)
    exp_neg_positive_part = torch.exp(-torch.where(positive, x, zero))
    exp_negative_part = torch.exp(torch.where(positive, zero, x))
    return torch.where(
        positive,
        1.0 / (1.0 + exp_neg_positive_part),
        exp_negative_part / (1.0 + exp_negative_part),
    )


def relu(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\max(x, 0)` with derivative 0 at 0."""
    x = as_float_tensor("x", x)
    return torch.where(x <= 0, torch.zeros_like(x), x)  # NaN passes through, as torch.relu


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    r""":math:`x` for :math:`x > 0`, else ``negative_slope * x``."""
    x = as_float_tensor("x", x)
    check_scalar_in_range("negative_slope", negative_slope)
    return torch.where(x > 0, x, x * negative_slope)


def tanh(x: torch.Tensor) -> torch.Tensor:
    r"""Hyperbolic tangent (the primitive)."""
    x = as_float_tensor("x", x)
    return torch.tanh(x)


def silu(x: torch.Tensor) -> torch.Tensor:
    r""":math:`x \, \sigma(x)`."""
    x = as_float_tensor("x", x)
    return x * sigmoid(x)


def softplus(x: torch.Tensor, beta: float = 1.0, threshold: float = 20.0) -> torch.Tensor:
    r""":math:`\frac{1}{\beta}\log(1 + e^{\beta x})`, the identity where ``beta * x > threshold``."""
    x = as_float_tensor("x", x)
    check_scalar_in_range("beta", beta, 0.0, low_inclusive=False)
    check_scalar_in_range("threshold", threshold)
    scaled = x * beta
    smooth = (
        torch.log1p(torch.exp(_negative_abs(scaled))) + torch.maximum(scaled, torch.zeros_like(x))
    ) / beta
    return torch.where(scaled > threshold, x, smooth)


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    r""":math:`\tfrac{x}{2}\operatorname{erfc}(-x/\sqrt2)` (``'none'``) or :math:`x\,\sigma(2u)`
    (``'tanh'``): accurate in the negative tail, where torch's own F.gelu cancels."""
    x = as_float_tensor("x", x)
    check_option("approximate", approximate, GELU_APPROXIMATIONS)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return x * sigmoid(2.0 * inner)
    return 0.5 * x * torch.special.erfc(-x / math.sqrt(2.0))


def _shifted(
    x: torch.Tensor, axes: tuple[int, ...], zero_infinite_max: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x - m, m) with m the (detached) max over ``axes``, 0 where the axis is empty (torch.amax
    refuses an empty dimension) and, with ``zero_infinite_max`` (logsumexp), where it is not finite;
    softmax and log_softmax subtract an infinite max as torch's kernels do (NaN throughout)."""
    kept_shape = tuple(1 if axis in axes else size for axis, size in enumerate(x.shape))
    if any(x.shape[axis] == 0 for axis in axes):
        return x, torch.zeros(kept_shape, dtype=x.dtype)
    maximum = torch.amax(x, dim=axes, keepdim=True).detach()
    if zero_infinite_max:
        maximum = torch.where(torch.isfinite(maximum), maximum, torch.zeros_like(maximum))
    return x - maximum, maximum


def _as_vector_if_scalar(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(1) if x.ndim == 0 else x


def logsumexp(
    x: torch.Tensor, axis: int | tuple[int, ...] | None = -1, keepdims: bool = False
) -> torch.Tensor:
    r""":math:`m + \log\sum_i e^{x_i - m}` over ``axis`` (int, tuple or None: all axes)."""
    x = as_float_tensor("x", x)
    axes = check_axes("axis", axis, x.ndim)
    check_bool("keepdims", keepdims)
    if x.ndim == 0:
        return logsumexp(x.reshape(1), 0).reshape(())
    shifted, maximum = _shifted(x, axes)
    total = torch.log(torch.sum(torch.exp(shifted), dim=axes, keepdim=True)) + maximum
    return total if keepdims else torch.squeeze(total, dim=axes)


def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r""":math:`e^{x_i - m} / \sum_j e^{x_j - m}` along ``axis`` (1 for a 0-d x)."""
    x = as_float_tensor("x", x)
    axes = (check_axis("axis", axis, x.ndim),)
    exponentials = torch.exp(_shifted(_as_vector_if_scalar(x), axes, zero_infinite_max=False)[0])
    probabilities = exponentials / torch.sum(exponentials, dim=axes, keepdim=True)
    return probabilities.reshape(x.shape)


def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r""":math:`(x - m) - \log\sum_j e^{x_j - m}` along ``axis`` (0 for a 0-d x)."""
    x = as_float_tensor("x", x)
    axes = (check_axis("axis", axis, x.ndim),)
    shifted = _shifted(_as_vector_if_scalar(x), axes, zero_infinite_max=False)[0]
    log_probs = shifted - torch.log(torch.sum(torch.exp(shifted), dim=axes, keepdim=True))
    return log_probs.reshape(x.shape)
