r"""torch.optim.lr_scheduler's schedules as functions of the step, on torch tensors: the twin of
jaxmath.lr_scheduler (same classes, parameters, closed forms and messages).

``schedule(t)`` takes a Python int or an integer tensor (elementwise) and returns a float64 tensor:
the lr torch's optimizer uses at its (t+1)-th step, after t calls of ``scheduler.step()``. The closed
forms are torch's ``_get_closed_form_lr``; torch's chainable ``step()`` agrees to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from torch_ref._validation import check_scalar_in_range

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
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_nonnegative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def check_base_lr(lr: Any) -> None:
    check_scalar_in_range("lr", lr, 0.0)


def _steps(step: Any) -> torch.Tensor:
    steps = torch.as_tensor(step)
    if steps.is_floating_point() or steps.is_complex() or steps.dtype == torch.bool:
        dtype = str(steps.dtype).removeprefix("torch.")
        raise TypeError(f"step must be an integer or an integer array, got dtype {dtype}")
    if steps.numel() and int(steps.min()) < 0:
        raise ValueError(f"step must be >= 0, got {int(steps.min())}")
    return steps.to(torch.int64)


class _Schedule:
    lr: float

    def __call__(self, step: Any) -> torch.Tensor:
        return self.value(_steps(step))

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


def _as_float(steps: torch.Tensor) -> torch.Tensor:
    return steps.to(torch.float64)


class StepLR(_Schedule):
    """:math:`\\eta\\,\\gamma^{\\lfloor t/s \\rfloor}`; see jaxmath.lr_scheduler.StepLR."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        check_base_lr(lr)
        check_positive_int("step_size", step_size)
        check_scalar_in_range("gamma", gamma)
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        exponent = _as_float(torch.div(steps, self.step_size, rounding_mode="floor"))
        return self.lr * torch.pow(torch.tensor(self.gamma, dtype=torch.float64), exponent)


class ExponentialLR(_Schedule):
    """:math:`\\eta\\,\\gamma^t`; see jaxmath.lr_scheduler.ExponentialLR."""

    def __init__(self, lr: float, gamma: float) -> None:
        check_base_lr(lr)
        check_scalar_in_range("gamma", gamma)
        self.lr, self.gamma = lr, gamma

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        return self.lr * torch.pow(torch.tensor(self.gamma, dtype=torch.float64), _as_float(steps))


class CosineAnnealingLR(_Schedule):
    """Cosine from lr to eta_min over T_max steps, periodic after; see jaxmath's."""

    def __init__(self, lr: float, T_max: int, eta_min: float = 0.0) -> None:
        check_base_lr(lr)
        check_positive_int("T_max", T_max)
        check_scalar_in_range("eta_min", eta_min, 0.0)
        self.lr, self.T_max, self.eta_min = lr, T_max, eta_min

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        angle = _as_float(steps) * (math.pi / self.T_max)
        return self.eta_min + (self.lr - self.eta_min) * (1 + torch.cos(angle)) / 2


class LinearLR(_Schedule):
    """Linear ramp of the factor over total_iters steps; see jaxmath.lr_scheduler.LinearLR."""

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

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        progress = _as_float(torch.clamp(steps, max=self.total_iters)) / self.total_iters
        return self.lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class SequentialLR(_Schedule):
    """Schedule i from milestones[i-1] on, restarted at its step 0; see jaxmath's."""

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

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        return self._value_upto(len(self.schedulers), steps)

    def _value_upto(self, count: int, steps: torch.Tensor) -> torch.Tensor:
        """The lr of the sequence made of the first ``count`` schedules."""
        result = self._evaluate(self.schedulers[0], steps)
        for index in range(1, count):
            milestone, schedule = self.milestones[index - 1], self.schedulers[index]
            local = torch.clamp(steps - milestone, min=0)
            # no closed form: continues the lr (at milestone 0 there is none before it, and
            # torch runs it as on its own)
            if isinstance(schedule, MultiplicativeLR) and milestone > 0:
                later = schedule.continued(
                    self._value_upto(index, torch.tensor(milestone - 1)), local
                )
            else:
                later = self._evaluate(schedule, local)
            result = torch.where(steps >= milestone, later, result)
        return result

    @staticmethod
    def _evaluate(schedule: Any, steps: torch.Tensor) -> torch.Tensor:
        if isinstance(schedule, _Schedule):
            return schedule.value(steps)
        return torch.as_tensor(schedule(steps), dtype=torch.float64)


