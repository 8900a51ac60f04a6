"""Every torch.optim optimizer and every torch.optim.lr_scheduler scheduler has a twin of the same
name in jaxmath and torch_ref (issue 19), with torch's hyperparameters, in torch's order, with
torch's defaults.

Discovered from the installed torch, so a class added by a later torch fails here until it is
written. Left out: ``Optimizer`` and ``LRScheduler`` / ``_LRScheduler`` (base classes), private
helpers (``_SchedulePhase``...), and ``SparseAdam`` (sparse gradients have no JAX counterpart).
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
import torch.optim.lr_scheduler as torch_schedulers

import jaxmath
import torch_ref

EXCLUDED_OPTIMIZERS = {"Optimizer", "SparseAdam"}
EXCLUDED_SCHEDULERS = {"LRScheduler", "_LRScheduler"}

#: torch arguments with no counterpart in a functional transformation: the params / optimizer it
#: mutates, implementation switches (foreach, fused, capturable, differentiable), and a scheduler's
#: resume point (``last_epoch``: our schedules are functions of the step).
NOT_HYPERPARAMETERS = {
    "params",
    "optimizer",
    "foreach",
    "fused",
    "capturable",
    "differentiable",
    "last_epoch",
    "verbose",
}
#: Our additions, after torch's arguments: the optax-style param-group mask.
EXTRA_ARGUMENTS = {"weight_decay_mask"}


def torch_optimizers() -> list[str]:
    return sorted(
        name
        for name, value in vars(torch.optim).items()
        if inspect.isclass(value)
        and issubclass(value, torch.optim.Optimizer)
        and name not in EXCLUDED_OPTIMIZERS
    )


def torch_schedulers_() -> list[str]:
    return sorted(
        name
        for name, value in vars(torch_schedulers).items()
        if inspect.isclass(value)
        and value.__module__ == torch_schedulers.__name__
        and not name.startswith("_")
        and name not in EXCLUDED_SCHEDULERS
        and issubclass(value, torch_schedulers.LRScheduler)
    )


def test_discovery_finds_torch_s_classes() -> None:
    """The discovery itself: it sees what torch 2.13 has (so an empty list cannot pass)."""
    assert {"SGD", "Adam", "Adafactor", "Muon", "LBFGS"} <= set(torch_optimizers())
    assert "SparseAdam" not in torch_optimizers()
    assert {"StepLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR"} <= set(torch_schedulers_())
    assert "LRScheduler" not in torch_schedulers_()


@pytest.mark.parametrize("package", [jaxmath, torch_ref], ids=["jaxmath", "torch_ref"])
@pytest.mark.parametrize("name", torch_optimizers())
def test_every_torch_optimizer_has_a_twin(package: Any, name: str) -> None:
    module = package.optim
    assert name in module.__all__, f"{package.__name__}.optim has no {name} (torch.optim.{name})"
    assert callable(getattr(module, name))


@pytest.mark.parametrize("package", [jaxmath, torch_ref], ids=["jaxmath", "torch_ref"])
@pytest.mark.parametrize("name", torch_schedulers_())
def test_every_torch_scheduler_has_a_twin(package: Any, name: str) -> None:
    module = package.lr_scheduler
    assert name in module.__all__, (
        f"{package.__name__}.lr_scheduler has no {name} (torch.optim.lr_scheduler.{name})"
    )
    assert callable(getattr(module, name))


def _hyperparameters(function: Any) -> list[tuple[str, Any]]:
    return [
        (parameter.name, parameter.default)
        for parameter in inspect.signature(function).parameters.values()
        if parameter.name not in NOT_HYPERPARAMETERS
        and parameter.kind is not inspect.Parameter.VAR_KEYWORD
    ]


def _torch_class(name: str) -> Any:
    return getattr(torch.optim, name, None) or getattr(torch_schedulers, name)


@pytest.mark.parametrize("name", torch_optimizers() + torch_schedulers_())
def test_twins_take_torch_s_hyperparameters_and_defaults(name: str) -> None:
    """torch's arguments (``optimizer`` replaced by ``lr`` for schedulers), in torch's order, with
    torch's defaults; ours may only add weight_decay_mask at the end."""
    theirs = _hyperparameters(_torch_class(name).__init__)[1:]  # drop self
    is_optimizer = hasattr(torch.optim, name)
    module_name = "optim" if is_optimizer else "lr_scheduler"
    for package in (jaxmath, torch_ref):
        ours = _hyperparameters(getattr(getattr(package, module_name), name))
        if not is_optimizer and ours and ours[0][0] == "lr" and "lr" not in dict(theirs):
            ours = ours[1:]  # the scheduler's base lr, in place of torch's optimizer
        core = [item for item in ours if item[0] not in EXTRA_ARGUMENTS]
        assert [key for key, _ in core] == [key for key, _ in theirs], (
            f"{package.__name__}.{module_name}.{name}"
        )
        for (key, default), (_, expected) in zip(core, theirs, strict=True):
            if expected is inspect.Parameter.empty:
                continue
            assert default == expected or (default is None and expected is None), (
                f"{package.__name__}.{module_name}.{name}: {key}={default!r}, torch {expected!r}"
            )
