r"""torch.optim.lr_scheduler's schedules as pure functions of the step: ``schedule(t) -> lr``.

Each class is named and parameterised as torch's, with torch's ``optimizer`` argument replaced by
``lr`` (the base learning rate), so a torch script ports by changing one word::

    torch:   scheduler = CosineAnnealingLR(optimizer, T_max=100)
    jaxmath: schedule = CosineAnnealingLR(lr=0.1, T_max=100); opt = jaxmath.optim.SGD(lr=schedule)

A schedule is a callable on a step count (a Python int, or an integer array, traced under jit,
elementwise for an array of steps). ``schedule(t)`` is the lr torch's optimizer uses at its (t+1)-th
``optimizer.step()``, i.e. ``optimizer.param_groups[0]['lr']`` after t calls of ``scheduler.step()``;
jaxmath.optim calls ``lr(count)`` with the number of steps already taken, so the two line up.

Closed forms vs torch's chainable forms. torch's ``scheduler.step()`` updates the lr recursively
(``lr * gamma``, cosine ratios, linear factors). We evaluate the closed form at t, which is the same
function of t (torch's own ``_get_closed_form_lr``), so the numbers agree to rounding: over 300 steps
the chainable recursion drifts by at most a few ulp per step, measured below 1e-13 relative in float64
(``parity_tests/cases_optim.py`` compares every schedule with torch's over 300+ steps, past the end of
each schedule). Values are float64 in JAX's x64 mode (torch's lrs are Python floats), float32
otherwise.

Past the end. ``CosineAnnealingLR`` continues periodically past ``T_max`` (period ``2 T_max``: it
climbs back to ``lr``), as torch's does; optax's ``cosine_decay_schedule`` clamps at the end instead.
``LinearLR`` stays at ``end_factor * lr`` after ``total_iters``.

A negative concrete step raises ``ValueError``; under jit a traced step cannot be checked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmath._validation import check_scalar_in_range
from jaxmath.optim import scalar_dtype

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LinearLR", "SequentialLR", "StepLR"]


def check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_base_lr(lr: Any) -> None:
    check_scalar_in_range("lr", lr, 0.0)


def _steps(step: Any) -> jax.Array:
    """The step(s) as an integer array, refusing concrete negative steps and non-integer input."""
    steps = jnp.asarray(step)
    if not jnp.issubdtype(steps.dtype, jnp.integer):
        raise TypeError(f"step must be an integer or an integer array, got dtype {steps.dtype}")
    if not isinstance(steps, jax.core.Tracer) and steps.size and int(jnp.min(steps)) < 0:
        raise ValueError(f"step must be >= 0, got {int(jnp.min(steps))}")
    return steps


class _Schedule:
    """Base of the schedules: ``__call__`` validates the step and evaluates :meth:`value`."""

    lr: float

    def __call__(self, step: Any) -> jax.Array:
        return self.value(_steps(step))

    def value(self, steps: jax.Array) -> jax.Array:
        """The lr at ``steps`` (validated integer array)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


def _as_float(steps: jax.Array) -> jax.Array:
    return steps.astype(scalar_dtype())


