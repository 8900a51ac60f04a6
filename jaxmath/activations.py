"""Activation functions and the softmax family, written out from their formulas.

Every function is elementwise unless it takes ``axis``; shapes: ``x: (...)`` in, the same shape out
(``logsumexp`` drops ``axis``). Each matches the torch function named in its docstring, value and
gradient, including the subgradient torch picks at kinks (``relu'(0) = 0``), and stays finite at
``|x| = 1e4`` in float32. Ties in ``maximum``/``minimum`` split the gradient in both JAX and torch;
the formulas below rely on that (``-|x|`` is written ``minimum(x, -x)`` because ``jnp.abs`` and
``torch.abs`` disagree at 0).

torch_ref.activations is the same module written with torch tensor ops.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxmath._validation import as_float_array, check_axis, check_option, check_scalar_in_range

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


def _negative_abs(x: jax.Array) -> jax.Array:
    """-|x| with derivative 0 at x = 0 (torch.abs' convention; jnp.abs has 1 there)."""
    return jnp.minimum(x, -x)


def sigmoid(x: jax.Array) -> jax.Array:
    r"""Logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`.

    Evaluated as :math:`1/(1+e^{-x})` for :math:`x \ge 0` and :math:`e^{x}/(1+e^{x})` for
    :math:`x < 0`, each branch fed only its own half of the inputs (the other half sees 0), so no
    exponential overflows, both branches have finite gradients, and :math:`\sigma'(0) = 1/4`.

    Reference: ``torch.sigmoid``, ``scipy.special.expit``.
    """
    x = as_float_array("x", x)
    positive = x >= 0
    exp_neg_positive_part = jnp.exp(-jnp.where(positive, x, 0.0))
    exp_negative_part = jnp.exp(jnp.where(positive, 0.0, x))
    return jnp.where(
        positive,
        1.0 / (1.0 + exp_neg_positive_part),
        exp_negative_part / (1.0 + exp_negative_part),
    )


def relu(x: jax.Array) -> jax.Array:
    r"""Rectified linear unit :math:`\max(x, 0)`, with derivative 0 at x = 0 as in ``torch.relu``."""
    x = as_float_array("x", x)
    return jnp.where(x > 0, x, jnp.zeros_like(x))


def leaky_relu(x: jax.Array, negative_slope: float = 0.01) -> jax.Array:
    r"""Leaky ReLU: :math:`x` for :math:`x > 0`, else ``negative_slope`` :math:`\cdot x`.

    The derivative at 0 is ``negative_slope``, as in ``torch.nn.functional.leaky_relu``.
    """
    x = as_float_array("x", x)
    check_scalar_in_range("negative_slope", negative_slope)
    return jnp.where(x > 0, x, x * negative_slope)


def tanh(x: jax.Array) -> jax.Array:
    r"""Hyperbolic tangent :math:`(e^x - e^{-x}) / (e^x + e^{-x})` (the primitive; ``torch.tanh``)."""
    x = as_float_array("x", x)
    return jnp.tanh(x)


def silu(x: jax.Array) -> jax.Array:
    r"""SiLU / swish: :math:`x \, \sigma(x)` (``torch.nn.functional.silu``)."""
    x = as_float_array("x", x)
    return x * sigmoid(x)


def softplus(x: jax.Array, beta: float = 1.0, threshold: float = 20.0) -> jax.Array:
    r"""Softplus :math:`\frac{1}{\beta}\log(1 + e^{\beta x})`, linear where :math:`\beta x` > threshold.

    As ``torch.nn.functional.softplus``: returns ``x`` itself where ``beta * x > threshold``. Below the
    threshold it is evaluated as :math:`(\log(1 + e^{-|\beta x|}) + \max(\beta x, 0)) / \beta`, which
    equals torch's ``log1p(exp(beta * x)) / beta`` where that is finite and stays finite where it
    overflows (only possible if ``threshold`` is raised above ~88 in float32).

    Args:
        x: any shape, floating point.
        beta: the sharpness :math:`\beta` (default: 1.0); must be > 0.
        threshold: above ``beta * x > threshold`` the function is the identity (default: 20.0).
    """
    x = as_float_array("x", x)
    check_scalar_in_range("beta", beta, 0.0, low_inclusive=False)
    check_scalar_in_range("threshold", threshold)
    scaled = x * beta
    smooth = (jnp.log1p(jnp.exp(_negative_abs(scaled))) + jnp.maximum(scaled, 0.0)) / beta
    return jnp.where(scaled > threshold, x, smooth)


def gelu(x: jax.Array, approximate: str = "none") -> jax.Array:
    r"""Gaussian error linear unit (Hendrycks & Gimpel, 2016), ``torch.nn.functional.gelu``.

    - ``approximate='none'``: :math:`x \, \Phi(x) = \tfrac{x}{2}(1 + \operatorname{erf}(x/\sqrt{2}))`.
    - ``approximate='tanh'``: :math:`\tfrac{x}{2}(1 + \tanh(\sqrt{2/\pi}(x + 0.044715 x^3)))`.

    Note ``jax.nn.gelu`` defaults to the tanh form (``approximate=True``); we follow torch's default,
    the exact form.
    """
    x = as_float_array("x", x)
    check_option("approximate", approximate, GELU_APPROXIMATIONS)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return 0.5 * x * (1.0 + jnp.tanh(inner))
    return 0.5 * x * (1.0 + jax.lax.erf(x / math.sqrt(2.0)))


def _shifted(x: jax.Array, axis: int) -> tuple[jax.Array, jax.Array]:
    """Return (x - m, m) with m the max along ``axis`` (kept), replaced by 0 where it is not finite.

    The shift changes no value of the softmax family and keeps ``exp`` from overflowing; it is a
    constant for differentiation. Replacing an infinite max by 0 keeps an all ``-inf`` slice at
    ``logsumexp = -inf`` instead of ``-inf - (-inf) = nan``, as torch.logsumexp does.
    """
    maximum = jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    maximum = jnp.where(jnp.isfinite(maximum), maximum, jnp.zeros_like(maximum))
    return x - maximum, maximum


def _validated_axis(x: jax.Array, axis: int) -> tuple[jax.Array, int]:
    x = as_float_array("x", x)
    if x.ndim == 0:
        raise ValueError(
            f"x must have at least 1 dimension for a reduction over axis, got shape {x.shape}"
        )
    return x, check_axis("axis", axis, x.ndim)


def logsumexp(x: jax.Array, axis: int = -1) -> jax.Array:
    r""":math:`\log \sum_i e^{x_i}` along ``axis``, computed as :math:`m + \log\sum_i e^{x_i - m}`.

    Shapes: ``x: (...)`` with at least one dimension; the result drops ``axis``. Finite for
    ``|x| = 1e4`` in float32; ``-inf`` for an all ``-inf`` slice and ``+inf`` if any entry is ``+inf``
    (as ``torch.logsumexp`` and ``scipy.special.logsumexp``).
    """
    x, axis = _validated_axis(x, axis)
    shifted, maximum = _shifted(x, axis)
    total = jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True)) + maximum
    return jnp.squeeze(total, axis=axis)


def softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    r"""Softmax :math:`e^{x_i} / \sum_j e^{x_j}` along ``axis`` (``torch.softmax(x, dim=axis)``).

    Shapes: ``x: (...)`` with at least one dimension, the result the same shape. Evaluated on
    :math:`x - \max x`, so logits of 1e4 give exact probabilities rather than ``inf / inf``.
    """
    x, axis = _validated_axis(x, axis)
    exponentials = jnp.exp(_shifted(x, axis)[0])
    return exponentials / jnp.sum(exponentials, axis=axis, keepdims=True)


def log_softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    r"""Log-softmax :math:`x_i - \log\sum_j e^{x_j}` along ``axis`` (``torch.log_softmax``).

    Shapes as :func:`softmax`. Computed as :math:`(x - m) - \log\sum_j e^{x_j - m}`, never as
    ``log(softmax(x))``, which gives ``-inf`` for probabilities that underflow.
    """
    x, axis = _validated_axis(x, axis)
    shifted = _shifted(x, axis)[0]
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))
