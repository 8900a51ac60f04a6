r"""torch.optim's optimizers rewritten functionally on torch tensors: jaxmath.optim's twin.

The same protocol as jaxmath.optim (optax's): ``opt = Adam(lr=1e-3)``, ``state = opt.init(params)``,
``updates, state = opt.update(grads, state, params)``, ``params = apply_updates(params, updates)``
(``p + u``), on any pytree of tensors (nested dicts, lists, tuples, NamedTuples; dict keys in sorted
order, as JAX orders them). Nothing is mutated and torch.optim is not used: each rule is written out
from torch's ``_single_tensor_*`` functions, so the parity suite compares three independent
computations (jaxmath, this module, torch.optim itself).

Per-step scalars (lr, bias corrections) are Python floats, as torch.optim computes them; an ``lr``
schedule is called with the number of steps taken (a 0-d int64 tensor) and its value converted with
``float``. The momentum hyperparameters torch's CyclicLR / OneCycleLR cycle (SGD's, RMSprop's
and Muon's ``momentum``, betas[0] of Adam, AdamW, Adamax, NAdam, RAdam) may be such schedules too,
read at each step as torch reads its param group (see jaxmath.optim). Validation messages are
jaxmath.optim's, word for word.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from torch_ref._lbfgs import LBFGS, LBFGSState
from torch_ref._validation import check_scalar_in_range

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "ASGDState",
    "Adadelta",
    "AdadeltaState",
    "Adafactor",
    "AdafactorState",
    "Adagrad",
    "AdagradState",
    "Adam",
    "AdamState",
    "AdamW",
    "Adamax",
    "AdamaxState",
    "LBFGSState",
    "Muon",
    "MuonState",
    "NAdam",
    "NAdamState",
    "RAdam",
    "RAdamState",
    "RMSprop",
    "RMSpropState",
    "Rprop",
    "RpropState",
    "SGDState",
    "apply_updates",
]

ScalarOrSchedule = float | Callable[[torch.Tensor], Any]
MaskOrFn = Any


class GradientTransformation(NamedTuple):
    """optax's protocol: ``init(params) -> state``, ``update(grads, state, params) -> (updates,
    state)``."""

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


# ------------------------------------------------------------------------------------------------
# Validation (the twin of jaxmath.optim's)
# ------------------------------------------------------------------------------------------------


def check_lr(lr: Any) -> None:
    if callable(lr):
        return
    check_scalar_in_range("lr", lr, 0.0)


def check_nonnegative(name: str, value: Any) -> None:
    check_scalar_in_range(name, value, 0.0)


def check_unit_interval(name: str, value: Any) -> None:
    check_scalar_in_range(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def check_schedulable(name: str, value: Any, check: Callable[[str, Any], None]) -> None:
    """A schedule (callable), or a real number that passes ``check`` (jaxmath.optim's twin)."""
    if callable(value):
        return
    try:
        check(name, value)
    except TypeError:
        raise TypeError(
            f"{name} must be a real number or a schedule (a function of the step count), "
            f"got {value!r}"
        ) from None


def check_betas(betas: Any) -> tuple[Any, float]:
    if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
        raise TypeError(f"betas must be a pair of floats (beta1, beta2), got {betas!r}")
    check_schedulable("betas[0]", betas[0], check_unit_interval)
    check_unit_interval("betas[1]", betas[1])
    beta1 = betas[0] if callable(betas[0]) else float(betas[0])
    return beta1, float(betas[1])


def check_momentum(momentum: Any) -> None:
    check_schedulable("momentum", momentum, check_nonnegative)


def scheduled(value: Any, count: torch.Tensor) -> float:
    return learning_rate(value, count)


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def check_mask(weight_decay_mask: Any) -> None:
    if weight_decay_mask is None or callable(weight_decay_mask):
        return
    for leaf in tree_leaves(weight_decay_mask):
        if not isinstance(leaf, bool):
            raise TypeError(
                f"weight_decay_mask must be a pytree of bools or a function of params, "
                f"got a leaf {leaf!r}"
            )


# ------------------------------------------------------------------------------------------------
# Tree utilities (None is an empty subtree, as in JAX)
# ------------------------------------------------------------------------------------------------


def _is_namedtuple(tree: Any) -> bool:
    return isinstance(tree, tuple) and hasattr(tree, "_fields")


def tree_flatten_with_path(tree: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, leaf) pairs, paths spelt as ``jax.tree_util.keystr`` spells them."""
    if tree is None:
        return []
    if isinstance(tree, dict):
        return [
            pair
            for key in sorted(tree)
            for pair in tree_flatten_with_path(tree[key], f"{path}[{key!r}]")
        ]
    if _is_namedtuple(tree):
        return [
            pair
            for field, item in zip(tree._fields, tree, strict=True)
            for pair in tree_flatten_with_path(item, f"{path}.{field}")
        ]
    if isinstance(tree, list | tuple):
        return [
            pair
            for index, item in enumerate(tree)
            for pair in tree_flatten_with_path(item, f"{path}[{index}]")
        ]
    return [(path, tree)]


def tree_leaves(tree: Any) -> list[Any]:
    return [leaf for _, leaf in tree_flatten_with_path(tree)]


def tree_unflatten(structure: Any, leaves: Sequence[Any]) -> Any:
    """``structure`` with its leaves replaced, in order, by ``leaves``."""
    iterator = iter(leaves)

    def rebuild(tree: Any) -> Any:
        if tree is None:
            return None
        if isinstance(tree, dict):
            rebuilt = {key: rebuild(tree[key]) for key in sorted(tree)}
            return {key: rebuilt[key] for key in tree}
        if _is_namedtuple(tree):
            return type(tree)(*(rebuild(item) for item in tree))
        if isinstance(tree, list | tuple):
            return type(tree)(rebuild(item) for item in tree)
        return next(iterator)

    return rebuild(structure)


def tree_map(function: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    others = [tree_leaves(other) for other in rest]
    return tree_unflatten(
        tree,
        [function(leaf, *more) for leaf, *more in zip(tree_leaves(tree), *others, strict=True)],
    )


def describe_structure(tree: Any) -> str:
    """The same picture of a tree as jaxmath.optim.describe_structure."""
    if tree is None:
        return "None"
    if isinstance(tree, dict):
        inner = ", ".join(f"{key!r}: {describe_structure(tree[key])}" for key in sorted(tree))
        return "{" + inner + "}"
    if _is_namedtuple(tree):
        inner = ", ".join(describe_structure(item) for item in tree)
        return f"{type(tree).__name__}({inner})"
    if isinstance(tree, list):
        return "[" + ", ".join(describe_structure(item) for item in tree) + "]"
    if isinstance(tree, tuple):
        return (
            "("
            + ", ".join(describe_structure(item) for item in tree)
            + ("," if len(tree) == 1 else "")
            + ")"
        )
    return "*"


def _shape(leaf: Any) -> tuple[int, ...]:
    return tuple(leaf.shape) if hasattr(leaf, "shape") else ()


def check_tree_like(name: str, tree: Any, reference_name: str, reference: Any) -> None:
    if describe_structure(tree) != describe_structure(reference):
        raise ValueError(
            f"{name} must have the tree structure of {reference_name} "
            f"{describe_structure(reference)}, got {describe_structure(tree)}"
        )
    for (path, leaf), expected in zip(
        tree_flatten_with_path(tree), tree_leaves(reference), strict=True
    ):
        if _shape(leaf) != _shape(expected):
            raise ValueError(
                f"{name}{path} must have shape {_shape(expected)} "
                f"as in {reference_name}, got {_shape(leaf)}"
            )


def check_real(name: str, tree: Any) -> None:
    """Complex leaves are refused, as in jaxmath.optim (torch.optim views them as pairs of reals)."""
    for path, leaf in tree_flatten_with_path(tree):
        if isinstance(leaf, torch.Tensor) and leaf.is_complex():
            dtype = str(leaf.dtype).removeprefix("torch.")
            raise TypeError(
                f"{name}{path} must be real (complex params are not supported), got dtype {dtype}"
            )


def resolve_mask(weight_decay_mask: MaskOrFn, params: Any) -> list[bool]:
    if weight_decay_mask is None:
        return [True] * len(tree_leaves(params))
    mask = weight_decay_mask(params) if callable(weight_decay_mask) else weight_decay_mask
    check_mask(mask)
    if describe_structure(mask) != describe_structure(params):
        raise ValueError(
            f"weight_decay_mask must have the tree structure of params "
            f"{describe_structure(params)}, got {describe_structure(mask)}"
        )
    return [bool(leaf) for leaf in tree_leaves(mask)]


def learning_rate(lr: ScalarOrSchedule, count: torch.Tensor) -> float:
    return float(lr(count)) if callable(lr) else float(lr)


def bias_correction(beta: float, step: int) -> float:
    """:math:`1 - \\beta^t` in Python floats, as torch.optim computes it."""
    return 1.0 - beta**step


def lerp(start: torch.Tensor, end: torch.Tensor, weight: float) -> torch.Tensor:
    """``torch.lerp`` written out: start + w (end - start) for w < 0.5, else end - (end - start)(1 - w)."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


def _leaves_or_none(tree: Any, count: int) -> list[Any]:
    return [None] * count if tree is None else tree_leaves(tree)


def _prepare(
    grads: Any, state_tree: Any, params: Any, needs_params: bool, name: str
) -> tuple[list[Any], list[Any]]:
    check_real("grads", grads)
    if state_tree is not None:
        check_tree_like("grads", grads, f"the {name} state", state_tree)
    elif params is not None:  # a state with nothing params-shaped (SGD without momentum)
        check_tree_like("grads", grads, "params", params)
    if needs_params:
        if params is None:
            raise ValueError(
                f"{name} needs params in update(grads, state, params) for weight decay"
            )
        check_tree_like("params", params, "grads", grads)
    grad_leaves = tree_leaves(grads)
    param_leaves = tree_leaves(params) if needs_params else [None] * len(grad_leaves)
    return grad_leaves, param_leaves


def apply_updates(params: Any, updates: Any) -> Any:
    """``params + updates`` leafwise, in each param's dtype (optax.apply_updates' twin)."""
    check_tree_like("updates", updates, "params", params)
    return tree_map(lambda p, u: (p + u).to(p.dtype), params, updates)


def _zeros_like_tree(params: Any) -> Any:
    return tree_map(torch.zeros_like, params)


def _count() -> torch.Tensor:
    return torch.zeros((), dtype=torch.int64)


# ------------------------------------------------------------------------------------------------
# SGD
# ------------------------------------------------------------------------------------------------


class SGDState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    momentum_buffer: Any  # params-shaped; None when momentum == 0
    momentum_started: Any = None  # () bool when momentum is a schedule: a step had momentum != 0


def SGD(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    momentum: float = 0,
    dampening: float = 0,
    weight_decay: float = 0,
    nesterov: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.SGD, functionally; see jaxmath.optim.SGD for the algorithm."""
    check_lr(lr)
    check_momentum(momentum)
    check_scalar_in_range("dampening", dampening)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("nesterov", nesterov)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)
    if nesterov and ((not callable(momentum) and momentum <= 0) or dampening != 0):
        raise ValueError(
            f"nesterov requires momentum > 0 and dampening == 0, "
            f"got momentum={momentum!r}, dampening={dampening!r}"
        )
    has_momentum = callable(momentum) or momentum != 0

    def init(params: Any) -> SGDState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        started = torch.zeros((), dtype=torch.bool) if callable(momentum) else None
        return SGDState(_count(), _zeros_like_tree(params) if has_momentum else None, started)

    def update(grads: Any, state: SGDState, params: Any = None) -> tuple[Any, SGDState]:
        grad_leaves, param_leaves = _prepare(
            grads, state.momentum_buffer, params, weight_decay != 0, "SGD"
        )
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        mu = scheduled(momentum, state.count) if callable(momentum) else momentum
        started = state.momentum_started
        if callable(momentum):  # torch's `if momentum != 0` on this step's value
            momentum_on = mu != 0
            first = not bool(started)  # torch's buffer is still None
            started = torch.logical_or(started, torch.tensor(momentum_on))
        else:
            momentum_on = has_momentum
            first = int(state.count) == 0
        buffers = _leaves_or_none(state.momentum_buffer, len(grad_leaves))
        updates, new_buffers = [], []
        for index, (g, p, buf) in enumerate(zip(grad_leaves, param_leaves, buffers, strict=True)):
            g = -g if maximize else g
            if weight_decay != 0 and decays[index]:
                g = g + weight_decay * p
            if momentum_on:
                buf = g.clone() if first else buf * mu + (1 - dampening) * g
                g = g + mu * buf if nesterov else buf
            if has_momentum:
                new_buffers.append(buf)
            updates.append(-lr_t * g)
        new_buffer = tree_unflatten(grads, new_buffers) if has_momentum else None
        return tree_unflatten(grads, updates), SGDState(state.count + 1, new_buffer, started)

    return GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Adam and AdamW
# ------------------------------------------------------------------------------------------------


class AdamState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    exp_avg: Any  # params-shaped: m_t
    exp_avg_sq: Any  # params-shaped: v_t
    max_exp_avg_sq: Any  # params-shaped (amsgrad); None otherwise


def Adam(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.Adam, functionally; see jaxmath.optim.Adam for the algorithm."""
    check_lr(lr)
    check_nonnegative("eps", eps)
    beta1, beta2 = check_betas(betas)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("amsgrad", amsgrad)
    check_bool("maximize", maximize)
    check_bool("decoupled_weight_decay", decoupled_weight_decay)
    check_mask(weight_decay_mask)
    name = "AdamW" if decoupled_weight_decay else "Adam"

    def init(params: Any) -> AdamState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        return AdamState(
            _count(),
            _zeros_like_tree(params),
            _zeros_like_tree(params),
            _zeros_like_tree(params) if amsgrad else None,
        )

    def update(grads: Any, state: AdamState, params: Any = None) -> tuple[Any, AdamState]:
        grad_leaves, param_leaves = _prepare(grads, state.exp_avg, params, weight_decay != 0, name)
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        step = int(state.count) + 1
        lr_t = learning_rate(lr, state.count)
        beta1_t = scheduled(beta1, state.count) if callable(beta1) else beta1
        step_size = lr_t / bias_correction(beta1_t, step)
        bias_correction2_sqrt = bias_correction(beta2, step) ** 0.5
        maxes = _leaves_or_none(state.max_exp_avg_sq, len(grad_leaves))
        columns: list[list[Any]] = [[], [], [], []]
        for index, (g, p, m, v, v_max) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                tree_leaves(state.exp_avg),
                tree_leaves(state.exp_avg_sq),
                maxes,
                strict=True,
            )
        ):
            g = -g if maximize else g
            decay = weight_decay != 0 and decays[index]
            if decay and not decoupled_weight_decay:
                g = g + weight_decay * p
            m = lerp(m, g, 1.0 - beta1_t)
            v = v * beta2 + ((1.0 - beta2) * g) * g
            if amsgrad:
                v_max = torch.maximum(v_max, v)
            denom = torch.sqrt(v_max if amsgrad else v) / bias_correction2_sqrt + eps
            u = -step_size * (m / denom)
            if decay and decoupled_weight_decay:
                u = (p * (1 - lr_t * weight_decay) - p) + u  # p * factor rounded as torch's mul_
            for column, value in zip(columns, (u, m, v, v_max), strict=True):
                column.append(value)
        updates, exp_avg, exp_avg_sq, max_sq = columns
        new_state = AdamState(
            state.count + 1,
            tree_unflatten(grads, exp_avg),
            tree_unflatten(grads, exp_avg_sq),
            tree_unflatten(grads, max_sq) if amsgrad else None,
        )
        return tree_unflatten(grads, updates), new_state

    return GradientTransformation(init, update)


