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
