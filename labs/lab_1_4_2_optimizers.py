# %% [markdown]
# # Lab 1.4.2: Optimizers with torch.optim's semantics
#
# Every optimizer in `jaxmath.optim` is torch.optim's update rule written out as an optax gradient
# transformation: `state = opt.init(params)`, `updates, state = opt.update(grads, state, params)`,
# `params = optim.apply_updates(params, updates)`. In this lab you write the Adam update yourself,
# then compare **all** the optimizers on the same problems (Rosenbrock's and Beale's valleys, a
# saddle, an ill-conditioned quadratic, and the 1.4.1 MLP on two moons), each at a learning rate
# tuned for it; sweep SGD's learning rate and momentum; see why AdamW's decoupled decay is not
# Adam's L2; draw every learning-rate schedule of `jaxmath.lr_scheduler`; and check that torch.optim
# itself takes the same steps.
#
# **Notation.** $g_t$ is the gradient at step $t$ (1-based, as torch's `state["step"]`),
# $\theta_t$ the parameters, $\gamma$ the learning rate.

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
import concurrent.futures
import contextlib
import ctypes
import functools
import gc
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from jaxmath import backprop, lr_scheduler, objectives, optim, visualization
from labs import LabContext, exercises, register_lab
from labs.notebooks import lab_context

# %% [markdown]
# ## Exercise: one Adam step
#
# torch.optim.Adam keeps two moving averages per parameter, of the gradient and of its square,
# and corrects both for their start at zero:
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,$$
#
# $$\theta_t = \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
#   \frac{m_t}{\sqrt{v_t}\,/\sqrt{1-\beta_2^t} + \epsilon}.$$
#
# Two details separate a copy from torch's numbers: $\epsilon$ is added *after* dividing
# $\sqrt{v_t}$ by $\sqrt{1-\beta_2^t}$, and $t$ counts from 1 (without the corrections the first
# step would be $1/(1-\beta_1) = 10$ times too small in $m$ and $\sqrt{1000}$ times too small in
# $\sqrt{v}$). Write `adam_step`; the lab itself uses `optim.Adam`, which does the same on any pytree.


# %% tags=["exercise"]
def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """One torch.optim.Adam step (no weight decay) at step t = ``step`` >= 1: returns the new
    (param, exp_avg, exp_avg_sq), each of param's shape."""
    beta1, beta2 = betas
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    denom = jnp.sqrt(exp_avg_sq) / jnp.sqrt(bias_correction2) + eps
    return param - lr / bias_correction1 * exp_avg / denom, exp_avg, exp_avg_sq


# %% tags=["check"]
if __name__ == "__main__":
    print(exercises.check_adam_step(adam_step))

# %% [markdown]
# ## Step 1: every optimizer on the same problems
#
# The optimizers are read from `optim.__all__` (each name that builds an optax gradient
# transformation, plus SGD with momentum and with Nesterov momentum, and L-BFGS when present), so
# a new optimizer joins the comparison by being exported. Each runs with torch's defaults except
# the learning rate, which is **tuned here, per optimizer and problem**: every lr of the grid
# $10^{-4}, 10^{-3.5}, \ldots, 10^{1}$ runs at once (`jax.vmap` over the lr, one compilation per
# optimizer for all four problems), and the lr kept is the one that reaches the loss threshold in
# the fewest steps among the runs that end finite (if none reaches it, the one with the lowest
# final loss). L-BFGS takes lr 1 with a strong-Wolfe line search (one iteration per step, several
# loss evaluations each). Muon only takes matrices: its parameter is the point as a (1, 2) matrix.
# (`--quick` compares a subset, `QUICK_OPTIMIZERS`: compiling is most of this lab's time.)
#
# Look at the table for which optimizers tolerate a badly conditioned valley (Rosenbrock, the
# quadratic with $\kappa = 100$) and which ones stall near the saddle.

# %%
#: The four comparison problems, all in 2-D: start, loss threshold for "steps to threshold", and
#: the plot window of the paths figure (None: no contour plot, the quadratic's paths are lines).
PROBLEMS: dict[str, dict[str, Any]] = {
    "rosenbrock": {
        "start": (-1.2, 1.0),
        "threshold": 1e-3,
        "window": ((-2.0, 2.0), (-1.0, 3.0)),
    },
    "beale": {"start": (1.0, 1.4), "threshold": 1e-3, "window": ((-1.0, 4.5), (-1.5, 2.0))},
    "saddle": {"start": (1.5, 1e-3), "threshold": -0.249, "window": ((-2.0, 2.0), (-1.6, 1.6))},
    "quadratic": {"start": (1.0, 1.0), "threshold": 1e-6, "window": None},
}
FUNCTIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "rosenbrock": objectives.rosenbrock,
    "beale": objectives.beale,
    "saddle": objectives.saddle,
    "quadratic": functools.partial(objectives.ill_conditioned_quadratic, condition_number=100.0),
}
#: The learning rates tried for every optimizer: half-decades from 1e-4 to 10.
LR_GRID = tuple(float(10.0**exponent) for exponent in np.arange(-4.0, 1.01, 0.5))
LR_RULE = (
    "fewest steps to the threshold among the grid's runs that end finite (else lowest final "
    "loss); grid: half-decades 1e-4 .. 10"
)
#: Optimizers that only take 2-D parameters (torch refuses others).
MATRIX_ONLY = ("Muon",)
#: One L-BFGS iteration per step. max_eval is given: torch's default, max_iter * 5 // 4 = 1, would
#: leave the strong-Wolfe search no evaluation and the point would never move (torch's own quirk).
LBFGS_OPTIONS = {"lr": 1, "max_iter": 1, "max_eval": 25, "line_search_fn": "strong_wolfe"}
#: The 2-D runs are tiny: compiling them takes ~100x longer than running them, and XLA's backend
#: optimisation level 0 compiles them ~35% faster (the runs stay in milliseconds).
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def release_compiled() -> None:
    """Drop the compiled runs (one executable per optimizer, ~20 MB each, never reused) and hand
    the memory back: peak ~0.8 GB instead of ~1.1 GB with torch's import in step 6."""
    jax.clear_caches()
    gc.collect()
    # glibc keeps freed heap pages mapped unless asked to hand them back (not glibc: no-op)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def in_parallel(function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[function(item) for item in items]`` on two threads, for compilations: XLA compiling
    releases the GIL, so two overlap on a 2-core machine."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(function, items))


