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

Schedules: StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR, PolynomialLR, CosineAnnealingLR,
CosineAnnealingWarmRestarts, LambdaLR, MultiplicativeLR, CyclicLR and OneCycleLR (both with a
``momentum(t)`` schedule), SequentialLR, ChainedScheduler; and ReduceLROnPlateau, which depends on
the losses rather than the step, as a gradient transformation taking ``value=loss``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmath._validation import check_scalar_in_range
from jaxmath.optim import scalar_dtype

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "ReduceLROnPlateauState",
    "SequentialLR",
    "StepLR",
]


def check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_nonnegative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


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
        total_iters: :math:`T`, a positive int (default: 5). torch accepts 0 (a warm-up of no
            steps), and its ``step()`` then keeps :math:`\eta f_0` forever, not :math:`\eta f_1`;
            we refuse 0 rather than copy that.
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
    optimizer's). Exception, as torch: a :class:`MultiplicativeLR` after a milestone has no closed
    form, so torch's ``SequentialLR`` continues from the lr in force at step :math:`m_{i-1} - 1`,
    multiplied by :math:`\lambda(0), \lambda(1), \ldots` (its own ``lr`` is then unused):
    :math:`\eta_t = \eta_{m-1} \prod_{j=0}^{t-m} \lambda(j)`. A milestone 0 (accepted, as by
    torch) starts its schedule at the first step; a :class:`MultiplicativeLR` there runs as it
    does on its own.

    Args:
        schedulers: the schedules, at least one.
        milestones: ``len(schedulers) - 1`` increasing steps (ints >= 0) at which to switch.
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
            check_nonnegative_int("milestones", milestone)
        if list(milestones) != sorted(set(milestones)):
            raise ValueError(f"milestones must be increasing, got {list(milestones)!r}")
        self.schedulers, self.milestones = list(schedulers), list(milestones)
        self.lr = getattr(self.schedulers[0], "lr", None)

    def value(self, steps: jax.Array) -> jax.Array:
        return self._value_upto(len(self.schedulers), steps)

    def _value_upto(self, count: int, steps: jax.Array) -> jax.Array:
        """The lr of the sequence made of the first ``count`` schedules."""
        result = self._evaluate(self.schedulers[0], steps)
        for index in range(1, count):
            milestone, schedule = self.milestones[index - 1], self.schedulers[index]
            local = jnp.maximum(steps - milestone, 0)
            # no closed form: continues the lr (at milestone 0 there is none before it, and
            # torch runs it as on its own)
            if isinstance(schedule, MultiplicativeLR) and milestone > 0:
                later = schedule.continued(
                    self._value_upto(index, jnp.asarray(milestone - 1)), local
                )
            else:
                later = self._evaluate(schedule, local)
            result = jnp.where(steps >= milestone, later, result)
        return result

    @staticmethod
    def _evaluate(schedule: Any, steps: jax.Array) -> jax.Array:
        if isinstance(schedule, _Schedule):
            return schedule.value(steps)
        return jnp.asarray(schedule(steps), scalar_dtype())


# ------------------------------------------------------------------------------------------------
# The rest of torch.optim.lr_scheduler (issue 19)
# ------------------------------------------------------------------------------------------------


def check_factor(name: str, value: Any, low_inclusive: bool = True) -> None:
    check_scalar_in_range(name, value)
    if not ((value >= 0.0) if low_inclusive else (value > 0.0)) or value > 1.0:
        interval = "[0, 1]" if low_inclusive else "(0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


class MultiStepLR(_Schedule):
    r"""Decay by ``gamma`` at each milestone: :math:`\eta_t = \eta\,\gamma^{\#\{m_i \le t\}}`
    (``torch.optim.lr_scheduler.MultiStepLR``; a milestone listed twice decays twice, as torch's
    Counter does).

    Args:
        lr: base learning rate >= 0.
        milestones: steps (ints >= 0, any order, repeats allowed; a milestone 0 decays from the
            first step, as torch's does).
        gamma: multiplicative factor (default: 0.1).
    """

    def __init__(self, lr: float, milestones: Sequence[int], gamma: float = 0.1) -> None:
        check_base_lr(lr)
        for milestone in milestones:
            check_nonnegative_int("milestones", milestone)
        check_scalar_in_range("gamma", gamma)
        self.lr, self.milestones, self.gamma = lr, sorted(milestones), gamma

    def value(self, steps: jax.Array) -> jax.Array:
        passed = sum((steps >= milestone).astype(jnp.int32) for milestone in self.milestones)
        exponent = _as_float(jnp.asarray(passed) + jnp.zeros_like(steps))
        return self.lr * jnp.power(jnp.asarray(self.gamma, scalar_dtype()), exponent)


