"""Case rows for jaxmath.optim, jaxmath.lr_scheduler and jaxmath.objectives. Joined into the one
table by cases.py.

Optimizer rows run a whole trajectory: jaxmath (jitted update, one compile), torch_ref and
torch.optim itself (the reference, on the same numbers) take ``STEPS`` steps on the same problem, and
the params after steps 1, 2, 3, 10 and ``STEPS`` are compared. The problem is a separable, mildly
non-linear bowl, f(p) = sum a d^2 / 2 + 0.025 d^4 with d = p - c, written through its gradient
``g = d (a + 0.1 d^2)`` (products and sums only: every framework computes the same
gradient from the same params), started 1.5 to 3.5 away from the minimum so that nothing converges to
the noise floor within ``STEPS`` steps (where adaptive methods amplify rounding). ``tests/test_optim``
checks that moving the start by 1e-14 moves torch's own result by far less than the tolerance.
``maximize`` rows ascend the bounded -f (gradient -g) and check that the reference stays finite.

Parameter groups: a ``weight_decay_mask`` sample runs torch.optim with two param groups (decayed
leaves, and the others with weight_decay=0); a ``schedule`` sample drives the lr by a jaxmath /
torch_ref schedule and, in torch, by the same torch.optim.lr_scheduler class stepped after each
``optimizer.step()``.

Schedule rows compare ``schedule(steps)`` for 0..LR_STEPS with ``optimizer.param_groups[0]['lr']``
after t calls of torch's ``scheduler.step()`` (past the end of each schedule; OneCycleLR up to its
total_steps, where torch stops). The ReduceLROnPlateau row feeds 300 noisy plateauing losses and
compares the lr after each ``scheduler.step(loss)`` and the scale applied to the updates. Objective rows compare
values and gradients with torch_ref (and ``scipy.optimize.rosen`` for rosenbrock), at random points
and at the known minima.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.optimize
import torch
import torch.optim.lr_scheduler as torch_schedulers

import jaxmath
import torch_ref
from parity_tests.harness import (
    Case,
    ErrorInput,
    Framework,
    Reference,
    Sample,
    Tolerance,
    assert_trees_close,
    leaves,
)
from parity_tests.inputs import normal, uniform

STEPS = 250
CHECKPOINTS = (1, 2, 3, 10)
LR_STEPS = 400
CUBIC = 0.1  # the problem's non-linearity: g = d (a + CUBIC d^2)

# ------------------------------------------------------------------------------------------------
# Problems: a start, curvatures a and centres c, in four tree layouts
# ------------------------------------------------------------------------------------------------

LAYOUTS: dict[str, Any] = {
    "array": (12,),
    "dict": {"w": (4, 3), "b": (3,)},
    "mlp": [{"W": (3, 4), "b": (4,)}, {"W": (4, 2), "b": (2,)}],
    "tuple": ((5,), (2, 3)),
}
#: Layouts for the rules that branch on ndim (Adafactor factors ndim >= 2 over the last two axes,
#: keeps a full moment for 0-d and 1-D) or accept 2-D params only (Muon: tall, wide and square).
#: Kept apart from LAYOUTS, which apply_updates' rows also run over.
SHAPED_LAYOUTS: dict[str, Any] = {
    "conv": {"k": (2, 3, 4), "w": (3, 4), "b": (4,), "s": ()},
    "matrices": {"w": (4, 3), "v": (3, 5), "s": (4, 4)},
}


def _layout(name: str) -> Any:
    return LAYOUTS[name] if name in LAYOUTS else SHAPED_LAYOUTS[name]


def _tree_of_shapes(layout: Any, make: Callable[[tuple[int, ...]], Any]) -> Any:
    if isinstance(layout, dict):
        return {key: _tree_of_shapes(value, make) for key, value in layout.items()}
    if isinstance(layout, list):
        return [_tree_of_shapes(value, make) for value in layout]
    if isinstance(layout, tuple) and layout and isinstance(layout[0], tuple):
        return tuple(_tree_of_shapes(value, make) for value in layout)
    return make(layout)


def problem(rng: np.random.Generator, layout: str, dtype: str) -> tuple[Any, Any, Any]:
    """(start params, curvatures a in [0.2, 2], centres c): the start is 1.5 to 3.5 from c."""
    shapes = _layout(layout)
    centres = _tree_of_shapes(shapes, lambda shape: normal(rng, shape, dtype, 1.0))
    offsets = _tree_of_shapes(
        shapes,
        lambda shape: (
            rng.choice([-1.0, 1.0], size=shape) * rng.uniform(1.5, 3.5, size=shape)
        ).astype(dtype),
    )
    start = jax.tree.map(lambda c, o: (c + o).astype(dtype), centres, offsets)
    curvatures = _tree_of_shapes(shapes, lambda shape: uniform(rng, shape, dtype, 0.2, 2.0))
    return start, curvatures, centres


def problem_gradient(p: Any, a: Any, c: Any) -> Any:
    """g = d (a + 0.1 d^2), d = p - c: the same arithmetic on NumPy, JAX and torch arrays."""
    d = p - c
    return d * (a + CUBIC * (d * d))


def decay_matrices(params: Any) -> Any:
    """A weight_decay_mask function: decay leaves with ndim >= 2 (weights), not vectors (biases)."""
    if isinstance(params, dict):
        return {key: decay_matrices(value) for key, value in params.items()}
    if isinstance(params, list | tuple):
        return type(params)(decay_matrices(value) for value in params)
    return len(params.shape) >= 2


def _static_mask(layout: str) -> Any:
    """A weight_decay_mask as a pytree of bools: the same rule, spelt out."""
    return _tree_of_shapes(_layout(layout), lambda shape: len(shape) >= 2)


# ------------------------------------------------------------------------------------------------
# Running a trajectory in each framework
# ------------------------------------------------------------------------------------------------


def _schedule(module: Any, lr: float, spec: tuple[str, dict[str, Any]]) -> Any:
    name, kwargs = spec
    if name in ("SequentialLR", "ChainedScheduler"):
        parts = [getattr(module, part)(lr, **part_kwargs) for part, part_kwargs in kwargs["parts"]]
        if name == "ChainedScheduler":
            return module.ChainedScheduler(parts)
        return module.SequentialLR(parts, kwargs["milestones"])
    return getattr(module, name)(lr, **kwargs)


def _record(checkpoints: dict[str, Any], step: int, steps: int, params: Any) -> None:
    if step in CHECKPOINTS:
        checkpoints[f"step {step}"] = params
    if step == steps:
        checkpoints["end"] = params


def _corrupt_grads(grads: Any, corrupt: str, make_ones: Callable[[Any], Any]) -> Any:
    """Grads that do not fit the state: leaf "b" missing, of shape (7,), or complex."""
    if corrupt == "complex":
        return {**grads, "b": grads["b"] * 1j}
    if corrupt == "structure":
        return {key: value for key, value in grads.items() if key != "b"}
    return {**grads, "b": make_ones(grads["b"])}


def optimizer_call(name: str) -> Callable[..., Any]:
    """``call(framework, start, a, c, steps=STEPS, schedule=None, corrupt=None, **hyper)``."""

    def call(
        framework: Framework,
        start: Any,
        a: Any,
        c: Any,
        steps: int = STEPS,
        schedule: Any = None,
        corrupt: str | None = None,
        **hyper: Any,
    ) -> dict[str, Any]:
        package = framework.package
        momentum_schedule = hyper.pop("momentum_schedule", False)
        if schedule is not None:
            hyper["lr"] = _schedule(package.lr_scheduler, hyper["lr"], schedule)
        if momentum_schedule:  # what torch's CyclicLR / OneCycleLR write into the param group
            if name in ("SGD", "RMSprop", "Muon"):  # torch's defaults: "momentum", else "betas"
                hyper["momentum"] = hyper["lr"].momentum
            else:
                hyper["betas"] = (hyper["lr"].momentum, hyper.get("betas", (0.9, 0.999))[1])
        opt = getattr(package.optim, name)(**hyper)
        sign = -1.0 if hyper.get("maximize", False) else 1.0
        if framework.name == "jaxmath":
            return _run_jax(opt, start, a, c, steps, sign, corrupt)
        return _run_torch_ref(opt, start, a, c, steps, sign, corrupt)

    return call


def _run_jax(opt: Any, start: Any, a: Any, c: Any, steps: int, sign: float, corrupt: Any) -> Any:
    params = start
    state = opt.init(params)
    grad_of = functools.partial(jax.tree.map, lambda p, a, c: sign * problem_gradient(p, a, c))
    if corrupt is not None:
        ones = lambda leaf: jnp.ones((7,), leaf.dtype)  # noqa: E731
        opt.update(_corrupt_grads(grad_of(params, a, c), corrupt, ones), state, params)

    @jax.jit
    def step(params: Any, state: Any) -> tuple[Any, Any]:
        updates, state = opt.update(grad_of(params, a, c), state, params)
        return jaxmath.optim.apply_updates(params, updates), state

    checkpoints: dict[str, Any] = {}
    for index in range(1, steps + 1):
        params, state = step(params, state)
        _record(checkpoints, index, steps, params)
    assert step._cache_size() == 1, "the jitted update recompiled between steps"
    if isinstance(state, jaxmath.optim.ASGDState):
        checkpoints["averaged params (ax)"] = state.ax
    return checkpoints


def _run_torch_ref(
    opt: Any, start: Any, a: Any, c: Any, steps: int, sign: float, corrupt: Any
) -> Any:
    tree_map = torch_ref.optim.tree_map
    params = start
    state = opt.init(params)
    if corrupt is not None:
        grads = tree_map(lambda p, a, c: sign * problem_gradient(p, a, c), params, a, c)
        ones = lambda leaf: torch.ones(7, dtype=leaf.dtype)  # noqa: E731
        opt.update(_corrupt_grads(grads, corrupt, ones), state, params)
    checkpoints: dict[str, Any] = {}
    for index in range(1, steps + 1):
        grads = tree_map(lambda p, a, c: sign * problem_gradient(p, a, c), params, a, c)
        updates, state = opt.update(grads, state, params)
        params = torch_ref.optim.apply_updates(params, updates)
        _record(checkpoints, index, steps, params)
    if isinstance(state, torch_ref.optim.ASGDState):
        checkpoints["averaged params (ax)"] = state.ax
    return checkpoints


def torch_optim_reference(name: str) -> Callable[..., Any]:
    """torch.optim.<name> itself on the same problem: param groups for a mask, an
    lr_scheduler stepped after every optimizer.step() for a schedule."""

    def reference(
        start: Any,
        a: Any,
        c: Any,
        steps: int = STEPS,
        schedule: Any = None,
        corrupt: str | None = None,
        weight_decay_mask: Any = None,
        momentum_schedule: bool = False,
        **hyper: Any,
    ) -> dict[str, Any]:
        """``momentum_schedule``: torch's scheduler cycles momentum / betas[0] itself (its
        ``cycle_momentum`` defaults to True)."""
        tree_leaves = torch_ref.optim.tree_leaves
        tensors = [leaf.clone() for leaf in tree_leaves(start)]
        if weight_decay_mask is None:
            groups: Any = tensors
        else:
            mask = weight_decay_mask(start) if callable(weight_decay_mask) else weight_decay_mask
            flags = tree_leaves(mask)
            groups = [
                {"params": [t for t, f in zip(tensors, flags, strict=True) if f]},
                {
                    "params": [t for t, f in zip(tensors, flags, strict=True) if not f],
                    "weight_decay": 0.0,
                },
            ]
        opt = getattr(torch.optim, name)(groups, **hyper)
        scheduler = None
        if schedule is not None:
            scheduler = _torch_scheduler(opt, schedule, hyper["lr"])
        sign = -1.0 if hyper.get("maximize", False) else 1.0
        a_leaves, c_leaves = tree_leaves(a), tree_leaves(c)
        checkpoints: dict[str, Any] = {}
        for index in range(1, steps + 1):
            for tensor, curvature, centre in zip(tensors, a_leaves, c_leaves, strict=True):
                tensor.grad = sign * problem_gradient(tensor.detach(), curvature, centre)
            opt.step()
            if scheduler is not None:
                scheduler.step()
            snapshot = torch_ref.optim.tree_unflatten(start, [t.detach().clone() for t in tensors])
            _record(checkpoints, index, steps, snapshot)
        if name == "ASGD":
            averaged = [opt.state[tensor]["ax"].clone() for tensor in tensors]
            checkpoints["averaged params (ax)"] = torch_ref.optim.tree_unflatten(start, averaged)
        return checkpoints

    return reference


def _torch_scheduler(opt: Any, spec: tuple[str, dict[str, Any]], lr: float) -> Any:
    """torch's scheduler on ``opt``; ``lr`` (our schedules' first argument) is CyclicLR's base_lr
    and OneCycleLR's max_lr."""
    name, kwargs = spec
    if name == "CyclicLR":
        kwargs = {"base_lr": lr, **kwargs}
    if name == "OneCycleLR":
        kwargs = {"max_lr": lr, **kwargs}
    if name in ("SequentialLR", "ChainedScheduler"):
        parts = [
            getattr(torch_schedulers, part)(opt, **part_kwargs)
            for part, part_kwargs in kwargs["parts"]
        ]
        if name == "ChainedScheduler":
            return torch_schedulers.ChainedScheduler(parts)
        return torch_schedulers.SequentialLR(opt, parts, kwargs["milestones"])
    return getattr(torch_schedulers, name)(opt, **kwargs)


