"""Activation functions and the softmax family in torch tensor ops: the twin of jaxmath.activations.

Written out from the formulas (the torch.nn.functional function each mirrors is the upstream reference
it is tested against, so it is not called here). See jaxmath.activations for the math and conventions;
``axis`` keeps jaxmath's name where torch says ``dim``.
"""

from __future__ import annotations

import math

import torch

from torch_ref._validation import as_float_tensor, check_axis, check_option, check_scalar_in_range

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
    return torch.where(x > 0, x, torch.zeros_like(x))


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
    r""":math:`x\,\Phi(x)` (``'none'``) or its tanh approximation (``'tanh'``)."""
    x = as_float_tensor("x", x)
    check_option("approximate", approximate, GELU_APPROXIMATIONS)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return 0.5 * x * (1.0 + torch.tanh(inner))
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _shifted(x: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x - m, m) with m the (detached) max along ``axis``, 0 where it is not finite."""
    maximum = torch.amax(x, dim=axis, keepdim=True).detach()
    maximum = torch.where(torch.isfinite(maximum), maximum, torch.zeros_like(maximum))
    return x - maximum, maximum


def _validated_axis(x: torch.Tensor, axis: int) -> tuple[torch.Tensor, int]:
    x = as_float_tensor("x", x)
    if x.ndim == 0:
        raise ValueError(
            f"x must have at least 1 dimension for a reduction over axis, got shape {tuple(x.shape)}"
        )
    return x, check_axis("axis", axis, x.ndim)


def logsumexp(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r""":math:`m + \log\sum_i e^{x_i - m}` along ``axis`` (which the result drops)."""
    x, axis = _validated_axis(x, axis)
    shifted, maximum = _shifted(x, axis)
    total = torch.log(torch.sum(torch.exp(shifted), dim=axis, keepdim=True)) + maximum
    return torch.squeeze(total, dim=axis)


def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r""":math:`e^{x_i - m} / \sum_j e^{x_j - m}` along ``axis``."""
    x, axis = _validated_axis(x, axis)
    exponentials = torch.exp(_shifted(x, axis)[0])
    return exponentials / torch.sum(exponentials, dim=axis, keepdim=True)


def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    r""":math:`(x - m) - \log\sum_j e^{x_j - m}` along ``axis``."""
    x, axis = _validated_axis(x, axis)
    shifted = _shifted(x, axis)[0]
    return shifted - torch.log(torch.sum(torch.exp(shifted), dim=axis, keepdim=True))
