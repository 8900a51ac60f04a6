# %% [markdown]
# # Lab 1.4.3: Loss landscapes and the Hessian
#
# A network's loss is a function of millions of parameters; we can only ever look at it along one or
# two directions. This lab trains a small MLP with SGD and Adam, then looks at the loss
#
# 1. along the straight line from the initialisation to the solution (Goodfellow et al. 2015);
# 2. on a random plane through the solution, with **filter-normalized** directions (Li et al. 2018);
# 3. on the plane that the optimizers' trajectories span (PCA of the path, Li et al. section 7);
# 4. through its curvature: the Hessian's top eigenvalues, trace and eigenvalue density
#    (Ghorbani et al. 2019; PyHessian), for a small-batch and a large-batch solution.
#
# The model: a 2-32-32-2 tanh MLP on two half-moons (tanh is smooth, so the Hessian exists
# everywhere).

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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import make_moons

from jaxmath import backprop, landscape, losses, optim, visualization
from labs import LabContext, exercises, register_lab
from labs.notebooks import lab_context

LAYER_SIZES = (2, 32, 32, 2)
ACTIVATION = "tanh"  # smooth, so the Hessian exists everywhere

# %% [markdown]
# ## Exercise: filter normalization
#
# Why normalize at all? A ReLU or batch-normalized network computes the same function when a
# filter's weights are multiplied by $c > 0$ and the next layer's divided by $c$, but the loss looks
# $c$ times flatter along that filter. A random direction $d$ of unit scale would then mean a big
# step for small-weight filters and a tiny one for large-weight filters, and pictures of two networks
# could not be compared. Li et al. rescale **each filter** of the direction to the norm of the
# corresponding filter of the parameters:
#
# $$d_j \leftarrow \frac{d_j}{\lVert d_j \rVert}\,\lVert \theta_j \rVert .$$
#
# A filter is one output unit's weights: for a dense weight in JAX's layout $W$ of shape
# (in, out), filter $j$ is the column $W_{:, j}$; for a convolution kernel (kh, kw, in, out), the slice
# at index $j$ of the last axis. (Normalizing the whole layer with one norm is "layer normalization",
# a different, coarser choice.) Biases are left out of the direction (zeroed) by the library.


# %% tags=["exercise"]
def filter_normalize(direction: jax.Array, param: jax.Array) -> jax.Array:
    """Rescale each filter of ``direction`` to the norm of the same filter of ``param``.

    Both arrays have the same shape, with >= 2 dimensions and the output axis LAST (a dense
    weight (in, out) or a conv kernel (kh, kw, in, out)); filter j is the slice [..., j]. Norms are
    taken over all the other axes: d_j * ||param_j|| / (||d_j|| + 1e-10).
    """
    axes = tuple(range(direction.ndim - 1))
    param_norms = jnp.sqrt(jnp.sum(param * param, axis=axes, keepdims=True))
    direction_norms = jnp.sqrt(jnp.sum(direction * direction, axis=axes, keepdims=True))
    return direction * param_norms / (direction_norms + 1e-10)


# %% tags=["check"]
if __name__ == "__main__":
    print(exercises.check_filter_normalize(filter_normalize))

# %% [markdown]
# ## Step 1: train with SGD and Adam from one initialisation
#
# Mini-batches of 32, reshuffled every epoch; SGD with momentum 0.9 (lr 0.1) and Adam (lr 0.01) start
# from the same Xavier initialisation. Each epoch is one compiled `lax.scan` over its batches, and
# the parameters after every epoch are kept: they are the trajectories of step 3.
#
# **In the figure**: the full-data loss per epoch (log scale). Both reach a low loss; they take
# different paths there, which the PCA plane will show.


# %%
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


#: Epochs per compiled call (the progress bar advances once per call): 10 for mini-batches, 100
#: when an epoch is a single full-data step.
EPOCHS_PER_CALL = {"mini-batch": 10, "full batch": 100}