class ConstantLR(_Schedule):
    r""":math:`\eta\,f` for t < ``total_iters``, :math:`\eta` after
    (``torch.optim.lr_scheduler.ConstantLR``).

    Args:
        lr: base learning rate >= 0.
        factor: in (0, 1] (default: 1/3). torch accepts 0 but then divides by it at
            ``total_iters`` (ZeroDivisionError); we refuse it up front.
        total_iters: a positive int (default: 5). torch accepts 0, and its ``step()`` then keeps
            :math:`\eta f` forever (the restoring branch is never reached) while its closed form
            says :math:`\eta`; we refuse 0 rather than copy either.
    """

    def __init__(self, lr: float, factor: float = 1.0 / 3, total_iters: int = 5) -> None:
        check_base_lr(lr)
        check_factor("factor", factor, low_inclusive=False)
        check_positive_int("total_iters", total_iters)
        self.lr, self.factor, self.total_iters = lr, factor, total_iters

    def value(self, steps: jax.Array) -> jax.Array:
        factor = jnp.where(steps >= self.total_iters, 1.0, self.factor).astype(scalar_dtype())
        return self.lr * factor


class PolynomialLR(_Schedule):
    r""":math:`\eta_t = \eta\,(1 - \min(t, T)/T)^p` (``torch.optim.lr_scheduler.PolynomialLR``):
    0 from t = T on.

    Args:
        lr: base learning rate >= 0.
        total_iters: :math:`T`, a positive int (default: 5).
        power: :math:`p \ge 0` (default: 1.0; torch raises ZeroDivisionError at t = T for
            p < 0, so it is refused up front).
    """

    def __init__(self, lr: float, total_iters: int = 5, power: float = 1.0) -> None:
        check_base_lr(lr)
        check_positive_int("total_iters", total_iters)
        check_scalar_in_range("power", power, 0.0)  # torch: 0.0 ** -p at t = T
        self.lr, self.total_iters, self.power = lr, total_iters, power

    def value(self, steps: jax.Array) -> jax.Array:
        # (T - min(t, T)) / T, not 1 - min(t, T) / T: XLA turns the division into a multiplication
        # by 1/T, and 1 - T * (1/T) can be -2e-16, whose fractional power is NaN.
        remaining = _as_float(self.total_iters - jnp.minimum(steps, self.total_iters))
        return self.lr * (remaining / self.total_iters) ** self.power


class LambdaLR(_Schedule):
    r""":math:`\eta_t = \eta\,\lambda(t)` (``torch.optim.lr_scheduler.LambdaLR``).

    Args:
        lr: base learning rate >= 0.
        lr_lambda: step -> factor; it receives an integer array (traced under jit), so write it
            with operators or ``jax.numpy`` (``lambda t: 0.95 ** t``).
    """

    def __init__(self, lr: float, lr_lambda: Any) -> None:
        check_base_lr(lr)
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda must be a function of the step, got {lr_lambda!r}")
        self.lr, self.lr_lambda = lr, lr_lambda

    def value(self, steps: jax.Array) -> jax.Array:
        return self.lr * jnp.asarray(self.lr_lambda(steps), scalar_dtype())


