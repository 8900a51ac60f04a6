"""Loss functions with torch.nn.functional's semantics and defaults (torch 2.13), edge cases included.

Every loss takes ``reduction`` in ``'mean' | 'sum' | 'none'`` (default ``'mean'``). Where torch's
losses disagree with one another we follow each torch function, and say so:

- ``mse_loss`` with ``weight``: the mean is ``sum(w * err) / sum(w)``;
  ``huber_loss`` with ``weight``: the mean is ``mean(w * err)`` (divides by the element count).
- ``cross_entropy_loss`` / ``nll_loss`` with class indices: the mean divides by the summed class
  weights of the targets that count (ignored targets drop out of both sums); with class-probability
  targets it divides by the number of samples ``N * d1 * ...``.
- ``binary_cross_entropy``: each log is clamped at -100, and its gradient is torch's
  ``(p - y) / max(p (1 - p), 1e-12)``, finite at ``p = 0`` and ``p = 1``.

One deliberate difference: where torch broadcasts ``input`` against a ``target`` of another shape
with only a warning (``mse_loss``, ``huber_loss``), we raise ``ValueError``: that broadcast is almost
always a bug ((N,) against (N, 1) silently gives an (N, N) loss).

Validation: shapes, dtypes and options are checked always (also under ``jax.jit``); value checks
(class index in range, probabilities in [0, 1]) run only on concrete arrays, not under ``jit``: there
an out-of-range class index gives a NaN loss (JAX's gather fills out-of-bounds reads with NaN) and a
probability outside [0, 1] a NaN binary cross-entropy (the log of a negative number).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxmath._validation import (
    as_float_array,
    as_int_array,
    check_broadcastable,
    check_reduction,
    check_same_shape,
    check_scalar_in_range,
    is_concrete,
)
from jaxmath.activations import log_softmax

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy_loss",
    "huber_loss",
    "mse_loss",
    "nll_loss",
]

BCE_LOG_CLAMP = -100.0  # torch clamps log(p) and log(1 - p) at -100 in binary_cross_entropy
# torch's floor on p (1 - p) in binary_cross_entropy's backward: a float32 constant (1e-12 rounded
# to float32) in every dtype, which matters at p = 0 and p = 1 in float64.
BCE_GRAD_EPSILON = 9.999999960041972e-13


def _reduce(losses: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(losses)
    if reduction == "sum":
        return jnp.sum(losses)
    return losses


def _optional_float(name: str, array: jax.Array | None) -> jax.Array | None:
    return None if array is None else as_float_array(name, array)


def mse_loss(
    input: jax.Array,
    target: jax.Array,
    reduction: str = "mean",
    weight: jax.Array | None = None,
) -> jax.Array:
    r"""Mean squared error :math:`\ell_i = w_i (x_i - y_i)^2` (``torch.nn.functional.mse_loss``).

    Args:
        input: predictions, any shape, floating point.
        target: same shape as ``input`` (no broadcasting, see the module docstring).
        reduction: ``'mean'`` (default) | ``'sum'`` | ``'none'`` (elementwise, shape of ``input``).
        weight: optional, same shape as ``input``. With ``'mean'`` the result is
            :math:`\sum_i w_i (x_i - y_i)^2 / \sum_i w_i`, as torch 2.13.
    """
    input = as_float_array("input", input)
    target = as_float_array("target", target)
    weight = _optional_float("weight", weight)
    check_same_shape("target", target, "input", input)
    check_reduction(reduction)
    squared_errors = (input - target) ** 2
    if weight is None:
        return _reduce(squared_errors, reduction)
    check_same_shape("weight", weight, "input", input)
    weighted = squared_errors * weight
    if reduction == "mean":
        return jnp.sum(weighted) / jnp.sum(weight)
    return _reduce(weighted, reduction)


def huber_loss(
    input: jax.Array,
    target: jax.Array,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: jax.Array | None = None,
) -> jax.Array:
    r"""Huber loss (``torch.nn.functional.huber_loss``), with :math:`d = x - y`:

    .. math:: \ell_i = w_i \begin{cases} \tfrac12 d_i^2 & |d_i| < \delta \\
              \delta (|d_i| - \tfrac12 \delta) & \text{otherwise} \end{cases}

    Args:
        input: predictions, any shape, floating point.
        target: same shape as ``input``.
        reduction: ``'mean'`` (default) | ``'sum'`` | ``'none'``.
        delta: the switch point :math:`\delta` between the quadratic and linear parts (default: 1.0),
            must be > 0.
        weight: optional, same shape as ``input``. With ``'mean'`` the result is
            :math:`\frac{1}{n}\sum_i \ell_i`, dividing by the element count, not by the summed
            weights (torch 2.13's choice, unlike ``mse_loss``).
    """
    input = as_float_array("input", input)
    target = as_float_array("target", target)
    weight = _optional_float("weight", weight)
    check_same_shape("target", target, "input", input)
    check_reduction(reduction)
    check_scalar_in_range("delta", delta, 0.0, low_inclusive=False)
    difference = input - target
    absolute = jnp.abs(difference)
    # an infinite difference gets torch's gradient +-delta, not 0 * inf = NaN from the quadratic
    # branch where() does not pick (a NaN difference still gives a NaN gradient, as torch)
    quadratic = jnp.where(jnp.isinf(difference), jnp.zeros_like(difference), difference)
    losses = jnp.where(
        absolute < delta, 0.5 * quadratic * quadratic, delta * (absolute - 0.5 * delta)
    )
    if weight is not None:
        check_same_shape("weight", weight, "input", input)
        losses = losses * weight
    return _reduce(losses, reduction)


def _class_axis(scores: jax.Array, name: str) -> int:
    """The class axis of (C,) [unbatched] or (N, C, d1, ...) scores, as torch.nn.functional."""
    if scores.ndim == 0:
        raise ValueError(f"{name} must have shape (C,), (N, C) or (N, C, d1, ...), got shape ()")
    return 0 if scores.ndim == 1 else 1


def _check_class_weight(weight: jax.Array | None, num_classes: int) -> jax.Array | None:
    weight = _optional_float("weight", weight)
    if weight is not None and weight.shape != (num_classes,):
        raise ValueError(
            f"weight must have shape (C,) = ({num_classes},) for {num_classes} classes, "
            f"got {weight.shape}"
        )
    return weight


def _check_class_indices(
    target: jax.Array, scores: jax.Array, class_axis: int, ignore_index: int, scores_name: str
) -> jax.Array:
    target = as_int_array("target", target)
    expected = scores.shape[:class_axis] + scores.shape[class_axis + 1 :]
    if target.shape != expected:
        raise ValueError(
            f"target of class indices must have shape {expected} for {scores_name} of shape "
            f"{scores.shape}, got {target.shape}"
        )
    num_classes = scores.shape[class_axis]
    if is_concrete(target) and target.size:
        values = np.asarray(target)
        counted = np.where(values == ignore_index, 0, values)
        low, high = int(counted.min()), int(counted.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"target must hold class indices in [0, {num_classes}) or ignore_index="
                f"{ignore_index}, got {bad}"
            )
    return target


def _class_shape(array_ndim: int, class_axis: int, num_classes: int) -> tuple[int, ...]:
    """Shape that broadcasts a (C,) vector along ``class_axis`` of an array of ``array_ndim`` dims."""
    return tuple(num_classes if axis == class_axis else 1 for axis in range(array_ndim))


def _nll_terms(
    log_probs: jax.Array,
    target: jax.Array,
    weight: jax.Array | None,
    ignore_index: int,
    class_axis: int,
) -> tuple[jax.Array, jax.Array]:
    """Per-target ``-w[y] log p[y]`` and the per-target weights ``w[y]`` (0 where ignored)."""
    counted = target != ignore_index
    safe_target = jnp.where(counted, target, 0)
    picked = jnp.take_along_axis(
        log_probs, jnp.expand_dims(safe_target, class_axis), axis=class_axis
    )
    picked = jnp.squeeze(picked, axis=class_axis)
    target_weights = jnp.ones_like(picked) if weight is None else weight[safe_target]
    target_weights = jnp.where(counted, target_weights, jnp.zeros_like(target_weights))
    # an ignored target reads class 0 (safe_target), whose log-probability may be -inf (a masked
    # class): 0 * -inf is NaN, so ignored targets get an exact 0, as torch skips them
    losses = jnp.where(counted, -target_weights * picked, jnp.zeros_like(picked))
    return losses, target_weights


def _mean_over_counted(
    losses: jax.Array, target_weights: jax.Array, counted: jax.Array
) -> jax.Array:
    """sum(losses) / sum(w[y]) over counted targets. When every target is ignored the result is NaN
    (0/0) with a zero gradient, as torch's nll_loss gives; a zero total weight gives NaN for both."""
    any_counted = jnp.any(counted)
    total_weight = jnp.sum(target_weights)
    safe_total = jnp.where(any_counted, total_weight, jnp.ones_like(total_weight))
    nan = jnp.full_like(total_weight, float("nan"))
    return jnp.where(any_counted, jnp.sum(losses) / safe_total, nan)


def _check_ignore_index(ignore_index: int) -> None:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int, got {ignore_index!r}")


def nll_loss(
    log_probs: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> jax.Array:
    r"""Negative log-likelihood :math:`\ell_i = -w_{y_i} \log p_{i, y_i}` (``F.nll_loss``).

    Args:
        log_probs: log-probabilities, (C,) unbatched, (N, C) or (N, C, d1, ...); class axis 0 for
            (C,), else 1.
        target: integer class indices, () for (C,) input, else (N,) or (N, d1, ...). Each in
            [0, C) or equal to ``ignore_index`` (checked on concrete arrays only).
        weight: optional per-class weights, shape (C,).
        ignore_index: targets equal to it contribute 0 and drop out of the mean's denominator.
        reduction: ``'mean'`` (default): :math:`\sum_i \ell_i / \sum_i w_{y_i}` over counted targets
            (NaN if every target is ignored, as torch); ``'sum'``; ``'none'`` (shape of ``target``).
    """
    log_probs = as_float_array("log_probs", log_probs)
    check_reduction(reduction)
    _check_ignore_index(ignore_index)
    class_axis = _class_axis(log_probs, "log_probs")
    weight = _check_class_weight(weight, log_probs.shape[class_axis])
    target = _check_class_indices(target, log_probs, class_axis, ignore_index, "log_probs")
    losses, target_weights = _nll_terms(log_probs, target, weight, ignore_index, class_axis)
    if reduction == "mean":
        return _mean_over_counted(losses, target_weights, target != ignore_index)
    return _reduce(losses, reduction)


def cross_entropy_loss(
    logits: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> jax.Array:
    r"""Softmax cross-entropy on logits (``torch.nn.functional.cross_entropy``), torch 2.13 semantics.

    With :math:`\log p = \operatorname{log\_softmax}(x)` over the class axis, :math:`C` classes and
    smoothing :math:`\varepsilon`:

    - class-index target :math:`y_i`:
      :math:`\ell_i = (1-\varepsilon)\,(-w_{y_i}\log p_{i,y_i})
      + \tfrac{\varepsilon}{C}\,(-\sum_c w_c \log p_{i,c})`, 0 where :math:`y_i` = ``ignore_index``;
      ``'mean'`` divides :math:`\sum_i \ell_i` by :math:`\sum_i w_{y_i}` over counted targets
      (so an all-ignored batch gives NaN, as torch).
    - class-probability target :math:`q_i` (same shape as the logits, floating point):
      :math:`\tilde q = (1-\varepsilon) q + \varepsilon / C`,
      :math:`\ell_i = -\sum_c w_c \tilde q_{i,c} \log p_{i,c}`; ``'mean'`` divides by the number of
      samples :math:`N \cdot d_1 \cdots`. ``ignore_index`` >= 0 is refused here, as torch refuses it.

    Args:
        logits: (C,) unbatched, (N, C) or (N, C, d1, ...); class axis 0 for (C,), else 1.
        target: integer class indices of shape (), (N,) or (N, d1, ...), or floating class
            probabilities of the logits' shape (the shapes decide, as in torch).
        weight: optional per-class weights, shape (C,).
        ignore_index: class-index targets equal to it are skipped (default: -100).
        reduction: ``'mean'`` (default) | ``'sum'`` | ``'none'`` (per-sample losses).
        label_smoothing: :math:`\varepsilon` in [0, 1] (default: 0.0), a Python float.

    The gradient with respect to the logits is :math:`(p - \tilde y) \cdot w` / denominator, computed
    by autodiff of the log-softmax form. Under ``jit``, a donated logits buffer can hold that gradient.

    Reference: ``torch.nn.functional.cross_entropy``; ``optax.softmax_cross_entropy_with_integer_labels``
    is the unreduced, unweighted, unsmoothed (N, C) case.
    """
    logits = as_float_array("logits", logits)
    check_reduction(reduction)
    _check_ignore_index(ignore_index)
    check_scalar_in_range("label_smoothing", label_smoothing, 0.0, 1.0)
    class_axis = _class_axis(logits, "logits")
    num_classes = logits.shape[class_axis]
    weight = _check_class_weight(weight, num_classes)
    target = jnp.asarray(target)
    if target.shape == logits.shape:
        return _cross_entropy_with_probabilities(
            log_softmax(logits, axis=class_axis),
            target,
            weight,
            ignore_index,
            reduction,
            label_smoothing,
            class_axis,
        )
    target = _check_class_indices(target, logits, class_axis, ignore_index, "logits")
    losses = _class_index_cross_entropy(
        logits, target, weight, ignore_index, float(label_smoothing), class_axis
    )
    if reduction == "mean":
        counted = target != ignore_index
        target_weights = _target_weights(target, weight, counted, logits.dtype)
        return _mean_over_counted(losses, target_weights, counted)
    return _reduce(losses, reduction)


def _target_weights(
    target: jax.Array, weight: jax.Array | None, counted: jax.Array, dtype: jnp.dtype
) -> jax.Array:
    """w[y] per target (1 without class weights), 0 where the target is ignored."""
    safe_target = jnp.where(counted, target, 0)
    weights = jnp.ones(target.shape, dtype) if weight is None else weight[safe_target]
    return jnp.where(counted, weights, jnp.zeros_like(weights))


def _expand(per_sample: jax.Array, class_axis: int) -> jax.Array:
    return jnp.expand_dims(per_sample, class_axis)


def _class_weight_view(weight: jax.Array | None, ndim: int, class_axis: int) -> jax.Array | float:
    if weight is None:
        return 1.0
    return weight.reshape(_class_shape(ndim, class_axis, weight.shape[0]))


def _index_cross_entropy_forward(
    logits: jax.Array,
    target: jax.Array,
    weight: jax.Array | None,
    ignore_index: int,
    label_smoothing: float,
    class_axis: int,
) -> tuple[jax.Array, tuple]:
    num_classes = logits.shape[class_axis]
    counted = target != ignore_index
    safe_target = jnp.where(counted, target, 0)
    picked = jnp.take_along_axis(logits, _expand(safe_target, class_axis), axis=class_axis)
    picked = jnp.squeeze(picked, axis=class_axis)
    # max(row max, target logit) is the row max exactly (the target logit is one of the row's), but
    # it makes every later read of the logits depend on the gather: with the logits donated, XLA
    # can then write the gradient into their buffer without first copying them for the gather.
    row_max = jnp.maximum(jnp.max(logits, axis=class_axis), picked)
    # subtracted as it is, as torch's log_softmax: a row holding +inf (or only -inf) is NaN
    row_max = jax.lax.stop_gradient(row_max)
    shifted = logits - _expand(row_max, class_axis)
    exponentials = jnp.exp(shifted)  # the residual: the backward reads it instead of the logits
    normalizer = jnp.sum(exponentials, axis=class_axis)
    log_normalizer = jnp.log(normalizer)  # logsumexp - row_max
    target_weights = _target_weights(target, weight, counted, logits.dtype)
    # 0 for an ignored target even where its stand-in class 0 has a logit of -inf (0 * inf is NaN)
    losses = jnp.where(
        counted, target_weights * (log_normalizer - (picked - row_max)), jnp.zeros_like(picked)
    )
    if label_smoothing != 0.0:
        class_weight = _class_weight_view(weight, logits.ndim, class_axis)
        smooth = jnp.sum(
            class_weight * (_expand(log_normalizer, class_axis) - shifted), axis=class_axis
        )
        smooth = jnp.where(counted, smooth, jnp.zeros_like(smooth))
        losses = (1.0 - label_smoothing) * losses + (label_smoothing / num_classes) * smooth
    # the class weights' gradient needs log p itself (exp underflows): keep the logits only then
    log_probs_source = None if weight is None else (logits, row_max, log_normalizer)
    return losses, (exponentials, normalizer, target, weight, log_probs_source)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _class_index_cross_entropy(
    logits: jax.Array,
    target: jax.Array,
    weight: jax.Array | None,
    ignore_index: int,
    label_smoothing: float,
    class_axis: int,
) -> jax.Array:
    r"""Per-target cross-entropy with class indices, with a fused, hand-written backward.

    For target :math:`y`, class weights :math:`w` (:math:`W = \sum_c w_c`), smoothing
    :math:`\varepsilon` and incoming per-target cotangent :math:`g` (0 for ignored targets):

    .. math:: \frac{\partial \ell}{\partial x_c} = g\,\big[((1-\varepsilon) w_y
              + \tfrac{\varepsilon}{C} W)\, p_c - (1-\varepsilon) w_y [c = y]
              - \tfrac{\varepsilon}{C} w_c\big]

    with :math:`p_c = e_c / \sum_k e_k`, :math:`e = \exp(x - \max x)` saved by the forward: the
    forward reads the logits twice (max; exp and sum) and writes ``e``, the backward reads ``e`` and
    writes the gradient, with no second exponential. Under ``jit`` with the logits donated, the
    gradient takes their buffer (see the forward's ``row_max``). The class weights get their exact
    gradient too.
    """
    return _index_cross_entropy_forward(
        logits, target, weight, ignore_index, label_smoothing, class_axis
    )[0]


def _index_cross_entropy_backward(
    ignore_index: int,
    label_smoothing: float,
    class_axis: int,
    residuals: tuple,
    cotangent: jax.Array,
) -> tuple[jax.Array, None, jax.Array | None]:
    exponentials, normalizer, target, weight, log_probs_source = residuals
    num_classes = exponentials.shape[class_axis]
    counted = target != ignore_index
    cotangent = jnp.where(counted, cotangent, jnp.zeros_like(cotangent))
    safe_target = jnp.where(counted, target, 0)
    target_weights = _target_weights(target, weight, counted, exponentials.dtype)
    total_class_weight = num_classes if weight is None else jnp.sum(weight)
    smoothing_share = label_smoothing / num_classes
    target_share = cotangent * (1.0 - label_smoothing) * target_weights
    probability_scale = target_share + cotangent * smoothing_share * total_class_weight
    is_target = jax.lax.broadcasted_iota(target.dtype, exponentials.shape, class_axis) == _expand(
        safe_target, class_axis
    )
    grad_logits = _expand(probability_scale / normalizer, class_axis) * exponentials - jnp.where(
        is_target, _expand(target_share, class_axis), 0.0
    )
    if label_smoothing != 0.0:  # static: no extra work per element without smoothing
        class_weight = _class_weight_view(weight, exponentials.ndim, class_axis)
        grad_logits = grad_logits - _expand(cotangent * smoothing_share, class_axis) * class_weight
    grad_weight = None
    if weight is not None:
        logits, row_max, log_normalizer = log_probs_source
        # (x - max) - log_normalizer, not x - (max + log_normalizer): at logits of 1e4 in float32
        # the sum would round to float32's ulp of 1e-3 there
        log_probs = (logits - _expand(row_max, class_axis)) - _expand(log_normalizer, class_axis)
        grad_weight = _class_weight_gradient(
            log_probs, is_target, counted, cotangent, label_smoothing, class_axis
        )
    return grad_logits.astype(exponentials.dtype), None, grad_weight


def _class_weight_gradient(
    log_probs: jax.Array,
    is_target: jax.Array,
    counted: jax.Array,
    cotangent: jax.Array,
    label_smoothing: float,
    class_axis: int,
) -> jax.Array:
    r""":math:`\partial/\partial w_k = \sum_i g_i [(1-\varepsilon)[y_i = k] + \tfrac{\varepsilon}{C}]
    (-\log p_{i,k})`, summed over every axis but the class axis; ignored targets add an exact 0
    (their log-probabilities may be -inf, a masked class)."""
    num_classes = log_probs.shape[class_axis]
    per_class = _expand(cotangent, class_axis) * -log_probs
    share = (1.0 - label_smoothing) * is_target + label_smoothing / num_classes
    other_axes = tuple(axis for axis in range(log_probs.ndim) if axis != class_axis)
    contributes = (share != 0) & _expand(counted, class_axis)
    return jnp.sum(jnp.where(contributes, per_class * share, 0.0), axis=other_axes)


_class_index_cross_entropy.defvjp(_index_cross_entropy_forward, _index_cross_entropy_backward)


def _cross_entropy_with_probabilities(
    log_probs: jax.Array,
    target: jax.Array,
    weight: jax.Array | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    class_axis: int,
) -> jax.Array:
    if not jnp.issubdtype(target.dtype, jnp.floating):
        raise TypeError(
            f"target with class probabilities (same shape as logits) must be floating point, "
            f"got dtype {target.dtype}"
        )
    if ignore_index >= 0:
        raise ValueError(
            f"ignore_index is not supported with class-probability targets, got ignore_index="
            f"{ignore_index} (use a negative value)"
        )
    num_classes = log_probs.shape[class_axis]
    if label_smoothing != 0.0:
        target = target * (1.0 - label_smoothing) + label_smoothing / num_classes
    weighted_log_probs = log_probs * target
    if weight is not None:
        weighted_log_probs = weighted_log_probs * weight.reshape(
            _class_shape(log_probs.ndim, class_axis, num_classes)
        )
    losses = -jnp.sum(weighted_log_probs, axis=class_axis)
    if reduction == "mean":
        # the number of samples N * d1 * ...; torch divides by numel / C, NaN without classes
        samples = log_probs.size // num_classes if num_classes else float("nan")
        return jnp.sum(losses) / samples
    return _reduce(losses, reduction)


@jax.custom_jvp
def _binary_cross_entropy_elementwise(probs: jax.Array, target: jax.Array) -> jax.Array:
    log_p = jnp.maximum(jnp.log(probs), BCE_LOG_CLAMP)
    log_not_p = jnp.maximum(jnp.log1p(-probs), BCE_LOG_CLAMP)
    return -(target * log_p + (1.0 - target) * log_not_p)


@_binary_cross_entropy_elementwise.defjvp
def _binary_cross_entropy_jvp(primals, tangents):
    probs, target = primals
    probs_dot, target_dot = tangents
    losses = _binary_cross_entropy_elementwise(probs, target)
    d_probs = (probs - target) / jnp.maximum(probs * (1.0 - probs), BCE_GRAD_EPSILON)
    d_target = jnp.maximum(jnp.log1p(-probs), BCE_LOG_CLAMP) - jnp.maximum(
        jnp.log(probs), BCE_LOG_CLAMP
    )
    return losses, d_probs * probs_dot + d_target * target_dot


def binary_cross_entropy(
    probs: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Binary cross-entropy on probabilities (``torch.nn.functional.binary_cross_entropy``).

    .. math:: \ell_i = -w_i\,[\,y_i \max(\log p_i, -100) + (1 - y_i) \max(\log(1 - p_i), -100)\,]

    The clamp at -100 (torch's) keeps :math:`p \in \{0, 1\}` finite: a confident wrong prediction
    costs 100. The gradient is torch's closed form
    :math:`\partial\ell/\partial p = w (p - y) / \max(p(1-p), 10^{-12})`, finite at 0 and 1 where
    autodiff of the clamped logs would give NaN.

    Args:
        probs: probabilities in [0, 1] (checked on concrete arrays), any shape.
        target: same shape as ``probs``, values in [0, 1].
        weight: optional, broadcasts to the shape of ``probs``.
        reduction: ``'mean'`` (default, over all elements) | ``'sum'`` | ``'none'``.
    """
    probs = as_float_array("probs", probs)
    target = as_float_array("target", target)
    weight = _optional_float("weight", weight)
    check_same_shape("target", target, "probs", probs)
    check_reduction(reduction)
    if weight is not None:
        check_broadcastable("weight", weight, probs.shape)
    if is_concrete(probs) and probs.size:
        values = np.asarray(probs)
        low, high = float(values.min()), float(values.max())
        if not (low >= 0.0 and high <= 1.0):
            bad = low if not low >= 0.0 else high
            raise ValueError(f"probs must lie in [0, 1], got {bad}")
    losses = _binary_cross_entropy_elementwise(probs, target)
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction)


def _log_sigmoid(x: jax.Array) -> jax.Array:
    r""":math:`\log\sigma(x) = \min(x, 0) - \log(1 + e^{-|x|})`, finite for every finite x."""
    return jnp.minimum(x, 0.0) - jnp.log1p(jnp.exp(jnp.minimum(x, -x)))


def binary_cross_entropy_with_logits(
    logits: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    reduction: str = "mean",
    pos_weight: jax.Array | None = None,
) -> jax.Array:
    r"""Binary cross-entropy on logits (``F.binary_cross_entropy_with_logits``), torch's form:

    .. math:: \ell_i = w_i\,[\,(1 - y_i)\,x_i - (1 + (r - 1)\,y_i)\log\sigma(x_i)\,]

    with :math:`r` the ``pos_weight`` (1 if absent) and :math:`\log\sigma` evaluated without
    overflow, so logits of :math:`\pm 10^4` give exact losses. Equal to
    :math:`-w[r\,y\log\sigma(x) + (1-y)\log(1-\sigma(x))]`.

    Args:
        logits: any shape, floating point.
        target: same shape as ``logits``, values in [0, 1].
        weight: optional, broadcasts to the shape of ``logits``.
        reduction: ``'mean'`` (default, over all elements) | ``'sum'`` | ``'none'``.
        pos_weight: optional weight of positive examples; broadcasts to the shape of ``logits``,
            so a (C,) vector weights the last (class) axis of (N, C) logits.
    """
    logits = as_float_array("logits", logits)
    target = as_float_array("target", target)
    weight = _optional_float("weight", weight)
    pos_weight = _optional_float("pos_weight", pos_weight)
    check_same_shape("target", target, "logits", logits)
    check_reduction(reduction)
    log_sigmoid = _log_sigmoid(logits)
    if pos_weight is not None:
        check_broadcastable("pos_weight", pos_weight, logits.shape)
        log_sigmoid = log_sigmoid * ((pos_weight - 1.0) * target + 1.0)
    losses = (1.0 - target) * logits - log_sigmoid
    if weight is not None:
        check_broadcastable("weight", weight, logits.shape)
        losses = losses * weight
    return _reduce(losses, reduction)
