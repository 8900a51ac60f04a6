"""Lab 1.4.3: loss landscapes and the Hessian (Li et al. 2018; Ghorbani et al. 2019; PyHessian)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import make_moons

from jaxmath import backprop, landscape, losses, optim, visualization
from labs import LabContext, register_lab

LAYER_SIZES = (2, 32, 32, 2)
ACTIVATION = "tanh"  # smooth, so the Hessian exists everywhere


def data(ctx: LabContext) -> tuple[jax.Array, jax.Array]:
    points, labels = make_moons(
        n_samples=256 if ctx.quick else 512, noise=0.2, random_state=ctx.seed
    )
    points = (points - points.mean(axis=0)) / points.std(axis=0)
    return jnp.asarray(points, jnp.float32), jnp.asarray(labels)


def make_loss(x: jax.Array, y: jax.Array) -> Any:
    def loss(params: list) -> jax.Array:
        return losses.cross_entropy_loss(backprop.mlp_forward(params, x, ACTIVATION)[0], y)

    return loss


def batch_loss(params: list, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    x, y = batch
    return losses.cross_entropy_loss(backprop.mlp_forward(params, x, ACTIVATION)[0], y)


def accuracy(params: list, x: jax.Array, y: jax.Array) -> float:
    logits, _ = backprop.mlp_forward(params, x, ACTIVATION)
    return float(jnp.mean(jnp.argmax(logits, axis=1) == y))


def train(
    ctx: LabContext,
    optimizer: Any,
    init: list,
    x: jax.Array,
    y: jax.Array,
    batch_size: int,
    epochs: int,
    snapshots: int,
) -> tuple[list, list[list], list[float]]:
    """Mini-batch training (reshuffled each epoch); returns the solution, ``snapshots`` + 1 points of
    the trajectory (init included) and the full-data loss per epoch."""

    @jax.jit
    def step(params: list, state: Any, batch: tuple) -> tuple[list, Any]:
        grads = jax.grad(batch_loss)(params, batch)
        updates, state = optimizer.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    full_loss = jax.jit(make_loss(x, y))
    params, state = init, optimizer.init(init)
    trajectory, curve = [init], []
    save_every = max(1, epochs // snapshots)
    rng = np.random.default_rng(ctx.seed)
    batches = x.shape[0] // batch_size
    for epoch in range(epochs):
        order = rng.permutation(x.shape[0])
        for index in range(batches):
            chosen = order[index * batch_size : (index + 1) * batch_size]
            params, state = step(params, state, (x[chosen], y[chosen]))
        curve.append(float(full_loss(params)))
        if (epoch + 1) % save_every == 0:
            trajectory.append(params)
    return params, trajectory, curve


def training(ctx: LabContext, x: jax.Array, y: jax.Array) -> dict[str, Any]:
    ctx.log(f"Step 1: train a {'-'.join(map(str, LAYER_SIZES))} {ACTIVATION} MLP on two moons with")
    ctx.log("SGD (lr 0.1, momentum 0.9) and Adam (lr 1e-2), batch 32, from one initialisation.")
    init = backprop.mlp_init(ctx.key(0), LAYER_SIZES, activation=ACTIVATION, init="xavier")
    epochs = 40 if ctx.quick else 150
    runs = {}
    for name, optimizer in (
        ("SGD", optim.SGD(lr=0.1, momentum=0.9)),
        ("Adam", optim.Adam(lr=1e-2)),
    ):
        params, trajectory, curve = train(ctx, optimizer, init, x, y, 32, epochs, 20)
        runs[name] = {"params": params, "trajectory": trajectory, "curve": curve}
        ctx.log(
            f"{name}: final loss {curve[-1]:.4f}, accuracy {accuracy(params, x, y):.3f}, "
            f"{len(trajectory)} trajectory points"
        )
    figure = visualization.plot_training_curve(
        {name: run["curve"] for name, run in runs.items()},
        title="Full-data cross-entropy per epoch",
        log_scale=True,
    )
    ctx.save_figure(figure, "training_curve")
    runs["init"] = init
    return runs


def interpolation(ctx: LabContext, runs: dict, loss: Any) -> dict[str, float]:
    ctx.log(
        "Step 2: the straight line from the initialisation to each solution (Goodfellow et al.):"
    )
    alphas = np.linspace(-0.25, 1.25, 31 if ctx.quick else 61)
    curves = {
        name: np.asarray(landscape.interpolate_1d(loss, runs["init"], runs[name]["params"], alphas))
        for name in ("SGD", "Adam")
    }
    metrics = {}
    for name, values in curves.items():
        inside = values[(alphas >= 0) & (alphas <= 1)]
        bumps = int(np.sum(np.diff(inside) > 1e-6))
        ctx.log(
            f"{name}: loss {inside[0]:.3f} at init -> {inside[-1]:.4f} at the solution; "
            f"{bumps} uphill steps on the way (0: a monotone path, no barrier)"
        )
        metrics[f"interpolation_uphill_steps_{name.lower()}"] = bumps
    figure = visualization.plot_functions(
        alphas, curves, title="Loss on (1 - a) init + a solution", xlabel="a", ylabel="loss"
    )
    ctx.save_figure(figure, "interpolation_1d")
    return metrics


def surface(ctx: LabContext, runs: dict, loss: Any) -> dict[str, float]:
    resolution = ctx.resolution or (15 if ctx.quick else 31)
    ctx.log(
        f"Step 3: a {resolution} x {resolution} filter-normalized plane around the SGD solution "
        "(Li et al. 2018):"
    )
    solution = runs["SGD"]["params"]
    d1 = landscape.random_direction(ctx.key(1), solution)
    d2 = landscape.random_direction(ctx.key(2), solution)
    alphas = np.linspace(-1.0, 1.0, resolution)
    grid = np.asarray(landscape.loss_surface_2d(loss, solution, d1, d2, alphas, alphas))
    ctx.log(
        f"each filter of d1, d2 has its weights' norm, biases fixed; loss {grid.min():.4f} .. "
        f"{grid.max():.3f} on the plane, {grid[resolution // 2, resolution // 2]:.4f} at the centre"
    )
    figure = visualization.plot_loss_landscape(
        alphas, alphas, grid, title="Filter-normalized random plane (SGD)", log_scale=True
    )
    ctx.save_figure(figure, "surface_random_directions")
    return {
        "surface_resolution": resolution,
        "surface_min": float(grid.min()),
        "surface_max": float(grid.max()),
        "surface_centre": float(grid[resolution // 2, resolution // 2]),
    }


def pca_plane(ctx: LabContext, runs: dict, loss: Any) -> dict[str, float]:
    ctx.log("Step 4: the plane the trajectories span (PCA of theta_t - theta_final, Li et al. 7):")
    adam, sgd = runs["Adam"]["trajectory"], runs["SGD"]["trajectory"]
    result = landscape.pca_directions(
        [*adam, *sgd]
    )  # the last point, SGD's solution, is the origin
    projected = np.asarray(result.projected)
    paths = {"Adam": projected[: len(adam)], "SGD": projected[len(adam) :]}
    ratios = np.asarray(result.explained_variance_ratio)
    ctx.log(
        f"explained variance ratios {[round(float(r), 3) for r in ratios]} (both paths together)"
    )
    resolution = ctx.resolution or (15 if ctx.quick else 31)
    low, high = projected.min(axis=0), projected.max(axis=0)
    margin = 0.15 * (high - low)
    alphas = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    betas = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    solution = runs["SGD"]["params"]
    grid = np.asarray(landscape.loss_surface_2d(loss, solution, *result.directions, alphas, betas))
    figure = visualization.plot_loss_landscape(
        alphas,
        betas,
        grid,
        trajectories=paths,
        title="PCA plane of the SGD and Adam paths",
        log_scale=True,
        xlabel=f"PC1 ({ratios[0]:.0%})",
        ylabel=f"PC2 ({ratios[1]:.0%})",
    )
    ctx.save_figure(figure, "surface_pca_trajectories")
    return {
        "pca_explained_variance_1": float(ratios[0]),
        "pca_explained_variance_2": float(ratios[1]),
    }


def sharpness(ctx: LabContext, x: jax.Array, y: jax.Array) -> dict[str, float]:
    ctx.log("Step 5: sharpness of a small-batch (8) vs a large-batch (full data) SGD solution:")
    init = backprop.mlp_init(ctx.key(3), LAYER_SIZES, activation=ACTIVATION, init="xavier")
    epochs = 30 if ctx.quick else 100
    settings = {"small batch (8)": (8, epochs), "large batch (full)": (x.shape[0], 30 * epochs)}
    batches = [(x[i : i + 128], y[i : i + 128]) for i in range(0, x.shape[0], 128)]
    metrics, densities, markers = {}, {}, {}
    for index, (name, (batch_size, steps)) in enumerate(settings.items()):
        optimizer = optim.SGD(lr=0.05)
        params, _, curve = train(ctx, optimizer, init, x, y, batch_size, steps, 1)
        top = landscape.hessian_eigs(ctx.key(10 + index), batch_loss, params, k=3, batches=batches)
        trace = landscape.hessian_trace(
            ctx.key(20 + index), batch_loss, params, n_samples=60, method="hutch++", batches=batches
        )
        density = landscape.hessian_spectral_density(
            ctx.key(30 + index), batch_loss, params, n_iter=40, n_runs=3, batches=batches
        )
        values = np.asarray(top.eigenvalues)
        key = "small_batch" if batch_size == 8 else "large_batch"
        metrics.update(
            {
                f"{key}_train_loss": curve[-1],
                f"{key}_accuracy": accuracy(params, x, y),
                f"{key}_top_eigenvalue": float(values[0]),
                f"{key}_top3_eigenvalues": values.tolist(),
                f"{key}_trace": float(trace.estimate),
                f"{key}_trace_standard_error": float(trace.standard_error),
            }
        )
        densities[name] = (np.asarray(density.grid), np.asarray(density.density))
        markers[name] = values.tolist()
        ctx.log(
            f"{name}: loss {curve[-1]:.4f}, top eigenvalues {[round(float(v), 3) for v in values]} "
            f"({top.n_matvecs} matvecs), trace {float(trace.estimate):.3f} "
            f"+- {float(trace.standard_error):.3f} (Hutch++, 60 matvecs)"
        )
    ratio = metrics["small_batch_top_eigenvalue"] / metrics["large_batch_top_eigenvalue"]
    ctx.log(
        f"top eigenvalue small / large batch = {ratio:.2f} (Keskar et al. 2017: large batches tend "
        "to sharper minima; on a problem this small the effect can be weak or reversed)"
    )
    figure = visualization.plot_spectral_density(
        densities, markers=markers, title="Hessian eigenvalue density (SLQ, 3 runs x 40 steps)"
    )
    ctx.save_figure(figure, "hessian_spectral_density")
    return {**metrics, "top_eigenvalue_ratio_small_over_large": ratio}


@register_lab(
    "1.4.3",
    "Loss landscapes and the Hessian",
    key_metrics=(
        "small_batch_top_eigenvalue",
        "large_batch_top_eigenvalue",
        "small_batch_trace",
        "large_batch_trace",
    ),
)
def run(ctx: LabContext) -> dict[str, Any]:
    x, y = data(ctx)
    loss = make_loss(x, y)
    runs = training(ctx, x, y)
    metrics: dict[str, Any] = {
        "sgd_final_loss": runs["SGD"]["curve"][-1],
        "adam_final_loss": runs["Adam"]["curve"][-1],
    }
    ctx.record(metrics)
    for step in (interpolation, surface, pca_plane):
        metrics.update(step(ctx, runs, loss))
        ctx.record(metrics)
    metrics.update(sharpness(ctx, x, y))
    return metrics
