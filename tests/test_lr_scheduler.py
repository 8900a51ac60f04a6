"""jaxmath.lr_scheduler / torch_ref.lr_scheduler beyond the parity rows: torch's lr step for step when
driving an optimizer, optax's clamping vs torch's periodic cosine, jit, validation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxmath import lr_scheduler as jl
from jaxmath import optim as jo
from torch_ref import lr_scheduler as tl


def torch_lrs(make, lr: float, steps: int) -> np.ndarray:
    parameter = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([parameter], lr=lr)
    scheduler = make(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return np.asarray(lrs)


def test_the_lr_an_optimizer_uses_is_torch_s_at_every_step() -> None:
    """SGD with a schedule, gradient 1: the update at step t is -lr_t, which must be torch's lr
    after t scheduler.step() calls, past T_max too."""
    schedule = jl.CosineAnnealingLR(0.1, T_max=30, eta_min=0.01)
    opt = jo.SGD(lr=schedule)
    state = opt.init(jnp.zeros(()))
    update = jax.jit(opt.update)
    used = []
    for _ in range(100):
        updates, state = update(jnp.ones(()), state)
        used.append(-float(updates))
    expected = torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 30, 0.01), 0.1, 100
    )
    np.testing.assert_allclose(used, expected, rtol=1e-12, atol=1e-15)
    assert update._cache_size() == 1


def test_cosine_continues_periodically_where_optax_clamps() -> None:
    ours = np.asarray(jl.CosineAnnealingLR(0.1, T_max=50, eta_min=0.001)(np.arange(150)))
    optax_schedule = optax.cosine_decay_schedule(0.1, decay_steps=50, alpha=0.001 / 0.1)
    theirs = np.asarray(jax.vmap(optax_schedule)(jnp.arange(150)))
    np.testing.assert_allclose(ours[:51], theirs[:51], rtol=1e-6)
    assert np.allclose(theirs[50:], 0.001)  # optax stays at the end value
    np.testing.assert_allclose(ours[100], 0.1, rtol=1e-12)  # torch climbs back to lr at 2 T_max
    expected = torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 50, 0.001), 0.1, 150
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)


def test_closed_form_vs_torch_chainable_drift_is_tiny_over_many_steps() -> None:
    """torch multiplies its lr step by step; after 3000 steps the closed form is still within
    ~1e-13 relative (that is what "equal to torch" means here)."""
    steps = 3000
    for ours, make in (
        (jl.ExponentialLR(0.1, 0.999), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.999)),
        (
            jl.CosineAnnealingLR(0.1, 97, 0.002),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 97, 0.002),
        ),
        (jl.StepLR(0.1, 7, 0.9), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.9)),
    ):
        expected = torch_lrs(make, 0.1, steps)
        got = np.asarray(ours(np.arange(steps)))
        assert np.max(np.abs(got - expected) / expected) < 1e-11


def test_warmup_then_cosine_matches_torch_sequential_lr() -> None:
    ours = jl.SequentialLR(
        [jl.LinearLR(0.3, 0.1, 1.0, 10), jl.CosineAnnealingLR(0.3, 50, 0.001)], [10]
    )
    twin = tl.SequentialLR(
        [tl.LinearLR(0.3, 0.1, 1.0, 10), tl.CosineAnnealingLR(0.3, 50, 0.001)], [10]
    )

    def make(o):
        warmup = torch.optim.lr_scheduler.LinearLR(o, 0.1, 1.0, 10)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(o, 50, 0.001)
        return torch.optim.lr_scheduler.SequentialLR(o, [warmup, cosine], [10])

    expected = torch_lrs(make, 0.3, 200)
    np.testing.assert_allclose(np.asarray(ours(np.arange(200))), expected, rtol=1e-12)
    np.testing.assert_allclose(twin(torch.arange(200)).numpy(), expected, rtol=1e-12)


def test_schedules_take_python_ints_and_traced_steps() -> None:
    schedule = jl.StepLR(1.0, step_size=3, gamma=0.5)
    assert float(schedule(7)) == 0.25
    assert float(jax.jit(schedule)(jnp.asarray(7))) == 0.25
    assert float(tl.StepLR(1.0, step_size=3, gamma=0.5)(7)) == 0.25
    assert jl.StepLR(1.0, 3)(np.arange(4)).dtype == jnp.float64  # x64 on in the tests


@pytest.mark.parametrize("module", [jl, tl])
def test_bad_steps_and_options_are_refused(module) -> None:
    with pytest.raises(ValueError, match="step must be >= 0, got -2"):
        module.ExponentialLR(0.1, 0.9)(-2)
    with pytest.raises(TypeError, match=r"step_size must be an int, got 2\.5"):
        module.StepLR(0.1, 2.5)
    with pytest.raises(ValueError, match=r"milestones must be increasing, got \[20, 10\]"):
        module.SequentialLR(
            [module.LinearLR(0.1), module.LinearLR(0.1), module.LinearLR(0.1)], [20, 10]
        )
    with pytest.raises(TypeError, match=r"schedulers\[1\] must be a schedule, got 0\.1"):
        module.SequentialLR([module.LinearLR(0.1), 0.1], [5])


@pytest.mark.parametrize("torch_optimizer", ["SGD", "Adam"])
def test_one_cycle_momentum_schedule_is_torch_s(torch_optimizer: str) -> None:
    """OneCycleLR also cycles SGD's momentum (Adam's beta1): momentum(t) is what torch writes into
    the param group before the (t+1)-th step."""
    parameter = torch.zeros(1, requires_grad=True)
    if torch_optimizer == "SGD":
        opt = torch.optim.SGD([parameter], lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.Adam([parameter], lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.2, total_steps=120, three_phase=True, base_momentum=0.8
    )
    expected = []
    for step in range(121):
        group = opt.param_groups[0]
        expected.append(group["momentum"] if torch_optimizer == "SGD" else group["betas"][0])
        opt.step()
        if step < 120:
            scheduler.step()
    ours = jl.OneCycleLR(0.2, total_steps=120, three_phase=True, base_momentum=0.8)
    twin = tl.OneCycleLR(0.2, total_steps=120, three_phase=True, base_momentum=0.8)
    np.testing.assert_allclose(np.asarray(ours.momentum(np.arange(121))), expected, rtol=1e-12)
    np.testing.assert_allclose(twin.momentum(torch.arange(121)).numpy(), expected, rtol=1e-12)


def test_optimizers_take_an_injected_lr() -> None:
    """optax.inject_hyperparams hands the lr over as an array (traced in update): accepted, and the
    lr in force is the schedule's. The other options must be static_args: the branches of torch's
    rules depend on them (a momentum schedule is passed as ``momentum=schedule.momentum``
    instead: see test_momentum_and_beta1_schedules_compile_once)."""
    schedule = jl.OneCycleLR(0.2, total_steps=50)
    static = ("momentum", "dampening", "weight_decay", "nesterov", "maximize")
    opt = optax.inject_hyperparams(jo.SGD, static_args=static)(lr=schedule, momentum=0.9)
    state = opt.init(jnp.zeros(3))
    update = jax.jit(opt.update)
    for _ in range(3):
        _, state = update(jnp.ones(3), state)
    assert float(state.hyperparams["lr"]) == pytest.approx(float(schedule(2)))
    with pytest.raises(ValueError, match=r"lr must be >= 0.0, got -0.5"):
        jo.Adam(lr=jnp.asarray(-0.5))


def test_cyclic_momentum_schedule_is_torch_s() -> None:
    parameter = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([parameter], lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CyclicLR(
        opt, 0.01, 0.1, step_size_up=7, step_size_down=13, mode="triangular2"
    )
    expected = []
    for _ in range(100):
        expected.append(opt.param_groups[0]["momentum"])
        opt.step()
        scheduler.step()
    ours = jl.CyclicLR(0.01, 0.1, step_size_up=7, step_size_down=13, mode="triangular2")
    twin = tl.CyclicLR(0.01, 0.1, step_size_up=7, step_size_down=13, mode="triangular2")
    np.testing.assert_allclose(np.asarray(ours.momentum(np.arange(100))), expected, rtol=1e-12)
    np.testing.assert_allclose(twin.momentum(torch.arange(100)).numpy(), expected, rtol=1e-12)


def test_sequential_lr_continues_from_the_lr_in_force_when_multiplicative_lr_takes_over() -> None:
    """torch's SequentialLR steps a MultiplicativeLR from the lr in force (no closed form): at the
    milestone m the lr becomes lr(m-1) * lambda(0), then * lambda(1), ... (its own lr is unused)."""
    for module in (jl, tl):
        schedule = module.SequentialLR(
            [module.ExponentialLR(0.1, gamma=0.9), module.MultiplicativeLR(7.0, lambda t: 0.5)],
            milestones=[5],
        )
        steps = np.arange(8) if module is jl else torch.arange(8)
        values = np.asarray(schedule(steps))
        expected = [0.1 * 0.9**t for t in range(5)] + [0.1 * 0.9**4 * 0.5**k for k in (1, 2, 3)]
        np.testing.assert_allclose(values, expected, rtol=1e-14)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_momentum_and_beta1_schedules_compile_once(name: str) -> None:
    """momentum (SGD) / betas[0] (Adam, AdamW) as schedules: read at each step under one compile."""
    schedule = jl.OneCycleLR(0.1, total_steps=20)
    if name == "SGD":
        opt = jo.SGD(lr=schedule, momentum=schedule.momentum, nesterov=True)
    else:
        opt = getattr(jo, name)(lr=schedule, betas=(schedule.momentum, 0.999))
    params = jnp.ones(3)
    state = opt.init(params)
    update = jax.jit(opt.update)
    for step in range(4):
        updates, state = update(jnp.full(3, 1.0 + step), state, params)
        params = params + updates
    assert update._cache_size() == 1


@pytest.mark.parametrize(
    "module", [jo, __import__("torch_ref").optim], ids=["jaxmath", "torch_ref"]
)
def test_only_beta1_may_be_a_schedule(module) -> None:
    """torch's cycle_momentum writes betas[0] (never betas[1]) of every optimizer with betas."""
    schedule = jl.OneCycleLR(0.1, total_steps=20)
    for name in ("Adam", "AdamW", "Adamax", "NAdam", "RAdam"):
        getattr(module, name)(betas=(schedule.momentum, 0.999))  # accepted
        with pytest.raises(TypeError, match=r"betas\[1\] must be a real number"):
            getattr(module, name)(betas=(0.9, schedule.momentum))
