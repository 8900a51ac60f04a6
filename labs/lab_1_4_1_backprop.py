"""Lab 1.4.1: manual backpropagation, checked against autodiff, numbers and torch."""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from jaxmath import backprop, gradcheck, visualization
from labs import LabContext, register_lab

LAYER_SIZES = (2, 64, 64, 2)


def moons(ctx: LabContext) -> tuple[np.ndarray, ...]:
    """Two interleaved half-moons: not linearly separable, so the hidden layers must bend the boundary."""
    points, labels = make_moons(
        n_samples=600 if ctx.quick else 1500, noise=0.15, random_state=ctx.seed
    )
    x_train, x_test, y_train, y_test = train_test_split(
        points, labels, test_size=0.3, random_state=ctx.seed
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    return ((x_train - mean) / std, (x_test - mean) / std, y_train, y_test)


@functools.partial(jax.jit, static_argnames=("activation",))
def gradient_step(
    params: list, x: jax.Array, y: jax.Array, learning_rate: float, activation: str
) -> tuple:
    """One plain gradient step with the hand-written backward: params <- params - lr * grads."""
    loss, grads = backprop.mlp_loss_and_grad(
        params, x, y, loss="cross_entropy", activation=activation
    )
    return jax.tree.map(lambda p, g: p - learning_rate * g, params, grads), loss


def accuracy(params: list, x: np.ndarray, y: np.ndarray, activation: str = "relu") -> float:
    logits, _ = backprop.mlp_forward(params, jnp.asarray(x, jnp.float32), activation)
    return float(jnp.mean(jnp.argmax(logits, axis=1) == jnp.asarray(y)))


def train(
    ctx: LabContext, data: tuple[np.ndarray, ...], learning_rate: float, steps: int
) -> tuple[list, list, list]:
    x_train, x_test, y_train, y_test = data
    params = backprop.mlp_init(
        jax.random.PRNGKey(ctx.seed), LAYER_SIZES, activation="relu", init="he"
    )
    x, y = jnp.asarray(x_train, jnp.float32), jnp.asarray(y_train)
    losses, accuracies = [], []
    for step in range(steps):
        params, loss = gradient_step(params, x, y, learning_rate, "relu")
        losses.append(float(loss))
        if step % 10 == 0 or step == steps - 1:
            accuracies.append(accuracy(params, x_test, y_test))
    return params, losses, accuracies


def training(ctx: LabContext, data: tuple[np.ndarray, ...]) -> tuple[dict[str, float], list]:
    ctx.log(
        f"Step 1: train a {'-'.join(map(str, LAYER_SIZES))} ReLU MLP on two moons with the hand-written"
    )
    ctx.log(
        "backward (linear_backward + relu_backward + softmax-cross-entropy's (p - y)/N) and plain steps."
    )
    steps = 400 if ctx.quick else 1500
    runs, curves, accuracy_curves = {}, {}, {}
    for learning_rate in (0.05, 0.2, 0.5):
        params, losses, accuracies = train(ctx, data, learning_rate, steps)
        runs[learning_rate] = params
        curves[f"lr={learning_rate}"] = losses
        accuracy_curves[f"lr={learning_rate}"] = accuracies
        ctx.log(
            f"lr = {learning_rate}: final loss {losses[-1]:.4f}, held-out accuracy {accuracies[-1]:.3f}"
        )
    best_rate = max(runs, key=lambda rate: accuracy_curves[f"lr={rate}"][-1])
    figure = visualization.plot_training_curve(
        curves,
        second=accuracy_curves,
        title="Cross-entropy (manual gradients)",
        second_label="held-out accuracy",
        second_every=10,
        log_scale=True,
    )
    ctx.save_figure(figure, "training_curve")
    _, x_test, _, y_test = data
    test_accuracy = accuracy(runs[best_rate], x_test, y_test)
    ctx.log(
        f"best learning rate {best_rate}: held-out accuracy {test_accuracy:.3f} (the target is >= 0.95)"
    )
    decision_boundary(ctx, runs[best_rate], data)
    return {
        "test_accuracy": test_accuracy,
        "best_learning_rate": best_rate,
        "final_loss": curves[f"lr={best_rate}"][-1],
    }, runs[best_rate]


def decision_boundary(ctx: LabContext, params: list, data: tuple[np.ndarray, ...]) -> None:
    _, x_test, _, y_test = data
    grid_x, grid_y = np.meshgrid(np.linspace(-2.5, 2.5, 150), np.linspace(-2.5, 2.5, 150))
    grid = jnp.asarray(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1), jnp.float32)
    logits, _ = backprop.mlp_forward(params, grid)
    probability = np.asarray(jax.nn.softmax(logits, axis=1)[:, 1]).reshape(grid_x.shape)
    figure = visualization.plot_decision_boundary(
        grid_x, grid_y, probability, x_test, y_test, title="Decision boundary (held-out points)"
    )
    ctx.save_figure(figure, "decision_boundary")


