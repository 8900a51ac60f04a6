"""The fused cross-entropy backward also differentiates the class weights.

torch.nn.functional.cross_entropy has no derivative for ``weight`` (it raises), so the parity table
cannot use it as the reference here; torch_ref's plain formula under torch.autograd is the reference.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
import torch

import jaxmath
import torch_ref
from parity_tests.harness import assert_trees_close, tolerance


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2)])
def test_weight_gradient_matches_autograd_of_the_formula(
    shape: tuple[int, ...], label_smoothing: float, reduction: str
) -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal(shape)
    target = rng.integers(0, shape[1], size=shape[:1] + shape[2:])
    target.flat[0] = -100
    weight = rng.uniform(0.5, 2.0, size=shape[1])
    options = {"reduction": reduction, "label_smoothing": label_smoothing}

    def ours(logits, weight):
        return jaxmath.cross_entropy_loss(logits, target, weight=weight, **options)

    grads = jax.jit(jax.grad(ours, argnums=(0, 1)))(logits, weight)

    t_logits = torch.tensor(logits, requires_grad=True)
    t_weight = torch.tensor(weight, requires_grad=True)
    loss = torch_ref.cross_entropy_loss(t_logits, torch.tensor(target), weight=t_weight, **options)
    expected = torch.autograd.grad(loss, (t_logits, t_weight))
    assert_trees_close(
        [np.asarray(g) for g in grads],
        [g.numpy() for g in expected],
        tolerance("reduction", "float64"),
        f"{shape} {options}",
    )
    numerical = jaxmath.numerical_gradient(functools.partial(ours, logits), weight)
    np.testing.assert_allclose(grads[1], numerical, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_weight_gradient_of_an_ignored_target_in_a_masked_row_is_zero(
    label_smoothing: float,
) -> None:
    """An ignored target reads class 0 as a stand-in; with class 0 masked to -inf in its row the
    weight gradient was NaN (0 * inf) in jaxmath's fused backward, and with label smoothing in
    torch_ref's formula too (the smoothing term's product of -inf and the weights)."""
    logits = np.array([[0.0, 1.0, 2.0], [-np.inf, 1.0, 2.0], [0.5, -1.0, 0.0]])
    target = np.array([2, -100, 1])
    weight = np.array([1.0, 2.0, 0.5])
    options = {"label_smoothing": label_smoothing}
    grad = jax.grad(
        lambda w: jaxmath.cross_entropy_loss(logits, target, weight=w, **options), argnums=0
    )(weight)
    t_weight = torch.tensor(weight, requires_grad=True)
    loss = torch_ref.cross_entropy_loss(
        torch.tensor(logits), torch.tensor(target), weight=t_weight, **options
    )
    (expected,) = torch.autograd.grad(loss, t_weight)
    assert np.all(np.isfinite(expected.numpy()))
    np.testing.assert_allclose(np.asarray(grad), expected.numpy(), rtol=1e-12, atol=1e-15)