def AdamW(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.AdamW (= Adam with decoupled_weight_decay=True in torch 2.13), functionally."""
    return Adam(
        lr,
        betas,
        eps,
        weight_decay,
        amsgrad,
        maximize,
        decoupled_weight_decay=True,
        weight_decay_mask=weight_decay_mask,
    )


# ------------------------------------------------------------------------------------------------
# RMSprop
# ------------------------------------------------------------------------------------------------


class RMSpropState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    square_avg: Any  # params-shaped: running mean of g^2
    grad_avg: Any  # params-shaped (centered); None otherwise
    momentum_buffer: Any  # params-shaped (momentum > 0); None otherwise


def RMSprop(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0,
    momentum: float = 0,
    centered: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.RMSprop, functionally; see jaxmath.optim.RMSprop for the algorithm."""
    check_lr(lr)
    check_nonnegative("eps", eps)
    check_momentum(momentum)
    check_nonnegative("weight_decay", weight_decay)
    check_nonnegative("alpha", alpha)
    check_bool("centered", centered)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)
    has_buffer = callable(momentum) or momentum > 0

    def init(params: Any) -> RMSpropState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        return RMSpropState(
            _count(),
            _zeros_like_tree(params),
            _zeros_like_tree(params) if centered else None,
            _zeros_like_tree(params) if has_buffer else None,
        )

    def update(grads: Any, state: RMSpropState, params: Any = None) -> tuple[Any, RMSpropState]:
        grad_leaves, param_leaves = _prepare(
            grads, state.square_avg, params, weight_decay != 0, "RMSprop"
        )
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        # torch's `if momentum > 0` on this step's value; a schedule's buffer exists from init and
        # is left as it was at a step whose momentum is <= 0 (see jaxmath.optim.RMSprop)
        mu = scheduled(momentum, state.count) if callable(momentum) else momentum
        count = len(grad_leaves)
        columns: list[list[Any]] = [[], [], [], []]
        for index, (g, p, v, g_avg, buf) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                tree_leaves(state.square_avg),
                _leaves_or_none(state.grad_avg, count),
                _leaves_or_none(state.momentum_buffer, count),
                strict=True,
            )
        ):
            g = -g if maximize else g
            if weight_decay != 0 and decays[index]:
                g = g + weight_decay * p
            v = v * alpha + ((1.0 - alpha) * g) * g
            if centered:
                g_avg = lerp(g_avg, g, 1.0 - alpha)
                avg = torch.sqrt(v - g_avg * g_avg) + eps
            else:
                avg = torch.sqrt(v) + eps
            if mu > 0:
                buf = buf * mu + g / avg
                u = -lr_t * buf
            else:
                u = -lr_t * (g / avg)
            for column, value in zip(columns, (u, v, g_avg, buf), strict=True):
                column.append(value)
        updates, square_avg, grad_avg, buffers = columns
        new_state = RMSpropState(
            state.count + 1,
            tree_unflatten(grads, square_avg),
            tree_unflatten(grads, grad_avg) if centered else None,
            tree_unflatten(grads, buffers) if has_buffer else None,
        )
        return tree_unflatten(grads, updates), new_state

    return GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Adagrad
