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

from jaxmath._validation import (
    as_float_array,
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
    # x <= 0 (not x > 0) picks the zero, so a NaN passes through as torch.relu's NaN (value and
    # gradient 1: torch's threshold_backward passes the gradient where not result <= 0)
    return jnp.where(x <= 0, jnp.zeros_like(x), x)


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

    - ``approximate='none'``: :math:`x \, \Phi(x) = \tfrac{x}{2}(1 + \operatorname{erf}(x/\sqrt{2}))`,
      evaluated as :math:`\tfrac{x}{2}\operatorname{erfc}(-x/\sqrt{2})`.
    - ``approximate='tanh'``: :math:`\tfrac{x}{2}(1 + \tanh u)`, :math:`u = \sqrt{2/\pi}(x +
      0.044715 x^3)`, evaluated as :math:`x\,\sigma(2u)` (the same function: :math:`1 + \tanh u =
      2\sigma(2u)`).

    Accuracy in the negative tail: :math:`1 + \operatorname{erf}(t)` and :math:`1 + \tanh u` cancel
    catastrophically for :math:`x \lesssim -4` (float32) / :math:`-6` (float64); torch's
    ``F.gelu`` evaluates them so (float32: -1.341e-6 at x = -5 against the true -1.433e-6, and 0 from
    x = -5.5). The erfc and sigmoid forms keep a relative error of a few times
    :math:`(1 + x^2)\,\epsilon` (the function's own condition number) down to underflow, tested
    against mpmath in tests/test_foundation_tails.py. Here we are more accurate than torch.

    Note ``jax.nn.gelu`` defaults to the tanh form (``approximate=True``); we follow torch's default,
    the exact form.
    """
    x = as_float_array("x", x)
    check_option("approximate", approximate, GELU_APPROXIMATIONS)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return x * sigmoid(2.0 * inner)
    return 0.5 * x * jax.lax.erfc(-x / math.sqrt(2.0))


def _shifted(
    x: jax.Array, axes: tuple[int, ...], zero_infinite_max: bool = True
) -> tuple[jax.Array, jax.Array]:
    """Return (x - m, m) with m the max over ``axes`` (kept), replaced by 0 where it is not finite.

    The shift changes no value of the softmax family and keeps ``exp`` from overflowing; it is a
    constant for differentiation. Replacing an infinite max by 0 keeps an all ``-inf`` slice at
    ``logsumexp = -inf`` instead of ``-inf - (-inf) = nan``, and a slice holding ``+inf`` at
    ``+inf``, as torch.logsumexp does. softmax and log_softmax pass ``zero_infinite_max=False``:
    torch's kernels subtract the max as it is, so a slice holding ``+inf`` (or only ``-inf``) is NaN
    throughout, not ``[nan, 0, 0]``. Over an empty axis there is no max (``jnp.max`` raises): m is 0
    there, and the sum of no exponentials is 0.
    """
    kept_shape = tuple(1 if axis in axes else size for axis, size in enumerate(x.shape))
    if any(x.shape[axis] == 0 for axis in axes):
        return x, jnp.zeros(kept_shape, x.dtype)
    maximum = jax.lax.stop_gradient(jnp.max(x, axis=axes, keepdims=True))
    if zero_infinite_max:
        maximum = jnp.where(jnp.isfinite(maximum), maximum, jnp.zeros_like(maximum))
    return x - maximum, maximum


def _as_vector_if_scalar(x: jax.Array) -> jax.Array:
    """A 0-d input as one element along axis 0 (torch's convention: softmax of a scalar is 1)."""
    return x.reshape(1) if x.ndim == 0 else x


def logsumexp(
    x: jax.Array, axis: int | tuple[int, ...] | None = -1, keepdims: bool = False
) -> jax.Array:
    r""":math:`\log \sum_i e^{x_i}` over ``axis``, computed as :math:`m + \log\sum_i e^{x_i - m}`.

    Args:
        x: any shape, floating point. A 0-d ``x`` is one element along axis 0 (or -1): the result is
            ``x`` itself, as ``torch.logsumexp``.
        axis: an int, a tuple of ints (reduced together, as torch's ``dim`` tuple and
            ``jax.nn.logsumexp``'s ``axis``), or None for every axis (default: -1). A repeated axis
            or an empty tuple is refused (torch refuses both).
        keepdims: keep the reduced axes with size 1 (torch's ``keepdim``; default: False).

    Shapes: the result drops the reduced axes unless ``keepdims``. Over an empty axis (e.g. shape
    (0, 3) over axis 0) the result is ``-inf`` (the log of an empty sum), as torch's. Finite for
    ``|x| = 1e4`` in float32; ``-inf`` for an all ``-inf`` slice and ``+inf`` if any entry is ``+inf``
    (as ``torch.logsumexp`` and ``scipy.special.logsumexp``).
    """
    x = as_float_array("x", x)
    axes = check_axes("axis", axis, x.ndim)
    check_bool("keepdims", keepdims)
    if x.ndim == 0:
        return logsumexp(x.reshape(1), 0).reshape(())
    shifted, maximum = _shifted(x, axes)
    total = jnp.log(jnp.sum(jnp.exp(shifted), axis=axes, keepdims=True)) + maximum
    return total if keepdims else jnp.squeeze(total, axis=axes)


def softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    r"""Softmax :math:`e^{x_i} / \sum_j e^{x_j}` along ``axis`` (``torch.softmax(x, dim=axis)``).

    Shapes: ``x: (...)``, the result the same shape. A 0-d ``x`` (axis 0 or -1) is one element: its
    softmax is 1, as torch's; a zero-size ``x`` gives an empty result of its shape. Evaluated on
    :math:`x - \max x`, so logits of 1e4 give exact probabilities rather than ``inf / inf``.
    """
    x = as_float_array("x", x)
    axes = (check_axis("axis", axis, x.ndim),)
    exponentials = jnp.exp(_shifted(_as_vector_if_scalar(x), axes, zero_infinite_max=False)[0])
    probabilities = exponentials / jnp.sum(exponentials, axis=axes, keepdims=True)
    return probabilities.reshape(x.shape)


def log_softmax(x: jax.Array, axis: int = -1) -> jax.Array:
    r"""Log-softmax :math:`x_i - \log\sum_j e^{x_j}` along ``axis`` (``torch.log_softmax``).

    Shapes as :func:`softmax` (a 0-d ``x`` gives 0). Computed as
    :math:`(x - m) - \log\sum_j e^{x_j - m}`, never as ``log(softmax(x))``, which gives ``-inf``
    for probabilities that underflow.
    """
    x = as_float_array("x", x)
    axes = (check_axis("axis", axis, x.ndim),)
    shifted = _shifted(_as_vector_if_scalar(x), axes, zero_infinite_max=False)[0]
    log_probs = shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axes, keepdims=True))
    return log_probs.reshape(x.shape)