def compare_trajectories(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """The reference must be finite (a NaN equals a NaN in assert_allclose), then leafwise close."""
    for leaf in leaves(expected):
        assert np.all(np.isfinite(np.asarray(leaf))), (
            f"{context}: the expected params are not finite"
        )
    assert_trees_close(actual, expected, tol, context)


# ------------------------------------------------------------------------------------------------
# Samples and bad input, per optimizer
# ------------------------------------------------------------------------------------------------

#: (layout, options, description) per optimizer; every branch of each rule, and every layout.
OPTIMIZER_SETTINGS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "SGD": [
        ("dict", {}),
        ("array", {"lr": 0.05, "momentum": 0.9}),
        ("mlp", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}),
        ("tuple", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
        ("dict", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1}),
        ("mlp", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
        ("mlp", {"lr": 0.05, "weight_decay": 0.2, "weight_decay_mask": "tree"}),
        ("dict", {"lr": 0.1, "momentum": 0.9, "schedule": ("StepLR", {"step_size": 30})}),
        (
            "mlp",
            {
                "lr": 0.02,
                "momentum_schedule": True,
                "schedule": ("CyclicLR", {"max_lr": 0.06, "step_size_up": 40}),
            },
        ),
        # the momentum reaches exactly 0 at steps 40, 120, 200: torch's `if momentum != 0` takes
        # the plain step there and leaves its buffer as it was (dampening shows a wrong buffer)
        (
            "dict",
            {
                "lr": 0.02,
                "dampening": 0.5,
                "weight_decay": 0.05,
                "momentum_schedule": True,
                "schedule": (
                    "CyclicLR",
                    {
                        "max_lr": 0.06,
                        "step_size_up": 40,
                        "base_momentum": 0.0,
                        "max_momentum": 0.9,
                    },
                ),
            },
        ),
        # the momentum is 0 at step 1 (and at 61, 121, ...): torch's buffer stays None until the
        # first step with momentum != 0, which starts it as that step's gradient
        (
            "tuple",
            {
                "lr": 0.02,
                "momentum_schedule": True,
                "schedule": (
                    "CyclicLR",
                    {
                        "max_lr": 0.05,
                        "step_size_up": 30,
                        "base_momentum": 0.9,
                        "max_momentum": 0.0,
                    },
                ),
            },
        ),
        (
            "dict",
            {
                "lr": 0.08,
                "momentum": 0.9,
                "nesterov": True,
                "momentum_schedule": True,
                "schedule": ("OneCycleLR", {"total_steps": 250}),
            },
        ),
    ],
    "Adam": [
        ("dict", {}),
        ("array", {"lr": 0.02}),
        ("dict", {"lr": 0.02, "weight_decay": 0.1}),
        ("mlp", {"lr": 0.02, "amsgrad": True}),
        ("tuple", {"lr": 0.02, "amsgrad": True, "weight_decay": 0.05, "maximize": True}),
        ("dict", {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-6}),
        ("mlp", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}),
        ("mlp", {"lr": 0.02, "weight_decay": 0.1, "weight_decay_mask": "function"}),
        (
            "dict",
            {
                "lr": 0.03,
                "schedule": (
                    "SequentialLR",
                    {
                        "parts": (
                            ("LinearLR", {"start_factor": 0.1, "total_iters": 20}),
                            ("CosineAnnealingLR", {"T_max": 100, "eta_min": 0.001}),
                        ),
                        "milestones": [20],
                    },
                ),
            },
        ),
        (
            "dict",
            {
                "lr": 0.03,
                "momentum_schedule": True,
                "schedule": ("OneCycleLR", {"total_steps": 250, "three_phase": True}),
            },
        ),
    ],
    "AdamW": [
        ("dict", {}),
        ("dict", {"lr": 0.02, "weight_decay": 0.1, "amsgrad": True}),
        ("array", {"lr": 0.02, "maximize": True}),
        ("mlp", {"lr": 0.02, "weight_decay": 0.2, "weight_decay_mask": "tree"}),
        (
            "tuple",
            {"lr": 0.03, "weight_decay": 0.1, "schedule": ("CosineAnnealingLR", {"T_max": 100})},
        ),
        (
            "mlp",
            {
                "lr": 0.01,
                "weight_decay": 0.1,
                "momentum_schedule": True,
                "schedule": (
                    "CyclicLR",
                    {"max_lr": 0.03, "step_size_up": 30, "mode": "triangular2"},
                ),
            },
        ),
    ],
    "RMSprop": [
        ("dict", {}),
        ("dict", {"lr": 0.01, "centered": True}),
        ("mlp", {"lr": 0.005, "momentum": 0.5}),
        ("tuple", {"lr": 0.003, "alpha": 0.95, "centered": True, "momentum": 0.5}),
        ("array", {"lr": 0.01, "weight_decay": 0.1, "maximize": True}),
        ("mlp", {"lr": 0.01, "weight_decay": 0.2, "weight_decay_mask": "function"}),
        ("dict", {"lr": 0.01, "momentum": 0.3, "schedule": ("ExponentialLR", {"gamma": 0.99})}),
        (
            "mlp",
            {
                "lr": 0.005,
                "momentum_schedule": True,
                "schedule": ("OneCycleLR", {"total_steps": 250}),
            },
        ),
        # the momentum reaches exactly 0 at steps 40, 120, 200 (the peaks of the lr): torch takes
        # the plain step there and leaves its buffer as it was (the `if momentum > 0` branch)
        (
            "dict",
            {
                "lr": 0.002,
                "centered": True,
                "weight_decay": 0.05,
                "momentum_schedule": True,
                "schedule": (
                    "CyclicLR",
                    {
                        "max_lr": 0.01,
                        "step_size_up": 40,
                        "base_momentum": 0.0,
                        "max_momentum": 0.9,
                    },
                ),
            },
        ),
    ],
    "Adagrad": [
        ("dict", {}),
        ("dict", {"lr": 0.1, "lr_decay": 0.01}),
        ("mlp", {"lr": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1}),
        ("array", {"lr": 0.1, "eps": 1e-6, "maximize": True}),
        ("tuple", {"lr": 0.2, "schedule": ("LinearLR", {"start_factor": 0.5, "total_iters": 50})}),
        ("mlp", {"lr": 0.1, "weight_decay": 0.2, "weight_decay_mask": "tree"}),
    ],
    "Adadelta": [
        ("dict", {}),
        ("dict", {"rho": 0.95, "eps": 1e-5}),
        ("mlp", {"lr": 0.5, "weight_decay": 0.1, "maximize": True}),
        ("tuple", {"lr": 2.0, "weight_decay": 0.2, "weight_decay_mask": "function"}),
        ("array", {"lr": 1.0, "schedule": ("ExponentialLR", {"gamma": 0.995})}),
    ],
    "Adamax": [
        ("dict", {}),
        ("array", {"lr": 0.02}),
        ("dict", {"lr": 0.02, "weight_decay": 0.1, "betas": (0.5, 0.99)}),
        ("mlp", {"lr": 0.02, "maximize": True, "eps": 1e-4}),
        ("tuple", {"lr": 0.02, "weight_decay": 0.2, "weight_decay_mask": "tree"}),
        (
            "mlp",
            {
                "lr": 0.02,
                "momentum_schedule": True,
                "schedule": ("OneCycleLR", {"total_steps": 250, "anneal_strategy": "linear"}),
            },
        ),
        (
            "dict",
            {
                "lr": 0.005,
                "weight_decay": 0.1,
                "momentum_schedule": True,
                "schedule": (
                    "CyclicLR",
                    {"max_lr": 0.02, "step_size_up": 30, "mode": "exp_range", "gamma": 0.995},
                ),
            },
        ),
    ],
    "NAdam": [
        ("dict", {}),
        ("array", {"lr": 0.01}),
        ("dict", {"lr": 0.01, "weight_decay": 0.1}),
        (
            "mlp",
            {
                "lr": 0.01,
                "weight_decay": 0.1,
                "decoupled_weight_decay": True,
                "momentum_decay": 0.01,
            },
        ),
        ("tuple", {"lr": 0.01, "maximize": True, "betas": (0.8, 0.99)}),
        ("mlp", {"lr": 0.01, "weight_decay": 0.2, "weight_decay_mask": "function"}),
        ("dict", {"lr": 0.02, "schedule": ("StepLR", {"step_size": 50, "gamma": 0.5})}),
        (
            "dict",
            {
                "lr": 0.01,
                "momentum_schedule": True,
                "schedule": ("OneCycleLR", {"total_steps": 250, "three_phase": True}),
            },
        ),
        (
            "mlp",
            {
                "lr": 0.005,
                "weight_decay": 0.1,
                "decoupled_weight_decay": True,
                "momentum_decay": 0.01,
                "momentum_schedule": True,
                "schedule": (
                    "CyclicLR",
                    {"max_lr": 0.02, "step_size_up": 25, "mode": "triangular2"},
                ),
            },
        ),
    ],
    "RAdam": [
        ("dict", {}),
        ("array", {"lr": 0.02}),
        ("dict", {"lr": 0.02, "weight_decay": 0.1}),
        ("mlp", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}),
        ("tuple", {"lr": 0.02, "maximize": True, "betas": (0.9, 0.9)}),
        ("mlp", {"lr": 0.02, "weight_decay": 0.2, "weight_decay_mask": "tree"}),
        (
            "tuple",
            {
                "lr": 0.02,
                "momentum_schedule": True,
                "schedule": ("OneCycleLR", {"total_steps": 250}),
            },
        ),
        (
            "mlp",
            {
                "lr": 0.005,
                "weight_decay": 0.1,
                "maximize": True,
                "momentum_schedule": True,
                "schedule": (
                    "CyclicLR",
                    {
                        "max_lr": 0.02,
                        "step_size_up": 40,
                        "base_momentum": 0.5,
                        "max_momentum": 0.95,
                    },
                ),
            },
        ),
    ],
    "Rprop": [
        ("dict", {}),
        ("array", {"lr": 0.05}),
        ("mlp", {"lr": 0.01, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.5)}),
        ("tuple", {"lr": 0.02, "maximize": True}),
    ],
    "ASGD": [
        ("dict", {}),
        ("array", {"lr": 0.05, "lambd": 1e-3}),
        ("dict", {"lr": 0.05, "t0": 100, "alpha": 0.5}),
        ("mlp", {"lr": 0.05, "weight_decay": 0.1, "maximize": True, "t0": 50}),
        ("tuple", {"lr": 0.05, "weight_decay": 0.2, "weight_decay_mask": "tree", "t0": 10}),
        ("dict", {"lr": 0.05, "t0": 20, "schedule": ("StepLR", {"step_size": 50, "gamma": 0.5})}),
    ],
    "Adafactor": [
        ("dict", {}),
        ("conv", {"lr": 0.02}),
        ("conv", {"lr": 0.02, "weight_decay": 0.1}),
        ("mlp", {"lr": 0.02, "weight_decay": 0.1, "maximize": True}),
        ("tuple", {"eps": (1e-3, 1e-2), "d": 2.0, "beta2_decay": -0.5}),
        ("array", {"eps": (1e-10, 1e-3), "d": 1.5}),
        ("mlp", {"lr": 0.02, "weight_decay": 0.2, "weight_decay_mask": "tree"}),
        ("conv", {"lr": 0.05, "schedule": ("StepLR", {"step_size": 50, "gamma": 0.5})}),
    ],
    # Muon's update has a fixed size (orthogonalised), so it never settles: the lrs keep every
    # trajectory far from the minimum, where the bfloat16 roundings of the
    # orthogonalisation stay small (the tolerance kind "bfloat16" in harness.py says how small).
    "Muon": [
        ("matrices", {}),
        ("matrices", {"lr": 2e-3, "nesterov": False}),
        ("matrices", {"lr": 2e-3, "adjust_lr_fn": "match_rms_adamw"}),
        ("matrices", {"lr": 1e-3, "adjust_lr_fn": "original", "weight_decay": 0.0}),
        ("matrices", {"lr": 1e-3, "momentum": 0.0}),
        ("matrices", {"lr": 2e-3, "momentum": 0.8, "ns_steps": 3, "eps": 1e-5}),
        ("matrices", {"lr": 2e-3, "ns_coefficients": (2.0, -1.5, 0.5)}),
        ("matrices", {"lr": 2e-3, "schedule": ("StepLR", {"step_size": 50, "gamma": 0.5})}),
        (
            "matrices",
            {
                "lr": 2e-3,
                "momentum_schedule": True,
                "schedule": ("OneCycleLR", {"total_steps": 250}),
            },
        ),
        (
            "matrices",
            {
                "lr": 1e-3,
                "nesterov": False,
                "momentum_schedule": True,
                "schedule": (
                    "CyclicLR",
                    {"max_lr": 3e-3, "step_size_up": 40, "mode": "triangular2"},
                ),
            },
        ),
    ],
}