class MultiplicativeLR(_Schedule):
    r""":math:`\eta_t = \eta \prod_{i=1}^{t} \lambda(i)` (``torch.optim.lr_scheduler.
    MultiplicativeLR``, whose ``step()`` multiplies the lr by :math:`\lambda(t)`). The product is
    taken in order by a ``fori_loop`` (t iterations per step asked), so it rounds as torch's chain.

    Args:
        lr: base learning rate >= 0.
        lr_lambda: step -> factor, called with scalar integer arrays (traced).
    """

    def __init__(self, lr: float, lr_lambda: Any) -> None:
        check_base_lr(lr)
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda must be a function of the step, got {lr_lambda!r}")
        self.lr, self.lr_lambda = lr, lr_lambda

    def value(self, steps: jax.Array) -> jax.Array:
        def one(step: jax.Array) -> jax.Array:
            def body(index: jax.Array, lr: jax.Array) -> jax.Array:
                return lr * jnp.asarray(self.lr_lambda(index), scalar_dtype())

            return jax.lax.fori_loop(1, step + 1, body, jnp.asarray(self.lr, scalar_dtype()))

        flat = jnp.ravel(steps)
        return jax.vmap(one)(flat).reshape(jnp.shape(steps))

    def continued(self, start: jax.Array, steps: jax.Array) -> jax.Array:
        r"""The lr ``steps`` steps after this schedule takes over inside :class:`SequentialLR`:
        :math:`\eta_{m-1} \prod_{i=0}^{k} \lambda(i)`, from the lr in force before the milestone
        (torch has no closed form for it, so at the milestone it multiplies the current lr by
        :math:`\lambda(0)`, then by :math:`\lambda(1), \lambda(2), \ldots`)."""

        def one(step: jax.Array) -> jax.Array:
            def body(index: jax.Array, lr: jax.Array) -> jax.Array:
                return lr * jnp.asarray(self.lr_lambda(index), scalar_dtype())

            return jax.lax.fori_loop(0, step + 1, body, jnp.asarray(start, scalar_dtype()))

        flat = jnp.ravel(steps)
        return jax.vmap(one)(flat).reshape(jnp.shape(steps))


