"""Lab 1.4.2: optimizers with torch.optim's exact semantics, on test functions and an MLP."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from jaxmath import backprop, lr_scheduler, objectives, optim, visualization
from labs import LabContext, register_lab

#: Per test function: the start, the plot window, the optimizers with learning rates that suit it
#: (each hand-picked to be stable; the sweep below shows what happens outside that range), and the
#: loss threshold for "steps to threshold".
PROBLEMS: dict[str, dict[str, Any]] = {
    "rosenbrock": {
        "start": (-1.2, 1.0),
        "window": ((-2.0, 2.0), (-1.0, 3.0)),
        "threshold": 1e-3,
        "optimizers": {
            "SGD": lambda: optim.SGD(lr=1e-3),
            "SGD momentum 0.9": lambda: optim.SGD(lr=2e-4, momentum=0.9),
            "SGD Nesterov 0.9": lambda: optim.SGD(lr=2e-4, momentum=0.9, nesterov=True),
            "RMSprop": lambda: optim.RMSprop(lr=3e-3),
            "Adagrad": lambda: optim.Adagrad(lr=0.3),
            "Adam": lambda: optim.Adam(lr=0.05),
            "AdamW": lambda: optim.AdamW(lr=0.05, weight_decay=1e-2),
        },
    },
    "beale": {
        "start": (1.0, 1.4),
        "window": ((-1.0, 4.5), (-1.5, 2.0)),
        "threshold": 1e-3,
        "optimizers": {
            "SGD": lambda: optim.SGD(lr=5e-3),
            "SGD momentum 0.9": lambda: optim.SGD(lr=1e-3, momentum=0.9),
            "SGD Nesterov 0.9": lambda: optim.SGD(lr=1e-3, momentum=0.9, nesterov=True),
            "RMSprop": lambda: optim.RMSprop(lr=3e-3),
            "Adagrad": lambda: optim.Adagrad(lr=0.3),
            "Adam": lambda: optim.Adam(lr=0.02),
            "AdamW": lambda: optim.AdamW(lr=0.02, weight_decay=1e-2),
        },
    },
    "saddle": {
        "start": (1.5, 1e-3),
        "window": ((-2.0, 2.0), (-1.6, 1.6)),
        "threshold": -0.249,
        "optimizers": {
            "SGD": lambda: optim.SGD(lr=0.02),
            "SGD momentum 0.9": lambda: optim.SGD(lr=0.02, momentum=0.9),
            "SGD Nesterov 0.9": lambda: optim.SGD(lr=0.02, momentum=0.9, nesterov=True),
            "RMSprop": lambda: optim.RMSprop(lr=0.01),
            "Adagrad": lambda: optim.Adagrad(lr=0.3),
            "Adam": lambda: optim.Adam(lr=0.02),
            "AdamW": lambda: optim.AdamW(lr=0.02, weight_decay=1e-2),
        },
    },
}


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def descend(
    opt: Any, function: Callable[[jax.Array], jax.Array], start: jax.Array, steps: int
) -> tuple[jax.Array, jax.Array]:
    """``steps`` updates of ``opt`` on ``function`` from ``start``: the iterates (steps + 1, d), start
    first, and the loss at each of them (steps + 1,)."""

    def body(carry: tuple, _: Any) -> tuple:
        x, state = carry
        grads = jax.grad(function)(x)
        updates, state = opt.update(grads, state, x)
        x = optim.apply_updates(x, updates)
        return (x, state), x

    _, iterates = jax.lax.scan(body, (start, opt.init(start)), None, length=steps)
    path = jnp.concatenate([start[None], iterates])
    return path, jax.vmap(function)(path)


def steps_to(losses: np.ndarray, threshold: float) -> int | None:
    below = np.flatnonzero(losses <= threshold)
    return int(below[0]) if below.size else None


def trajectories(ctx: LabContext) -> dict[str, Any]:
    ctx.log("Step 1: every optimizer on Rosenbrock, Beale and a saddle, paths over the contours.")
    steps = 600 if ctx.quick else 3000
    resolution = ctx.resolution or (120 if ctx.quick else 300)
    metrics: dict[str, Any] = {}
    for name, problem in PROBLEMS.items():
        function = getattr(objectives, name)
        start = jnp.asarray(problem["start"], jnp.float32)
        paths, curves = {}, {}
        for label, make in problem["optimizers"].items():
            path, losses = descend(make(), function, start, steps)
            paths[label], curves[label] = np.asarray(path), np.asarray(losses)
            reached = steps_to(curves[label], problem["threshold"])
            metrics[f"{name}/{label}/final_loss"] = float(curves[label][-1])
            metrics[f"{name}/{label}/steps_to_threshold"] = reached
            ctx.log(
                f"  {name:10s} {label:17s} final loss {curves[label][-1]:11.4g}, "
                f"below {problem['threshold']:g} after {reached if reached is not None else '-'} steps"
            )
        (x_low, x_high), (y_low, y_high) = problem["window"]
        grid_x, grid_y = np.meshgrid(
            np.linspace(x_low, x_high, resolution), np.linspace(y_low, y_high, resolution)
        )
        values = np.asarray(function(jnp.asarray(np.stack([grid_x, grid_y], -1), jnp.float32)))
        minima = np.array([point for point, _ in objectives.MINIMA[name]])
        figure = visualization.plot_optimizer_paths(
            grid_x,
            grid_y,
            values,
            paths,
            title=f"{name}: {steps} steps from {problem['start']}",
            minima=minima,
            log_levels=name != "saddle",
        )
        ctx.save_figure(figure, f"paths_{name}")
        shift = 0.25 if name == "saddle" else 0.0  # the saddle's minimum is -1/4: log of f + 1/4
        figure = visualization.plot_training_curve(
            {label: np.maximum(curve + shift, 1e-12) for label, curve in curves.items()},
            title=f"{name}: loss{' + 1/4' if shift else ''} per step",
            log_scale=True,
        )
        ctx.save_figure(figure, f"loss_{name}")
    return metrics


def sweeps(ctx: LabContext) -> dict[str, Any]:
    ctx.log(
        "Step 2: learning rate x momentum for SGD on an ill-conditioned quadratic (kappa = 100)."
    )
    steps = 100 if ctx.quick else 300
    start = jnp.ones(8, jnp.float32)
    function = functools.partial(objectives.ill_conditioned_quadratic, condition_number=100.0)
    rates = (1e-3, 3e-3, 1e-2, 1.9e-2, 3e-2)
    groups: dict[str, list[float]] = {}
    best = (np.inf, None)
    for momentum in (0.0, 0.5, 0.9, 0.99):
        finals = []
        for rate in rates:
            _, losses = descend(optim.SGD(lr=rate, momentum=momentum), function, start, steps)
            final = float(losses[-1])
            finals.append(min(final, 1e6) if np.isfinite(final) else 1e6)
            if final < best[0]:
                best = (final, (rate, momentum))
        groups[f"momentum {momentum}"] = finals
        ctx.log(f"  momentum {momentum:4}: " + "  ".join(f"{v:9.2e}" for v in finals))
    figure = visualization.plot_grouped_bars(
        groups,
        [f"lr {rate:g}" for rate in rates],
        title=f"SGD on a kappa=100 quadratic: loss after {steps} steps (1e6: diverged)",
        ylabel="final loss",
        log_scale=True,
    )
    ctx.save_figure(figure, "sweep_lr_momentum")
    ctx.log(
        f"  best: lr {best[1][0]:g}, momentum {best[1][1]} (final loss {best[0]:.2e}); plain SGD "
        "diverges past lr = 2/kappa = 0.02, momentum lets a small lr go far."
    )
    return {"sweep_best_lr": best[1][0], "sweep_best_momentum": best[1][1]}


def adam_vs_adamw(ctx: LabContext) -> dict[str, Any]:
    ctx.log(
        "Step 3: Adam's L2 vs AdamW's decoupled decay on f(w) = sum s_i (w_i - 1)^2 / 2, s from "
        "1e-2 to 1e2."
    )
    scales = jnp.logspace(-2, 2, 5, dtype=jnp.float32)
    weight_decay = 0.1

    def function(w: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum(scales * (w - 1.0) ** 2)

    steps = 1500 if ctx.quick else 4000
    start = jnp.zeros(5, jnp.float32)
    finals = {}
    for label, opt in (
        ("Adam (L2, coupled)", optim.Adam(lr=0.01, weight_decay=weight_decay)),
        ("AdamW (decoupled)", optim.AdamW(lr=0.01, weight_decay=weight_decay)),
    ):
        path, _ = descend(opt, function, start, steps)
        finals[label] = np.asarray(path[-1])
    finals["argmin f + wd |w|^2 / 2"] = np.asarray(scales / (scales + weight_decay))
    figure = visualization.plot_grouped_bars(
        finals,
        [f"s = {s:g}" for s in np.asarray(scales)],
        title="Where each optimizer settles (the unregularized minimum is w = 1)",
        ylabel="final w_i",
    )
    ctx.save_figure(figure, "adam_vs_adamw")
    coupled, decoupled = finals["Adam (L2, coupled)"], finals["AdamW (decoupled)"]
    ctx.log(
        "  Adam's L2 is the penalised minimum s/(s + wd): weak-curvature coordinates shrink most; "
        f"Adam w = {np.round(coupled, 3)}."
    )
    ctx.log(
        "  AdamW's decay is not rescaled by 1/sqrt(v): it settles where lr*wd*w balances the "
        f"normalised step, w = {np.round(decoupled, 3)}."
    )
    return {
        "adam_l2_max_gap_to_penalised_minimum": float(
            np.max(np.abs(coupled - finals["argmin f + wd |w|^2 / 2"]))
        ),
        "adamw_final_w": decoupled.tolist(),
    }


def moons(ctx: LabContext) -> tuple[np.ndarray, ...]:
    points, labels = make_moons(
        n_samples=600 if ctx.quick else 1500, noise=0.15, random_state=ctx.seed
    )
    x_train, x_test, y_train, y_test = train_test_split(
        points, labels, test_size=0.3, random_state=ctx.seed
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    return ((x_train - mean) / std, (x_test - mean) / std, y_train, y_test)


@functools.partial(jax.jit, static_argnums=(0, 4))
def train_mlp(
    opt: Any, params: Any, x: jax.Array, y: jax.Array, steps: int
) -> tuple[Any, jax.Array]:
    def body(carry: tuple, _: Any) -> tuple:
        params, state = carry
        loss, grads = backprop.mlp_loss_and_grad(params, x, y, loss="cross_entropy")
        updates, state = opt.update(grads, state, params)
        return (optim.apply_updates(params, updates), state), loss

    (params, _), losses = jax.lax.scan(body, (params, opt.init(params)), None, length=steps)
    return params, losses


def mlp(ctx: LabContext) -> dict[str, Any]:
    ctx.log("Step 4: the 1.4.1 MLP (2-64-64-2, ReLU) on two moons, trained by each optimizer.")
    x_train, x_test, y_train, y_test = moons(ctx)
    x, y = jnp.asarray(x_train, jnp.float32), jnp.asarray(y_train)
    steps = 300 if ctx.quick else 1000
    initial = backprop.mlp_init(jax.random.PRNGKey(ctx.seed), (2, 64, 64, 2), init="he")
    warmup_cosine = lr_scheduler.SequentialLR(
        [
            lr_scheduler.LinearLR(0.01, start_factor=0.1, total_iters=50),
            lr_scheduler.CosineAnnealingLR(0.01, T_max=steps - 50),
        ],
        milestones=[50],
    )
    optimizers = {
        "SGD": optim.SGD(lr=0.2),
        "SGD momentum 0.9": optim.SGD(lr=0.05, momentum=0.9),
        "RMSprop": optim.RMSprop(lr=1e-3),
        "Adagrad": optim.Adagrad(lr=0.05),
        "Adam": optim.Adam(lr=1e-2),
        "AdamW": optim.AdamW(lr=1e-2, weight_decay=1e-2),
        "AdamW, warm-up + cosine": optim.AdamW(lr=warmup_cosine, weight_decay=1e-2),
    }
    curves, metrics = {}, {}
    for label, opt in optimizers.items():
        params, losses = train_mlp(opt, initial, x, y, steps)
        logits, _ = backprop.mlp_forward(params, jnp.asarray(x_test, jnp.float32))
        accuracy = float(jnp.mean(jnp.argmax(logits, axis=1) == jnp.asarray(y_test)))
        curves[label] = np.asarray(losses)
        metrics[f"mlp/{label}/final_loss"] = float(losses[-1])
        metrics[f"mlp/{label}/steps_to_0.1"] = steps_to(curves[label], 0.1)
        metrics[f"mlp/{label}/test_accuracy"] = accuracy
        ctx.log(
            f"  {label:24s} final loss {float(losses[-1]):.4f}, held-out accuracy {accuracy:.3f}"
        )
    figure = visualization.plot_training_curve(
        curves, title="Two moons MLP: training loss per optimizer", log_scale=True
    )
    ctx.save_figure(figure, "mlp_training_curves")
    schedule_steps = np.arange(steps)
    figure = visualization.plot_functions(
        schedule_steps,
        {
            "SequentialLR(LinearLR, CosineAnnealingLR)": np.asarray(warmup_cosine(schedule_steps)),
            "StepLR(0.01, 200, 0.5)": np.asarray(
                lr_scheduler.StepLR(0.01, 200, 0.5)(schedule_steps)
            ),
            "ExponentialLR(0.01, 0.997)": np.asarray(
                lr_scheduler.ExponentialLR(0.01, 0.997)(schedule_steps)
            ),
        },
        title="Learning-rate schedules (torch's lr at step t)",
        xlabel="step",
        ylabel="lr",
    )
    ctx.save_figure(figure, "schedules")
    return metrics


def torch_agreement(ctx: LabContext) -> dict[str, float]:
    """The same Rosenbrock paths from torch.optim itself: how far apart after 300 float32 steps."""
    import torch

    ctx.log("Step 5: the Rosenbrock paths again, from torch.optim, in float32.")
    worst = 0.0
    steps = 300
    for label, make in PROBLEMS["rosenbrock"]["optimizers"].items():
        path, _ = descend(make(), objectives.rosenbrock, jnp.asarray([-1.2, 1.0]), steps)
        point = torch.tensor([-1.2, 1.0], requires_grad=True)
        name, options = TORCH_EQUIVALENTS[label]
        opt = getattr(torch.optim, name)([point], **options)
        for _ in range(steps):
            opt.zero_grad()
            x, y = point[0], point[1]
            (100.0 * (y - x * x) ** 2 + (1.0 - x) ** 2).backward()
            opt.step()
        gap = float(np.max(np.abs(np.asarray(path[-1]) - point.detach().numpy())))
        worst = max(worst, gap)
        ctx.log(f"  {label:17s} |jaxmath - torch.optim| after {steps} steps: {gap:.1e}")
    return {"rosenbrock_max_abs_gap_vs_torch_float32": worst}


TORCH_EQUIVALENTS = {
    "SGD": ("SGD", {"lr": 1e-3}),
    "SGD momentum 0.9": ("SGD", {"lr": 2e-4, "momentum": 0.9}),
    "SGD Nesterov 0.9": ("SGD", {"lr": 2e-4, "momentum": 0.9, "nesterov": True}),
    "RMSprop": ("RMSprop", {"lr": 3e-3}),
    "Adagrad": ("Adagrad", {"lr": 0.3}),
    "Adam": ("Adam", {"lr": 0.05}),
    "AdamW": ("AdamW", {"lr": 0.05, "weight_decay": 1e-2}),
}


@register_lab(
    "1.4.2",
    "Optimizers with torch.optim's semantics",
    key_metrics=(
        "rosenbrock/Adam/steps_to_threshold",
        "mlp/Adam/final_loss",
        "rosenbrock_max_abs_gap_vs_torch_float32",
    ),
)
def run(ctx: LabContext) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for step in (trajectories, sweeps, adam_vs_adamw, mlp, torch_agreement):
        metrics.update(step(ctx))
        ctx.record(metrics)
    return metrics