def _describe(layout: str, options: dict[str, Any]) -> str:
    shown = {key: value for key, value in options.items() if key != "schedule"}
    text = f"{layout} {shown}" if options else f"{layout} defaults"
    if "schedule" in options:
        text += f" lr by {options['schedule'][0]}"
    return text


def optimizer_samples(name: str) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        for layout, options in OPTIMIZER_SETTINGS[name]:
            kwargs = dict(options)
            if kwargs.get("weight_decay_mask") == "tree":
                kwargs["weight_decay_mask"] = _static_mask(layout)
            elif kwargs.get("weight_decay_mask") == "function":
                kwargs["weight_decay_mask"] = decay_matrices
            yield Sample(problem(rng, layout, dtype), kwargs, _describe(layout, options))

    return samples


def _tiny_problem(name: str = "") -> tuple[Any, Any, Any]:
    """Two leaves, "w" (2, 2) and "b" (2,); for Muon, which takes 2-D params only, "b" is (2, 2)."""
    bias_shape = (2, 2) if name == "Muon" else (2,)
    params = {"w": np.ones((2, 2)), "b": np.ones(bias_shape)}
    return params, params, {"w": np.zeros((2, 2)), "b": np.zeros(bias_shape)}


#: torch's messages where Adafactor and Muon word them differently from the other optimizers.
UPSTREAM_MESSAGES: dict[str, dict[str, str]] = {
    "Adafactor": {
        "lr": "Learning rate should be >= 0",
        "weight_decay": "weight_decay should be >= 0",
    },
    "Muon": {
        "lr": "Learning rate should be >= 0",
        "weight_decay": "weight decay should be >= 0",
        "momentum": "momentum should be >= 0",
    },
}