class StepLR(_Schedule):
    r"""Decay by ``gamma`` every ``step_size`` steps: :math:`\eta_t = \eta\,\gamma^{\lfloor t /
    s\rfloor}` (``torch.optim.lr_scheduler.StepLR``).

    Args:
        lr: base learning rate :math:`\eta` >= 0 (torch: the optimizer's lr).
        step_size: period :math:`s` of the decay, a positive int.
        gamma: multiplicative factor (default: 0.1).
    """

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        check_base_lr(lr)
        check_positive_int("step_size", step_size)
        check_scalar_in_range("gamma", gamma)
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def value(self, steps: jax.Array) -> jax.Array:
        exponent = _as_float(steps // self.step_size)
        return self.lr * jnp.power(jnp.asarray(self.gamma, scalar_dtype()), exponent)


class ExponentialLR(_Schedule):
    r""":math:`\eta_t = \eta\,\gamma^t` (``torch.optim.lr_scheduler.ExponentialLR``).

    Args:
        lr: base learning rate :math:`\eta` >= 0.
        gamma: multiplicative factor per step.
    """

    def __init__(self, lr: float, gamma: float) -> None:
        check_base_lr(lr)
        check_scalar_in_range("gamma", gamma)
        self.lr, self.gamma = lr, gamma

    def value(self, steps: jax.Array) -> jax.Array:
        return self.lr * jnp.power(jnp.asarray(self.gamma, scalar_dtype()), _as_float(steps))


class CosineAnnealingLR(_Schedule):
    r""":math:`\eta_t = \eta_{min} + (\eta - \eta_{min})\,\frac{1 + \cos(\pi t / T_{max})}{2}`
    (``torch.optim.lr_scheduler.CosineAnnealingLR``), for every t >= 0: past ``T_max`` it rises
    again with period :math:`2T_{max}`, as torch's recursive form does (SGDR without restarts).

    Args:
        lr: base learning rate :math:`\eta` >= 0.
        T_max: half-period in steps, a positive int.
        eta_min: minimum learning rate (default: 0.0).

    .. warning:: ``optax.cosine_decay_schedule(lr, T_max, alpha=eta_min / lr)`` equals this for
       t <= T_max and stays at eta_min afterwards.
    """

    def __init__(self, lr: float, T_max: int, eta_min: float = 0.0) -> None:
        check_base_lr(lr)
        check_positive_int("T_max", T_max)
        check_scalar_in_range("eta_min", eta_min, 0.0)
        self.lr, self.T_max, self.eta_min = lr, T_max, eta_min

    def value(self, steps: jax.Array) -> jax.Array:
        angle = _as_float(steps) * (math.pi / self.T_max)
        return self.eta_min + (self.lr - self.eta_min) * (1 + jnp.cos(angle)) / 2


class LinearLR(_Schedule):
    r"""Linear ramp of the factor from ``start_factor`` to ``end_factor`` over ``total_iters``
    steps, constant afterwards: :math:`\eta_t = \eta\,(f_0 + (f_1 - f_0)\min(t, T)/T)`
    (``torch.optim.lr_scheduler.LinearLR``; the usual warm-up).

    Args:
        lr: base learning rate :math:`\eta` >= 0.
        start_factor: :math:`f_0` in (0, 1] (default: 1/3).
        end_factor: :math:`f_1` in [0, 1] (default: 1.0).
        total_iters: :math:`T`, a positive int (default: 5).
    """

    def __init__(
        self,
        lr: float,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
    ) -> None:
        check_base_lr(lr)
        check_scalar_in_range("start_factor", start_factor)
        if not 0.0 < start_factor <= 1.0:
            raise ValueError(f"start_factor must be in (0, 1], got {start_factor!r}")
        check_scalar_in_range("end_factor", end_factor, 0.0, 1.0)
        check_positive_int("total_iters", total_iters)
        self.lr, self.start_factor, self.end_factor = lr, start_factor, end_factor
        self.total_iters = total_iters

    def value(self, steps: jax.Array) -> jax.Array:
        progress = _as_float(jnp.minimum(steps, self.total_iters)) / self.total_iters
        return self.lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class SequentialLR(_Schedule):
    r"""One schedule after another: schedule ``i`` runs from ``milestones[i-1]`` on, restarted at
    its own step 0 (``torch.optim.lr_scheduler.SequentialLR``, e.g. a linear warm-up, then cosine).

    :math:`\eta_t = s_i(t - m_{i-1})` with :math:`i` the number of milestones :math:`\le t`
    (:math:`m_{-1} = 0`). Each schedule carries its own ``lr`` (in torch they share the
    optimizer's).

    Args:
        schedulers: the schedules, at least one.
        milestones: ``len(schedulers) - 1`` increasing steps at which to switch.
    """

    def __init__(self, schedulers: Sequence[Any], milestones: Sequence[int]) -> None:
        if isinstance(schedulers, str) or not isinstance(schedulers, Sequence) or not schedulers:
            raise ValueError(
                f"schedulers must be a non-empty list of schedules, got {schedulers!r}"
            )
        for index, schedule in enumerate(schedulers):
            if not callable(schedule):
                raise TypeError(f"schedulers[{index}] must be a schedule, got {schedule!r}")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"milestones must have len(schedulers) - 1 = {len(schedulers) - 1} entries, "
                f"got {len(milestones)}"
            )
        for milestone in milestones:
            check_positive_int("milestones", milestone)
        if list(milestones) != sorted(set(milestones)):
            raise ValueError(f"milestones must be increasing, got {list(milestones)!r}")
        self.schedulers, self.milestones = list(schedulers), list(milestones)
        self.lr = getattr(self.schedulers[0], "lr", None)

    def value(self, steps: jax.Array) -> jax.Array:
        result = self._evaluate(self.schedulers[0], steps)
        for milestone, schedule in zip(self.milestones, self.schedulers[1:], strict=True):
            later = self._evaluate(schedule, jnp.maximum(steps - milestone, 0))
            result = jnp.where(steps >= milestone, later, result)
        return result

    @staticmethod
    def _evaluate(schedule: Any, steps: jax.Array) -> jax.Array:
        if isinstance(schedule, _Schedule):
            return schedule.value(steps)
        return jnp.asarray(schedule(steps), scalar_dtype())
