"""What is checked under jax.jit, and what cannot be (as the docstrings say).

Static facts (shapes, dtypes, option strings, Python scalars) raise under jit exactly as eagerly;
checks on array values (class index in range, probabilities in [0, 1]) need concrete values, so under
jit they are skipped, and the eager call is where they protect the user.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmath


def test_static_checks_raise_under_jit() -> None:
    logits, target = jnp.zeros((4, 3)), jnp.array([0, 1, 2, 1])
    with pytest.raises(
        ValueError, match=r"reduction must be one of 'mean', 'sum', 'none', got 'avg'"
    ):
        jax.jit(functools.partial(jaxmath.cross_entropy_loss, reduction="avg"))(logits, target)
    with pytest.raises(ValueError, match=r"target of class indices must have shape \(4,\)"):
        jax.jit(jaxmath.cross_entropy_loss)(logits, target[:3])
    with pytest.raises(TypeError, match=r"x must be a floating-point array, got dtype int"):
        jax.jit(jaxmath.softmax)(jnp.arange(3))
    with pytest.raises(ValueError, match=r"target must have the same shape as input"):
        jax.jit(jaxmath.mse_loss)(jnp.zeros(3), jnp.zeros((3, 1)))


def test_value_checks_run_eagerly_and_are_skipped_under_jit() -> None:
    logits, out_of_range = jnp.zeros((2, 3)), jnp.array([0, 7])
    with pytest.raises(ValueError, match=r"got 7"):
        jaxmath.cross_entropy_loss(logits, out_of_range)
    # traced: cannot be checked, no raise; JAX's gather fills an out-of-range index with NaN, so the
    # loss says so (as the docstring documents) instead of reading another class's logit
    for loss in (jaxmath.cross_entropy_loss, jaxmath.nll_loss):
        assert np.isnan(jax.jit(loss)(logits, out_of_range))
        in_range = jax.jit(loss)(logits, jnp.array([0, 2]))
        assert np.isfinite(in_range)
    with pytest.raises(ValueError, match=r"probs must lie in \[0, 1\], got 1.5"):
        jaxmath.binary_cross_entropy(jnp.array([1.5]), jnp.array([1.0]))
    # log(1 - 1.5) is NaN: under jit the bad probability shows as a NaN loss, not a plausible number
    value = jax.jit(jaxmath.binary_cross_entropy)(jnp.array([1.5]), jnp.array([1.0]))
    assert value.shape == () and np.isnan(value)


def test_gradcheck_finds_a_wrong_gradient() -> None:
    x = jnp.asarray(np.linspace(-1.0, 1.0, 5))
    right = jaxmath.check_gradients(lambda v: jnp.sum(jaxmath.tanh(v) ** 2), x)
    wrong = jaxmath.check_gradients(
        lambda v: jnp.sum(jaxmath.tanh(v) ** 2), x, grad=lambda v: 2 * jaxmath.tanh(v)
    )
    assert right.passed and right.max_relative_error < 1e-8
    assert not wrong.passed and wrong.max_relative_error > 0.1


def test_numerical_gradient_memory_is_chunked() -> None:
    """A vector larger than one chunk takes several vmapped batches and still gives the gradient."""
    from jaxmath import gradcheck

    x = jnp.asarray(np.linspace(-2.0, 2.0, 3000))
    original = gradcheck.CHUNK_ELEMENTS
    gradcheck.CHUNK_ELEMENTS = 3000 * 64  # 64 perturbations per batch: 47 batches
    try:
        numerical = gradcheck.numerical_gradient(lambda v: jnp.sum(jnp.sin(v)), x)
    finally:
        gradcheck.CHUNK_ELEMENTS = original
    # f sums 3000 terms, so its rounding (~1e-13) over the step 2h ~ 1e-5 leaves ~1e-8 absolute
    np.testing.assert_allclose(numerical, np.cos(np.asarray(x)), rtol=1e-6, atol=1e-6)