def optimizer_errors(name: str) -> Callable[[], Iterator[ErrorInput]]:
    """The bad input torch refuses, refused the same way (and the tree mismatches torch cannot
    have: its params are a flat list)."""

    upstream_messages = UPSTREAM_MESSAGES.get(name, {})

    def rejected(description: str, match: str, upstream: str, **options: Any) -> ErrorInput:
        return ErrorInput(
            Sample(_tiny_problem(name), {"steps": 1, **options}, description),
            ValueError,
            match,
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match=upstream,
        )

    def not_a_number_or_schedule(argument: str, **options: Any) -> ErrorInput:
        """A momentum / beta1 that is neither a number nor a schedule: torch's comparison with
        its bound fails on the string."""
        return ErrorInput(
            Sample(_tiny_problem(name), {"steps": 1, **options}, f"{argument} a string"),
            TypeError,
            re.escape(
                f"{argument} must be a real number or a schedule (a function of the step count), "
                f"got '0.9'"
            ),
            upstream_rejects=True,
            upstream_exception=TypeError,
            upstream_match="not supported between instances of",
        )

    def errors() -> Iterator[ErrorInput]:
        yield rejected(
            "lr < 0",
            r"lr must be >= 0.0, got -1.0",
            upstream_messages.get("lr", "Invalid learning rate"),
            lr=-1.0,
        )
        if name != "Rprop":
            yield rejected(
                "weight_decay < 0",
                r"weight_decay must be >= 0.0, got -0.1",
                upstream_messages.get("weight_decay", "Invalid weight_decay value"),
                weight_decay=-0.1,
            )
        if name == "Adafactor":
            yield from _adafactor_errors(rejected)
        if name == "Muon":
            yield from _muon_errors(rejected)
        if name == "Rprop":
            yield rejected(
                "etas out of order",
                r"etas must satisfy 0 < etas\[0\] < 1 < etas\[1\], got \(0.5, 0.9\)",
                "Invalid eta values",
                etas=(0.5, 0.9),
            )
        if name in ("Adam", "AdamW", "Adamax", "NAdam", "RAdam"):
            yield rejected(
                "beta1 = 1",
                r"betas\[0\] must be in \[0, 1\), got 1.0",
                "Invalid beta parameter at index 0",
                betas=(1.0, 0.999),
            )
            yield rejected(
                "beta2 < 0",
                r"betas\[1\] must be in \[0, 1\), got -0.1",
                "Invalid beta parameter at index 1",
                betas=(0.9, -0.1),
            )
            yield not_a_number_or_schedule("betas[0]", betas=("0.9", 0.999))
        if name not in ("SGD", "Rprop", "ASGD", "Adafactor", "Muon"):
            yield rejected(
                "eps < 0", r"eps must be >= 0.0, got -1e-08", "Invalid epsilon", eps=-1e-8
            )
        if name in ("SGD", "RMSprop", "Muon"):
            yield rejected(
                "momentum < 0",
                r"momentum must be >= 0.0, got -0.5",
                upstream_messages.get("momentum", "Invalid momentum value"),
                momentum=-0.5,
            )
        if name in ("SGD", "RMSprop", "Muon"):
            yield not_a_number_or_schedule("momentum", momentum="0.9")
        if name == "SGD":
            yield rejected(
                "nesterov without momentum",
                r"nesterov requires momentum > 0 and dampening == 0, got momentum=0, dampening=0",
                "Nesterov momentum requires a momentum and zero dampening",
                nesterov=True,
            )
            yield rejected(
                "nesterov with dampening",
                r"nesterov requires momentum > 0 and dampening == 0, got momentum=0.9, "
                r"dampening=0.1",
                "Nesterov momentum requires a momentum and zero dampening",
                nesterov=True,
                momentum=0.9,
                dampening=0.1,
            )
        if name == "RMSprop":
            yield rejected(
                "alpha < 0", r"alpha must be >= 0.0, got -0.5", "Invalid alpha", alpha=-0.5
            )
        if name == "Adadelta":
            yield rejected("rho > 1", r"rho must be <= 1.0, got 1.5", "Invalid rho value", rho=1.5)
        if name == "NAdam":
            yield rejected(
                "momentum_decay < 0",
                r"momentum_decay must be >= 0.0, got -0.1",
                "Invalid momentum_decay value",
                momentum_decay=-0.1,
            )
        if name == "Adagrad":
            yield rejected(
                "lr_decay < 0",
                r"lr_decay must be >= 0.0, got -0.1",
                "Invalid lr_decay",
                lr_decay=-0.1,
            )
            yield rejected(
                "initial_accumulator_value < 0",
                r"initial_accumulator_value must be >= 0.0, got -1.0",
                "Invalid initial_accumulator_value",
                initial_accumulator_value=-1.0,
            )
        tiny = _tiny_problem(name)
        if name != "Rprop":  # Rprop has no weight decay, so no mask
            yield from _mask_errors(tiny)
        yield from _grads_errors(tiny, "(2, 2)" if name == "Muon" else "(2,)")

    return errors


