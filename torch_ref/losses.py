"""Loss functions in torch tensor ops: the twin of jaxmath.losses (same semantics, names, defaults).

torch.nn.functional is the upstream reference these are tested against, so it is not called here.
See jaxmath.losses for the formulas and for where torch's own losses disagree with one another.
"""

from __future__ import annotations

import torch

from torch_ref._validation import (
    as_float_tensor,
    as_int_tensor,
    check_broadcastable,
    check_reduction,
    check_same_shape,
    check_scalar_in_range,
    is_concrete,
)
from torch_ref.activations import log_softmax

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy_loss",
    "huber_loss",
    "mse_loss",
    "nll_loss",
]

BCE_LOG_CLAMP = -100.0
# torch's floor on p (1 - p) in binary_cross_entropy's backward: a float32 constant (1e-12 rounded
# to float32) in every dtype, which matters at p = 0 and p = 1 in float64.
BCE_GRAD_EPSILON = 9.999999960041972e-13


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return torch.mean(losses)
    if reduction == "sum":
        return torch.sum(losses)
    return losses


def _optional_float(name: str, tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else as_float_tensor(name, tensor)


def mse_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r""":math:`w_i (x_i - y_i)^2`; weighted mean divides by :math:`\sum_i w_i`."""
    input = as_float_tensor("input", input)
    target = as_float_tensor("target", target)
    weight = _optional_float("weight", weight)
    check_same_shape("target", target, "input", input)
    check_reduction(reduction)
    squared_errors = (input - target) ** 2
    if weight is None:
        return _reduce(squared_errors, reduction)
    check_same_shape("weight", weight, "input", input)
    weighted = squared_errors * weight
    if reduction == "mean":
        return torch.sum(weighted) / torch.sum(weight)
    return _reduce(weighted, reduction)


def huber_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Quadratic below ``delta``, linear above; weighted mean divides by the element count."""
    input = as_float_tensor("input", input)
    target = as_float_tensor("target", target)
    weight = _optional_float("weight", weight)
    check_same_shape("target", target, "input", input)
    check_reduction(reduction)
    check_scalar_in_range("delta", delta, 0.0, low_inclusive=False)
    difference = input - target
    absolute = torch.abs(difference)
    # an infinite difference gets torch's gradient +-delta, not 0 * inf = NaN from the quadratic
    # branch where() does not pick (a NaN difference still gives a NaN gradient, as torch)
    quadratic = torch.where(torch.isinf(difference), torch.zeros_like(difference), difference)
    losses = torch.where(
        absolute < delta, 0.5 * quadratic * quadratic, delta * (absolute - 0.5 * delta)
    )
    if weight is not None:
        check_same_shape("weight", weight, "input", input)
        losses = losses * weight
    return _reduce(losses, reduction)


def _class_axis(scores: torch.Tensor, name: str) -> int:
    if scores.ndim == 0:
        raise ValueError(f"{name} must have shape (C,), (N, C) or (N, C, d1, ...), got shape ()")
    return 0 if scores.ndim == 1 else 1


def _check_class_weight(weight: torch.Tensor | None, num_classes: int) -> torch.Tensor | None:
    weight = _optional_float("weight", weight)
    if weight is not None and tuple(weight.shape) != (num_classes,):
        raise ValueError(
            f"weight must have shape (C,) = ({num_classes},) for {num_classes} classes, "
            f"got {tuple(weight.shape)}"
        )
    return weight


def _check_class_indices(
    target: torch.Tensor,
    scores: torch.Tensor,
    class_axis: int,
    ignore_index: int,
    scores_name: str,
) -> torch.Tensor:
    target = as_int_tensor("target", target)
    shape = tuple(scores.shape)
    expected = shape[:class_axis] + shape[class_axis + 1 :]
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target of class indices must have shape {expected} for {scores_name} of shape "
            f"{shape}, got {tuple(target.shape)}"
        )
    num_classes = shape[class_axis]
    if target.numel() and is_concrete(target):
        counted = torch.where(target == ignore_index, torch.zeros_like(target), target)
        low, high = int(counted.min()), int(counted.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"target must hold class indices in [0, {num_classes}) or ignore_index="
                f"{ignore_index}, got {bad}"
            )
    return target.long()


def _class_shape(ndim: int, class_axis: int, num_classes: int) -> tuple[int, ...]:
    return tuple(num_classes if axis == class_axis else 1 for axis in range(ndim))


def _nll_terms(
    log_probs: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    ignore_index: int,
    class_axis: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    counted = target != ignore_index
    safe_target = torch.where(counted, target, torch.zeros_like(target))
    picked = torch.gather(log_probs, class_axis, safe_target.unsqueeze(class_axis))
    picked = picked.squeeze(class_axis)
    target_weights = torch.ones_like(picked) if weight is None else weight[safe_target]
    target_weights = torch.where(counted, target_weights, torch.zeros_like(target_weights))
    # an ignored target reads class 0, whose log-probability may be -inf: 0 * -inf is NaN
    losses = torch.where(counted, -target_weights * picked, torch.zeros_like(picked))
    return losses, target_weights


def _mean_over_counted(
    losses: torch.Tensor, target_weights: torch.Tensor, counted: torch.Tensor
) -> torch.Tensor:
    """sum(losses) / sum(w[y]) over counted targets. When every target is ignored the result is NaN
    (0/0) with a zero gradient, as torch's nll_loss gives; a zero total weight gives NaN for both."""
    any_counted = torch.any(counted)
    total_weight = torch.sum(target_weights)
    safe_total = torch.where(any_counted, total_weight, torch.ones_like(total_weight))
    nan = torch.full_like(total_weight, float("nan"))
    return torch.where(any_counted, torch.sum(losses) / safe_total, nan)


def _check_ignore_index(ignore_index: int) -> None:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int, got {ignore_index!r}")


def nll_loss(
    log_probs: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    r""":math:`-w_{y_i}\log p_{i,y_i}`; the mean divides by the summed weights of counted targets."""
    log_probs = as_float_tensor("log_probs", log_probs)
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
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    r"""Softmax cross-entropy with class indices or class probabilities, torch 2.13 semantics."""
    logits = as_float_tensor("logits", logits)
    check_reduction(reduction)
    _check_ignore_index(ignore_index)
    check_scalar_in_range("label_smoothing", label_smoothing, 0.0, 1.0)
    class_axis = _class_axis(logits, "logits")
    num_classes = logits.shape[class_axis]
    weight = _check_class_weight(weight, num_classes)
    target = torch.as_tensor(target)
    log_probs = log_softmax(logits, axis=class_axis)
    if target.shape == logits.shape:
        return _cross_entropy_with_probabilities(
            log_probs, target, weight, ignore_index, reduction, label_smoothing, class_axis
        )
    target = _check_class_indices(target, logits, class_axis, ignore_index, "logits")
    losses, target_weights = _nll_terms(log_probs, target, weight, ignore_index, class_axis)
    if label_smoothing != 0.0:
        class_weight = (
            1.0
            if weight is None
            else weight.reshape(_class_shape(logits.ndim, class_axis, num_classes))
        )
        # ignored rows' log-probabilities are left out before the product: one of -inf (a masked
        # class) would give 0 * inf = NaN in the class weights' gradient
        counted_rows = (target != ignore_index).unsqueeze(class_axis)
        counted_log_probs = torch.where(counted_rows, log_probs, torch.zeros_like(log_probs))
        smooth = -torch.sum(counted_log_probs * class_weight, dim=class_axis)
        losses = (1.0 - label_smoothing) * losses + (label_smoothing / num_classes) * smooth
    if reduction == "mean":
        return _mean_over_counted(losses, target_weights, target != ignore_index)
    return _reduce(losses, reduction)


def _cross_entropy_with_probabilities(
    log_probs: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    class_axis: int,
) -> torch.Tensor:
    if not target.is_floating_point():
        raise TypeError(
            f"target with class probabilities (same shape as logits) must be floating point, "
            f"got dtype {str(target.dtype).removeprefix('torch.')}"
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
    losses = -torch.sum(weighted_log_probs, dim=class_axis)
    if reduction == "mean":
        # the number of samples N * d1 * ...; torch divides by numel / C, NaN without classes
        samples = log_probs.numel() // num_classes if num_classes else float("nan")
        return torch.sum(losses) / samples
    return _reduce(losses, reduction)


def _clamped_logs(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    floor = torch.full_like(probs, BCE_LOG_CLAMP)
    return torch.maximum(torch.log(probs), floor), torch.maximum(torch.log1p(-probs), floor)


class _BinaryCrossEntropy(torch.autograd.Function):
    """Elementwise clamped BCE with torch's closed-form backward (finite at p = 0 and p = 1)."""

    generate_vmap_rule = True  # elementwise: torch.func.vmap (numerical_gradient) may batch it

    @staticmethod
    def forward(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p, log_not_p = _clamped_logs(probs)
        return -(target * log_p + (1.0 - target) * log_not_p)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        probs, target = ctx.saved_tensors
        floor = torch.full_like(probs, BCE_GRAD_EPSILON)
        d_probs = (probs - target) / torch.maximum(probs * (1.0 - probs), floor)
        log_p, log_not_p = _clamped_logs(probs)
        return grad_output * d_probs, grad_output * (log_not_p - log_p)


def binary_cross_entropy(
    probs: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r""":math:`-w[y\max(\log p,-100) + (1-y)\max(\log(1-p),-100)]`, torch's clamped form."""
    probs = as_float_tensor("probs", probs)
    target = as_float_tensor("target", target)
    weight = _optional_float("weight", weight)
    check_same_shape("target", target, "probs", probs)
    check_reduction(reduction)
    if weight is not None:
        check_broadcastable("weight", weight, probs.shape)
    if probs.numel() and is_concrete(probs):
        low, high = float(probs.detach().min()), float(probs.detach().max())
        if not (low >= 0.0 and high <= 1.0):
            bad = low if not low >= 0.0 else high
            raise ValueError(f"probs must lie in [0, 1], got {bad}")
    losses = _BinaryCrossEntropy.apply(probs, target)
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction)


def _log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(x)
    return torch.minimum(x, zero) - torch.log1p(torch.exp(torch.minimum(x, -x)))


def binary_cross_entropy_with_logits(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r""":math:`w[(1-y)x - (1 + (r-1)y)\log\sigma(x)]` with ``pos_weight`` :math:`r`."""
    logits = as_float_tensor("logits", logits)
    target = as_float_tensor("target", target)
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