def optimizer_names() -> tuple[str, ...]:
    """The names in ``optim.__all__`` whose default instance is an optax gradient transformation."""
    names = []
    for name in optim.__all__:
        factory = getattr(optim, name)
        if not name[0].isupper() or name.endswith("State") or not callable(factory):
            continue
        try:
            if isinstance(factory(), optax.GradientTransformation):
                names.append(name)
        except TypeError:  # needs arguments: not an optimizer factory
            continue
    return tuple(names)


def optimizers() -> dict[str, tuple[str, dict[str, Any]]]:
    """Label -> (optim name, options besides lr): every gradient transformation with torch's
    defaults, and SGD's two momentum variants."""
    table: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in optimizer_names():
        table[name] = (name, {})
        if name == "SGD":
            table["SGD momentum 0.9"] = ("SGD", {"momentum": 0.9})
            table["SGD Nesterov 0.9"] = ("SGD", {"momentum": 0.9, "nesterov": True})
    return table


#: The --quick run's subset (compilation, ~0.6 s per optimizer, is most of the lab's time): one of
#: each kind, the shape-aware ones included. The default run compares them all.
QUICK_OPTIMIZERS = ("SGD", "SGD momentum 0.9", "Adam", "RMSprop", "Rprop", "Adafactor", "Muon")


def compared(ctx: LabContext) -> dict[str, tuple[str, dict[str, Any]]]:
    """The optimizers this run compares: all of :func:`optimizers`, or the quick subset."""
    table = optimizers()
    if ctx.quick:
        table = {label: spec for label, spec in table.items() if label in QUICK_OPTIMIZERS}
    return table


def optim_default_lr(name: str) -> float:
    """The default lr of ``optim.<name>`` (torch's), read from its signature."""
    import inspect

    return float(inspect.signature(getattr(optim, name)).parameters["lr"].default)


#: Step 6 runs each optimizer at torch's default lr, except where that diverges on Rosenbrock
#: (ASGD's 1e-2 is plain SGD's step there, past 2 / the curvature near the start).
AGREEMENT_LR = {"ASGD": 1e-3}


def agreement_lr(name: str) -> float:
    return AGREEMENT_LR.get(name, optim_default_lr(name))


def has_lbfgs() -> bool:
    return "LBFGS" in optim.__all__


def build(name: str, options: dict[str, Any], lr: Any) -> optax.GradientTransformation:
    """``optim.<name>(lr=lr, **options)``; lr may be traced (it enters as a constant schedule)."""
    return getattr(optim, name)(lr=lambda count: lr, **options)


