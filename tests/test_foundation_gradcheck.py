"""check_gradients applies the tolerances it documents, in both packages; numerical_gradient compiles
once per function and shapes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxmath
import torch_ref
from jaxmath import gradcheck

#: The documented defaults (check_gradients' docstring): (rtol, atol) by dtype.
DOCUMENTED = {"float64": (1e-6, 1e-9), "float32": (1e-2, 1e-3)}


def _jax_check(dtype: str, factor: float) -> jaxmath.GradientCheck:
    x = jnp.asarray(np.linspace(0.5, 2.0, 6), dtype)
    return jaxmath.check_gradients(
        lambda v: jnp.sum(jnp.sin(v) * v), x, grad=lambda v: factor * (jnp.cos(v) * v + jnp.sin(v))
    )


def _torch_check(dtype: str, factor: float) -> torch_ref.GradientCheck:
    x = torch.linspace(0.5, 2.0, 6, dtype=getattr(torch, dtype))
    return torch_ref.check_gradients(
        lambda v: torch.sum(torch.sin(v) * v),
        x,
        grad=lambda v: factor * (torch.cos(v) * v + torch.sin(v)),
    )


@pytest.mark.parametrize("check", [_jax_check, _torch_check], ids=["jaxmath", "torch_ref"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_default_tolerance_is_the_documented_one_and_decides(check, dtype: str) -> None:
    """A gradient off by half the default rtol passes; off by twice the rtol fails."""
    rtol, atol = DOCUMENTED[dtype]
    inside, outside = check(dtype, 1.0 + 0.5 * rtol), check(dtype, 1.0 + 2.0 * rtol)
    assert (inside.rtol, inside.atol) == (rtol, atol)
    assert inside.passed and not outside.passed, (inside, outside)
    assert outside.max_relative_error == pytest.approx(2.0 * rtol, rel=0.3)


def test_numerical_gradient_compiles_once_per_function_and_shape() -> None:
    def f(v: jax.Array) -> jax.Array:
        return jnp.sum(jnp.tanh(v) ** 2)

    before = gradcheck._central_differences._cache_size()
    first = jaxmath.numerical_gradient(f, jnp.linspace(-1.0, 1.0, 7))
    second = jaxmath.numerical_gradient(f, jnp.linspace(-2.0, 2.0, 7))  # new values, same shape
    assert gradcheck._central_differences._cache_size() == before + 1
    jaxmath.numerical_gradient(f, jnp.linspace(-2.0, 2.0, 8))  # a new shape compiles once more
    assert gradcheck._central_differences._cache_size() == before + 2
    for gradient, x in ((first, np.linspace(-1, 1, 7)), (second, np.linspace(-2, 2, 7))):
        np.testing.assert_allclose(gradient, 2 * np.tanh(x) / np.cosh(x) ** 2, rtol=1e-7, atol=1e-9)


def test_numerical_gradient_of_a_partial_reuses_the_compiled_code_for_new_data() -> None:
    def loss(data: jax.Array, w: jax.Array) -> jax.Array:
        return jnp.sum((data @ w) ** 2)

    w = jnp.ones(3)
    before = gradcheck._central_differences._cache_size()
    for seed in range(3):
        data = jax.random.normal(jax.random.PRNGKey(seed), (4, 3), jnp.float64)
        gradient = jaxmath.numerical_gradient(jax.tree_util.Partial(loss, data), w)
        np.testing.assert_allclose(gradient, 2 * data.T @ (data @ w), rtol=1e-7)
    assert gradcheck._central_differences._cache_size() == before + 1


def _mixed_jax() -> tuple[dict, dict]:
    x = {"low": jnp.linspace(0.5, 2.0, 5, dtype="float32"), "high": jnp.linspace(-1.0, 1.0, 4)}
    numerical = jaxmath.numerical_gradient(
        lambda v: jnp.sum(jnp.sin(v["low"])) + jnp.sum(jnp.sin(v["high"])), x
    )
    return numerical, jax.tree.map(np.asarray, x)


def _mixed_torch() -> tuple[dict, dict]:
    x = {
        "low": torch.linspace(0.5, 2.0, 5, dtype=torch.float32),
        "high": torch.linspace(-1.0, 1.0, 4, dtype=torch.float64),
    }
    numerical = torch_ref.numerical_gradient(
        lambda v: torch.sum(torch.sin(v["low"])) + torch.sum(torch.sin(v["high"])), x
    )
    return numerical, {key: value.numpy() for key, value in x.items()}


@pytest.mark.parametrize("mixed", [_mixed_jax, _mixed_torch], ids=["jaxmath", "torch_ref"])
def test_a_pytree_of_mixed_precisions_gets_each_leaf_its_own_step(mixed) -> None:
    """float32 and float64 leaves in one pytree: each is perturbed by its own dtype's step and the
    step read after rounding to its dtype. With float64's step on the float32 leaf (before), its
    derivatives were off by ~0.4%; now by float32's central-difference error (~1e-4 at most here),
    and the float64 leaf keeps float64 accuracy. Dtypes are the leaves' own."""
    numerical, values = mixed()
    assert np.asarray(numerical["low"]).dtype == np.float32
    assert np.asarray(numerical["high"]).dtype == np.float64
    np.testing.assert_allclose(
        np.asarray(numerical["low"]), np.cos(values["low"]), rtol=2e-4, atol=2e-4
    )
    np.testing.assert_allclose(np.asarray(numerical["high"]), np.cos(values["high"]), rtol=1e-9)


@pytest.mark.parametrize("package", [jaxmath, torch_ref], ids=["jaxmath", "torch_ref"])
def test_check_gradients_defaults_to_the_least_precise_leaf_s_tolerance(package) -> None:
    """A float32 leaf limits a mixed pytree's check: the default tolerances are float32's."""
    if package is jaxmath:
        x = {"low": jnp.linspace(0.5, 2.0, 5, dtype="float32"), "high": jnp.linspace(-1.0, 1.0, 4)}
        result = package.check_gradients(
            lambda v: jnp.sum(jnp.sin(v["low"])) + jnp.sum(v["high"] ** 2), x
        )
    else:
        x = {
            "low": torch.linspace(0.5, 2.0, 5, dtype=torch.float32),
            "high": torch.linspace(-1.0, 1.0, 4, dtype=torch.float64),
        }
        result = package.check_gradients(
            lambda v: torch.sum(torch.sin(v["low"])) + torch.sum(v["high"] ** 2), x
        )
    assert (result.rtol, result.atol) == DOCUMENTED["float32"]
    assert result.passed