@functools.partial(jax.jit, static_argnames=("optimizer",))
def _train_epochs(
    optimizer: Any, params: list, state: Any, x: jax.Array, y: jax.Array, orders: jax.Array
) -> tuple[list, Any, list, jax.Array]:
    """One epoch per row of ``orders`` (epochs, batches, batch_size): a step per batch. Returns
    the parameters and state after the last epoch, the parameters after each epoch (stacked) and
    the full-data loss after each epoch."""

    def step(carry: tuple, chosen: jax.Array) -> tuple:
        params, state = carry
        grads = jax.grad(batch_loss)(params, (x[chosen], y[chosen]))
        updates, state = optimizer.update(grads, state, params)
        return (optim.apply_updates(params, updates), state), None

    def epoch(carry: tuple, order: jax.Array) -> tuple:
        carry, _ = jax.lax.scan(step, carry, order)
        return carry, (carry[0], batch_loss(carry[0], (x, y)))

    (params, state), (per_epoch, full_losses) = jax.lax.scan(epoch, (params, state), orders)
    return params, state, per_epoch, full_losses


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
    rng = np.random.default_rng(ctx.seed)
    batches = x.shape[0] // batch_size
    orders = np.stack(
        [rng.permutation(x.shape[0])[: batches * batch_size] for _ in range(epochs)]
    ).reshape(epochs, batches, batch_size)
    params, state = init, optimizer.init(init)
    per_epoch, curve = [], []
    per_call = EPOCHS_PER_CALL["full batch" if batches == 1 else "mini-batch"]
    for start in ctx.progress(range(0, epochs, per_call), f"training (batch {batch_size})"):
        chunk = jnp.asarray(orders[start : start + per_call])
        params, state, stacked, full_losses = _train_epochs(optimizer, params, state, x, y, chunk)
        curve.extend(np.asarray(full_losses).tolist())
        per_epoch.append(stacked)
    stacked = jax.tree.map(lambda *parts: jnp.concatenate(parts), *per_epoch)
    save_every = max(1, epochs // snapshots)
    saved = [epoch for epoch in range(epochs) if (epoch + 1) % save_every == 0]
    trajectory = [init, *(jax.tree.map(lambda leaf, e=e: leaf[e], stacked) for e in saved)]
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


# %%
if __name__ == "__main__":
    ctx = lab_context("1.4.3")
    x, y = data(ctx)
    loss = make_loss(x, y)
    runs = training(ctx, x, y)
    metrics: dict[str, Any] = {
        "sgd_final_loss": runs["SGD"]["curve"][-1],
        "adam_final_loss": runs["Adam"]["curve"][-1],
    }

# %% [markdown]
# ## Step 2: the straight line from initialisation to solution
#
# $L\big((1 - a)\,\theta_0 + a\,\theta^*\big)$ for $a \in [-0.25, 1.25]$: $a = 0$ is the
# initialisation, $a = 1$ the solution. Goodfellow et al. observed that for many networks this
# curve falls monotonically: no barrier separates the start from the end, even though the optimizer
# took a winding path.
#
# **In the figure**: look for bumps between 0 and 1 (the printout counts the uphill steps), and for
# the loss rising again beyond $a = 1$ (the solution is a minimum along this line).


# %%
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


# %%
if __name__ == "__main__":
    metrics.update(interpolation(ctx, runs, loss))

# %% [markdown]
# ## Step 3: a filter-normalized random plane
#
# $L(\theta^* + \alpha\,d_1 + \beta\,d_2)$ on a grid of $(\alpha, \beta) \in [-1, 1]^2$, with $d_1,
# d_2$ Gaussian directions filter-normalized as in the exercise (`landscape.random_direction` does
# exactly that, biases zeroed). In high dimension two random directions are nearly orthogonal, so
# the plane is a fair random slice. The whole grid is one vmapped, compiled evaluation.
#
# **In the figure**: contours of the loss (log colour scale) with the solution at the centre. A wide
# basin means the loss is insensitive to perturbations of the size of the weights themselves.


# %%
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


# %%
if __name__ == "__main__":
    metrics.update(surface(ctx, runs, loss))

# %% [markdown]
# ## Step 4: the plane of the trajectories
#
# Random planes miss the optimizer's path: a trajectory lives in a very low-dimensional subspace.
# Stack the snapshots $\theta_t - \theta^*$ of both runs as rows and take their top two principal
# directions (an SVD): the plane that holds most of the path's variance. Projecting the snapshots
# onto it draws the paths over the loss contours.
#
# **In the figure**: the axis labels give each component's share of the variance (often most of it
# in PC1); follow each path from its start to the centre region and compare how SGD with momentum
# and Adam approach the solution.


# %%
def pca_plane(ctx: LabContext, runs: dict, loss: Any) -> dict[str, float]:
    ctx.log("Step 4: the plane the trajectories span (PCA of theta_t - theta_final, Li et al. 7):")
    adam, sgd = runs["Adam"]["trajectory"], runs["SGD"]["trajectory"]
    # the last point, SGD's solution, is the origin
    result = landscape.pca_directions([*adam, *sgd])
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


# %%
if __name__ == "__main__":
    metrics.update(pca_plane(ctx, runs, loss))

# %% [markdown]
# ## Step 5: curvature: small-batch vs large-batch solutions
#
# The Hessian $H = \nabla^2 L(\theta)$ is never formed: a Hessian-vector product
# $Hv = \frac{d}{d\epsilon} \nabla L(\theta + \epsilon v)\big|_0$ costs about two gradients
# (forward-over-reverse autodiff), and everything below is built from it:
#
# - **top eigenvalues** by Lanczos iteration: $\lambda_{\max}$ is the sharpness, the curvature of the
#   steepest direction (gradient descent is stable only for $\eta < 2/\lambda_{\max}$);
# - **trace** $\operatorname{tr} H = \mathbb E_v[v^\top H v]$ for Rademacher $v$ (Hutchinson), here with
#   Hutch++, which first removes the top of the spectrum exactly and so has a smaller variance;
# - **eigenvalue density** by stochastic Lanczos quadrature: a Lanczos run from a random vector
#   gives nodes and weights of a quadrature of the spectrum, smoothed by Gaussians and averaged.
#
# Keskar et al. (2017) reported that large-batch training finds sharper minima than small-batch
# training. We train the same network both ways (batch 8 vs the full data) and compare.
#
# **In the figure**: the two densities on a log-density axis, with the top eigenvalues marked.
# Most eigenvalues sit near 0 (flat directions); the few large outliers carry the curvature. On a
# problem this small the batch-size effect can be weak or even reversed: read the printed ratio.


# %%
def sharpness(ctx: LabContext, x: jax.Array, y: jax.Array) -> dict[str, float]:
    ctx.log("Step 5: sharpness of a small-batch (8) vs a large-batch (full data) SGD solution:")
    init = backprop.mlp_init(ctx.key(3), LAYER_SIZES, activation=ACTIVATION, init="xavier")
    epochs = 30 if ctx.quick else 100
    settings = {"small batch (8)": (8, epochs), "large batch (full)": (x.shape[0], 30 * epochs)}
    # One batch of all the points: the full-data Hessian in one call per matvec (the library
    # averages over several batches, weighted by size, when the data do not fit at once).
    batches = [(x, y)]
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


# %%
if __name__ == "__main__":
    metrics.update(sharpness(ctx, x, y))
    ctx.record(metrics)

# %% [markdown]
# ## What to take away
#
# - One- and two-dimensional slices show basins, barriers and paths, but only after the directions
#   are filter-normalized, so that a step means the same relative change for every filter.
# - Trajectories live in a low-dimensional subspace: their PCA plane shows the path, a random plane
#   does not.
# - Curvature is measured without forming the Hessian: Hessian-vector products feed Lanczos (top
#   eigenvalues), Hutchinson/Hutch++ (trace) and SLQ (density).
#
# The cell below registers the lab with the runner (`python -m labs run 1.4.3`).


# %%
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