@functools.partial(jax.jit, static_argnums=(0, 1, 2), compiler_options=FAST_COMPILE)
def sweep_problems(
    name: str, options: tuple, steps: int, rates: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Every problem of PROBLEMS, every lr of ``rates``, ``steps`` updates of ``optim.<name>``.

    Returns the paths (problems, lrs, steps + 1, 2), start first, and the losses there
    (problems, lrs, steps + 1). One compilation per optimizer: the problems are one
    ``lax.switch`` under ``vmap`` (each branch is a 2-D function, evaluated at every point).
    """
    functions = [FUNCTIONS[problem] for problem in PROBLEMS]
    starts = jnp.asarray([PROBLEMS[problem]["start"] for problem in PROBLEMS], jnp.float32)
    shape = (1, 2) if name in MATRIX_ONLY else (2,)

    def run(index: jax.Array, start: jax.Array, rate: jax.Array) -> tuple[jax.Array, jax.Array]:
        def loss(x: jax.Array) -> jax.Array:
            return jax.lax.switch(index, functions, x.reshape(2))

        opt = build(name, dict(options), rate)
        x0 = start.reshape(shape)

        def body(carry: tuple, _: Any) -> tuple:
            x, state = carry
            updates, state = opt.update(jax.grad(loss)(x), state, x)
            x = optim.apply_updates(x, updates)
            return (x, state), x

        _, iterates = jax.lax.scan(body, (x0, opt.init(x0)), None, length=steps)
        path = jnp.concatenate([x0[None], iterates]).reshape(steps + 1, 2)
        return path, jax.vmap(loss)(path)

    per_rate = jax.vmap(run, in_axes=(None, None, 0))
    return jax.vmap(per_rate, in_axes=(0, 0, None))(jnp.arange(len(functions)), starts, rates)


@functools.partial(jax.jit, static_argnums=0, compiler_options=FAST_COMPILE)
def lbfgs_problems(steps: int) -> tuple[jax.Array, jax.Array]:
    """``steps`` L-BFGS iterations (``LBFGS_OPTIONS``) on every problem of PROBLEMS: the paths
    (problems, steps + 1, 2), start first, and the losses there (one compilation, as
    :func:`sweep_problems`)."""
    functions = [FUNCTIONS[problem] for problem in PROBLEMS]
    starts = jnp.asarray([PROBLEMS[problem]["start"] for problem in PROBLEMS], jnp.float32)
    opt = optim.LBFGS(**LBFGS_OPTIONS)

    def run(index: jax.Array, start: jax.Array) -> tuple[jax.Array, jax.Array]:
        def loss(x: jax.Array) -> jax.Array:
            return jax.lax.switch(index, functions, x)

        def body(carry: tuple, _: Any) -> tuple:
            x, state = carry
            x, state = opt.minimize(loss, x, state)
            return (x, state), x

        _, iterates = jax.lax.scan(body, (start, opt.init(start)), None, length=steps)
        path = jnp.concatenate([start[None], iterates])
        return path, jax.vmap(loss)(path)

    return jax.vmap(run)(jnp.arange(len(functions)), starts)


def steps_to(losses: np.ndarray, threshold: float) -> int | None:
    """The first step count k (0: the start) with losses[k] <= threshold; None if never."""
    below = np.flatnonzero(np.asarray(losses) <= threshold)
    return int(below[0]) if below.size else None


def choose_lr(losses: np.ndarray, threshold: float) -> int:
    """Index of the lr kept (``LR_RULE``) from losses of shape (lrs, steps + 1)."""
    finite = np.all(np.isfinite(losses), axis=1)
    reached = [
        (steps_to(curve, threshold), curve[-1], index)
        for index, curve in enumerate(losses)
        if finite[index] and steps_to(curve, threshold) is not None
    ]
    if reached:
        return min(reached)[2]
    finals = np.where(finite, losses[:, -1], np.inf)
    return int(np.argmin(finals))


def comparison_row(
    problem: str, label: str, lr: float, lr_from: str, losses: np.ndarray, threshold: float
) -> dict[str, Any]:
    reached = steps_to(losses, threshold)
    return {
        "problem": problem,
        "optimizer": label,
        "lr": lr,
        "lr_from": lr_from,
        "steps": len(losses) - 1,
        "threshold": threshold,
        "steps_to_threshold": reached,
        "final_loss": float(losses[-1]),
    }


def compare_on_test_functions(ctx: LabContext) -> dict[str, Any]:
    """Step 1: the comparison on the four 2-D problems; returns the rows and the kept paths."""
    steps = 500 if ctx.quick else 3000
    ctx.log(
        f"Step 1: {len(compared(ctx)) + has_lbfgs()} optimizers x {len(PROBLEMS)} problems, "
        f"{len(LR_GRID)} learning rates each, {steps} steps."
    )
    rows: list[dict[str, Any]] = []
    paths: dict[str, dict[str, np.ndarray]] = {problem: {} for problem in PROBLEMS}
    curves: dict[str, dict[str, np.ndarray]] = {problem: {} for problem in PROBLEMS}
    default_paths: dict[str, np.ndarray] = {}

    def rates(name: str) -> jax.Array:  # the grid, and step 6's lr last (not a candidate)
        return jnp.asarray([*LR_GRID, agreement_lr(name)], jnp.float32)

    def compile_sweep(item: tuple[str, tuple[str, dict[str, Any]]]) -> Callable[..., Any]:
        _, (name, options) = item
        options_key = tuple(sorted(options.items()))
        return sweep_problems.lower(name, options_key, steps, rates(name)).compile()

    table = compared(ctx)
    compiled = in_parallel(compile_sweep, table.items())  # compiled two at a time, run one by one
    results = [
        tuple(np.asarray(array) for array in sweep(rates(name)))
        for (name, _), sweep in ctx.progress(
            zip(table.values(), compiled, strict=True), "optimizers", total=len(table)
        )
    ]
    for label, (all_paths, all_losses) in zip(table, results, strict=True):
        default_paths[label] = all_paths[list(PROBLEMS).index("rosenbrock"), -1]
        for index, problem in enumerate(PROBLEMS):
            threshold = PROBLEMS[problem]["threshold"]
            kept = choose_lr(all_losses[index, : len(LR_GRID)], threshold)
            paths[problem][label] = all_paths[index, kept]
            curves[problem][label] = all_losses[index, kept]
            rows.append(
                comparison_row(
                    problem, label, LR_GRID[kept], "grid", all_losses[index, kept], threshold
                )
            )
    if has_lbfgs():
        all_paths, all_losses = (np.asarray(a) for a in lbfgs_problems(min(steps, 200)))
        for index, (problem, spec) in enumerate(PROBLEMS.items()):
            paths[problem]["LBFGS"], curves[problem]["LBFGS"] = all_paths[index], all_losses[index]
            rows.append(
                comparison_row(
                    problem, "LBFGS", 1.0, "line search", all_losses[index], spec["threshold"]
                )
            )
    for row in rows:
        if row["problem"] == "rosenbrock":
            reached = row["steps_to_threshold"]
            ctx.log(
                f"  rosenbrock {row['optimizer']:17s} lr {row['lr']:8.3g}: "
                f"{'-' if reached is None else reached:>5} steps to {row['threshold']:g}, "
                f"final loss {row['final_loss']:.3g}"
            )
    release_compiled()
    return {
        "rows": rows,
        "paths": paths,
        "curves": curves,
        "steps": steps,
        "default_paths": default_paths,
    }


def draw_test_functions(ctx: LabContext, result: dict[str, Any]) -> None:
    """The paths over the contours (Rosenbrock, Beale, saddle) and the loss curves, per problem."""
    resolution = ctx.resolution or (100 if ctx.quick else 200)
    for problem, spec in PROBLEMS.items():
        curves = result["curves"][problem]
        if spec["window"] is not None:
            (x_low, x_high), (y_low, y_high) = spec["window"]
            grid_x, grid_y = np.meshgrid(
                np.linspace(x_low, x_high, resolution), np.linspace(y_low, y_high, resolution)
            )
            points = jnp.asarray(np.stack([grid_x, grid_y], -1), jnp.float32)
            values = np.asarray(FUNCTIONS[problem](points))
            minima = np.array([point for point, _ in objectives.MINIMA[problem]])
            figure = visualization.plot_optimizer_paths(
                grid_x,
                grid_y,
                values,
                result["paths"][problem],
                title=f"{problem}: {result['steps']} steps from {spec['start']}, tuned lr",
                minima=minima,
                log_levels=problem != "saddle",
            )
            ctx.save_figure(figure, f"paths_{problem}")
        shift = 0.25 if problem == "saddle" else 0.0  # the saddle's minimum is -1/4
        figure = visualization.plot_training_curve(
            {label: np.maximum(curve + shift, 1e-12) for label, curve in curves.items()},
            title=f"{problem}: loss{' + 1/4' if shift else ''} per step, tuned lr",
            log_scale=True,
        )
        ctx.save_figure(figure, f"loss_{problem}")


# %%
if __name__ == "__main__":
    ctx = lab_context("1.4.2")
    comparison = compare_on_test_functions(ctx)
    draw_test_functions(ctx, comparison)

# %% [markdown]
# ## Step 2: learning rate x momentum for SGD
#
# On a quadratic with curvatures from 1 to $\kappa = 100$, gradient descent is stable only for
# $\gamma < 2/\kappa$, and then the flat direction needs ~$\kappa$ steps. Momentum $\mu$ lets a small
# lr travel far (the effective step is $\gamma/(1-\mu)$). The five learning rates run at once under
# `jax.vmap`.


# %%
@functools.partial(jax.jit, static_argnums=(0, 1), compiler_options=FAST_COMPILE)
def sgd_final_losses(momentum: float, steps: int, rates: jax.Array) -> jax.Array:
    """The loss after ``steps`` SGD steps on the kappa = 100 quadratic in 8-D, per lr."""
    function = functools.partial(objectives.ill_conditioned_quadratic, condition_number=100.0)

    def run(rate: jax.Array) -> jax.Array:
        opt = optim.SGD(lr=lambda count: rate, momentum=momentum)
        x0 = jnp.ones(8, jnp.float32)

        def body(carry: tuple, _: Any) -> tuple:
            x, state = carry
            updates, state = opt.update(jax.grad(function)(x), state, x)
            return (optim.apply_updates(x, updates), state), None

        (x, _), _ = jax.lax.scan(body, (x0, opt.init(x0)), None, length=steps)
        return function(x)

    return jax.vmap(run)(rates)


def sweeps(ctx: LabContext) -> dict[str, Any]:
    ctx.log(
        "Step 2: learning rate x momentum for SGD on an ill-conditioned quadratic (kappa = 100)."
    )
    steps = 100 if ctx.quick else 300
    rates = (1e-3, 3e-3, 1e-2, 1.9e-2, 3e-2)
    groups: dict[str, list[float]] = {}
    best = (np.inf, None)
    for momentum in (0.0, 0.5, 0.9, 0.99):
        finals = np.asarray(sgd_final_losses(momentum, steps, jnp.asarray(rates, jnp.float32)))
        groups[f"momentum {momentum}"] = [
            min(float(final), 1e6) if np.isfinite(final) else 1e6 for final in finals
        ]
        for rate, final in zip(rates, finals, strict=True):
            if final < best[0]:
                best = (float(final), (rate, momentum))
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


# %%
if __name__ == "__main__":
    sweeps(ctx)

# %% [markdown]
# ## Step 3: Adam's L2 penalty is not AdamW's weight decay
#
# Adam adds $\lambda\theta$ to the gradient *before* the moments, so the penalty is divided by
# $\sqrt{v}$ like the rest of the gradient: Adam converges to the minimum of
# $f + \lambda\|\theta\|^2/2$. AdamW shrinks $\theta$ by $1 - \gamma\lambda$ outside the adaptive
# step, so its fixed point balances $\gamma\lambda\theta$ against the *normalised* step instead.


# %%
@functools.partial(jax.jit, static_argnums=(0, 1, 3), compiler_options=FAST_COMPILE)
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


# %%
if __name__ == "__main__":
    adam_vs_adamw(ctx)

# %% [markdown]
# ## Step 4: the 1.4.1 MLP trained by every optimizer
#
# The same comparison on a real (small) network: the 2-64-64-2 ReLU MLP of lab 1.4.1 on two moons,
# full batch. Training is too costly to sweep eleven learning rates per optimizer at every run, so
# the lr of each optimizer comes from `MLP_LR`, the result of `tune_mlp_learning_rates()` (the same
# rule as step 1 on this problem, threshold 0.1, at the default size; rerun it to check). Muon only
# takes matrices, so its row is torch's recipe: Muon for the weight matrices, AdamW for the biases.

# %%
#: Per optimizer, the lr of the grid 1e-4 .. 1 (half-decades) that reached loss 0.1 in the fewest
#: of 400 full-batch steps on two moons (else the lowest final loss), from
#: ``tune_mlp_learning_rates()`` at the default size (run on 2026-12-01); an optimizer not listed
#: uses its torch default.
MLP_LR: dict[str, float] = {
    "SGD": 1.0,
    "ASGD": 1.0,
    "Adadelta": 1.0,
    "Adafactor": 10**-0.5,
    "Adagrad": 10**-0.5,
    "Adam": 10**-0.5,
    "AdamW": 10**-1.5,
    "Adamax": 0.1,
    "Muon": 0.1,
    "NAdam": 10**-0.5,
    "RAdam": 1.0,
    "RMSprop": 10**-1.5,
    "Rprop": 0.01,
}
MLP_THRESHOLD = 0.1
MLP_GRID = tuple(float(10.0**exponent) for exponent in np.arange(-4.0, 0.01, 0.5))


def moons(ctx: LabContext) -> tuple[np.ndarray, ...]:
    points, labels = make_moons(
        n_samples=400 if ctx.quick else 800, noise=0.15, random_state=ctx.seed
    )
    x_train, x_test, y_train, y_test = train_test_split(
        points, labels, test_size=0.3, random_state=ctx.seed
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    return ((x_train - mean) / std, (x_test - mean) / std, y_train, y_test)


#: SGD's momentum variants: rows of the test-function comparison, not of the MLP's.
SGD_VARIANTS = ("SGD momentum 0.9", "SGD Nesterov 0.9")


def is_elementwise(label: str) -> bool:
    return label == "AdamW, warm-up + cosine" or optimizers()[label][0] in ELEMENTWISE


def mlp_optimizer(label: str, lr: Any) -> optax.GradientTransformation:
    """The optimizer of ``label`` for the MLP (a list of {"W", "b"} layers) at ``lr``."""
    if label == "AdamW, warm-up + cosine":
        return optim.AdamW(lr=lr, weight_decay=1e-2)
    name, options = optimizers()[label]
    if name in MATRIX_ONLY:  # torch's recipe: the matrix optimizer on W, AdamW on the biases
        return optax.multi_transform(
            {"matrix": build(name, options, lr), "other": optim.AdamW(lr=1e-3)},
            lambda params: jax.tree.map(lambda p: "matrix" if p.ndim == 2 else "other", params),
        )
    return build(name, options, lr)


#: Optimizers whose rule is elementwise (each entry updated from its own gradient and state):
#: for them the MLP's parameters are stepped as one raveled vector, the same numbers as leaf by
#: leaf, and a third less to compile. Shape-aware ones (Adafactor's factored moments, Muon's
#: orthogonalisation) and any optimizer not listed step the list of layers itself.
ELEMENTWISE = (
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "Rprop",
    "ASGD",
)


@functools.partial(jax.jit, static_argnums=(0, 4, 5), compiler_options=FAST_COMPILE)
def train_mlp(
    opt: Any, params: Any, x: jax.Array, y: jax.Array, steps: int, flat: bool = False
) -> tuple[Any, jax.Array]:
    """``steps`` full-batch steps: the final params and the loss before each step (steps,);
    ``flat``: the optimizer sees the parameters raveled into one vector."""
    vector, unravel = ravel_pytree(params)
    start, to_tree = (vector, unravel) if flat else (params, lambda tree: tree)

    def body(carry: tuple, _: Any) -> tuple:
        current, state = carry
        loss, grads = backprop.mlp_loss_and_grad(to_tree(current), x, y, loss="cross_entropy")
        grads = ravel_pytree(grads)[0] if flat else grads
        updates, state = opt.update(grads, state, current)
        return (optim.apply_updates(current, updates), state), loss

    (final, _), losses = jax.lax.scan(body, (start, opt.init(start)), None, length=steps)
    return to_tree(final), losses


@functools.partial(jax.jit, static_argnums=0, compiler_options=FAST_COMPILE)
def train_mlp_lbfgs(steps: int, params: Any, x: jax.Array, y: jax.Array) -> tuple[Any, jax.Array]:
    """``steps`` L-BFGS iterations (strong Wolfe, max_iter=1 per call) on the full batch."""
    opt = optim.LBFGS(**LBFGS_OPTIONS)

    def loss_fn(params: Any) -> jax.Array:
        return backprop.mlp_loss_and_grad(params, x, y, loss="cross_entropy")[0]

    def body(carry: tuple, _: Any) -> tuple:
        params, state = carry
        loss = loss_fn(params)
        params, state = opt.minimize(loss_fn, params, state)
        return (params, state), loss

    (params, _), losses = jax.lax.scan(body, (params, opt.init(params)), None, length=steps)
    return params, losses


def mlp_setup(ctx: LabContext) -> tuple[Any, ...]:
    x_train, x_test, y_train, y_test = moons(ctx)
    initial = backprop.mlp_init(jax.random.PRNGKey(ctx.seed), (2, 64, 64, 2), init="he")
    steps = 200 if ctx.quick else 400
    return initial, jnp.asarray(x_train, jnp.float32), jnp.asarray(y_train), x_test, y_test, steps


def tune_mlp_learning_rates(ctx: LabContext, labels: list[str] | None = None) -> dict[str, float]:
    """``MLP_LR`` recomputed: for each optimizer, the lr of ``MLP_GRID`` that reaches
    ``MLP_THRESHOLD`` in the fewest steps among finite runs (else the lowest final loss)."""
    initial, x, y, _, _, steps = mlp_setup(ctx)
    chosen = {}
    for label in labels or [label for label in optimizers() if label not in SGD_VARIANTS]:

        def losses_at(rate: jax.Array, label: str = label) -> jax.Array:
            opt = mlp_optimizer(label, rate)
            # the function under train_mlp's jit: a nested jit may not set compiler_options
            return train_mlp.__wrapped__(opt, initial, x, y, steps, is_elementwise(label))[1]

        losses = np.asarray(
            jax.jit(jax.vmap(losses_at))(jnp.asarray(MLP_GRID, jnp.float32))
        )  # (lrs, steps)
        chosen[label] = MLP_GRID[choose_lr(losses, MLP_THRESHOLD)]
        ctx.log(f"  {label:17s} lr {chosen[label]:g}")
    return chosen


def mlp(ctx: LabContext) -> dict[str, Any]:
    ctx.log("Step 4: the 1.4.1 MLP (2-64-64-2, ReLU) on two moons, trained by every optimizer.")
    initial, x, y, x_test, y_test, steps = mlp_setup(ctx)
    warmup_cosine = lr_scheduler.SequentialLR(
        [
            lr_scheduler.LinearLR(0.01, start_factor=0.1, total_iters=50),
            lr_scheduler.CosineAnnealingLR(0.01, T_max=steps - 50),
        ],
        milestones=[50],
    )
    runs: dict[str, tuple[Any, str, float]] = {}
    for label, (name, _) in compared(ctx).items():
        if label in SGD_VARIANTS:  # configurations of SGD: compared on the test functions only
            continue
        if label in MLP_LR:
            runs[label] = (MLP_LR[label], "MLP_LR (tune_mlp_learning_rates)", MLP_LR[label])
        else:
            default = optim_default_lr(name)
            runs[label] = (default, "torch default (not tuned)", default)
    runs["AdamW, warm-up + cosine"] = (warmup_cosine, "warm-up 0.001 -> 0.01, cosine", 0.01)
    if has_lbfgs() and not ctx.quick:  # its nested while loops take ~3 s to compile
        runs["LBFGS"] = (1.0, "line search", 1.0)

    def compile_training(item: tuple[str, tuple[Any, str, float]]) -> Callable[..., Any]:
        label, (lr, _, _) = item
        if label == "LBFGS":
            return train_mlp_lbfgs.lower(steps, initial, x, y).compile()
        opt = mlp_optimizer(label, lr)
        return train_mlp.lower(opt, initial, x, y, steps, is_elementwise(label)).compile()

    # compiled two at a time, run one at a time (two runs at once share XLA's thread pool, and a
    # training at a tuned, near-unstable lr then ends a little differently than alone)
    compiled = in_parallel(compile_training, runs.items())
    results = [train(initial, x, y) for train in ctx.progress(compiled, "MLP")]
    curves, rows, accuracies = {}, [], {}
    x_test, y_test = jnp.asarray(x_test, jnp.float32), jnp.asarray(y_test)
    for (label, (_, lr_from, lr_value)), (params, losses) in zip(
        runs.items(), results, strict=True
    ):
        final, accuracy = evaluate(params, x, y, x_test, y_test)
        # losses[k] before step k + 1; the loss after the last step appended: losses[k] after k steps
        curves[label] = np.append(np.asarray(losses), float(final))
        rows.append(comparison_row("mlp", label, lr_value, lr_from, curves[label], MLP_THRESHOLD))
        accuracies[label] = float(accuracy)
    for row in rows:
        reached = row["steps_to_threshold"]
        ctx.log(
            f"  {row['optimizer']:24s} lr {row['lr']:8.3g}: final loss {row['final_loss']:.4f}, "
            f"{'-' if reached is None else reached:>4} steps to {MLP_THRESHOLD}, held-out "
            f"accuracy {accuracies[row['optimizer']]:.3f}"
        )
    figure = visualization.plot_training_curve(
        curves, title="Two moons MLP: training loss per optimizer", log_scale=True
    )
    ctx.save_figure(figure, "mlp_training_curves")
    release_compiled()
    # every run starts from the same weights: the loss there is any curve's first value
    start_loss = float(next(iter(curves.values()))[0])
    return {"rows": rows, "accuracies": accuracies, "start_loss": start_loss}


@jax.jit
def evaluate(
    params: Any, x: jax.Array, y: jax.Array, x_test: jax.Array, y_test: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """(training loss, held-out accuracy) of trained params (one compilation for all runs)."""
    loss = backprop.mlp_loss_and_grad(params, x, y, loss="cross_entropy")[0]
    logits, _ = backprop.mlp_forward(params, x_test)
    return loss, jnp.mean(jnp.argmax(logits, axis=1) == y_test)


# %%
if __name__ == "__main__":
    mlp_result = mlp(ctx)

# %% [markdown]
# ## The comparison table
#
# Steps to the threshold and the final loss, one row per optimizer. Every cell says what happened:
# a step count (with `*` when the run reached the threshold and ended above it again), `-` (never
# reached), red `div` (diverged: the final loss is not finite or above the problem's loss at the
# start), or hatched `not run` (SGD's momentum variants and L-BFGS in quick runs are not trained on
# the MLP; the warm-up + cosine schedule is trained on the MLP only). The table itself is in
# `metrics.json` (`comparison`, one row per optimizer and problem, with the lr and where it comes
# from).


# %%
def start_losses(mlp_result: dict[str, Any]) -> dict[str, float]:
    """Each problem's loss at its start point (the MLP's: its loss at the initial weights)."""
    losses = {
        problem: float(FUNCTIONS[problem](jnp.asarray(spec["start"], jnp.float32)))
        for problem, spec in PROBLEMS.items()
    }
    return {**losses, "mlp": mlp_result["start_loss"]}


def comparison_table(
    ctx: LabContext,
    rows: list[dict[str, Any]],
    problems: list[str],
    starts: dict[str, float],
) -> dict[str, Any]:
    """The comparison figure from the rows; a (problem, optimizer) pair without a row is drawn
    "not run", and ``starts`` (problem -> loss at the start) tells a diverged run."""
    labels = list(dict.fromkeys(row["optimizer"] for row in rows))
    steps = np.full((len(labels), len(problems)), np.nan)
    finals = np.full((len(labels), len(problems)), np.nan)
    ran = np.zeros((len(labels), len(problems)), bool)
    thresholds = np.full(len(problems), np.nan)
    for row in rows:
        position = (labels.index(row["optimizer"]), problems.index(row["problem"]))
        if row["steps_to_threshold"] is not None:
            steps[position] = row["steps_to_threshold"]
        finals[position] = row["final_loss"]
        ran[position] = True
        thresholds[problems.index(row["problem"])] = row["threshold"]
    figure = visualization.plot_optimizer_outcomes(
        steps,
        finals,
        labels,
        problems,
        ran=ran,
        start_losses=[starts[problem] for problem in problems],
        thresholds=thresholds,
        title="Every optimizer at its tuned lr: steps to threshold and final loss",
    )
    ctx.save_figure(figure, "optimizer_comparison")
    solved = {
        problem: sum(
            row["steps_to_threshold"] is not None for row in rows if row["problem"] == problem
        )
        for problem in problems
    }
    ctx.log(
        "  reached the threshold: "
        + ", ".join(f"{problem} {count}/{len(labels)}" for problem, count in solved.items())
    )
    return {"comparison": rows, "comparison_lr_rule": LR_RULE}


# %%
if __name__ == "__main__":
    comparison_table(
        ctx, comparison["rows"] + mlp_result["rows"], [*PROBLEMS, "mlp"], start_losses(mlp_result)
    )

# %% [markdown]
# ## Step 5: every learning-rate schedule
#
# `jaxmath.lr_scheduler` has torch's schedulers with `optimizer` replaced by the base `lr`: each is
# a function step -> lr (what torch's optimizer uses after `t` calls of `scheduler.step()`), so it
# can be any optimizer's `lr`. CyclicLR and OneCycleLR also cycle the momentum (dashed, right
# axis). ReduceLROnPlateau is different: it reacts to the loss, so it is a gradient transformation
# fed `value=loss`; here it is driven by a loss that falls and then plateaus.


# %%
SCHEDULE_STEPS = 300


def schedules() -> dict[str, Any]:
    """Every schedule class of ``lr_scheduler.__all__`` with parameters that show its shape."""
    base = 0.1
    return {
        "StepLR": lr_scheduler.StepLR(base, step_size=60, gamma=0.5),
        "MultiStepLR": lr_scheduler.MultiStepLR(base, milestones=[80, 160, 240], gamma=0.3),
        "ConstantLR": lr_scheduler.ConstantLR(base, factor=1 / 3, total_iters=100),
        "LinearLR": lr_scheduler.LinearLR(base, start_factor=0.1, total_iters=100),
        "ExponentialLR": lr_scheduler.ExponentialLR(base, gamma=0.99),
        "PolynomialLR": lr_scheduler.PolynomialLR(base, total_iters=250, power=2.0),
        "CosineAnnealingLR": lr_scheduler.CosineAnnealingLR(base, T_max=100, eta_min=0.01),
        "CosineAnnealingWarmRestarts": lr_scheduler.CosineAnnealingWarmRestarts(
            base, T_0=40, T_mult=2
        ),
        "CyclicLR": lr_scheduler.CyclicLR(0.01, base, step_size_up=50, mode="triangular2"),
        "OneCycleLR": lr_scheduler.OneCycleLR(base, total_steps=SCHEDULE_STEPS),
        "LambdaLR": lr_scheduler.LambdaLR(base, lambda t: 1.0 / (1.0 + 0.02 * t)),
        "MultiplicativeLR": lr_scheduler.MultiplicativeLR(base, lambda t: 0.99),
        "SequentialLR": lr_scheduler.SequentialLR(
            [
                lr_scheduler.LinearLR(base, start_factor=0.05, total_iters=30),
                lr_scheduler.CosineAnnealingLR(base, T_max=SCHEDULE_STEPS - 30),
            ],
            milestones=[30],
        ),
        "ChainedScheduler": lr_scheduler.ChainedScheduler(
            [
                lr_scheduler.ExponentialLR(base, gamma=0.995),
                lr_scheduler.StepLR(base, step_size=100, gamma=0.5),
            ]
        ),
    }


SCHEDULE_LABELS = {
    "StepLR": "StepLR(step_size=60, gamma=0.5)",
    "MultiStepLR": "MultiStepLR([80, 160, 240], 0.3)",
    "ConstantLR": "ConstantLR(1/3, total_iters=100)",
    "LinearLR": "LinearLR(0.1 -> 1, 100 steps)",
    "ExponentialLR": "ExponentialLR(0.99)",
    "PolynomialLR": "PolynomialLR(250, power=2)",
    "CosineAnnealingLR": "CosineAnnealingLR(T_max=100, 0.01)",
    "CosineAnnealingWarmRestarts": "CosineAnnealingWarmRestarts(40, x2)",
    "CyclicLR": "CyclicLR(0.01-0.1, 50, triangular2)",
    "OneCycleLR": "OneCycleLR(max 0.1, 300 steps)",
    "LambdaLR": "LambdaLR(1 / (1 + 0.02 t))",
    "MultiplicativeLR": "MultiplicativeLR(x0.99 per step)",
    "SequentialLR": "SequentialLR(warm-up 30, cosine)",
    "ChainedScheduler": "ChainedScheduler(Exp 0.995, Step 100)",
    "ReduceLROnPlateau": "ReduceLROnPlateau(0.5, patience 10)",
}


def plateau_loss(steps: int) -> np.ndarray:
    """A loss that falls and then plateaus with a little noise (seeded): what drives
    ReduceLROnPlateau in the figure."""
    rng = np.random.default_rng(0)
    t = np.arange(steps)
    return (np.exp(-t / 30.0) + 0.05 + 0.002 * rng.standard_normal(steps)).astype(np.float32)


@jax.jit
def plateau_lrs(losses: jax.Array) -> jax.Array:
    """ReduceLROnPlateau(0.1, factor=0.5, patience=10) fed ``losses``: the lr in force at each step
    (the base lr first, then the lr after each loss)."""
    plateau = lr_scheduler.ReduceLROnPlateau(0.1, factor=0.5, patience=10)
    dummy = jnp.zeros(())

    def body(state: Any, loss: jax.Array) -> tuple:
        _, state = plateau.update(dummy, state, dummy, value=loss)
        return state, state.lr

    _, rates = jax.lax.scan(body, plateau.init(dummy), losses[:-1])
    return jnp.concatenate([jnp.asarray([0.1], rates.dtype), rates])


def schedule_curves(ctx: LabContext) -> dict[str, Any]:
    ctx.log("Step 5: every schedule of jaxmath.lr_scheduler over 300 steps.")
    steps = jnp.arange(SCHEDULE_STEPS)
    curves, momentum = {}, {}
    for name, schedule in schedules().items():
        label = SCHEDULE_LABELS[name]
        curves[label] = np.asarray(jax.jit(schedule)(steps))  # one compilation, not one per op
        if hasattr(schedule, "momentum"):
            momentum[label] = np.asarray(jax.jit(schedule.momentum)(steps))
    curves[SCHEDULE_LABELS["ReduceLROnPlateau"]] = np.asarray(
        plateau_lrs(jnp.asarray(plateau_loss(SCHEDULE_STEPS)))
    )
    figure = visualization.plot_lr_schedules(
        curves, momentum, title="jaxmath.lr_scheduler: the lr at each step (torch's, step for step)"
    )
    ctx.save_figure(figure, "schedules")
    drawn = [*schedules(), "ReduceLROnPlateau"]
    ctx.log(f"  drawn: {', '.join(drawn)}")
    final = {name: float(curve[-1]) for name, curve in zip(drawn, curves.values(), strict=True)}
    return {"schedules_drawn": drawn, "schedule_final_lr": final}


# %%
if __name__ == "__main__":
    schedule_curves(ctx)

# %% [markdown]
# ## Step 6: torch.optim takes the same steps
#
# The Rosenbrock runs of step 1 again, from `torch.optim` itself, for 100 float32 steps at torch's
# default learning rates (ASGD at 1e-3: its default diverges there; each of these runs was made in
# step 1 beside the grid): how far apart the two end. Not at the tuned rates: those sit near the
# edge of stability, where any rounding difference grows chaotically and the gap would measure the
# chaos, not the agreement. (Muon orthogonalises in bfloat16, as torch does, so its two runs agree
# only to bfloat16's rounding.)


# %%
def torch_agreement(ctx: LabContext, comparison: dict[str, Any]) -> dict[str, Any]:
    """The Rosenbrock runs of step 1 at torch's default lr (L-BFGS: its line search) from
    torch.optim: the gap after 100 float32 steps."""
    import torch

    ctx.log("Step 6: the Rosenbrock runs at torch's default lr, from torch.optim, in float32.")
    steps = 100
    rows = []
    paths = dict(comparison["default_paths"])
    if has_lbfgs():
        paths["LBFGS"] = comparison["paths"]["rosenbrock"]["LBFGS"]
    for label, path in paths.items():
        name, options = optimizers()[label] if label != "LBFGS" else ("LBFGS", {})
        steps_here = min(steps, len(path) - 1)
        shape = (1, 2) if name in MATRIX_ONLY else (2,)
        point = torch.tensor(PROBLEMS["rosenbrock"]["start"]).reshape(shape).requires_grad_(True)
        if name == "LBFGS":
            opt, lr = torch.optim.LBFGS([point], **LBFGS_OPTIONS), LBFGS_OPTIONS["lr"]
        else:
            lr = agreement_lr(name)
            opt = getattr(torch.optim, name)([point], lr=lr, **options)

        def closure(point: torch.Tensor = point, opt: Any = opt) -> torch.Tensor:
            opt.zero_grad()
            x, y = point.reshape(2)
            loss = 100.0 * (y - x * x) ** 2 + (1.0 - x) ** 2
            loss.backward()
            return loss

        for _ in range(steps_here):
            opt.step(closure)
        gap = float(np.max(np.abs(path[steps_here] - point.detach().numpy().reshape(2))))
        rows.append({"optimizer": label, "lr": float(lr), "steps": steps_here, "max_abs_gap": gap})
        ctx.log(f"  {label:17s} |jaxmath - torch.optim| after {steps_here} steps: {gap:.1e}")
    elementwise = [row["max_abs_gap"] for row in rows if row["optimizer"] not in MATRIX_ONLY]
    return {
        "torch_agreement": rows,
        "rosenbrock_max_abs_gap_vs_torch_float32": max(elementwise),
    }


# %%
if __name__ == "__main__":
    torch_agreement(ctx, comparison)


# %%
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
    comparison = compare_on_test_functions(ctx)
    draw_test_functions(ctx, comparison)
    ctx.record(rows_by_key(comparison["rows"]))
    for step in (sweeps, adam_vs_adamw):
        ctx.record(step(ctx))
    mlp_result = mlp(ctx)
    ctx.record(
        {f"mlp/{name}/test_accuracy": value for name, value in mlp_result["accuracies"].items()}
    )
    ctx.record(rows_by_key(mlp_result["rows"]))
    ctx.record(
        comparison_table(
            ctx,
            comparison["rows"] + mlp_result["rows"],
            [*PROBLEMS, "mlp"],
            start_losses(mlp_result),
        )
    )
    ctx.record(schedule_curves(ctx))
    ctx.record(torch_agreement(ctx, comparison))
    return ctx.metrics


def rows_by_key(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows' two headline numbers as flat metrics: ``<problem>/<optimizer>/final_loss`` and
    ``.../steps_to_threshold`` (the key metrics point at them)."""
    flat = {}
    for row in rows:
        prefix = f"{row['problem']}/{row['optimizer']}"
        flat[f"{prefix}/final_loss"] = row["final_loss"]
        flat[f"{prefix}/steps_to_threshold"] = row["steps_to_threshold"]
    return flat