# ------------------------------------------------------------------------------------------------
# The rest of torch.optim.lr_scheduler (issue 19)
# ------------------------------------------------------------------------------------------------


def check_factor(name: str, value: Any, low_inclusive: bool = True) -> None:
    check_scalar_in_range(name, value)
    if not ((value >= 0.0) if low_inclusive else (value > 0.0)) or value > 1.0:
        interval = "[0, 1]" if low_inclusive else "(0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


class MultiStepLR(_Schedule):
    """Decay by gamma at each milestone; see jaxmath.lr_scheduler.MultiStepLR."""

    def __init__(self, lr: float, milestones: Sequence[int], gamma: float = 0.1) -> None:
        check_base_lr(lr)
        for milestone in milestones:
            check_nonnegative_int("milestones", milestone)
        check_scalar_in_range("gamma", gamma)
        self.lr, self.milestones, self.gamma = lr, sorted(milestones), gamma

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        passed = torch.zeros_like(steps)
        for milestone in self.milestones:
            passed = passed + (steps >= milestone).to(steps.dtype)
        return self.lr * torch.pow(torch.tensor(self.gamma, dtype=torch.float64), _as_float(passed))


class ConstantLR(_Schedule):
    """lr * factor before total_iters, lr after; see jaxmath.lr_scheduler.ConstantLR."""

    def __init__(self, lr: float, factor: float = 1.0 / 3, total_iters: int = 5) -> None:
        check_base_lr(lr)
        check_factor("factor", factor, low_inclusive=False)
        check_positive_int("total_iters", total_iters)
        self.lr, self.factor, self.total_iters = lr, factor, total_iters

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        ones = torch.ones(steps.shape, dtype=torch.float64)
        return self.lr * torch.where(steps >= self.total_iters, ones, self.factor * ones)


class PolynomialLR(_Schedule):
    """lr (1 - min(t, T)/T)^power; see jaxmath.lr_scheduler.PolynomialLR."""

    def __init__(self, lr: float, total_iters: int = 5, power: float = 1.0) -> None:
        check_base_lr(lr)
        check_positive_int("total_iters", total_iters)
        check_scalar_in_range("power", power, 0.0)  # torch: 0.0 ** -p at t = T
        self.lr, self.total_iters, self.power = lr, total_iters, power

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        remaining = _as_float(self.total_iters - torch.clamp(steps, max=self.total_iters))
        return self.lr * (remaining / self.total_iters) ** self.power


class LambdaLR(_Schedule):
    """lr * lr_lambda(t); see jaxmath.lr_scheduler.LambdaLR."""

    def __init__(self, lr: float, lr_lambda: Any) -> None:
        check_base_lr(lr)
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda must be a function of the step, got {lr_lambda!r}")
        self.lr, self.lr_lambda = lr, lr_lambda

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        # Called on Python ints, as torch calls it: ``0.95 ** t`` on an int64 tensor would be
        # computed in torch's default float32.
        factors = [float(self.lr_lambda(int(step))) for step in steps.reshape(-1)]
        return self.lr * torch.tensor(factors, dtype=torch.float64).reshape(steps.shape)


