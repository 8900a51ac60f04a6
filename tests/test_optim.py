"""jaxmath.optim and torch_ref.optim against torch.optim and optax beyond the generic parity rows:
jit without recompiling, the optax pairs whose rules coincide, optax.chain, parameter groups."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxmath
import torch_ref
from jaxmath import optim as jo
from torch_ref import optim as to


def problem(seed: int = 0, n: int = 12) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {"w": rng.normal(size=(n // 3, 3)) * 3.0, "b": rng.normal(size=n // 4) * 3.0}
    a = {"w": rng.uniform(0.2, 2.0, (n // 3, 3)), "b": rng.uniform(0.2, 2.0, n // 4)}
    c = {"w": rng.normal(size=(n // 3, 3)), "b": rng.normal(size=n // 4)}
    return params, a, c


def gradient(p, a, c):
    d = p - c
    return d * (a + 0.1 * d * d)


def run_jax(opt, params, a, c, steps):
    params = jax.tree.map(jnp.asarray, params)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        grads = jax.tree.map(gradient, params, a, c)
        updates, state = opt.update(grads, state, params)
        return jo.apply_updates(params, updates), state

    for _ in range(steps):
        params, state = step(params, state)
    assert step._cache_size() == 1
    return jax.tree.map(np.asarray, params)


def run_torch_optim(cls, kwargs, params, a, c, steps):
    tensors = {key: torch.tensor(value) for key, value in params.items()}
    opt = cls([tensors[key] for key in sorted(tensors)], **kwargs)
    for _ in range(steps):
        for key in tensors:
            tensors[key].grad = gradient(
                tensors[key].detach(), torch.tensor(a[key]), torch.tensor(c[key])
            )
        opt.step()
    return {key: value.detach().numpy() for key, value in tensors.items()}


CONFIGS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.02, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.1}),
]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_top_level_optimizers_match_torch_optim(name: str, kwargs: dict) -> None:
    params, a, c = problem()
    expected = run_torch_optim(getattr(torch.optim, name), kwargs, params, a, c, 200)
    ours = run_jax(getattr(jaxmath, name)(**kwargs), params, a, c, 200)
    opt = getattr(torch_ref, name)(**kwargs)
    tensors = {key: torch.tensor(value) for key, value in params.items()}
    state = opt.init(tensors)
    for _ in range(200):
        grads = {
            key: gradient(tensors[key], torch.tensor(a[key]), torch.tensor(c[key]))
            for key in tensors
        }
        updates, state = opt.update(grads, state, tensors)
        tensors = to.apply_updates(tensors, updates)
    for key in params:
        np.testing.assert_allclose(ours[key], expected[key], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(tensors[key].numpy(), expected[key], rtol=1e-12, atol=1e-13)