def _adafactor_errors(rejected: Callable[..., ErrorInput]) -> Iterator[ErrorInput]:
    """Every hyperparameter torch.optim.Adafactor validates, and eps not being a pair."""
    yield rejected(
        "beta2_decay > 0",
        r"beta2_decay must be <= 0.0, got 0.5",
        "beta2_decay should be <= 0 but is: 0.5",
        beta2_decay=0.5,
    )
    yield rejected(
        "eps1 < 0",
        r"eps\[0\] must be >= 0.0, got -1e-30",
        "epsilon1 should be >= 0 but is: -1e-30",
        eps=(-1e-30, 1e-3),
    )
    yield rejected(
        "eps2 < 0",
        r"eps\[1\] must be >= 0.0, got -0.001",
        "epsilon2 should be >= 0 but is: -0.001",
        eps=(None, -1e-3),
    )
    yield rejected(
        "d < 1",
        r"d must be >= 1.0, got 0.5",
        "Clipping threshold d should be >= 1 but is: 0.5",
        d=0.5,
    )
    yield ErrorInput(
        Sample(_tiny_problem(), {"steps": 1, "eps": 1e-3}, "eps not a pair"),
        TypeError,
        r"eps must be a pair \(eps1 or None, eps2\), got 0.001",
        upstream_rejects=True,
        upstream_exception=TypeError,
        upstream_match="not subscriptable",
    )


def _muon_errors(rejected: Callable[..., ErrorInput]) -> Iterator[ErrorInput]:
    """torch.optim.Muon's refusals: at construction (lr, momentum, weight decay, adjust_lr_fn, params
    that are not 2-D) and at its first step (ns_steps >= 100, not three coefficients), which we
    refuse at construction / init."""
    yield rejected(
        "unknown adjust_lr_fn",
        r"adjust_lr_fn must be one of None, 'original', 'match_rms_adamw', got 'rms'",
        "Adjust learning rate function rms is not supported",
        adjust_lr_fn="rms",
    )
    yield rejected(
        "ns_steps = 100",
        r"ns_steps must be in \[0, 100\), got 100",
        "Number of steps must be less than 100",
        ns_steps=100,
    )
    yield rejected(
        "two ns_coefficients",
        r"ns_coefficients must be a tuple of 3 floats \(a, b, c\), got \(3.4445, -4.775\)",
        "Coefficients must be a tuple of exactly 3 values",
        ns_coefficients=(3.4445, -4.775),
    )
    yield ErrorInput(
        Sample(_tiny_problem(), {"steps": 1}, "a 1-D param"),
        ValueError,
        r"Muon only supports 2-D parameters, got params\['b'\] of shape \(2,\)",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="Muon only supports 2D parameters",
    )


def _mask_errors(tiny: Any) -> Iterator[ErrorInput]:
    """A weight_decay_mask of another structure, or with a leaf that is not a bool."""
    yield ErrorInput(
        Sample(
            tiny,
            {"steps": 1, "weight_decay": 0.1, "weight_decay_mask": {"w": True}},
            "mask structure != params",
        ),
        ValueError,
        r"weight_decay_mask must have the tree structure of params \{'b': \*, 'w': \*\}, "
        r"got \{'w': \*\}",
    )
    yield ErrorInput(
        Sample(tiny, {"steps": 1, "weight_decay_mask": {"w": True, "b": 0}}, "mask with an int"),
        TypeError,
        r"weight_decay_mask must be a pytree of bools or a function of params, got a leaf 0",
    )


def _grads_errors(tiny: Any, b_shape: str = "(2,)") -> Iterator[ErrorInput]:
    """Grads that do not fit the state (structure, shape): refused, with the path named."""
    yield ErrorInput(
        Sample(tiny, {"steps": 1, "corrupt": "structure"}, "grads of another structure"),
        ValueError,
        r"grads must have the tree structure of .* \{'b': \*, 'w': \*\}, got \{'w': \*\}",
    )
    yield ErrorInput(
        Sample(tiny, {"steps": 1, "corrupt": "shape"}, "grads of another shape"),
        ValueError,
        r"grads\['b'\] must have shape " + re.escape(b_shape) + r" as in .*, got \(7,\)",
    )
    # torch.optim updates a complex param as a pair of reals; the rules here would square and
    # divide complex numbers (Adam left the imaginary parts unmoved), so both packages refuse it
    yield ErrorInput(
        Sample(tiny, {"steps": 1, "corrupt": "complex"}, "complex grads"),
        TypeError,
        r"grads\['b'\] must be real \(complex params are not supported\), "
        r"got dtype complex(64|128)",
    )


def optimizer_case(name: str) -> Case:
    return Case(
        name,
        "optim",
        optimizer_samples(name),
        references=(Reference(f"torch.optim.{name}", torch_optim_reference(name)),),
        error_inputs=optimizer_errors(name),
        grad_argnums=(),
        kind="bfloat16" if name == "Muon" else "optimizer",  # Muon: see its docstring
        call=optimizer_call(name),
        compare=compare_trajectories,
        jit=False,  # the call runs a Python loop over a jitted update (checked not to recompile)
    )


# ------------------------------------------------------------------------------------------------
# apply_updates
# ------------------------------------------------------------------------------------------------


def apply_updates_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for layout in LAYOUTS:
        params, updates, _ = problem(rng, layout, dtype)
        yield Sample((params, updates), {}, layout)


def torch_foreach_add(params: Any, updates: Any) -> Any:
    """torch.optim's foreach path adds the step with torch._foreach_add."""
    tree_leaves = torch_ref.optim.tree_leaves
    summed = torch._foreach_add(tree_leaves(params), tree_leaves(updates))
    return torch_ref.optim.tree_unflatten(params, summed)


def optax_apply_updates(params: Any, updates: Any) -> Any:
    return jax.tree.map(np.asarray, optax.apply_updates(params, updates))


