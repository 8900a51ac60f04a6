# %% [markdown]
# # Lab 1.4.1: Manual backpropagation
#
# Backpropagation is the chain rule applied layer by layer, from the loss back to the inputs. In
# this lab you write the backward pass of the two pieces an MLP is made of (a linear layer and a
# ReLU), train a network on two half-moons with those hand-written gradients, check every gradient
# against `jax.grad` and against finite differences, watch gradients vanish through a deep sigmoid
# network, and follow the chain rule node by node on a scalar expression.
#
# **Notation.** For any quantity $u$, $\bar u = \partial L / \partial u$ is the gradient of the loss
# with respect to it, with the shape of $u$. A layer's backward takes $\bar z$ (its output's
# gradient, `grad_output`) and returns the gradients of its inputs.

# %%
import pathlib
import sys

if __name__ == "__main__":  # a script or a notebook: make the repository importable
    _here = (
        pathlib.Path(globals().get("__file__", pathlib.Path.cwd() / "notebook")).resolve().parent
    )
    _root = next(
        (p for p in (_here, *_here.parents) if (p / "labs" / "__init__.py").is_file()), None
    )
    if _root is not None and str(_root) not in sys.path:
        sys.path.insert(0, str(_root))

# %%
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from jaxmath import backprop, gradcheck, visualization
from labs import LabContext, exercises, register_lab
from labs.notebooks import lab_context

LAYER_SIZES = (2, 64, 64, 2)

# %% [markdown]
# ## Exercise 1: the backward of a linear layer
#
# A linear layer maps a batch $x$ of shape $(N, \text{in})$ to $z = xW + b$, with $W$ of shape
# $(\text{in}, \text{out})$ (JAX's layout; torch stores the transpose) and $b$ of shape
# $(\text{out},)$. Each output $z_{nj} = \sum_i x_{ni} W_{ij} + b_j$, so the chain rule gives
#
# $$\bar x = \bar z\, W^\top \;(N, \text{in}), \qquad
#   \bar W = x^\top \bar z \;(\text{in}, \text{out}), \qquad
#   \bar b = \textstyle\sum_n \bar z_n \;(\text{out},).$$
#
# A quick way to get these right is to match shapes: $\bar W$ must have $W$'s shape, and the only
# product of $x$ and $\bar z$ with that shape is $x^\top \bar z$. The bias is shared by all $N$ rows,
# so its gradient is a **sum** over the batch (the $1/N$ of a mean loss is already inside $\bar z$).


# %% tags=["exercise"]
def linear_backward(grad_output: jax.Array, x: jax.Array, W: jax.Array) -> tuple:
    """The gradients of z = x W + b, given grad_output = dL/dz.

    Args:
        grad_output: (N, out), the gradient of the loss with respect to z.
        x: (N, in), the layer's input.
        W: (in, out), the weight.

    Returns:
        (grad_x, grad_W, grad_b) with shapes (N, in), (in, out), (out,).
    """
    return grad_output @ W.T, x.T @ grad_output, jnp.sum(grad_output, axis=0)


# %% tags=["check"]
if __name__ == "__main__":
    print(exercises.check_linear_backward(linear_backward))

# %% [markdown]
# ## Exercise 2: the backward of ReLU
#
# An elementwise activation $y = f(x)$ has a diagonal Jacobian, so its backward is a product:
# $\bar x = \bar y \odot f'(x)$. For $\mathrm{relu}(x) = \max(x, 0)$, $f'(x)$ is $1$ where $x > 0$ and
# $0$ where $x < 0$; at the kink $x = 0$ torch (and jaxmath) take $0$. The mask comes from the
# layer's **input** $x$, saved during the forward pass, not from the sign of the gradient.


# %% tags=["exercise"]
def relu_backward(grad_output: jax.Array, x: jax.Array) -> jax.Array:
    """The gradient of relu at its input x, given grad_output = dL/dy (same shape as x).

    The derivative is 1 where x > 0 and 0 elsewhere (0 at x == 0, as torch).
    """
    return jnp.where(x > 0, grad_output, 0.0)


# %% tags=["check"]
if __name__ == "__main__":
    print(exercises.check_relu_backward(relu_backward))