def gradient_check_table(ctx: LabContext) -> dict[str, Any]:
    ctx.log(
        "Step 2: check every layer's hand-written gradient against jax.grad and central differences (float64)."
    )
    activations = ("relu", "tanh", "sigmoid", "gelu")
    with jax.enable_x64(True):
        params = backprop.mlp_init(
            jax.random.PRNGKey(ctx.seed + 1), (2, 8, 8, 2), activation="tanh", dtype="float64"
        )
        x = jax.random.normal(jax.random.PRNGKey(ctx.seed + 2), (16, 2), jnp.float64)
        y = jnp.arange(16) % 2
        names = [f"{name}{layer + 1}" for layer in range(len(params)) for name in ("W", "b")]
        errors: dict[str, dict[str, list[float]]] = {
            "vs jax.grad": {},
            "vs central differences": {},
        }
        for activation in activations:

            def loss_of(p: list, activation: str = activation) -> jax.Array:
                return backprop.mlp_loss_and_grad(p, x, y, activation=activation)[0]

            _, manual = backprop.mlp_loss_and_grad(params, x, y, activation=activation)
            autodiff = jax.grad(loss_of)(params)
            numerical = gradcheck.numerical_gradient(loss_of, params)
            for reference, expected in (
                ("vs jax.grad", autodiff),
                ("vs central differences", numerical),
            ):
                errors[reference][activation] = [
                    relative_error(manual[layer][name], expected[layer][name])
                    for layer in range(len(params))
                    for name in ("W", "b")
                ]
    figure = visualization.plot_gradient_check(
        errors,
        names,
        title="Hand-written gradients of a 2-8-8-2 MLP (float64)",
        tolerance=gradcheck.GRADCHECK_TOLERANCES[np.dtype("float64")][0],
    )
    ctx.save_figure(figure, "gradient_check")
    worst = max(max(values) for groups in errors.values() for values in groups.values())
    worst_by_reference = {
        reference: max(max(values) for values in groups.values())
        for reference, groups in errors.items()
    }
    for reference, value in worst_by_reference.items():
        ctx.log(f"worst relative error {reference}: {value:.1e} over {len(names)} tensors x 4")
    ctx.log("(float64 round-off is ~1e-16; central differences with h = 6e-6 leave ~1e-10)")
    return {
        "gradient_check_max_relative_error": worst,
        "gradient_check_max_relative_error_vs_jax_grad": worst_by_reference["vs jax.grad"],
        "gradient_check_max_relative_error_vs_central_differences": worst_by_reference[
            "vs central differences"
        ],
        "gradient_check_errors": {
            reference: {
                activation: dict(zip(names, values, strict=True))
                for activation, values in groups.items()
            }
            for reference, groups in errors.items()
        },
    }