def apply_updates_errors() -> Iterator[ErrorInput]:
    params = {"w": np.ones((2, 2)), "b": np.ones(2)}
    yield ErrorInput(
        Sample((params, {"w": np.ones((2, 2))}), {}, "updates missing a leaf"),
        ValueError,
        r"updates must have the tree structure of params \{'b': \*, 'w': \*\}, got \{'w': \*\}",
    )
    yield ErrorInput(
        Sample((params, {"w": np.ones((2, 2)), "b": np.ones(3)}), {}, "updates of another shape"),
        ValueError,
        r"updates\['b'\] must have shape \(2,\) as in params, got \(3,\)",
    )


# ------------------------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------------------------

#: Per schedule: the option sets compared with torch (each past the schedule's end).
SCHEDULE_SETTINGS: dict[str, list[dict[str, Any]]] = {
    "StepLR": [{"step_size": 30}, {"step_size": 7, "gamma": 0.5}, {"step_size": 1, "gamma": 0.99}],
    "ExponentialLR": [{"gamma": 0.99}, {"gamma": 0.9}, {"gamma": 1.0}],
    "CosineAnnealingLR": [
        {"T_max": 100},
        {"T_max": 37, "eta_min": 0.001},
        {"T_max": 1},
        {"T_max": 500, "eta_min": 0.05},
    ],
    "LinearLR": [
        {},
        {"start_factor": 0.1, "total_iters": 50},
        {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 300},
        {"start_factor": 0.25, "end_factor": 0.5, "total_iters": 1},
    ],
    "SequentialLR": [
        {
            "parts": (
                ("LinearLR", {"start_factor": 0.1, "total_iters": 20}),
                ("CosineAnnealingLR", {"T_max": 100}),
            ),
            "milestones": [20],
        },
        {
            "parts": (
                ("ExponentialLR", {"gamma": 0.95}),
                ("StepLR", {"step_size": 10, "gamma": 0.5}),
                ("CosineAnnealingLR", {"T_max": 50, "eta_min": 0.01}),
            ),
            "milestones": [30, 120],
        },
        {
            "parts": (("LinearLR", {}), ("ExponentialLR", {"gamma": 0.98})),
            "milestones": [5],
        },
    ],
}


def decay_95(step: Any) -> Any:
    """A LambdaLR factor (operators only: works on ints, JAX arrays and tensors)."""
    return 0.95**step


def inverse_time(step: Any) -> Any:
    return 1.0 / (1.0 + 0.05 * step)


def constant_99(step: Any) -> Any:
    """A MultiplicativeLR factor."""
    return 0.99


def cyclic_factor(step: Any) -> Any:
    return 1.0 - 0.01 * (step % 3)


SCHEDULE_SETTINGS.update(
    {
        "MultiStepLR": [
            {"milestones": [30, 80]},
            {"milestones": [50, 10, 50], "gamma": 0.5},
            {"milestones": [1]},
            {"milestones": [0, 0, 60]},  # torch decays at a milestone 0 from the first step
        ],
        "ConstantLR": [{}, {"factor": 0.5, "total_iters": 100}, {"factor": 1.0, "total_iters": 3}],
        "PolynomialLR": [
            {},
            {"total_iters": 300, "power": 2.0},
            {"total_iters": 50, "power": 0.5},
        ],
        "LambdaLR": [{"lr_lambda": decay_95}, {"lr_lambda": inverse_time}],
        "MultiplicativeLR": [{"lr_lambda": constant_99}, {"lr_lambda": cyclic_factor}],
        "CyclicLR": [
            {"max_lr": 0.5, "step_size_up": 20},
            {"max_lr": 0.3, "step_size_up": 15, "step_size_down": 35, "mode": "triangular2"},
            {"max_lr": 1.0, "step_size_up": 25, "mode": "exp_range", "gamma": 0.995},
            {"max_lr": 0.4, "step_size_up": 30, "scale_fn": decay_95, "scale_mode": "iterations"},
            {"max_lr": 0.4, "step_size_up": 30, "scale_fn": inverse_time},
        ],
        "ChainedScheduler": [
            {
                "parts": (
                    ("ConstantLR", {"factor": 0.5, "total_iters": 20}),
                    ("ExponentialLR", {"gamma": 0.99}),
                )
            },
            {
                "parts": (
                    ("LinearLR", {"start_factor": 0.1, "total_iters": 30}),
                    ("MultiStepLR", {"milestones": [100, 250], "gamma": 0.3}),
                    ("PolynomialLR", {"total_iters": 350, "power": 2.0}),
                )
            },
        ],
        "OneCycleLR": [
            {"total_steps": 400},
            {
                "total_steps": 300,
                "anneal_strategy": "linear",
                "three_phase": True,
                "pct_start": 0.25,
            },
            {"epochs": 4, "steps_per_epoch": 50, "div_factor": 10.0, "final_div_factor": 100.0},
        ],
        "CosineAnnealingWarmRestarts": [
            {"T_0": 10},
            {"T_0": 10, "T_mult": 2, "eta_min": 0.001},
            {"T_0": 1, "T_mult": 3},
            {"T_0": 37, "eta_min": 0.05},
        ],
    }
)

# torch's SequentialLR continues from the lr in force when a MultiplicativeLR takes over (it has no
# closed form): after a decay, and between two multiplicative phases around a StepLR.
SCHEDULE_SETTINGS["SequentialLR"] += [
    {
        "parts": (
            ("ExponentialLR", {"gamma": 0.9}),
            ("MultiplicativeLR", {"lr_lambda": cyclic_factor}),
        ),
        "milestones": [15],
    },
    {
        "parts": (
            ("MultiplicativeLR", {"lr_lambda": constant_99}),
            ("StepLR", {"step_size": 20, "gamma": 0.5}),
            ("MultiplicativeLR", {"lr_lambda": cyclic_factor}),
        ),
        "milestones": [40, 100],
    },
    # milestone 0 (torch accepts it): the second schedule from the first step; a MultiplicativeLR
    # there runs as on its own (nothing before it to continue)
    {
        "parts": (
            ("ExponentialLR", {"gamma": 0.9}),
            ("MultiplicativeLR", {"lr_lambda": cyclic_factor}),
            ("LinearLR", {"start_factor": 0.2, "total_iters": 30}),
        ),
        "milestones": [0, 50],
    },
]

SCHEDULE_LR = 0.1  # the base lr when a sample does not give one


def schedule_call(name: str) -> Callable[..., Any]:
    def call(framework: Framework, steps: Any, lr: float = SCHEDULE_LR, **options: Any) -> Any:
        return _schedule(framework.package.lr_scheduler, lr, (name, options))(steps)

    return call


def torch_schedule_reference(name: str) -> Callable[..., Any]:
    """``optimizer.param_groups[0]['lr']`` after t calls of torch's ``scheduler.step()``."""

    def reference(steps: Any, lr: float = SCHEDULE_LR, **options: Any) -> Any:
        parameter = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([parameter], lr=lr)
        # OneCycleLR: torch ignores the optimizer's lr (its first argument is max_lr); CyclicLR:
        # torch overwrites it with base_lr. _torch_scheduler passes lr as either.
        scheduler = _torch_scheduler(opt, (name, options), lr)
        steps = np.asarray(steps)
        lrs = []
        count = int(steps.max()) + 1 if steps.size else 0
        for index in range(count):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if index < count - 1:  # OneCycleLR refuses a step past total_steps
                scheduler.step()
        return torch.tensor(np.asarray(lrs, np.float64)[steps])

    return reference