# %% [markdown]
# ## Step 1: train an MLP with hand-written gradients
#
# `jaxmath.backprop.mlp_loss_and_grad` chains exactly these pieces: the forward pass stores each
# layer's input, the loss's gradient starts the backward pass (for softmax cross-entropy it is
# $(\mathrm{softmax}(z) - \mathrm{onehot}(y)) / N$), and each layer applies `linear_backward` and the
# activation's backward in reverse order. A plain gradient step is then
# $\theta \leftarrow \theta - \eta\,\bar\theta$.
#
# The data: two interleaved half-moons, which no straight line separates, so the hidden layers have to
# bend the decision boundary. We train at three learning rates $\eta$.
#
# **In the figure**: the loss curves (log scale) for each $\eta$, with the held-out accuracy on the
# right axis. A larger $\eta$ descends faster as long as it stays stable; the decision boundary then
# shows the curved frontier the network learned.


# %%
def moons(ctx: LabContext) -> tuple[np.ndarray, ...]:
    """Two interleaved half-moons, standardised, split 70/30 into train and held-out points."""
    points, labels = make_moons(
        n_samples=600 if ctx.quick else 1500, noise=0.15, random_state=ctx.seed
    )
    x_train, x_test, y_train, y_test = train_test_split(
        points, labels, test_size=0.3, random_state=ctx.seed
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    return ((x_train - mean) / std, (x_test - mean) / std, y_train, y_test)


def accuracy(params: list, x: np.ndarray, y: np.ndarray, activation: str = "relu") -> float:
    logits, _ = backprop.mlp_forward(params, jnp.asarray(x, jnp.float32), activation)
    return float(jnp.mean(jnp.argmax(logits, axis=1) == jnp.asarray(y)))


#: Gradient steps per compiled call: the held-out accuracy is measured once per chunk.
CHUNK = 10


@functools.partial(jax.jit, static_argnames=("activation",))
def train_chunk(
    params: list,
    x: jax.Array,
    y: jax.Array,
    x_test: jax.Array,
    y_test: jax.Array,
    learning_rate: float,
    activation: str = "relu",
) -> tuple[list, jax.Array, jax.Array]:
    """CHUNK plain gradient steps with the hand-written backward (params <- params - lr * grads);
    returns the parameters, the CHUNK losses and the held-out accuracy after the last step."""

    def step(params: list, _: Any) -> tuple[list, jax.Array]:
        loss, grads = backprop.mlp_loss_and_grad(
            params, x, y, loss="cross_entropy", activation=activation
        )
        return jax.tree.map(lambda p, g: p - learning_rate * g, params, grads), loss

    params, losses = jax.lax.scan(step, params, None, length=CHUNK)
    logits, _ = backprop.mlp_forward(params, x_test, activation)
    return params, losses, jnp.mean(jnp.argmax(logits, axis=1) == y_test)


def train(
    ctx: LabContext, data: tuple[np.ndarray, ...], learning_rate: float, steps: int
) -> tuple[list, list, list]:
    """``steps`` gradient steps (a multiple of CHUNK) from He initialisation; returns the
    parameters, the loss per step and the held-out accuracy every CHUNK steps."""
    x_train, x_test, y_train, y_test = (jnp.asarray(a) for a in data)
    params = backprop.mlp_init(
        jax.random.PRNGKey(ctx.seed), LAYER_SIZES, activation="relu", init="he"
    )
    x, x_test = x_train.astype(jnp.float32), x_test.astype(jnp.float32)
    losses, accuracies = [], []
    for _ in ctx.progress(range(steps // CHUNK), f"training, lr={learning_rate}"):
        params, chunk_losses, test_accuracy = train_chunk(
            params, x, y_train, x_test, y_test, learning_rate
        )
        losses.extend(np.asarray(chunk_losses).tolist())
        accuracies.append(float(test_accuracy))
    return params, losses, accuracies


def training(ctx: LabContext, data: tuple[np.ndarray, ...]) -> tuple[dict[str, float], list]:
    ctx.log(
        f"Step 1: train a {'-'.join(map(str, LAYER_SIZES))} ReLU MLP on two moons with the "
        "hand-written backward"
    )
    ctx.log(
        "(linear_backward + relu_backward + softmax-cross-entropy's (p - y)/N) and plain steps."
    )
    steps = 400 if ctx.quick else 1500
    runs, curves, accuracy_curves = {}, {}, {}
    for learning_rate in (0.05, 0.2, 0.5):
        params, losses, accuracies = train(ctx, data, learning_rate, steps)
        runs[learning_rate] = params
        curves[f"lr={learning_rate}"] = losses
        accuracy_curves[f"lr={learning_rate}"] = accuracies
        ctx.log(
            f"lr = {learning_rate}: final loss {losses[-1]:.4f}, held-out accuracy "
            f"{accuracies[-1]:.3f}"
        )
    best_rate = max(runs, key=lambda rate: accuracy_curves[f"lr={rate}"][-1])
    figure = visualization.plot_training_curve(
        curves,
        second=accuracy_curves,
        title="Cross-entropy (manual gradients)",
        second_label="held-out accuracy",
        second_every=CHUNK,
        log_scale=True,
    )
    ctx.save_figure(figure, "training_curve")
    _, x_test, _, y_test = data
    test_accuracy = accuracy(runs[best_rate], x_test, y_test)
    ctx.log(
        f"best learning rate {best_rate}: held-out accuracy {test_accuracy:.3f} "
        "(the target is >= 0.95)"
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


# %%
if __name__ == "__main__":
    ctx = lab_context("1.4.1")
    data = moons(ctx)
    metrics, trained = training(ctx, data)

# %% [markdown]
# ## Step 2: gradient checking
#
# Never trust a hand-written gradient until it has been checked. Two references:
#
# - **`jax.grad`** (reverse-mode autodiff) of the same loss: exact up to float64 rounding, so the
#   relative error should be near $10^{-16}$;
# - **central differences**, $\partial L/\partial \theta_i \approx
#   \frac{L(\theta + h e_i) - L(\theta - h e_i)}{2h}$, which needs nothing but the forward pass. Its
#   error is $O(h^2)$ from truncation plus $O(\epsilon/h)$ from rounding; $h = \epsilon^{1/3}
#   \approx 6\cdot 10^{-6}$ balances them, leaving relative errors around $10^{-10}$.
#
# One compiled call checks every parameter of a 2-8-8-2 network for four activations at once (the
# losses of the four networks are summed: the gradient of a sum of independent terms is each term's
# gradient).
#
# **In the figure**: one marker per parameter tensor and activation, on a log axis, with the pass
# tolerance dashed. Errors far below the line mean the backward is right; an error near 1 would mean
# a wrong formula, a transposed gradient or a missing mask.

# %%
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")


@jax.jit
def _all_losses(params_by_activation: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """The sum over activations of each network's loss (each network has its own parameters)."""
    return sum(
        backprop.mlp_loss_and_grad(params, x, y, activation=name)[0]
        for name, params in params_by_activation.items()
    )


@jax.jit
def _manual_and_autodiff(params_by_activation: dict, x: jax.Array, y: jax.Array) -> tuple:
    manual = {
        name: backprop.mlp_loss_and_grad(params, x, y, activation=name)[1]
        for name, params in params_by_activation.items()
    }
    return manual, jax.grad(_all_losses)(params_by_activation, x, y)


def gradient_check_table(ctx: LabContext) -> dict[str, Any]:
    ctx.log(
        "Step 2: check every layer's hand-written gradient against jax.grad and central "
        "differences (float64)."
    )
    with jax.enable_x64(True):
        params = backprop.mlp_init(
            jax.random.PRNGKey(ctx.seed + 1), (2, 8, 8, 2), activation="tanh", dtype="float64"
        )
        x = jax.random.normal(jax.random.PRNGKey(ctx.seed + 2), (16, 2), jnp.float64)
        y = jnp.arange(16) % 2
        names = [f"{name}{layer + 1}" for layer in range(len(params)) for name in ("W", "b")]
        by_activation = {name: params for name in ACTIVATIONS}
        manual, autodiff = _manual_and_autodiff(by_activation, x, y)
        numerical = gradcheck.numerical_gradient(
            jax.tree_util.Partial(_all_losses, x=x, y=y), by_activation
        )
        errors: dict[str, dict[str, list[float]]] = {
            "vs jax.grad": {},
            "vs central differences": {},
        }
        for activation in ACTIVATIONS:
            for reference, expected in (
                ("vs jax.grad", autodiff),
                ("vs central differences", numerical),
            ):
                errors[reference][activation] = [
                    relative_error(
                        manual[activation][layer][name], expected[activation][layer][name]
                    )
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
    ctx.log("(float64 round-off is ~1e-16; central differences with h = 6e-6 leave 1e-10 to 1e-8)")
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
    a, b = np.asarray(a), np.asarray(b)
    scale = float(np.maximum(np.max(np.abs(a)), np.max(np.abs(b))))
    return float(np.max(np.abs(a - b))) / scale if scale > 0 else 0.0


# %%
if __name__ == "__main__":
    metrics.update(gradient_check_table(ctx))

# %% [markdown]
# ## Step 3: vanishing gradients
#
# Going backwards through layer $l$ multiplies the gradient by $W_l^\top$ and by the activation's
# derivative. The sigmoid's derivative $\sigma'(x) = \sigma(x)(1 - \sigma(x))$ is at most $1/4$, so
# through ten sigmoid layers the gradient reaching the first layer can shrink by orders of magnitude:
# the early layers barely learn. ReLU's derivative is exactly 1 where the unit is active, and He
# initialisation ($\mathrm{Var}\,W = 2/\text{fan-in}$) keeps the signal's scale from layer to layer.
#
# **In the figure**: $\lVert \bar W_l \rVert$ for each of the ten layers at initialisation (log
# axis), layer 1 at the input side. Watch the sigmoid bars fall towards layer 1 while the ReLU bars
# stay level.


# %%
@functools.partial(jax.jit, static_argnames=("sizes", "activation", "init"))
def _layer_gradient_norms(
    key: jax.Array, x: jax.Array, y: jax.Array, sizes: tuple, activation: str, init: str
) -> jax.Array:
    params = backprop.mlp_init(key, sizes, activation=activation, init=init)
    _, grads = backprop.mlp_loss_and_grad(params, x, y, activation=activation)
    return jnp.stack([jnp.linalg.norm(layer["W"]) for layer in grads])


def vanishing_gradients(ctx: LabContext) -> dict[str, float]:
    ctx.log(
        "Step 3: vanishing gradients: the gradient norm of each layer of a 10-layer net at "
        "initialisation."
    )
    depth, width = 10, 32
    sizes = (2, *([width] * (depth - 1)), 2)
    x = jax.random.normal(jax.random.PRNGKey(ctx.seed + 3), (64, 2))
    y = jnp.arange(64) % 2
    norms = {}
    for activation, init in (("sigmoid", "xavier"), ("relu", "he")):
        key = jax.random.PRNGKey(ctx.seed + 4)
        values = _layer_gradient_norms(key, x, y, sizes, activation, init)
        norms[f"{activation} ({init})"] = np.asarray(values).tolist()
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
        "sigmoid' <= 1/4 shrinks the signal at every layer on the way back; ReLU passes it "
        "through (slope 1)."
    )
    return {
        "sigmoid_last_over_first": ratios["sigmoid (xavier)"],
        "relu_last_over_first": ratios["relu (he)"],
    }


# %%
if __name__ == "__main__":
    metrics.update(vanishing_gradients(ctx))

# %% [markdown]
# ## Step 4: the chain rule on scalars
#
# The same algorithm on a computation graph of scalars (micrograd's `Value`):
# $f = (xy + z)^2\,\sigma(x)$. The backward pass visits the nodes in reverse topological order and
# adds each node's contribution to its inputs' gradients: $x$ feeds two paths (through $xy$ and
# through $\sigma(x)$), so its gradient is the **sum** of both,
#
# $$\frac{\partial f}{\partial x} = 2u\,y\,\sigma(x) + u^2\,\sigma(x)(1 - \sigma(x)), \quad u = xy + z.$$
#
# The printout lists each node with its value and $\partial f / \partial \text{node}$, then compares
# with the hand-derived formulas and with `torch.autograd`.


# %%
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


# %%
if __name__ == "__main__":
    metrics.update(scalar_graph(ctx))
    ctx.record(metrics)

# %% [markdown]
# ## What to take away
#
# - A layer's backward is its Jacobian-transpose product; matching shapes finds the formulas.
# - Hand-written gradients agree with autodiff to rounding, and with finite differences to the
#   truncation error, which is how you know they are right.
# - Deep sigmoid stacks shrink gradients towards the input; ReLU with He initialisation does not.
#
# The cell below registers the lab with the runner (`python -m labs run 1.4.1`), which calls the
# same steps.


# %%
@register_lab("1.4.1", "Manual backpropagation")
def run(ctx: LabContext) -> dict[str, float]:
    data = moons(ctx)
    metrics, _ = training(ctx, data)
    ctx.record(metrics)
    for step in (gradient_check_table, vanishing_gradients, scalar_graph):
        metrics.update(step(ctx))
        ctx.record(metrics)
    return metrics