class CosineAnnealingWarmRestarts(_Schedule):
    r"""Cosine annealing restarted every cycle (SGDR): in cycle i of length
    :math:`T_i = T_0 T_{mult}^i`, :math:`\eta_t = \eta_{min} + (\eta - \eta_{min})
    (1 + \cos(\pi T_{cur}/T_i))/2` (``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``).
    The cycle of t is found with integer arithmetic (as torch's ``step()`` counts), not a log.

    Args:
        lr: base learning rate >= 0.
        T_0: the first cycle's length, a positive int.
        T_mult: growth of the cycle length, an int >= 1 (default: 1).
        eta_min: minimum learning rate (default: 0.0).
    """

    def __init__(self, lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> None:
        check_base_lr(lr)
        check_positive_int("T_0", T_0)
        check_positive_int("T_mult", T_mult)
        check_scalar_in_range("eta_min", eta_min, 0.0)
        self.lr, self.T_0, self.T_mult, self.eta_min = lr, T_0, T_mult, eta_min

    def _cycle(self, steps: jax.Array) -> tuple[jax.Array, jax.Array]:
        if self.T_mult == 1:
            return steps % self.T_0, jnp.full_like(steps, self.T_0)
        starts, lengths, start, length = [], [], 0, self.T_0
        while start <= np.iinfo(np.int32).max:
            starts.append(start)
            lengths.append(length)
            start, length = start + length, length * self.T_mult
        starts_array = jnp.asarray(starts, steps.dtype)  # every start fits in int32
        index = jnp.searchsorted(starts_array, steps, side="right") - 1
        return steps - starts_array[index], jnp.asarray(lengths, scalar_dtype())[index]

    def value(self, steps: jax.Array) -> jax.Array:
        current, length = self._cycle(steps)
        angle = math.pi * _as_float(current) / _as_float(length)
        return self.eta_min + (self.lr - self.eta_min) * (1 + jnp.cos(angle)) / 2


def _anneal(strategy: str, start: Any, end: Any, pct: jax.Array) -> jax.Array:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (jnp.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


class OneCycleLR(_Schedule):
    r"""The 1cycle policy (``torch.optim.lr_scheduler.OneCycleLR``): from ``max_lr/div_factor`` up to
    ``max_lr`` over the first ``pct_start`` of ``total_steps``, then down to
    ``max_lr/(div_factor*final_div_factor)`` (``three_phase``: back to the initial lr first, then
    down), each phase annealed by cosine or linearly in its fraction of steps.

    torch's optimizer lr is not used by OneCycleLR (it overwrites it), so the first argument here is
    ``max_lr`` itself. :meth:`momentum` is the momentum (or beta1) schedule torch writes into the
    param group when ``cycle_momentum``: ``max_momentum`` down to ``base_momentum`` while the lr rises,
    and back. torch raises when stepped past ``total_steps``; so does a concrete step > total_steps
    here (a traced one cannot be checked: it extrapolates the last phase).

    Args:
        max_lr: the peak lr.
        total_steps: the cycle's length; or give ``epochs`` and ``steps_per_epoch``.
        pct_start: the fraction of steps spent increasing the lr (default: 0.3).
        anneal_strategy: 'cos' or 'linear' (default: 'cos').
        cycle_momentum, base_momentum, max_momentum: the momentum schedule (default: True, 0.85,
            0.95).
        div_factor: initial lr = max_lr / div_factor (default: 25.0).
        final_div_factor: min lr = initial lr / final_div_factor (default: 1e4).
        three_phase: the fast.ai three-phase variant (default: False).
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        check_scalar_in_range("max_lr", max_lr, 0.0)
        if total_steps is not None:
            check_positive_int("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            check_positive_int("epochs", epochs)
            check_positive_int("steps_per_epoch", steps_per_epoch)
            total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
        check_scalar_in_range("pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos', 'linear', got {anneal_strategy!r}"
            )
        for name, value in (
            ("base_momentum", base_momentum),
            ("max_momentum", max_momentum),
            ("div_factor", div_factor),
            ("final_div_factor", final_div_factor),
        ):
            check_scalar_in_range(name, value)
        self.lr = max_lr
        self.total_steps, self.pct_start, self.anneal_strategy = (
            total_steps,
            pct_start,
            anneal_strategy,
        )
        self.cycle_momentum, self.base_momentum = cycle_momentum, base_momentum
        self.max_momentum, self.three_phase = max_momentum, three_phase
        initial = max_lr / div_factor
        minimum = initial / final_div_factor
        up = float(pct_start * total_steps) - 1
        if three_phase:
            self.phases = [
                (up, initial, max_lr, max_momentum, base_momentum),
                (
                    float(2 * pct_start * total_steps) - 2,
                    max_lr,
                    initial,
                    base_momentum,
                    max_momentum,
                ),
                (total_steps - 1, initial, minimum, max_momentum, max_momentum),
            ]
        else:
            self.phases = [
                (up, initial, max_lr, max_momentum, base_momentum),
                (total_steps - 1, max_lr, minimum, base_momentum, max_momentum),
            ]

    def _evaluate(self, steps: jax.Array, lr: bool) -> jax.Array:
        if (
            not isinstance(steps, jax.core.Tracer)
            and steps.size
            and int(jnp.max(steps)) > self.total_steps
        ):
            raise ValueError(
                f"step must be <= total_steps = {self.total_steps}, got {int(jnp.max(steps))}"
            )
        t = _as_float(steps)
        result = jnp.zeros_like(t)
        start_step, chosen = 0.0, jnp.zeros(t.shape, bool)
        for index, (end_step, start_lr, end_lr, start_m, end_m) in enumerate(self.phases):
            last = index == len(self.phases) - 1
            here = ~chosen & ((t <= end_step) | last)
            pct = (t - start_step) / (end_step - start_step)
            start, end = (start_lr, end_lr) if lr else (start_m, end_m)
            result = jnp.where(here, _anneal(self.anneal_strategy, start, end, pct), result)
            chosen = chosen | here
            start_step = end_step
        return result

    def value(self, steps: jax.Array) -> jax.Array:
        return self._evaluate(steps, lr=True)

    def momentum(self, step: Any) -> jax.Array:
        """The momentum (SGD, RMSprop, Muon) or betas[0] (Adam, AdamW, Adamax, NAdam, RAdam) torch
        writes into the param group for the (t+1)-th step; pass it to the optimizer there."""
        if not self.cycle_momentum:
            raise ValueError("momentum is only scheduled with cycle_momentum=True")
        return self._evaluate(_steps(step), lr=False)


class CyclicLR(_Schedule):
    r"""Cyclical learning rates (``torch.optim.lr_scheduler.CyclicLR``): the lr goes from
    ``base_lr`` up to ``max_lr`` over ``step_size_up`` steps and back over ``step_size_down``,
    the amplitude scaled per cycle (``triangular``: 1, ``triangular2``: halved every cycle) or per
    step (``exp_range``: :math:`\gamma^t`), or by a custom ``scale_fn`` of the cycle number or the
    step (``scale_mode``).

    .. math:: c = \lfloor 1 + t/(s_{up} + s_{down}) \rfloor,\quad x = 1 + t/(s_{up}+s_{down}) - c,\
              h = x/r \text{ if } x \le r \text{ else } (x-1)/(r-1),\quad
              \eta_t = \eta_{base} + (\eta_{max} - \eta_{base})\, h\, \text{scale\_fn}(c \text{ or } t)

    with :math:`r = s_{up}/(s_{up}+s_{down})`. torch's optimizer lr is overwritten by ``base_lr``, so
    ``base_lr`` is the first argument. :meth:`momentum` is the momentum (or beta1) schedule torch
    writes into the param group with ``cycle_momentum``: ``max_momentum`` down to ``base_momentum``
    as the lr rises.

    Args:
        base_lr, max_lr: the lr's bounds.
        step_size_up: steps of the rising half (default: 2000).
        step_size_down: steps of the falling half (default: None, = step_size_up).
        mode: 'triangular', 'triangular2' or 'exp_range' (default: 'triangular').
        gamma: exp_range's base (default: 1.0).
        scale_fn: a custom amplitude scale (overrides mode), written with operators / jax.numpy.
        scale_mode: 'cycle' or 'iterations', what scale_fn receives (default: 'cycle').
        cycle_momentum, base_momentum, max_momentum: the momentum schedule (default: True, 0.8,
            0.9).
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Any = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float = 0.8,
        max_momentum: float = 0.9,
    ) -> None:
        check_scalar_in_range("base_lr", base_lr, 0.0)
        check_scalar_in_range("max_lr", max_lr, 0.0)
        check_positive_int("step_size_up", step_size_up)
        if step_size_down is not None:
            check_positive_int("step_size_down", step_size_down)
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(
                f"mode must be one of 'triangular', 'triangular2', 'exp_range' when scale_fn is "
                f"None, got {mode!r}"
            )
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"scale_fn must be a function, got {scale_fn!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"scale_mode must be one of 'cycle', 'iterations', got {scale_mode!r}")
        check_scalar_in_range("gamma", gamma)
        self.lr, self.max_lr = base_lr, max_lr
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size, self.step_ratio = up + down, up / (up + down)
        self.mode, self.gamma, self.scale_fn = mode, gamma, scale_fn
        self.scale_mode = (
            scale_mode
            if scale_fn is not None
            else ("iterations" if mode == "exp_range" else "cycle")
        )
        if cycle_momentum:  # torch computes the momentum schedule at construction
            check_scalar_in_range("base_momentum", base_momentum)
            check_scalar_in_range("max_momentum", max_momentum)
        self.cycle_momentum, self.base_momentum = cycle_momentum, base_momentum
        self.max_momentum = max_momentum

    def _scale(self, cycle: jax.Array, steps: jax.Array) -> jax.Array:
        argument = cycle if self.scale_mode == "cycle" else steps
        if self.scale_fn is not None:
            return jnp.asarray(self.scale_fn(argument), scalar_dtype())
        if self.mode == "triangular":
            return jnp.ones_like(argument)
        if self.mode == "triangular2":
            return 1 / (2.0 ** (argument - 1))
        return self.gamma**argument

    def _height(self, steps: jax.Array) -> tuple[jax.Array, jax.Array]:
        t = _as_float(steps)
        cycle = jnp.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        factor = jnp.where(
            x <= self.step_ratio, x / self.step_ratio, (x - 1) / (self.step_ratio - 1)
        )
        return factor, self._scale(cycle, t)

    def value(self, steps: jax.Array) -> jax.Array:
        factor, scale = self._height(steps)
        return self.lr + (self.max_lr - self.lr) * factor * scale

    def momentum(self, step: Any) -> jax.Array:
        """The momentum (SGD, RMSprop, Muon) or betas[0] (Adam, AdamW, Adamax, NAdam, RAdam) torch
        writes into the param group for the (t+1)-th step; pass it to the optimizer there."""
        if not self.cycle_momentum:
            raise ValueError("momentum is only scheduled with cycle_momentum=True")
        factor, scale = self._height(_steps(step))
        return self.max_momentum - (self.max_momentum - self.base_momentum) * factor * scale


class ReduceLROnPlateauState(NamedTuple):
    """State of :class:`ReduceLROnPlateau` (torch's scheduler attributes, as arrays)."""

    lr: jax.Array  # (): the lr in force after the last loss seen
    best: jax.Array  # (): the best loss so far (inf / -inf before the first)
    num_bad_epochs: jax.Array  # () int32: losses since the last improvement
    cooldown_counter: jax.Array  # () int32: losses left in the cooldown
    count: jax.Array  # () int32: losses seen (torch's last_epoch)


class _Plateau:
    """The logic of :func:`ReduceLROnPlateau` (torch's ``step(metrics)`` on arrays)."""

    def __init__(
        self,
        lr: float,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0,
        eps: float = 1e-8,
    ) -> None:
        check_scalar_in_range("lr", lr, 0.0, low_inclusive=False)  # a ratio's denominator
        check_scalar_in_range("factor", factor)
        if factor >= 1.0:
            raise ValueError(f"factor must be < 1.0, got {factor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be one of 'min', 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be one of 'rel', 'abs', got {threshold_mode!r}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        check_scalar_in_range("threshold", threshold, 0.0)
        check_scalar_in_range("min_lr", min_lr, 0.0)
        check_scalar_in_range("eps", eps, 0.0)
        self.lr, self.mode, self.factor, self.patience = lr, mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps

    def init(self, params: Any = None) -> ReduceLROnPlateauState:
        worst = np.inf if self.mode == "min" else -np.inf
        zero = jnp.zeros((), jnp.int32)
        return ReduceLROnPlateauState(
            jnp.asarray(self.lr, scalar_dtype()),
            jnp.asarray(worst, scalar_dtype()),
            zero,
            zero,
            zero,
        )

    def _is_better(self, value: jax.Array, best: jax.Array) -> jax.Array:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return value < best * (1.0 - self.threshold)
            return value < best - self.threshold
        if self.threshold_mode == "rel":
            return value > best * (self.threshold + 1.0)
        return value > best + self.threshold

    def update(
        self, updates: Any, state: ReduceLROnPlateauState, params: Any = None, *, value: Any
    ) -> tuple[Any, ReduceLROnPlateauState]:
        loss = jnp.asarray(value)
        if loss.shape != ():
            raise ValueError(f"value must be a scalar loss, got shape {loss.shape}")
        loss = loss.astype(scalar_dtype())
        scale = state.lr / self.lr
        scaled = jax.tree.map(lambda u: u * scale.astype(u.dtype), updates)
        better = self._is_better(loss, state.best)
        best = jnp.where(better, loss, state.best)
        bad = jnp.where(better, 0, state.num_bad_epochs + 1)
        in_cooldown = state.cooldown_counter > 0
        cooldown_counter = jnp.where(in_cooldown, state.cooldown_counter - 1, 0)
        bad = jnp.where(in_cooldown, 0, bad)
        reduce = bad > self.patience
        new_lr = jnp.maximum(state.lr * self.factor, self.min_lr)
        lr = jnp.where(reduce & (state.lr - new_lr > self.eps), new_lr, state.lr)
        cooldown_counter = jnp.where(reduce, self.cooldown, cooldown_counter)
        bad = jnp.where(reduce, 0, bad)
        return scaled, ReduceLROnPlateauState(
            lr,
            best,
            bad.astype(jnp.int32),
            cooldown_counter.astype(jnp.int32),
            state.count + 1,
        )


def ReduceLROnPlateau(  # noqa: N802 (torch's class name)
    lr: float,
    mode: str = "min",
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float = 0,
    eps: float = 1e-8,
) -> optax.GradientTransformationExtraArgs:
    r"""Reduce the lr when a loss stops improving (``torch.optim.lr_scheduler.ReduceLROnPlateau``),
    as a stateful gradient transformation (``optax.contrib.reduce_on_plateau``'s protocol)::

        opt = optax.chain(jaxmath.optim.Adam(lr=1e-3), ReduceLROnPlateau(1e-3, patience=5))
        updates, state = opt.update(grads, state, params, value=loss)

    ``update(updates, state, params=None, value=loss)`` scales ``updates`` by the lr in force over
    ``lr`` (the base lr the optimizer before it in the chain used: every jaxmath rule but Rprop's and
    ASGD's is linear in the lr) and then records the loss, as torch's loop does
    (``optimizer.step()`` then ``scheduler.step(loss)``): ``state.lr`` is then the lr torch's
    param group holds after ``scheduler.step(loss)``.

    Per loss: it improves on ``best`` if ``loss < best (1 - threshold)`` ('min', 'rel'),
    ``loss < best - threshold`` ('min', 'abs'), or the mirror images for 'max'; after more than
    ``patience`` losses without improvement the lr becomes ``max(lr * factor, min_lr)`` (only if that
    changes it by more than ``eps``) and ``cooldown`` losses are ignored.

    Args:
        lr: the base lr (torch: the optimizer's).
        mode: 'min' or 'max' (default: 'min').
        factor: < 1 (default: 0.1).
        patience: losses without improvement tolerated (default: 10).
        threshold, threshold_mode: what counts as an improvement (default: 1e-4, 'rel').
        cooldown: losses ignored after a reduction (default: 0).
        min_lr: the floor (default: 0).
        eps: minimal change of the lr (default: 1e-8).
    """
    plateau = _Plateau(lr, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)
    return optax.GradientTransformationExtraArgs(plateau.init, plateau.update)


#: The schedules whose torch ``step()`` multiplies the lr by a factor (so they chain by product).
MULTIPLICATIVE = (
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "ConstantLR",
    "LinearLR",
    "PolynomialLR",
    "MultiplicativeLR",
)


class ChainedScheduler(_Schedule):
    r"""Several schedules applied together (``torch.optim.lr_scheduler.ChainedScheduler``): torch
    calls every scheduler's ``step()`` on the same lr, each multiplying it by its factor, so
    :math:`\eta_t = \eta \prod_i s_i(t)/\eta`.

    Only the multiplicative schedules chain that way (StepLR, MultiStepLR, ExponentialLR,
    ConstantLR, LinearLR, PolynomialLR, MultiplicativeLR); the others set the lr outright or add to
    it in torch's ``step()`` (cosine's restart branch, LambdaLR, CyclicLR, OneCycleLR), which
    chaining would not reproduce, so they are refused. All must share one base ``lr`` > 0 (in torch
    they share one optimizer).

    Args:
        schedulers: the schedules, at least one.
    """

    def __init__(self, schedulers: Sequence[Any]) -> None:
        if isinstance(schedulers, str) or not isinstance(schedulers, Sequence) or not schedulers:
            raise ValueError(
                f"schedulers must be a non-empty list of schedules, got {schedulers!r}"
            )
        for index, schedule in enumerate(schedulers):
            if type(schedule).__name__ not in MULTIPLICATIVE or not isinstance(schedule, _Schedule):
                raise TypeError(
                    f"schedulers[{index}] must be one of {', '.join(MULTIPLICATIVE)}, "
                    f"got {type(schedule).__name__}"
                )
        rates = {schedule.lr for schedule in schedulers}
        if len(rates) != 1 or 0.0 in rates:
            raise ValueError(f"schedulers must share one lr > 0, got {sorted(rates)}")
        self.schedulers, self.lr = list(schedulers), schedulers[0].lr

    def value(self, steps: jax.Array) -> jax.Array:
        result = jnp.asarray(self.lr, scalar_dtype())
        for schedule in self.schedulers:
            result = result * (schedule.value(steps) / self.lr)
        return result