def schedule_samples(name: str) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        index_dtype = np.int32 if dtype == "float32" else np.int64
        for options in SCHEDULE_SETTINGS[name]:
            count = LR_STEPS
            if name == "OneCycleLR":  # its whole cycle, end included (torch stops there)
                count = options.get("total_steps") or options["epochs"] * options["steps_per_epoch"]
                count += 1
            steps = np.arange(count, dtype=index_dtype)
            yield Sample((steps,), dict(options), f"{options or 'defaults'}")
        shuffled = rng.permutation(LR_STEPS)[:50].astype(index_dtype)
        yield Sample(
            (shuffled,), {"lr": 0.5, **SCHEDULE_SETTINGS[name][0]}, "lr 0.5, steps shuffled"
        )

    return samples


def schedule_errors(name: str) -> Callable[[], Iterator[ErrorInput]]:
    first = SCHEDULE_SETTINGS[name][0]
    steps = np.arange(3)

    def errors() -> Iterator[ErrorInput]:
        yield ErrorInput(
            Sample((np.array([3, -1]),), dict(first), "negative step"),
            ValueError,
            r"step must be >= 0, got -1",
        )
        yield ErrorInput(
            Sample((np.array([0.5]),), dict(first), "float step"),
            TypeError,
            r"step must be an integer or an integer array, got dtype float",
        )
        if name != "SequentialLR":
            yield ErrorInput(
                Sample((steps,), {"lr": -0.1, **first}, "lr < 0"),
                ValueError,
                r"lr must be >= 0.0, got -0.1",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="Invalid learning rate",
            )
        if name == "StepLR":
            yield ErrorInput(
                Sample((steps,), {"step_size": 0}, "step_size 0"),
                ValueError,
                r"step_size must be a positive integer, got 0",
                upstream_rejects=True,
                upstream_exception=ZeroDivisionError,
            )
        if name in ("ConstantLR", "LinearLR", "PolynomialLR"):
            # torch accepts 0 and then holds f * lr (ConstantLR, LinearLR) or lr (PolynomialLR)
            # by its step(), against its own closed form: refused rather than copied
            yield ErrorInput(
                Sample((steps,), {"total_iters": 0}, "total_iters 0"),
                ValueError,
                r"total_iters must be a positive integer, got 0",
            )
        if name == "PolynomialLR":  # torch: 0.0 ** -1 at t = total_iters
            yield ErrorInput(
                Sample((steps,), {"total_iters": 2, "power": -1.0}, "power < 0"),
                ValueError,
                r"power must be >= 0.0, got -1.0",
                upstream_rejects=True,
                upstream_exception=ZeroDivisionError,
                upstream_match="cannot be raised to a negative power",
            )
        if name == "CyclicLR":  # torch computes the momentum schedule at construction
            for argument in ("base_momentum", "max_momentum"):
                yield ErrorInput(
                    Sample((steps,), {**first, argument: "0.9"}, f"{argument} a string"),
                    TypeError,
                    rf"{argument} must be a real number, got '0.9'",
                    upstream_rejects=True,
                    upstream_exception=TypeError,
                    upstream_match="unsupported operand type",
                )
        if name == "MultiStepLR":  # torch never reaches a negative milestone (ignores it)
            yield ErrorInput(
                Sample((steps,), {"milestones": [10, -5]}, "milestone -5"),
                ValueError,
                r"milestones must be a non-negative integer, got -5",
            )
            yield ErrorInput(
                Sample((steps,), {"milestones": [2.5]}, "milestone 2.5"),
                TypeError,
                r"milestones must be an int, got 2.5",
            )
        if name == "CosineAnnealingLR":
            yield ErrorInput(
                Sample((steps,), {"T_max": 0}, "T_max 0"),
                ValueError,
                r"T_max must be a positive integer, got 0",
                upstream_rejects=True,
                upstream_exception=ZeroDivisionError,
            )
            yield ErrorInput(
                Sample((steps,), {"T_max": 10, "eta_min": -0.1}, "eta_min < 0"),
                ValueError,
                r"eta_min must be >= 0.0, got -0.1",
            )
        if name == "LinearLR":
            yield ErrorInput(
                Sample((steps,), {"start_factor": 0.0}, "start_factor 0"),
                ValueError,
                r"start_factor must be in \(0, 1\], got 0.0",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="Starting multiplicative factor",
            )
            yield ErrorInput(
                Sample((steps,), {"end_factor": 1.5}, "end_factor > 1"),
                ValueError,
                r"end_factor must be <= 1.0, got 1.5",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="Ending multiplicative factor",
            )
        if name == "OneCycleLR":
            yield ErrorInput(
                Sample((np.array([0, 401]),), {"total_steps": 400}, "step past total_steps"),
                ValueError,
                r"step must be <= total_steps = 400, got 401",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="Tried to step 401 times",
            )
            yield ErrorInput(
                Sample((steps,), {"total_steps": 10, "anneal_strategy": "exp"}, "unknown anneal"),
                ValueError,
                r"anneal_strategy must be one of 'cos', 'linear', got 'exp'",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="anneal_strategy must be one of 'cos' or 'linear'",
            )
        if name == "CyclicLR":
            yield ErrorInput(
                Sample((steps,), {"max_lr": 0.5, "mode": "sawtooth"}, "unknown mode"),
                ValueError,
                r"mode must be one of 'triangular', 'triangular2', 'exp_range' when scale_fn is "
                r"None, got 'sawtooth'",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="mode is invalid and scale_fn is None",
            )
        if name == "ChainedScheduler":
            yield ErrorInput(
                Sample(
                    (steps,),
                    {
                        "parts": (
                            ("ExponentialLR", {"gamma": 0.9}),
                            ("CosineAnnealingLR", {"T_max": 5}),
                        )
                    },
                    "a cosine in the chain",
                ),
                TypeError,
                r"schedulers\[1\] must be one of StepLR, .*, got CosineAnnealingLR",
            )
        if name == "ConstantLR":
            yield ErrorInput(
                Sample((steps,), {"factor": 1.5}, "factor > 1"),
                ValueError,
                r"factor must be in \(0, 1\], got 1.5",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="Constant multiplicative factor expected to be between 0 and 1",
            )
        if name == "CosineAnnealingWarmRestarts":
            yield ErrorInput(
                Sample((steps,), {"T_0": 0}, "T_0 0"),
                ValueError,
                r"T_0 must be a positive integer, got 0",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="Expected positive integer T_0",
            )
            yield ErrorInput(
                Sample((steps,), {"T_0": 5, "T_mult": 0}, "T_mult 0"),
                ValueError,
                r"T_mult must be a positive integer, got 0",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="Expected integer T_mult >= 1",
            )
        if name in ("LambdaLR", "MultiplicativeLR"):
            yield ErrorInput(
                Sample((steps,), {"lr_lambda": 0.5}, "lr_lambda not callable"),
                TypeError,
                r"lr_lambda must be a function of the step, got 0.5",
            )
        if name == "SequentialLR":
            yield ErrorInput(
                Sample(
                    (steps,),
                    {
                        "parts": (("LinearLR", {}), ("ExponentialLR", {"gamma": 0.9})),
                        "milestones": [],
                    },
                    "milestones too short",
                ),
                ValueError,
                r"milestones must have len\(schedulers\) - 1 = 1 entries, got 0",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="expects number of schedulers provided to be one more",
            )

    return errors


def schedule_case(name: str) -> Case:
    required = {
        "MultiStepLR": "milestones",
        "LambdaLR": "lr_lambda",
        "MultiplicativeLR": "lr_lambda",
        "CosineAnnealingWarmRestarts": "T_0",
        "OneCycleLR": "total_steps, or epochs and steps_per_epoch",
        "ChainedScheduler": "schedulers",
        "CyclicLR": "max_lr",
        "StepLR": "step_size",
        "ExponentialLR": "gamma",
        "CosineAnnealingLR": "T_max",
        "SequentialLR": "schedulers and milestones",
    }
    opt_outs = (
        {"defaults": f"{name} has required options ({required[name]}), as torch's has"}
        if name in required
        else {}
    )
    return Case(
        name,
        "lr_scheduler",
        schedule_samples(name),
        references=(Reference(f"torch.optim.lr_scheduler.{name}", torch_schedule_reference(name)),),
        error_inputs=schedule_errors(name),
        grad_argnums=(),
        call=schedule_call(name),
        opt_outs=opt_outs,
    )