# ------------------------------------------------------------------------------------------------


class AdagradState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    sum: Any  # params-shaped: initial_accumulator_value + sum of g^2


def Adagrad(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    lr_decay: float = 0,
    weight_decay: float = 0,
    initial_accumulator_value: float = 0,
    eps: float = 1e-10,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.Adagrad, functionally; see jaxmath.optim.Adagrad for the algorithm."""
    check_lr(lr)
    check_nonnegative("lr_decay", lr_decay)
    check_nonnegative("weight_decay", weight_decay)
    check_nonnegative("initial_accumulator_value", initial_accumulator_value)
    check_nonnegative("eps", eps)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> AdagradState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        return AdagradState(
            _count(), tree_map(lambda p: torch.full_like(p, initial_accumulator_value), params)
        )

    def update(grads: Any, state: AdagradState, params: Any = None) -> tuple[Any, AdagradState]:
        grad_leaves, param_leaves = _prepare(grads, state.sum, params, weight_decay != 0, "Adagrad")
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        clr = lr_t / (1 + int(state.count) * lr_decay)
        updates, sums = [], []
        for index, (g, p, s) in enumerate(
            zip(grad_leaves, param_leaves, tree_leaves(state.sum), strict=True)
        ):
            g = -g if maximize else g
            if weight_decay != 0 and decays[index]:
                g = g + weight_decay * p
            s = s + g * g
            updates.append(-clr * (g / (torch.sqrt(s) + eps)))
            sums.append(s)
        return tree_unflatten(grads, updates), AdagradState(
            state.count + 1, tree_unflatten(grads, sums)
        )

    return GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Adadelta, Adamax, NAdam, RAdam (issue 19)
# ------------------------------------------------------------------------------------------------


def _decoupled(u: torch.Tensor, p: torch.Tensor, lr_t: float, weight_decay: float) -> torch.Tensor:
    return (p * (1 - lr_t * weight_decay) - p) + u


class AdadeltaState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    square_avg: Any  # params-shaped
    acc_delta: Any  # params-shaped


def Adadelta(  # noqa: N802
    lr: ScalarOrSchedule = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.Adadelta, functionally; see jaxmath.optim.Adadelta for the algorithm."""
    check_lr(lr)
    check_scalar_in_range("rho", rho, 0.0, 1.0)
    check_nonnegative("eps", eps)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> AdadeltaState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        return AdadeltaState(_count(), _zeros_like_tree(params), _zeros_like_tree(params))

    def update(grads: Any, state: AdadeltaState, params: Any = None) -> tuple[Any, AdadeltaState]:
        grad_leaves, param_leaves = _prepare(
            grads, state.square_avg, params, weight_decay != 0, "Adadelta"
        )
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        columns: list[list[Any]] = [[], [], []]
        for index, (g, p, v, u_avg) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                tree_leaves(state.square_avg),
                tree_leaves(state.acc_delta),
                strict=True,
            )
        ):
            g = -g if maximize else g
            if weight_decay != 0 and decays[index]:
                g = g + weight_decay * p
            v = v * rho + ((1.0 - rho) * g) * g
            delta = torch.sqrt(u_avg + eps) / torch.sqrt(v + eps) * g
            u_avg = u_avg * rho + ((1.0 - rho) * delta) * delta
            for column, value in zip(columns, (-lr_t * delta, v, u_avg), strict=True):
                column.append(value)
        updates, square_avg, acc_delta = columns
        return tree_unflatten(grads, updates), AdadeltaState(
            state.count + 1, tree_unflatten(grads, square_avg), tree_unflatten(grads, acc_delta)
        )

    return GradientTransformation(init, update)