class MultiplicativeLR(_Schedule):
    """lr * prod_{i=1..t} lr_lambda(i), multiplied in order; see jaxmath's."""

    def __init__(self, lr: float, lr_lambda: Any) -> None:
        check_base_lr(lr)
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda must be a function of the step, got {lr_lambda!r}")
        self.lr, self.lr_lambda = lr, lr_lambda

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        last = int(steps.max()) if steps.numel() else 0
        lrs = [torch.tensor(self.lr, dtype=torch.float64)]
        for index in range(1, last + 1):
            lrs.append(lrs[-1] * float(self.lr_lambda(index)))  # Python ints, as torch
        return torch.stack(lrs).to(torch.float64)[steps]

    def continued(self, start: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """Inside SequentialLR after a milestone: start * lambda(0) * ... * lambda(k)."""
        last = int(steps.max()) if steps.numel() else 0
        lrs = [torch.as_tensor(start, dtype=torch.float64) * float(self.lr_lambda(0))]
        for index in range(1, last + 1):
            lrs.append(lrs[-1] * float(self.lr_lambda(index)))
        return torch.stack(lrs)[steps]


class CosineAnnealingWarmRestarts(_Schedule):
    """Cosine annealing with restarts (SGDR); see jaxmath.lr_scheduler."""

    def __init__(self, lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> None:
        check_base_lr(lr)
        check_positive_int("T_0", T_0)
        check_positive_int("T_mult", T_mult)
        check_scalar_in_range("eta_min", eta_min, 0.0)
        self.lr, self.T_0, self.T_mult, self.eta_min = lr, T_0, T_mult, eta_min

    def _cycle(self, steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.T_mult == 1:
            return steps % self.T_0, torch.full_like(steps, self.T_0)
        starts, lengths, start, length = [], [], 0, self.T_0
        while start <= 2**31 - 1:
            starts.append(start)
            lengths.append(length)
            start, length = start + length, length * self.T_mult
        starts_tensor = torch.tensor(starts, dtype=torch.int64)
        index = torch.searchsorted(starts_tensor, steps, right=True) - 1
        return steps - starts_tensor[index], torch.tensor(lengths, dtype=torch.int64)[index]

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        current, length = self._cycle(steps)
        angle = math.pi * _as_float(current) / _as_float(length)
        return self.eta_min + (self.lr - self.eta_min) * (1 + torch.cos(angle)) / 2


def _anneal(strategy: str, start: Any, end: Any, pct: torch.Tensor) -> torch.Tensor:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (torch.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


class OneCycleLR(_Schedule):
    """The 1cycle policy; see jaxmath.lr_scheduler.OneCycleLR (same phases and momentum)."""

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

    def _evaluate(self, steps: torch.Tensor, lr: bool) -> torch.Tensor:
        if steps.numel() and int(steps.max()) > self.total_steps:
            raise ValueError(
                f"step must be <= total_steps = {self.total_steps}, got {int(steps.max())}"
            )
        t = _as_float(steps)
        result = torch.zeros_like(t)
        start_step, chosen = 0.0, torch.zeros(t.shape, dtype=torch.bool)
        for index, (end_step, start_lr, end_lr, start_m, end_m) in enumerate(self.phases):
            last = index == len(self.phases) - 1
            here = ~chosen & ((t <= end_step) | last)
            pct = (t - start_step) / (end_step - start_step)
            start, end = (start_lr, end_lr) if lr else (start_m, end_m)
            result = torch.where(here, _anneal(self.anneal_strategy, start, end, pct), result)
            chosen = chosen | here
            start_step = end_step
        return result

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        return self._evaluate(steps, lr=True)

    def momentum(self, step: Any) -> torch.Tensor:
        """The momentum (SGD, RMSprop, Muon) or betas[0] (Adam, AdamW, Adamax, NAdam, RAdam) torch
        writes into the param group for the (t+1)-th step; pass it to the optimizer there."""
        if not self.cycle_momentum:
            raise ValueError("momentum is only scheduled with cycle_momentum=True")
        return self._evaluate(_steps(step), lr=False)


class CyclicLR(_Schedule):
    """Cyclical learning rates; see jaxmath.lr_scheduler.CyclicLR (same formula and momentum)."""

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

    def _scale(self, cycle: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        argument = cycle if self.scale_mode == "cycle" else steps
        if self.scale_fn is not None:
            return torch.as_tensor(self.scale_fn(argument), dtype=torch.float64)
        if self.mode == "triangular":
            return torch.ones_like(argument)
        if self.mode == "triangular2":
            return 1 / (2.0 ** (argument - 1))
        return self.gamma**argument

    def _height(self, steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = _as_float(steps)
        cycle = torch.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        factor = torch.where(
            x <= self.step_ratio, x / self.step_ratio, (x - 1) / (self.step_ratio - 1)
        )
        return factor, self._scale(cycle, t)

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        factor, scale = self._height(steps)
        return self.lr + (self.max_lr - self.lr) * factor * scale

    def momentum(self, step: Any) -> torch.Tensor:
        """The momentum (SGD, RMSprop, Muon) or betas[0] (Adam, AdamW, Adamax, NAdam, RAdam) torch
        writes into the param group for the (t+1)-th step; pass it to the optimizer there."""
        if not self.cycle_momentum:
            raise ValueError("momentum is only scheduled with cycle_momentum=True")
        factor, scale = self._height(_steps(step))
        return self.max_momentum - (self.max_momentum - self.base_momentum) * factor * scale


class ReduceLROnPlateauState(NamedTuple):
    """State of :func:`ReduceLROnPlateau` (Python numbers, as torch's scheduler attributes)."""

    lr: float  # the lr in force after the last loss seen
    best: float  # the best loss so far
    num_bad_epochs: int  # losses since the last improvement
    cooldown_counter: int  # losses left in the cooldown
    count: int  # losses seen


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
) -> Any:
    """torch's ReduceLROnPlateau as a gradient transformation; see jaxmath.lr_scheduler's."""
    from torch_ref.optim import GradientTransformation, tree_map

    check_scalar_in_range("lr", lr, 0.0, low_inclusive=False)
    check_scalar_in_range("factor", factor)
    if factor >= 1.0:
        raise ValueError(f"factor must be < 1.0, got {factor!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be one of 'min', 'max', got {mode!r}")
    if threshold_mode not in ("rel", "abs"):
        raise ValueError(f"threshold_mode must be one of 'rel', 'abs', got {threshold_mode!r}")
    for name, value in (("patience", patience), ("cooldown", cooldown)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    check_scalar_in_range("threshold", threshold, 0.0)
    check_scalar_in_range("min_lr", min_lr, 0.0)
    check_scalar_in_range("eps", eps, 0.0)

    def is_better(value: float, best: float) -> bool:
        if mode == "min":
            if threshold_mode == "rel":
                return value < best * (1.0 - threshold)
            return value < best - threshold
        if threshold_mode == "rel":
            return value > best * (threshold + 1.0)
        return value > best + threshold

    def init(params: Any = None) -> ReduceLROnPlateauState:
        return ReduceLROnPlateauState(lr, math.inf if mode == "min" else -math.inf, 0, 0, 0)

    def update(
        updates: Any, state: ReduceLROnPlateauState, params: Any = None, *, value: Any
    ) -> tuple[Any, ReduceLROnPlateauState]:
        loss = torch.as_tensor(value)
        if tuple(loss.shape) != ():
            raise ValueError(f"value must be a scalar loss, got shape {tuple(loss.shape)}")
        current = float(loss)
        scale = state.lr / lr
        scaled = tree_map(lambda u: u * scale, updates)
        best, bad, cooldown_counter, new_lr = (
            state.best,
            state.num_bad_epochs,
            state.cooldown_counter,
            state.lr,
        )
        if is_better(current, best):
            best, bad = current, 0
        else:
            bad += 1
        if cooldown_counter > 0:
            cooldown_counter -= 1
            bad = 0
        if bad > patience:
            reduced = max(new_lr * factor, min_lr)
            if new_lr - reduced > eps:
                new_lr = reduced
            cooldown_counter, bad = cooldown, 0
        return scaled, ReduceLROnPlateauState(new_lr, best, bad, cooldown_counter, state.count + 1)

    return GradientTransformation(init, update)


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
    """Multiplicative schedules applied together; see jaxmath.lr_scheduler.ChainedScheduler."""

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

    def value(self, steps: torch.Tensor) -> torch.Tensor:
        result = torch.tensor(self.lr, dtype=torch.float64)
        for schedule in self.schedulers:
            result = result * (schedule.value(steps) / self.lr)
        return result
