"""jaxmath.backprop beyond the parity rows: the scalar graph's mechanics, compile-once training steps,
conversion between the frameworks, and the lab's promise."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import torch_ref
from jaxmath import backprop

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_a_reused_node_accumulates_both_paths() -> None:
    x = backprop.Value(3.0)
    f = x * x + x  # df/dx = 2x + 1
    f.backward()
    assert x.grad == pytest.approx(7.0)


def test_backward_twice_gives_the_same_gradients_not_their_sum() -> None:
    x, y = backprop.Value(0.3), backprop.Value(-2.0)
    f = (x * y).tanh() + y.exp()
    f.backward()
    first = (x.grad, y.grad)
    f.backward()
    assert (x.grad, y.grad) == first


def test_topological_order_puts_parents_first() -> None:
    a, b = backprop.Value(1.0), backprop.Value(2.0)
    c = a * b
    d = c + a
    order = d.topological_order()
    position = {id(node): index for index, node in enumerate(order)}
    for node in order:
        for parent in node.parents:
            assert position[id(parent)] < position[id(node)]
    assert order[-1] is d and len(order) == 4


def test_value_rejects_a_value_exponent() -> None:
    with pytest.raises(TypeError, match=r"exponent must be a Python number"):
        _ = backprop.Value(2.0) ** backprop.Value(2.0)
    with pytest.raises(TypeError, match=r"exponent must be a Python number"):
        _ = torch_ref.backprop.Value(2.0) ** torch_ref.backprop.Value(2.0)


def test_mlp_init_rejects_the_other_frameworks_rng() -> None:
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator, got"):
        torch_ref.backprop.mlp_init(jax.random.PRNGKey(0), (3, 2))


def test_params_round_trip_between_frameworks_exactly() -> None:
    params = backprop.mlp_init(jax.random.PRNGKey(0), (3, 4, 2), dtype="float64")
    as_torch = torch_ref.backprop.convert_params(params)
    assert isinstance(as_torch[0]["W"], torch.Tensor) and as_torch[0]["W"].dtype == torch.float64
    back = backprop.convert_params(as_torch)
    for original, returned in zip(jax.tree.leaves(params), jax.tree.leaves(back), strict=True):
        assert returned.dtype == original.dtype
        np.testing.assert_array_equal(np.asarray(returned), np.asarray(original))
    trainable = [
        {key: value.requires_grad_(True) for key, value in layer.items()} for layer in as_torch
    ]
    assert isinstance(backprop.convert_params(trainable)[0]["W"], jax.Array)


def test_the_training_step_compiles_once() -> None:
    params = backprop.mlp_init(jax.random.PRNGKey(0), (2, 8, 2))
    x, y = jnp.ones((4, 2), jnp.float32), jnp.array([0, 1, 0, 1])
    step = jax.jit(backprop.mlp_loss_and_grad, static_argnames=("loss", "activation"))
    for _ in range(3):
        _, grads = step(params, x, y)
        params = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
    assert step._cache_size() == 1


def test_both_frameworks_train_to_the_same_parameters() -> None:
    """Five plain steps from identical numbers: the hand-written backwards agree step after step."""
    params = backprop.mlp_init(jax.random.PRNGKey(1), (2, 6, 3), activation="tanh", dtype="float64")
    torch_params = torch_ref.backprop.convert_params(params)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 2)), rng.integers(0, 3, 5)
    for _ in range(5):
        _, grads = backprop.mlp_loss_and_grad(params, x, y, activation="tanh")
        params = jax.tree.map(lambda p, g: p - 0.5 * g, params, grads)
        _, torch_grads = torch_ref.backprop.mlp_loss_and_grad(
            torch_params, torch.from_numpy(x), torch.from_numpy(y), activation="tanh"
        )
        torch_params = [
            {key: layer[key] - 0.5 * grad[key] for key in layer}
            for layer, grad in zip(torch_params, torch_grads, strict=True)
        ]
    for ours, theirs in zip(
        jax.tree.leaves(params),
        [t for layer in torch_params for t in (layer["W"], layer["b"])],
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), rtol=1e-12, atol=1e-14)


def test_lab_1_4_1_reaches_95_percent_in_quick_mode(tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    result = subprocess.run(
        [sys.executable, "-m", "labs", "run", "1.4.1", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "lab-1.4.1" / "metrics.json").read_text())
    metrics = record["metrics"]
    assert metrics["test_accuracy"] >= 0.95
    assert metrics["gradient_check_max_relative_error"] < 1e-6
    assert metrics["sigmoid_last_over_first"] > 100 * metrics["relu_last_over_first"]
    assert metrics["scalar_graph_error_vs_torch"] < 1e-12
    assert {
        "training_curve.png",
        "decision_boundary.png",
        "gradient_check.png",
        "vanishing_gradients.png",
    } <= set(record["figures"])