class AdamaxState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    exp_avg: Any  # params-shaped
    exp_inf: Any  # params-shaped


def Adamax(  # noqa: N802
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.Adamax, functionally; see jaxmath.optim.Adamax for the algorithm."""
    check_lr(lr)
    check_nonnegative("eps", eps)
    beta1, beta2 = check_betas(betas)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> AdamaxState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        return AdamaxState(_count(), _zeros_like_tree(params), _zeros_like_tree(params))

    def update(grads: Any, state: AdamaxState, params: Any = None) -> tuple[Any, AdamaxState]:
        grad_leaves, param_leaves = _prepare(
            grads, state.exp_avg, params, weight_decay != 0, "Adamax"
        )
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        beta1_t = scheduled(beta1, state.count) if callable(beta1) else beta1
        clr = lr_t / bias_correction(beta1_t, int(state.count) + 1)
        columns: list[list[Any]] = [[], [], []]
        for index, (g, p, m, u_inf) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                tree_leaves(state.exp_avg),
                tree_leaves(state.exp_inf),
                strict=True,
            )
        ):
            g = -g if maximize else g
            if weight_decay != 0 and decays[index]:
                g = g + weight_decay * p
            m = lerp(m, g, 1.0 - beta1_t)
            u_inf = torch.maximum(u_inf * beta2, g.abs() + eps)
            for column, value in zip(columns, (-clr * (m / u_inf), m, u_inf), strict=True):
                column.append(value)
        updates, exp_avg, exp_inf = columns
        return tree_unflatten(grads, updates), AdamaxState(
            state.count + 1, tree_unflatten(grads, exp_avg), tree_unflatten(grads, exp_inf)
        )

    return GradientTransformation(init, update)


class NAdamState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    mu_product: torch.Tensor  # () float32, as torch keeps it
    exp_avg: Any  # params-shaped
    exp_avg_sq: Any  # params-shaped


def NAdam(  # noqa: N802
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.NAdam, functionally; see jaxmath.optim.NAdam for the algorithm."""
    check_lr(lr)
    check_nonnegative("eps", eps)
    beta1, beta2 = check_betas(betas)
    check_nonnegative("weight_decay", weight_decay)
    check_nonnegative("momentum_decay", momentum_decay)
    check_bool("decoupled_weight_decay", decoupled_weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> NAdamState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        return NAdamState(
            _count(),
            torch.ones((), dtype=torch.float32),
            _zeros_like_tree(params),
            _zeros_like_tree(params),
        )

    def update(grads: Any, state: NAdamState, params: Any = None) -> tuple[Any, NAdamState]:
        grad_leaves, param_leaves = _prepare(
            grads, state.exp_avg, params, weight_decay != 0, "NAdam"
        )
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        step = int(state.count) + 1
        bias_correction2 = bias_correction(beta2, step)
        beta1_t = scheduled(beta1, state.count) if callable(beta1) else beta1
        mu = beta1_t * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1_t * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product = state.mu_product * mu  # a float32 tensor times a Python float: float32
        product = float(mu_product)
        grad_scale = -lr_t * (1.0 - mu) / (1.0 - product)
        avg_scale = (-lr_t * mu_next) / (1.0 - product * mu_next)
        columns: list[list[Any]] = [[], [], []]
        for index, (g, p, m, v) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                tree_leaves(state.exp_avg),
                tree_leaves(state.exp_avg_sq),
                strict=True,
            )
        ):
            g = -g if maximize else g
            decay = weight_decay != 0 and decays[index]
            if decay and not decoupled_weight_decay:
                g = g + weight_decay * p
            m = lerp(m, g, 1.0 - beta1_t)
            v = v * beta2 + ((1.0 - beta2) * g) * g
            denom = torch.sqrt(v / bias_correction2) + eps
            u = grad_scale * (g / denom) + avg_scale * (m / denom)
            if decay and decoupled_weight_decay:
                u = _decoupled(u, p, lr_t, weight_decay)
            for column, value in zip(columns, (u, m, v), strict=True):
                column.append(value)
        updates, exp_avg, exp_avg_sq = columns
        return tree_unflatten(grads, updates), NAdamState(
            state.count + 1,
            mu_product,
            tree_unflatten(grads, exp_avg),
            tree_unflatten(grads, exp_avg_sq),
        )

    return GradientTransformation(init, update)