def relative_error(a: jax.Array, b: jax.Array) -> float:
    """max |a - b| / max(|a|, |b|), the scale-free error of one gradient tensor."""
    scale = float(jnp.maximum(jnp.max(jnp.abs(a)), jnp.max(jnp.abs(b))))
    return float(jnp.max(jnp.abs(a - b))) / scale if scale > 0 else 0.0


def vanishing_gradients(ctx: LabContext) -> dict[str, float]:
    ctx.log(
        "Step 3: vanishing gradients: the gradient norm of each layer of a 10-layer net at initialisation."
    )
    depth, width = 10, 32
    sizes = (2, *([width] * (depth - 1)), 2)
    x = jax.random.normal(jax.random.PRNGKey(ctx.seed + 3), (64, 2))
    y = jnp.arange(64) % 2
    norms = {}
    for activation, init in (("sigmoid", "xavier"), ("relu", "he")):
        params = backprop.mlp_init(
            jax.random.PRNGKey(ctx.seed + 4), sizes, activation=activation, init=init
        )
        _, grads = backprop.mlp_loss_and_grad(params, x, y, activation=activation)
        norms[f"{activation} ({init})"] = [float(jnp.linalg.norm(layer["W"])) for layer in grads]
    figure = visualization.plot_grouped_bars(
        norms,
        [str(i + 1) for i in range(depth)],
        title="||dL/dW|| per layer (layer 1 = input side)",
        ylabel="gradient norm",
        log_scale=True,
    )
    ctx.save_figure(figure, "vanishing_gradients")
    ratios = {name: values[-1] / values[0] for name, values in norms.items()}
    for name, ratio in ratios.items():
        ctx.log(f"{name:16s}: last layer / first layer gradient norm = {ratio:.3g}")
    ctx.log(
        "sigmoid' <= 1/4 shrinks the signal at every layer on the way back; ReLU passes it through (slope 1)."
    )
    return {
        "sigmoid_last_over_first": ratios["sigmoid (xavier)"],
        "relu_last_over_first": ratios["relu (he)"],
    }


def scalar_graph(ctx: LabContext) -> dict[str, float]:
    ctx.log("Step 4: the same chain rule on scalars: f = (x*y + z)^2 * sigmoid(x), node by node.")
    x, y, z = 0.5, -1.2, 2.0
    f, *inputs = backprop.worked_example(x, y, z)
    for node in reversed(f.topological_order()):
        ctx.log(f"  {node.op or 'input':>8}: data {node.data:+.5f}  d f/d node {node.grad:+.5f}")
    u, s = x * y + z, 1.0 / (1.0 + math.exp(-x))
    by_hand = [2 * u * y * s + u * u * s * (1 - s), 2 * u * x * s, 2 * u * s]
    ctx.log(f"by hand: df/dx {by_hand[0]:+.6f}, df/dy {by_hand[1]:+.6f}, df/dz {by_hand[2]:+.6f}")
    error = max(abs(node.grad - expected) for node, expected in zip(inputs, by_hand, strict=True))
    metrics = {"scalar_graph_error_vs_hand": error}
    try:
        import torch
    except ImportError:
        ctx.log("torch is not installed: skipping the comparison with torch.autograd")
        return metrics
    tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, y, z)]
    ((tensors[0] * tensors[1] + tensors[2]) ** 2 * torch.sigmoid(tensors[0])).backward()
    torch_error = max(
        abs(node.grad - float(t.grad)) for node, t in zip(inputs, tensors, strict=True)
    )
    ctx.log(f"largest difference from torch.autograd (float64): {torch_error:.1e}")
    return {**metrics, "scalar_graph_error_vs_torch": torch_error}


@register_lab("1.4.1", "Manual backpropagation")
def run(ctx: LabContext) -> dict[str, float]:
    data = moons(ctx)
    metrics, _ = training(ctx, data)
    for step in (gradient_check_table, vanishing_gradients, scalar_graph):
        metrics.update(step(ctx))
    return metrics
