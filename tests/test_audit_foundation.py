"""Inputs a correctness audit found jaxmath and torch_ref handling unlike torch (session 4).

Most findings are parity rows (edge samples in parity_tests/cases.py); these are the ones the row
harness cannot express: zero-size class axes and the hand-written backward of backprop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jaxmath
import torch_ref
from jaxmath import backprop
from torch_ref import backprop as torch_backprop


@pytest.mark.parametrize("shape", [(2, 0), (0,), (2, 0, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_probability_targets_without_classes_follow_torch(
    shape: tuple[int, ...], reduction: str
) -> None:
    """(N, 0) logits with (N, 0) probability targets: torch's mean is 0 / (numel / C) = NaN; ours
    raised ZeroDivisionError (integer division by C = 0) in both packages."""
    logits = np.zeros(shape)
    expected = F.cross_entropy(
        torch.tensor(logits), torch.tensor(logits), reduction=reduction
    ).numpy()
    ours = np.asarray(jaxmath.cross_entropy_loss(jnp.asarray(logits), logits, reduction=reduction))
    twin = torch_ref.cross_entropy_loss(
        torch.tensor(logits), torch.tensor(logits), reduction=reduction
    ).numpy()
    for got in (ours, twin):
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_relu_backward_passes_nan_as_torch() -> None:
    """torch's relu backward (threshold_backward: 0 where result <= 0) passes the gradient at a NaN
    input; relu_backward gave 0 there (where(x > 0, g, 0)), hiding the NaN from the backward."""
    x = np.array([np.nan, -1.0, 0.0, -0.0, 2.0, np.inf, -np.inf])
    grad_output = np.array([3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0])
    t_x = torch.tensor(x, requires_grad=True)
    (expected,) = torch.autograd.grad(F.relu(t_x), t_x, torch.tensor(grad_output))
    ours = backprop.relu_backward(jnp.asarray(grad_output), jnp.asarray(x))
    twin = torch_backprop.relu_backward(torch.tensor(grad_output), torch.tensor(x))
    np.testing.assert_array_equal(np.asarray(ours), expected.numpy())
    np.testing.assert_array_equal(twin.numpy(), expected.numpy())
    autodiff = jax.grad(lambda z: jnp.sum(jaxmath.relu(z) * grad_output))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(autodiff), expected.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_categorical_renormalises_probs_as_torch(dtype: str) -> None:
    """torch.distributions.Categorical takes counts or weights and renormalises them; ours refused
    any probs not summing to 1 (+-1e-6) with 'probs must sum to 1 over the last axis'."""
    from jaxmath import distributions as jd
    from torch_ref import distributions as td

    counts = np.array([[1.0, 2.0, 3.0], [0.0, 4.0, 4.0]], dtype)
    value = np.array([2, 1])  # (torch clamps a zero probability: a documented difference)
    upstream = torch.distributions.Categorical(probs=torch.tensor(counts))
    ours = jd.Categorical(jnp.asarray(counts))
    twin = td.Categorical(torch.tensor(counts))
    tol = {"rtol": 1e-6 if dtype == "float32" else 1e-13, "atol": 0.0}
    for got_probs, got_log_prob, got_entropy in (
        (ours.probs, ours.log_prob(jnp.asarray(value)), ours.entropy()),
        (twin.probs, twin.log_prob(torch.tensor(value)), twin.entropy()),
    ):
        np.testing.assert_allclose(np.asarray(got_probs), upstream.probs.numpy(), **tol)
        expected_log_prob = upstream.log_prob(torch.tensor(value)).numpy()
        np.testing.assert_allclose(np.asarray(got_log_prob), expected_log_prob, **tol)
        np.testing.assert_allclose(np.asarray(got_entropy), upstream.entropy().numpy(), **tol)


def test_check_gradients_of_a_zero_size_input_passes() -> None:
    """numerical_gradient returns a zero-size gradient for a zero-size x, but check_gradients then
    took the max of nothing (a NumPy ValueError in jaxmath, a torch RuntimeError in torch_ref)."""
    ours = jaxmath.check_gradients(lambda x: jnp.sum(x**2), jnp.zeros((0, 3)))
    twin = torch_ref.check_gradients(
        lambda x: torch.sum(x**2), torch.zeros((0, 3), dtype=torch.float64)
    )
    for report in (ours, twin):
        assert report.passed
        assert report.max_relative_error == 0.0
        assert report.max_absolute_error == 0.0