class RAdamState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    exp_avg: Any  # params-shaped
    exp_avg_sq: Any  # params-shaped


def RAdam(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.RAdam, functionally; see jaxmath.optim.RAdam for the algorithm."""
    check_lr(lr)
    check_nonnegative("eps", eps)
    beta1, beta2 = check_betas(betas)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("decoupled_weight_decay", decoupled_weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> RAdamState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        return RAdamState(_count(), _zeros_like_tree(params), _zeros_like_tree(params))

    def update(grads: Any, state: RAdamState, params: Any = None) -> tuple[Any, RAdamState]:
        grad_leaves, param_leaves = _prepare(
            grads, state.exp_avg, params, weight_decay != 0, "RAdam"
        )
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        step = int(state.count) + 1
        beta1_t = scheduled(beta1, state.count) if callable(beta1) else beta1
        bias_correction1 = bias_correction(beta1_t, step)
        bias_correction2 = bias_correction(beta2, step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        columns: list[list[Any]] = [[], [], []]
        for index, (g, p, m, v) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                tree_leaves(state.exp_avg),
                tree_leaves(state.exp_avg_sq),
                strict=True,
            )
        ):
            g = -g if maximize else g
            decay = weight_decay != 0 and decays[index]
            if decay and not decoupled_weight_decay:
                g = g + weight_decay * p
            m = lerp(m, g, 1.0 - beta1_t)
            v = v * beta2 + ((1.0 - beta2) * g) * g
            step_m = (m / bias_correction1) * lr_t
            if rho_t > 5.0:
                rect = (
                    (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
                ) ** 0.5
                u = -(step_m * ((bias_correction2**0.5) / (torch.sqrt(v) + eps)) * rect)
            else:
                u = -step_m
            if decay and decoupled_weight_decay:
                u = _decoupled(u, p, lr_t, weight_decay)
            for column, value in zip(columns, (u, m, v), strict=True):
                column.append(value)
        updates, exp_avg, exp_avg_sq = columns
        return tree_unflatten(grads, updates), RAdamState(
            state.count + 1, tree_unflatten(grads, exp_avg), tree_unflatten(grads, exp_avg_sq)
        )

    return GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Rprop, ASGD (issue 19)
# ------------------------------------------------------------------------------------------------


class RpropState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    prev: Any  # params-shaped
    step_size: Any  # params-shaped


def Rprop(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50),
    maximize: bool = False,
) -> GradientTransformation:
    """torch.optim.Rprop, functionally; see jaxmath.optim.Rprop for the algorithm."""
    check_lr(lr)
    if not isinstance(etas, Sequence) or len(etas) != 2:
        raise TypeError(f"etas must be a pair (eta_minus, eta_plus), got {etas!r}")
    check_scalar_in_range("etas[0]", etas[0])
    check_scalar_in_range("etas[1]", etas[1])
    if not 0.0 < etas[0] < 1.0 < etas[1]:
        raise ValueError(f"etas must satisfy 0 < etas[0] < 1 < etas[1], got {tuple(etas)!r}")
    if not isinstance(step_sizes, Sequence) or len(step_sizes) != 2:
        raise TypeError(f"step_sizes must be a pair (min, max), got {step_sizes!r}")
    check_nonnegative("step_sizes[0]", step_sizes[0])
    check_nonnegative("step_sizes[1]", step_sizes[1])
    check_bool("maximize", maximize)
    eta_minus, eta_plus = float(etas[0]), float(etas[1])
    smallest, largest = float(step_sizes[0]), float(step_sizes[1])

    def init(params: Any) -> RpropState:
        initial = learning_rate(lr, _count())
        return RpropState(
            _count(),
            _zeros_like_tree(params),
            tree_map(lambda p: torch.full_like(p, initial), params),
        )

    def update(grads: Any, state: RpropState, params: Any = None) -> tuple[Any, RpropState]:
        grad_leaves, _ = _prepare(grads, state.prev, params, False, "Rprop")
        columns: list[list[Any]] = [[], [], []]
        for g, prev, size in zip(
            grad_leaves, tree_leaves(state.prev), tree_leaves(state.step_size), strict=True
        ):
            g = -g if maximize else g
            sign = torch.sign(g * prev)
            factor = torch.ones_like(sign)
            factor = torch.where(sign > 0, torch.full_like(sign, eta_plus), factor)
            factor = torch.where(sign < 0, torch.full_like(sign, eta_minus), factor)
            size = torch.clamp(size * factor, smallest, largest)
            g = torch.where(sign < 0, torch.zeros_like(g), g)
            for column, value in zip(columns, (-(torch.sign(g) * size), g, size), strict=True):
                column.append(value)
        updates, prev, sizes = columns
        return tree_unflatten(grads, updates), RpropState(
            state.count + 1, tree_unflatten(grads, prev), tree_unflatten(grads, sizes)
        )

    return GradientTransformation(init, update)


class ASGDState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    eta: torch.Tensor  # () float32, as torch keeps it
    mu: torch.Tensor  # () float32, as torch keeps it
    ax: Any  # params-shaped: the averaged parameters


def ASGD(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.ASGD, functionally; see jaxmath.optim.ASGD for the algorithm."""
    check_lr(lr)
    check_scalar_in_range("lambd", lambd)
    check_scalar_in_range("alpha", alpha)
    check_scalar_in_range("t0", t0)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> ASGDState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        initial = torch.tensor(learning_rate(lr, _count()), dtype=torch.float32)
        return ASGDState(
            _count(), initial, torch.ones((), dtype=torch.float32), _zeros_like_tree(params)
        )

    def update(grads: Any, state: ASGDState, params: Any = None) -> tuple[Any, ASGDState]:
        grad_leaves, param_leaves = _prepare(grads, state.ax, params, True, "ASGD")
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        eta, mu = float(state.eta), float(state.mu)
        updates, averages = [], []
        for index, (g, p, ax) in enumerate(
            zip(grad_leaves, param_leaves, tree_leaves(state.ax), strict=True)
        ):
            g = -g if maximize else g
            if weight_decay != 0 and decays[index]:
                g = g + weight_decay * p
            u = (p * (1 - lambd * eta) - p) + (-eta) * g
            new_p = p + u
            ax = new_p.clone() if mu == 1 else ax + (new_p - ax) * mu
            updates.append(u)
            averages.append(ax)
        step = int(state.count) + 1
        new_eta = torch.tensor(lr_t / ((1 + lambd * lr_t * step) ** alpha), dtype=torch.float32)
        new_mu = torch.tensor(1 / max(1, step - t0), dtype=torch.float32)
        return tree_unflatten(grads, updates), ASGDState(
            state.count + 1, new_eta, new_mu, tree_unflatten(grads, averages)
        )

    return GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Adafactor, Muon (issue 19)
# ------------------------------------------------------------------------------------------------


def _torch_lerp(start: torch.Tensor, end: torch.Tensor, weight: float) -> torch.Tensor:
    """``torch.lerp`` with a Python weight (its kernel: the weight in the tensors' dtype, two
    branches)."""
    return torch.lerp(start, end, weight)


def check_adafactor_eps(eps: Any) -> tuple[float | None, float]:
    if not isinstance(eps, Sequence) or isinstance(eps, str) or len(eps) != 2:
        raise TypeError(f"eps must be a pair (eps1 or None, eps2), got {eps!r}")
    if eps[0] is not None:
        check_nonnegative("eps[0]", eps[0])
    check_nonnegative("eps[1]", eps[1])
    return (None if eps[0] is None else float(eps[0])), float(eps[1])


class AdafactorState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    row_var: Any  # (..., n, 1) per param with ndim >= 2; a (0,) placeholder otherwise
    col_var: Any  # (..., 1, m) per param with ndim >= 2; a (0,) placeholder otherwise
    variance: Any  # like the param for ndim <= 1; a (0,) placeholder otherwise


def Adafactor(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple[float | None, float] = (None, 1e-3),
    d: float = 1.0,
    weight_decay: float = 0.0,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.Adafactor, functionally; see jaxmath.optim.Adafactor for the algorithm."""
    check_lr(lr)
    check_scalar_in_range("beta2_decay", beta2_decay, high=0.0)
    eps1, eps2 = check_adafactor_eps(eps)
    check_scalar_in_range("d", d, 1.0)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)
    beta2_decay, d = float(beta2_decay), float(d)

    def placeholder(p: torch.Tensor) -> torch.Tensor:
        return torch.zeros(0, dtype=p.dtype)

    def init(params: Any) -> AdafactorState:
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)

        def row(p: torch.Tensor) -> torch.Tensor:
            return p.new_zeros((*p.shape[:-1], 1)) if p.ndim >= 2 else placeholder(p)

        def col(p: torch.Tensor) -> torch.Tensor:
            return p.new_zeros((*p.shape[:-2], 1, p.shape[-1])) if p.ndim >= 2 else placeholder(p)

        def full(p: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(p) if p.ndim < 2 else placeholder(p)

        return AdafactorState(
            _count(), tree_map(row, params), tree_map(col, params), tree_map(full, params)
        )

    def update(grads: Any, state: AdafactorState, params: Any = None) -> tuple[Any, AdafactorState]:
        grad_leaves, param_leaves = _prepare(grads, None, params, True, "Adafactor")
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        step = int(state.count) + 1
        weight = float(step) ** beta2_decay
        rho = min(lr_t, 1 / (float(step) ** 0.5))
        epsilon1 = eps1
        if epsilon1 is None and grad_leaves:
            epsilon1 = torch.finfo(grad_leaves[0].dtype).eps
        columns: list[list[Any]] = [[], [], [], []]
        for index, (g, p, r, c, v) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                tree_leaves(state.row_var),
                tree_leaves(state.col_var),
                tree_leaves(state.variance),
                strict=True,
            )
        ):
            g = -g if maximize else g
            size = max(p.numel(), 1) ** 0.5
            alpha = max(eps2, p.norm(2).item() / size) * rho
            if g.dim() >= 2:
                row_mean = torch.linalg.vector_norm(g, dim=-1, keepdim=True).square() / g.shape[-1]
                col_mean = torch.linalg.vector_norm(g, dim=-2, keepdim=True).square() / g.shape[-2]
                r = _torch_lerp(r, row_mean, weight)
                c = _torch_lerp(c, col_mean, weight)
                estimate = (r @ c) / r.mean(dim=-2, keepdim=True).clamp(min=epsilon1)
            else:
                v = _torch_lerp(v, g * g, weight)
                estimate = v
            u = estimate.clamp(min=epsilon1 * epsilon1).rsqrt() * g
            denom = max(1.0, u.norm(2).item() / (size * d))
            u = (-alpha / denom) * u
            if weight_decay != 0 and decays[index]:
                u = (p * (1 - lr_t * weight_decay) - p) + u
            for column, value in zip(columns, (u, r, c, v), strict=True):
                column.append(value)
        updates, row_var, col_var, variance = columns
        return tree_unflatten(grads, updates), AdafactorState(
            state.count + 1,
            tree_unflatten(grads, row_var),
            tree_unflatten(grads, col_var),
            tree_unflatten(grads, variance),
        )

    return GradientTransformation(init, update)


ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def check_muon_options(
    ns_coefficients: Any, eps: Any, ns_steps: Any, adjust_lr_fn: Any
) -> tuple[float, float, float]:
    if (
        not isinstance(ns_coefficients, Sequence)
        or isinstance(ns_coefficients, str)
        or len(ns_coefficients) != 3
    ):
        raise ValueError(
            f"ns_coefficients must be a tuple of 3 floats (a, b, c), got {ns_coefficients!r}"
        )
    for index, value in enumerate(ns_coefficients):
        check_scalar_in_range(f"ns_coefficients[{index}]", value)
    check_scalar_in_range("eps", eps)
    if isinstance(ns_steps, bool) or not isinstance(ns_steps, int):
        raise TypeError(f"ns_steps must be an int, got {ns_steps!r}")
    if not 0 <= ns_steps < 100:
        raise ValueError(f"ns_steps must be in [0, 100), got {ns_steps!r}")
    if adjust_lr_fn not in ADJUST_LR_FNS:
        raise ValueError(
            f"adjust_lr_fn must be one of None, 'original', 'match_rms_adamw', got {adjust_lr_fn!r}"
        )
    a, b, c = (float(value) for value in ns_coefficients)
    return a, b, c


def muon_lr_ratio(adjust_lr_fn: str | None, shape: Sequence[int]) -> float:
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1, rows / cols))
    return 0.2 * math.sqrt(max(rows, cols))


def check_muon_params(tree: Any) -> None:
    for path, leaf in tree_flatten_with_path(tree):
        if leaf.dim() != 2:
            raise ValueError(
                f"Muon only supports 2-D parameters, got params{path} of "
                f"shape {tuple(leaf.shape)} (optimize biases and embeddings with another "
                f"optimizer, e.g. through optax.multi_transform)"
            )


def newton_schulz(
    update: torch.Tensor, coefficients: tuple[float, float, float], steps: int, eps: float
) -> torch.Tensor:
    """torch's ``_zeropower_via_newtonschulz``, without in-place ops: bfloat16 throughout."""
    a, b, c = coefficients
    x = update.bfloat16()
    tall = update.shape[0] > update.shape[1]
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.T
        gram_update = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, gram_update, x, beta=a)
    return x.T if tall else x


class MuonState(NamedTuple):
    count: torch.Tensor  # () int64: steps taken
    momentum_buffer: Any  # params-shaped (2-D leaves)


def Muon(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
    eps: float = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: str | None = None,
    weight_decay_mask: MaskOrFn = None,
) -> GradientTransformation:
    """torch.optim.Muon, functionally; see jaxmath.optim.Muon for the algorithm."""
    check_lr(lr)
    check_momentum(momentum)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("nesterov", nesterov)
    coefficients = check_muon_options(ns_coefficients, eps, ns_steps, adjust_lr_fn)
    check_mask(weight_decay_mask)
    momentum = momentum if callable(momentum) else float(momentum)
    eps = float(eps)

    def init(params: Any) -> MuonState:
        check_muon_params(params)
        if weight_decay != 0:
            resolve_mask(weight_decay_mask, params)
        return MuonState(_count(), _zeros_like_tree(params))

    def update(grads: Any, state: MuonState, params: Any = None) -> tuple[Any, MuonState]:
        grad_leaves, param_leaves = _prepare(grads, state.momentum_buffer, params, True, "Muon")
        decays = resolve_mask(weight_decay_mask, params) if weight_decay != 0 else None
        lr_t = learning_rate(lr, state.count)
        mu = scheduled(momentum, state.count) if callable(momentum) else momentum
        updates, buffers = [], []
        for index, (g, p, buf) in enumerate(
            zip(grad_leaves, param_leaves, tree_leaves(state.momentum_buffer), strict=True)
        ):
            buf = _torch_lerp(buf, g, 1 - mu)
            direction = _torch_lerp(g, buf, mu) if nesterov else buf
            orthogonal = newton_schulz(direction, coefficients, ns_steps, eps).to(p.dtype)
            u = (-lr_t * muon_lr_ratio(adjust_lr_fn, p.shape)) * orthogonal
            if weight_decay != 0 and decays[index]:
                u = (p * (1 - lr_t * weight_decay) - p) + u
            updates.append(u)
            buffers.append(buf)
        return tree_unflatten(grads, updates), MuonState(
            state.count + 1, tree_unflatten(grads, buffers)
        )

    return GradientTransformation(init, update)