# ------------------------------------------------------------------------------------------------
# ReduceLROnPlateau: a stateful transformation driven by losses
# ------------------------------------------------------------------------------------------------

PLATEAU_SETTINGS: list[dict[str, Any]] = [
    {},
    {"mode": "max"},
    {"threshold_mode": "abs", "threshold": 1e-3, "cooldown": 5, "patience": 3, "factor": 0.5},
    {"patience": 0, "factor": 0.5, "min_lr": 0.002},
    {"patience": 2, "factor": 0.7, "eps": 0.02},
]


def plateau_call(
    framework: Framework, losses: Any, lr: float = SCHEDULE_LR, **options: Any
) -> dict[str, Any]:
    """Feed the losses one by one: the lr in force after each, and the scale applied to updates."""
    transform = framework.package.lr_scheduler.ReduceLROnPlateau(lr, **options)
    if framework.name == "jaxmath":
        updates, update = jnp.ones(2), jax.jit(transform.update)
    else:
        updates, update = torch.ones(2, dtype=torch.float64), transform.update
    state = transform.init()
    lrs, scales = [], []
    for loss in losses:
        scaled, state = update(updates, state, value=loss)
        lrs.append(state.lr)
        scales.append(scaled[0])
    if framework.name == "jaxmath":
        return {"lr after each loss": jnp.stack(lrs), "update scale": jnp.stack(scales)}
    return {
        "lr after each loss": torch.tensor(lrs, dtype=torch.float64),
        "update scale": torch.stack(scales),
    }


def torch_plateau_reference(losses: Any, lr: float = SCHEDULE_LR, **options: Any) -> Any:
    """torch.optim.lr_scheduler.ReduceLROnPlateau stepped with each loss after optimizer.step()."""
    parameter = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([parameter], lr=lr)
    scheduler = torch_schedulers.ReduceLROnPlateau(opt, **options)
    lrs, scales = [], []
    for loss in losses:
        scales.append(opt.param_groups[0]["lr"] / lr)
        opt.step()
        scheduler.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    return {
        "lr after each loss": torch.tensor(lrs, dtype=torch.float64),
        "update scale": torch.tensor(scales, dtype=torch.float64),
    }


def plateau_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    steps = np.arange(300)
    for options in PLATEAU_SETTINGS:
        noise = rng.normal(scale=0.01, size=300)
        losses = np.exp(-steps / 30.0) + 0.05 + noise
        if options.get("mode") == "max":
            losses = -losses
        yield Sample((losses.astype(dtype),), dict(options), f"{options or 'defaults'}")


def plateau_errors() -> Iterator[ErrorInput]:
    losses = np.ones(3)
    for options, exception, match, upstream in (
        ({"factor": 1.0}, ValueError, r"factor must be < 1.0, got 1.0", "Factor should be < 1.0"),
        (
            {"mode": "median"},
            ValueError,
            r"mode must be one of 'min', 'max', got 'median'",
            "mode median is unknown",
        ),
        (
            {"threshold_mode": "ratio"},
            ValueError,
            r"threshold_mode must be one of 'rel', 'abs', got 'ratio'",
            "threshold mode ratio is unknown",
        ),
    ):
        yield ErrorInput(
            Sample((losses,), options, str(options)),
            exception,
            match,
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match=upstream,
        )
    yield ErrorInput(
        Sample((np.ones((3, 2)),), {}, "a loss that is not a scalar"),
        ValueError,
        r"value must be a scalar loss, got shape \(2,\)",
    )


# ------------------------------------------------------------------------------------------------
# Objectives
# ------------------------------------------------------------------------------------------------

TWO_D = ("beale", "himmelblau", "booth", "saddle")

OBJECTIVE_OPTIONS: dict[str, list[dict[str, Any]]] = {
    "rosenbrock": [{}],
    "beale": [{}],
    "himmelblau": [{}],
    "booth": [{}],
    "rastrigin": [{}, {"A": 5.0}],
    "ill_conditioned_quadratic": [{}, {"condition_number": 50.0}],
    "saddle": [{}],
}


def objective_samples(name: str) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    shapes = ((2,), (5, 2), (3, 4, 2)) if name in TWO_D else ((2,), (4, 3), (2, 3, 6))
    scale = 1.0 if name == "beale" else 2.0

    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        for options in OBJECTIVE_OPTIONS[name]:
            for shape in shapes:
                yield Sample(
                    (normal(rng, shape, dtype, scale),), dict(options), f"{shape} {options}"
                )

    return samples


def objective_minima(name: str) -> Callable[[str], Iterator[Sample]]:
    def edges(dtype: str) -> Iterator[Sample]:
        points = np.array([point for point, _ in jaxmath.objectives.MINIMA[name]], dtype)
        yield Sample((points,), {}, "at the known minima")
        if name == "saddle":
            yield Sample((np.zeros(2, dtype),), {}, "at the saddle point")

    return edges


def scipy_rosen(x: Any) -> Any:
    return scipy.optimize.rosen(np.moveaxis(np.asarray(x), -1, 0))


def objective_errors(name: str) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        yield ErrorInput(
            Sample((np.arange(4).reshape(2, 2),), {}, "integer x"),
            TypeError,
            r"x must be a floating-point array, got dtype int",
        )
        yield ErrorInput(
            Sample((np.array(1.0),), {}, "0-d x"),
            ValueError,
            r"x must have shape \(\.\.\., d\) with the coordinates last, got \(\)",
        )
        if name in TWO_D:
            yield ErrorInput(
                Sample((np.ones((4, 3)),), {}, "3 coordinates"),
                ValueError,
                r"x must have shape \(\.\.\., 2\), got \(4, 3\)",
            )
        if name == "rosenbrock":
            yield ErrorInput(
                Sample((np.ones((4, 1)),), {}, "1 coordinate"),
                ValueError,
                r"x must have at least 2 coordinates on its last axis, got \(4, 1\)",
            )
        if name == "ill_conditioned_quadratic":
            yield ErrorInput(
                Sample((np.ones(3),), {"condition_number": 0.5}, "condition number < 1"),
                ValueError,
                r"condition_number must be >= 1.0, got 0.5",
            )

    return errors


def objective_case(name: str) -> Case:
    references = (
        (Reference("scipy.optimize.rosen", scipy_rosen, "numpy"),) if name == "rosenbrock" else ()
    )
    return Case(
        name,
        "objectives",
        objective_samples(name),
        references=references,
        edge_inputs=objective_minima(name),
        error_inputs=objective_errors(name),
        kind="reduction",
    )


OPTIM_CASES: list[Case] = [
    *(optimizer_case(name) for name in OPTIMIZER_SETTINGS),
    Case(
        "apply_updates",
        "optim",
        apply_updates_samples,
        references=(
            Reference("torch._foreach_add", torch_foreach_add),
            Reference("optax.apply_updates", optax_apply_updates, "numpy"),
        ),
        error_inputs=apply_updates_errors,
        grad_argnums=(),
    ),
    *(schedule_case(name) for name in SCHEDULE_SETTINGS),
    Case(
        "ReduceLROnPlateau",
        "lr_scheduler",
        plateau_samples,
        references=(
            Reference("torch.optim.lr_scheduler.ReduceLROnPlateau", torch_plateau_reference),
        ),
        error_inputs=plateau_errors,
        grad_argnums=(),
        call=plateau_call,
        jit=False,  # a Python loop over the losses around a jitted update (one compile)
    ),
    *(objective_case(name) for name in OBJECTIVE_OPTIONS),
]
