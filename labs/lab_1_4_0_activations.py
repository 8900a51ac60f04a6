"""Lab 1.4.0 (the foundation's warm-up): activations, losses and numerical stability."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxmath import activations, gradcheck, losses, visualization
from labs import LabContext, register_lab

ACTIVATIONS = {
    "sigmoid": activations.sigmoid,
    "tanh": activations.tanh,
    "relu": activations.relu,
    "leaky_relu(0.1)": lambda x: activations.leaky_relu(x, negative_slope=0.1),
    "gelu": activations.gelu,
    "gelu (tanh)": lambda x: activations.gelu(x, approximate="tanh"),
    "silu": activations.silu,
    "softplus": activations.softplus,
}


def activation_curves(ctx: LabContext) -> dict[str, float]:
    ctx.log("Step 1: activations and their derivatives (jax.vmap of jax.grad).")
    x = jnp.linspace(-4.0, 4.0, 401)
    values = {name: f(x) for name, f in ACTIVATIONS.items()}
    slopes = {name: jax.vmap(jax.grad(f))(x) for name, f in ACTIVATIONS.items()}
    ctx.save_figure(
        visualization.plot_functions(x, values, "Activations", ylabel="f(x)", ylim=(-1.5, 4)),
        "activations",
    )
    ctx.save_figure(
        visualization.plot_functions(x, slopes, "Derivatives", ylabel="f'(x)", ylim=(-0.3, 1.3)),
        "derivatives",
    )
    peak = float(jnp.max(slopes["sigmoid"]))
    ctx.log(
        f"sigmoid' peaks at {peak:.4f} (= 1/4 at x = 0): stacked sigmoids shrink gradients by >= 4x per layer."
    )
    ctx.log(
        "relu' is exactly 0 or 1 (0 at x = 0, as torch): no shrinking, but dead units for x < 0."
    )
    errors = {}
    with jax.enable_x64(True):
        x64 = jnp.linspace(-3.0, 3.0, 13) + 0.05  # off the kinks, where a derivative is defined
        for name in ("sigmoid", "tanh", "gelu", "softplus"):
            report = gradcheck.check_gradients(lambda v, f=ACTIVATIONS[name]: jnp.sum(f(v)), x64)
            errors[f"gradcheck_rel_error_{name}"] = report.max_relative_error
            ctx.log(
                f"gradient check {name:9s}: max relative error "
                f"{report.max_relative_error:.1e} (passed: {report.passed})"
            )
    return {"sigmoid_max_slope": peak, **errors}


def softmax_temperature(ctx: LabContext) -> dict[str, float]:
    ctx.log(
        "Step 2: softmax(logits / T): low T sharpens towards argmax, high T flattens towards uniform."
    )
    logits = jnp.array([2.0, 1.0, 0.1, -1.0])
    temperatures = (0.25, 0.5, 1.0, 2.0, 5.0)
    probabilities = {f"T={t}": activations.softmax(logits / t) for t in temperatures}
    entropy = {
        t: float(-jnp.sum(p * jnp.log(p)))
        for t, p in zip(temperatures, probabilities.values(), strict=True)
    }
    for t, h in entropy.items():
        ctx.log(
            f"T = {t:<4}: p = {np.round(np.asarray(probabilities[f'T={t}']), 3)}, "
            f"entropy {h:.3f} nats (max {math.log(4):.3f})"
        )
    figure = visualization.plot_grouped_bars(
        {name: np.asarray(p) for name, p in probabilities.items()},
        [f"class {i} (z={float(z)})" for i, z in enumerate(logits)],
        title="Softmax temperature",
        ylabel="probability",
    )
    ctx.save_figure(figure, "softmax_temperature")
    return {"entropy_T0.25": entropy[0.25], "entropy_T5": entropy[5.0]}


def logsumexp_stability(ctx: LabContext) -> dict[str, float]:
    ctx.log("Step 3: log-sum-exp at logits of 1e4 in float32.")
    logits = jnp.array([1e4, 1e4 - 1.0, 1e4 - 2.0], dtype=jnp.float32)
    naive = float(jnp.log(jnp.sum(jnp.exp(logits))))
    stable = float(activations.logsumexp(logits))
    exact = 1e4 + math.log(1.0 + math.exp(-1.0) + math.exp(-2.0))
    ctx.log(f"naive log(sum(exp(x))) = {naive}  (exp(1e4) overflows float32's max of 3.4e38)")
    ctx.log(
        f"jaxmath.logsumexp      = {stable:.4f}, exact {exact:.4f}: m + log(sum(exp(x - m))) never overflows"
    )
    scale = np.linspace(0.0, 1.0, 50)
    curves = {
        "naive": [float(jnp.log(jnp.sum(jnp.exp(logits * s)))) for s in scale],
        "jaxmath.logsumexp": [float(activations.logsumexp(logits * s)) for s in scale],
    }
    figure = visualization.plot_functions(
        scale * 1e4, curves, "log-sum-exp of [z, z-1, z-2] (float32)", xlabel="z", ylabel="value"
    )
    ctx.save_figure(figure, "logsumexp_stability")
    return {
        "logsumexp_naive_is_inf": float(math.isinf(naive)),
        "logsumexp_abs_error_1e4": abs(stable - exact),
    }


def loss_curves(ctx: LabContext) -> dict[str, float]:
    ctx.log("Step 4: losses as functions of the error / probability.")
    error = jnp.linspace(-3.0, 3.0, 301)
    zero = jnp.zeros_like(error)
    regression = {
        "MSE": losses.mse_loss(error, zero, reduction="none"),
        "Huber (delta=1)": losses.huber_loss(error, zero, reduction="none"),
        "Huber (delta=0.5)": losses.huber_loss(error, zero, reduction="none", delta=0.5),
    }
    ctx.save_figure(
        visualization.plot_functions(
            error, regression, "Regression losses", xlabel="prediction - target", ylabel="loss"
        ),
        "regression_losses",
    )
    ctx.log(
        "Huber is quadratic near 0 and linear beyond delta: outliers pull with a bounded gradient."
    )
    p = jnp.linspace(0.0, 1.0, 201)
    ones = jnp.ones_like(p)
    bce = losses.binary_cross_entropy(p, ones, reduction="none")
    ctx.save_figure(
        visualization.plot_functions(
            p, {"BCE, target 1": bce}, "Binary cross-entropy", xlabel="p", ylabel="loss"
        ),
        "bce",
    )
    ctx.log(
        f"BCE at p = 0 for target 1 is {float(bce[0])}: torch's clamp of log at -100 keeps it finite."
    )
    logits = jnp.array([-1e4, -20.0, 0.0, 20.0, 1e4], dtype=jnp.float32)
    stable = losses.binary_cross_entropy_with_logits(
        logits, jnp.ones_like(logits), reduction="none"
    )
    naive = -jnp.log(1.0 / (1.0 + jnp.exp(-logits)))
    ctx.log(
        f"BCE-with-logits at {np.asarray(logits)}: {np.asarray(stable)}; naive -log(sigmoid): {np.asarray(naive)}"
    )
    return {"bce_at_p0": float(bce[0]), "bce_with_logits_at_minus_1e4": float(stable[0])}


@register_lab("1.4.0", "Activations, losses and numerical stability")
def run(ctx: LabContext) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for step in (activation_curves, softmax_temperature, logsumexp_stability, loss_curves):
        metrics.update(step(ctx))
    return metrics
