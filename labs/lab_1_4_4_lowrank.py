# %% [markdown]
# # Lab 1.4.4: SVD for LoRA
#
# How low-rank are weight matrices and their updates, and what does LoRA learn? Every matrix has a
# singular value decomposition $A = U \operatorname{diag}(s) V^\top$ with orthonormal $U, V$ and
# $s_1 \ge s_2 \ge \dots \ge 0$. The singular values say how much of $A$ lives in each direction; if
# they fall fast, a few directions hold almost all of it, and $A$ is well approximated by a matrix of
# low rank, which costs $r(m + n)$ numbers instead of $mn$.
#
# LoRA (Hu et al. 2021) bets that the **update** a fine-tuning makes to a pretrained weight is of
# this kind: it freezes $W_0$ and trains only $\Delta W = \frac{\alpha}{r} B A$ with
# $B \in \mathbb R^{d_\text{out} \times r}$, $A \in \mathbb R^{r \times d_\text{in}}$.
#
# Step 1 looks at the spectra of three 768 x 768 (BERT-sized) matrices: a Gaussian one, a
# low-rank-plus-noise one, and a real weight update (the change of an MLP's hidden weight when a model
# trained on one task is fine-tuned on another). Step 2 trains LoRA at ranks below and above the rank
# of an ideal update, against full fine-tuning; step 3 compares PiSSA's initialisation with LoRA's.

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
import optax

from jaxmath import backprop, lowrank, optim, visualization
from labs import LabContext, exercises, register_lab
from labs.notebooks import lab_context

# %% [markdown]
# ## Exercise 1: the best rank-k approximation
#
# Keep the $k$ largest singular values and their vectors:
# $A_k = U_{:, :k} \operatorname{diag}(s_{:k}) V_{:k}^\top$. The **Eckart-Young-Mirsky theorem** says
# no matrix of rank $\le k$ is closer to $A$, in the Frobenius norm and in the spectral norm, and the
# errors are read off the discarded singular values:
#
# $$\lVert A - A_k \rVert_F = \sqrt{\textstyle\sum_{i > k} s_i^2}, \qquad
#   \lVert A - A_k \rVert_2 = s_{k+1}.$$
#
# `jnp.linalg.svd(a, full_matrices=False)` returns `U, S, Vh` with `Vh` $= V^\top$ and `S` in
# descending order.


# %% tags=["exercise"]
def rank_k_approx(a: jax.Array, k: int) -> jax.Array:
    """The best rank-k approximation of ``a`` (m, n), same shape: U_k diag(S_k) Vh_k, keeping the k
    largest singular values (1 <= k <= min(m, n))."""
    U, S, Vh = jnp.linalg.svd(a, full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


# %% tags=["check"]
if __name__ == "__main__":
    print(exercises.check_rank_k_approx(rank_k_approx))

# %% [markdown]
# ## Exercise 2: the LoRA forward
#
# A LoRA layer computes $y = x W_0^\top + \frac{\alpha}{r}\,(x A^\top) B^\top$ with torch's layout:
# $W_0$ is (out, in), $A$ is (r, in), $B$ is (out, r). Two details matter:
#
# - the **scaling** $\alpha / r$ (PEFT's `lora_alpha / r`): with it, changing $r$ does not change the
#   size of the update at initialisation, so a learning rate tuned at one rank carries over;
# - the **order of the products**: $(x A^\top) B^\top$ costs $O(N r (d_\text{in} + d_\text{out}))$,
#   while forming $W_0 + \frac{\alpha}{r} BA$ first would cost $O(d_\text{out} d_\text{in})$ per step.


# %% tags=["exercise"]
def lora_forward(
    x: jax.Array, weight: jax.Array, A: jax.Array, B: jax.Array, alpha: float
) -> jax.Array:
    """y = x weight^T + (alpha / r) (x A^T) B^T, with r = A.shape[0].

    Shapes: x (..., in), weight (out, in), A (r, in), B (out, r) -> y (..., out).
    """
    r = A.shape[0]
    return x @ weight.T + (alpha / r) * ((x @ A.T) @ B.T)


# %% tags=["check"]
if __name__ == "__main__":
    print(exercises.check_lora_forward(lora_forward))

# %% [markdown]
# ## Step 1: the spectra of three matrices
#
# - **Gaussian** (entries $N(0, 1/n)$): no preferred direction; its singular values follow the
#   quarter-circle law on $[0, 2]$, so no small rank captures much of it.
# - **rank 16 + noise**: 16 strong directions plus a small Gaussian matrix: a sharp knee at 16.
# - **fine-tuning update** $W_\text{fine} - W_\text{base}$ of an MLP's 768 x 768 hidden weight.
#
# Two summaries of "how low-rank": the **effective rank** $\exp(H(p))$, $p_i = s_i / \sum s$ (the
# entropy of the normalised spectrum), and the **stable rank** $\lVert A\rVert_F^2 / \lVert A\rVert_2^2$.
# Randomized SVD (Halko et al.) finds the top $k$ triplets from a few products with a random sketch.
#
# **In the figure**: the singular values (log scale), the cumulative energy $\sum_{i \le k} s_i^2 /
# \sum s^2$, and the best rank-$k$ error against $k$ and against the fraction of parameters kept.
# The update's curve drops far faster than the Gaussian's: that gap is what LoRA exploits.

# %%


def gaussian_matrix(key: jax.Array, n: int) -> jax.Array:
    """Entries N(0, 1/n): singular values follow the quarter-circle law on [0, 2]."""
    return jax.random.normal(key, (n, n), jnp.float32) / math.sqrt(n)


def low_rank_plus_noise(key: jax.Array, n: int, rank: int, noise: float) -> jax.Array:
    """U diag(s) V^T with s_i = 1 + (rank - i)/rank (i < rank), plus noise N(0, noise^2/n)."""
    key_u, key_v, key_noise = jax.random.split(key, 3)
    U = jnp.linalg.qr(jax.random.normal(key_u, (n, rank), jnp.float32))[0]
    V = jnp.linalg.qr(jax.random.normal(key_v, (n, rank), jnp.float32))[0]
    s = 1.0 + (rank - jnp.arange(rank, dtype=jnp.float32)) / rank
    return (U * s) @ V.T + noise * jax.random.normal(key_noise, (n, n), jnp.float32) / math.sqrt(n)


@functools.partial(jax.jit, static_argnames=("optimizer", "steps"))
def _train_mlp(
    params: list, x: jax.Array, y: jax.Array, optimizer: Any, steps: int
) -> tuple[list, jax.Array]:
    """``steps`` full-batch steps of the hand-written backward (jaxmath.backprop) with ``optimizer``."""

    def step(carry: tuple, _: Any) -> tuple:
        params, state = carry
        loss, grads = backprop.mlp_loss_and_grad(params, x, y, loss="cross_entropy")
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    return params, losses


def teacher_labels(key: jax.Array, x: jax.Array, classes: int) -> jax.Array:
    """Labels of a random two-layer teacher network: a task the MLP can learn."""
    key_1, key_2 = jax.random.split(key)
    hidden = jnp.tanh(
        x @ jax.random.normal(key_1, (x.shape[1], 64), jnp.float32) / math.sqrt(x.shape[1])
    )
    return jnp.argmax(hidden @ jax.random.normal(key_2, (64, classes), jnp.float32), axis=1)


def fine_tuning_update(ctx: LabContext, width: int) -> tuple[jax.Array, dict[str, float]]:
    """Train the course's MLP (d-width-width-10, ReLU) on task A, fine-tune it on task B; return the
    change of the width x width hidden weight (W_fine - W_base) and the losses."""
    inputs, classes = 32, 10
    steps = 40 if ctx.quick else 60
    x = jax.random.normal(ctx.key(10), (256, inputs), jnp.float32)
    y_base, y_fine = (teacher_labels(ctx.key(stream), x, classes) for stream in (11, 12))
    params = backprop.mlp_init(ctx.key(13), (inputs, width, width, classes))
    optimizer = optim.Adam(lr=1e-3)
    base, base_losses = _train_mlp(params, x, y_base, optimizer, steps)
    fine, fine_losses = _train_mlp(base, x, y_fine, optimizer, steps)
    update = fine[1]["W"] - base[1]["W"]  # (in, out) layout; the spectrum is the same transposed
    return update.T, {
        "mlp_base_loss": float(base_losses[-1]),
        "mlp_fine_tune_start_loss": float(fine_losses[0]),
        "mlp_fine_tune_loss": float(fine_losses[-1]),
    }


def spectra(ctx: LabContext) -> dict[str, float]:
    n = 128 if ctx.quick else 768
    rank = 8 if ctx.quick else 16
    ctx.log(f"Step 1: the spectra of three {n}x{n} matrices (BERT-sized in the full run).")
    update, mlp_metrics = fine_tuning_update(ctx, n)
    ctx.log(
        f"  fine-tuning update: the MLP {32}-{n}-{n}-10 trained on task A (loss "
        f"{mlp_metrics['mlp_base_loss']:.3f}) then on task B (loss "
        f"{mlp_metrics['mlp_fine_tune_start_loss']:.3f} -> {mlp_metrics['mlp_fine_tune_loss']:.3f})"
    )
    matrices = {
        "Gaussian": gaussian_matrix(ctx.key(1), n),
        f"rank {rank} + noise": low_rank_plus_noise(ctx.key(2), n, rank, noise=0.1),
        "fine-tuning update": update,
    }
    # The singular values alone (no U, V: ~5x cheaper at 768 x 768) serve the spectra and ranks.
    singular_values = {
        name: jnp.linalg.svd(matrix, compute_uv=False) for name, matrix in matrices.items()
    }
    figure = visualization.plot_svd_analysis(
        {name: np.asarray(s) for name, s in singular_values.items()},
        shape=(n, n),
        title=f"SVD of {n}x{n} matrices",
        marks=(rank,),
    )
    ctx.save_figure(figure, "svd_analysis")
    metrics: dict[str, float] = dict(mlp_metrics)
    worst_eckart_young = 0.0
    for name, s in singular_values.items():
        slug = name.split()[0].lower().replace("-", "_")
        # lowrank.stable_rank(matrix) = ||A||_F^2 / ||A||_2^2, here from the singular values at hand
        effective, stable = float(lowrank.effective_rank(s)), float(jnp.sum((s / s[0]) ** 2))
        energy = float(lowrank.energy_ratio(s, rank))
        relative = float(lowrank.eckart_young_error(s, rank) / jnp.linalg.norm(s))
        ctx.log(
            f"  {name:20s}: effective rank {effective:6.1f}, stable rank {stable:6.2f}, "
            f"energy in the top {rank} {energy:.3f}, best rank-{rank} error {relative:.3f} of ||A||_F"
        )
        metrics.update(
            {
                f"{slug}_effective_rank": effective,
                f"{slug}_stable_rank": stable,
                f"{slug}_energy_top_{rank}": energy,
                f"{slug}_rank_{rank}_relative_error": relative,
            }
        )
    noisy = matrices[f"rank {rank} + noise"]
    s = singular_values[f"rank {rank} + noise"]
    # Eckart-Young on the planted matrix: the error of the rank-k reconstruction A_k (a full SVD)
    # against the one read off the discarded singular values, in both norms.
    residual = noisy - lowrank.low_rank_approx(noisy, rank)
    for norm, order in (("fro", "fro"), ("spectral", 2)):
        measured = jnp.linalg.norm(residual, order)
        predicted = lowrank.eckart_young_error(s, rank, norm=norm)
        worst_eckart_young = max(
            worst_eckart_young, float(jnp.abs(measured - predicted) / predicted)
        )
    ctx.log(
        f"  Eckart-Young (rank {rank} + noise): ||A - A_k|| from the reconstruction vs from the "
        f"singular values, both norms: worst relative difference {worst_eckart_young:.1e} "
        "(float32 rounding)"
    )
    approx = lowrank.randomized_svd(ctx.key(3), noisy, rank)
    error = jnp.linalg.norm(noisy - (approx.U * approx.S) @ approx.Vh)
    ratio = float(error / lowrank.eckart_young_error(s, rank))
    ctx.log(
        f"  randomized_svd (k={rank}, 10 oversamples, 4 power iterations): error {ratio:.6f} x the "
        f"optimum; top singular value {float(approx.S[0]):.5f} vs exact {float(s[0]):.5f}"
    )
    count = lowrank.lora_param_count(n, n, rank)
    ctx.log(
        f"  a rank-{rank} factorisation stores {count.lora:,} of {count.full:,} numbers "
        f"({100 * count.fraction:.2f}%)"
    )
    metrics.update(
        {
            "eckart_young_max_relative_difference": worst_eckart_young,
            "randomized_svd_error_over_optimal": ratio,
            f"rank_{rank}_parameter_fraction": count.fraction,
        }
    )
    return metrics


# %%
if __name__ == "__main__":
    ctx = lab_context("1.4.4")
    metrics = spectra(ctx)
    jax.clear_caches()  # step 1's compiled SVDs are not needed again: keeps the peak memory low

# %% [markdown]
# ## Step 2: LoRA on a task whose ideal update has rank $r^*$
#
# A frozen linear layer $W_0$ (d x d) must learn a task whose ideal update $\Delta W^*$ has rank
# $r^* = 8$: targets are $y = x (W_0 + \Delta W^*)^\top + \text{noise}$. LoRA at rank $r$ can only
# represent updates of rank $\le r$, so by Eckart-Young its best possible loss is the energy of
# $\Delta W^*$ beyond rank $r$ (with $\mathbb E[x x^\top] = I$):
#
# $$\text{MSE}_r = \frac{1}{d} \sum_{i > r} s_i(\Delta W^*)^2 + \sigma^2_\text{noise}.$$
#
# PEFT's initialisation: $A$ Kaiming-uniform, $B = 0$, so training starts exactly at $W_0$.
#
# **In the figures**: the training curves per rank against full fine-tuning (below $r^*$ they
# flatten at the prediction, from $r^*$ on they reach the noise floor); the final losses next to the
# Eckart-Young predictions; and the spectrum of the learned update $\frac{\alpha}{r} BA$, which has
# at most $r$ nonzero singular values and, for $r \ge r^*$, reproduces $\Delta W^*$'s.

# %%


class Task:
    """A frozen W0 (d, d) and a target W0 + ΔW*, rank(ΔW*) = r*; y = x W*^T + noise, x ~ N(0, I)."""

    def __init__(self, ctx: LabContext, d: int, true_rank: int, principal: bool) -> None:
        key_w, key_u, key_v, key_x, key_noise = (ctx.key(20 + i) for i in range(5))
        self.base = jax.random.normal(key_w, (d, d), jnp.float32) / math.sqrt(d)
        deltas = 0.5 * (1.0 + jnp.arange(true_rank, 0, -1, dtype=jnp.float32) / true_rank)
        if principal:  # PiSSA's premise: the task changes W0's principal directions
            U, S, Vh = lowrank.svd(self.base)
            self.update = (U[:, :true_rank] * (deltas * S[:true_rank])) @ Vh[:true_rank]
        else:  # a random rank-r* update
            U = jnp.linalg.qr(jax.random.normal(key_u, (d, true_rank), jnp.float32))[0]
            V = jnp.linalg.qr(jax.random.normal(key_v, (d, true_rank), jnp.float32))[0]
            self.update = (U * deltas) @ V.T
        self.noise = 0.01
        batch = max(2 * d, 512)  # enough samples that the sample covariance is close to I
        self.x = jax.random.normal(key_x, (batch, d), jnp.float32)
        target = self.x @ (self.base + self.update).T
        self.y = target + self.noise * jax.random.normal(key_noise, target.shape, jnp.float32)
        self.update_singular_values = lowrank.svd(self.update).S

    def predicted_loss(self, rank: int) -> float:
        """The best rank-r adapter's MSE: ||ΔW* - best_r||_F^2 / d (E[x x^T] = I) + the noise."""
        d = self.base.shape[0]
        s = self.update_singular_values
        residual = float(lowrank.eckart_young_error(s, rank) ** 2) if rank < len(s) else 0.0
        return residual / d + self.noise**2


def mse(prediction: jax.Array, target: jax.Array) -> jax.Array:
    return jnp.mean(jnp.sum((prediction - target) ** 2, axis=1)) / target.shape[1]


@functools.partial(jax.jit, static_argnames=("steps", "lr"))
def train_lora(
    adapter: dict,
    base: jax.Array,
    scaling: float,
    x: jax.Array,
    y: jax.Array,
    steps: int,
    lr: float,
) -> tuple[dict, jax.Array]:
    """Adam on {A, B} (base frozen): loss(x A^T B^T s + x W0^T, y), full batch, ``steps`` steps."""
    optimizer = optim.Adam(lr=lr)

    def loss_of(adapter: dict) -> jax.Array:
        return mse(lowrank.lora_forward(x, base, adapter["A"], adapter["B"], scaling), y)

    def step(carry: tuple, _: Any) -> tuple:
        adapter, state = carry
        loss, grads = jax.value_and_grad(loss_of)(adapter)
        updates, state = optimizer.update(grads, state, adapter)
        return (optax.apply_updates(adapter, updates), state), loss

    (adapter, _), losses = jax.lax.scan(
        step, (adapter, optimizer.init(adapter)), None, length=steps
    )
    return adapter, losses


@functools.partial(jax.jit, static_argnames=("steps", "lr"))
def train_full(
    weight: jax.Array, x: jax.Array, y: jax.Array, steps: int, lr: float
) -> tuple[jax.Array, jax.Array]:
    """Full fine-tuning: Adam on every entry of W."""
    optimizer = optim.Adam(lr=lr)

    def step(carry: tuple, _: Any) -> tuple:
        weight, state = carry
        loss, grad = jax.value_and_grad(lambda w: mse(x @ w.T, y))(weight)
        updates, state = optimizer.update(grad, state, weight)
        return (optax.apply_updates(weight, updates), state), loss

    (weight, _), losses = jax.lax.scan(step, (weight, optimizer.init(weight)), None, length=steps)
    return weight, losses


LORA_LR = 1e-2
ALPHA = 16.0


def run_lora(
    ctx: LabContext, task: Task, rank: int, init: str, steps: int
) -> tuple[jax.Array, jax.Array]:
    """Train a rank-r adapter (PEFT's init and scaling alpha/r); return (learned s BA, losses)."""
    d = task.base.shape[0]
    params = lowrank.lora_init(ctx.key(40 + rank), d, d, rank, ALPHA, init=init, weight=task.base)
    adapter, losses = train_lora(
        {"A": params.A, "B": params.B},
        params.base_weight,
        params.scaling,
        task.x,
        task.y,
        steps,
        LORA_LR,
    )
    learned = params.scaling * adapter["B"] @ adapter["A"]
    if init == "pissa":  # the adapter started at W0's principal part: the update is the change
        learned = learned - params.scaling * params.B @ params.A
    return learned, losses


@functools.partial(jax.jit, static_argnames=("steps", "lr"))
def train_lora_ranks(
    adapters: dict,
    base: jax.Array,
    scalings: jax.Array,
    x: jax.Array,
    y: jax.Array,
    steps: int,
    lr: float,
) -> tuple[dict, jax.Array]:
    """:func:`train_lora` for several adapters at once (vmapped over the leading axis of
    ``adapters`` and ``scalings``): one compiled program for every rank."""
    return jax.vmap(train_lora, in_axes=(0, None, 0, None, None, None, None))(
        adapters, base, scalings, x, y, steps, lr
    )


def run_lora_ranks(
    ctx: LabContext, task: Task, ranks: tuple[int, ...], steps: int
) -> list[tuple[jax.Array, jax.Array]]:
    """Train a PEFT-initialised adapter of each rank; return (learned s BA, losses) per rank.

    Each adapter is zero-padded to the largest rank (extra rows of A and columns of B are 0). The
    padding stays exactly 0: its gradients are products with the other factor's zero padding, and
    Adam moves a parameter with zero gradient by 0. So every rank trains as on its own, and all of
    them share one compiled, vmapped program instead of one compilation per rank.
    """
    d, largest = task.base.shape[0], max(ranks)
    adapters, scalings = {"A": [], "B": []}, []
    for rank in ranks:
        params = lowrank.lora_init(ctx.key(40 + rank), d, d, rank, ALPHA, weight=task.base)
        adapters["A"].append(jnp.pad(params.A, ((0, largest - rank), (0, 0))))
        adapters["B"].append(jnp.pad(params.B, ((0, 0), (0, largest - rank))))
        scalings.append(params.scaling)
    stacked = {name: jnp.stack(parts) for name, parts in adapters.items()}
    trained, losses = train_lora_ranks(
        stacked, task.base, jnp.asarray(scalings), task.x, task.y, steps, LORA_LR
    )
    return [
        (scaling * trained["B"][index] @ trained["A"][index], losses[index])
        for index, scaling in enumerate(scalings)
    ]


def lora_sizes(ctx: LabContext) -> tuple[int, int, int]:
    """(d, r*, Adam steps) of steps 2 and 3."""
    return (48, 4, 150) if ctx.quick else (256, 8, 300)


def lora_demo(ctx: LabContext) -> dict[str, float]:
    d, true_rank, steps = lora_sizes(ctx)
    ranks = (1, 2, 4, 8) if ctx.quick else (1, 2, 4, 8, 16)
    ctx.log(
        f"Step 2: LoRA on a frozen {d}x{d} layer; the ideal update has rank r* = {true_rank}. "
        f"Adam, {steps} full-batch steps, alpha = {ALPHA:g}, PEFT's init (A kaiming-uniform, B = 0)."
    )
    task = Task(ctx, d, true_rank, principal=False)
    curves, learned_spectra, finals, predicted = {}, {}, [], []
    metrics: dict[str, float] = {}
    trained = run_lora_ranks(ctx, task, ranks, steps)
    for rank, (learned, losses) in zip(ranks, trained, strict=True):
        curves[f"r={rank}"] = np.asarray(losses)
        finals.append(float(losses[-1]))
        predicted.append(task.predicted_loss(rank))
        learned_singular_values = lowrank.svd(learned).S
        learned_spectra[f"s·BA, r={rank}"] = np.asarray(learned_singular_values)
        fraction = lowrank.lora_param_count(d, d, rank).fraction
        ctx.log(
            f"  r={rank:2d} ({100 * fraction:5.2f}% of the parameters): final loss {finals[-1]:.2e}, "
            f"Eckart-Young prediction {predicted[-1]:.2e}; learned update's effective rank "
            f"{float(lowrank.effective_rank(learned_singular_values)):.1f}"
        )
        metrics[f"lora_r{rank}_final_loss"] = finals[-1]
        metrics[f"lora_r{rank}_predicted_loss"] = predicted[-1]
    weight, full_losses = train_full(task.base, task.x, task.y, steps, LORA_LR)
    curves["full fine-tuning"] = np.asarray(full_losses)
    finals.append(float(full_losses[-1]))
    predicted.append(task.noise**2)
    learned_spectra["full fine-tuning"] = np.asarray(lowrank.svd(weight - task.base).S)
    samples = task.x.shape[0]
    ctx.log(
        f"  full fine-tuning ({d * d:,} parameters): final loss {finals[-1]:.2e}, below the noise "
        f"floor {task.noise**2:.1e}: with {samples} samples for {d} inputs per output it fits part "
        f"of the noise (expected training loss (1 - d/N) σ² = {(1 - d / samples) * task.noise**2:.1e})"
    )
    metrics["full_fine_tuning_final_loss"] = finals[-1]
    metrics["noise_floor"] = task.noise**2
    ctx.save_figure(
        visualization.plot_training_curve(
            curves,
            title=f"LoRA vs full fine-tuning (r* = {true_rank})",
            ylabel="MSE",
            log_scale=True,
        ),
        "lora_training_curves",
    )
    ctx.save_figure(
        visualization.plot_grouped_bars(
            {"trained": finals, "Eckart-Young prediction": predicted},
            [*(f"r={rank}" for rank in ranks), "full"],
            title=f"Final loss by LoRA rank (r* = {true_rank})",
            ylabel="MSE",
            log_scale=True,
        ),
        "lora_final_losses",
    )
    learned_spectra["ideal update ΔW*"] = np.asarray(task.update_singular_values)
    ctx.save_figure(
        visualization.plot_svd_analysis(
            learned_spectra,
            shape=(d, d),
            title="Spectrum of the learned update",
            max_rank=4 * true_rank,
            marks=(true_rank,),
        ),
        "learned_update_spectrum",
    )
    ctx.log(
        "  below r* the loss stalls at the energy of ΔW* beyond rank r (Eckart-Young); from r* on "
        "LoRA reaches the noise floor with a small fraction of the parameters."
    )
    return metrics


# %%
if __name__ == "__main__":
    metrics.update(lora_demo(ctx))

# %% [markdown]
# ## Step 3: PiSSA vs LoRA initialisation
#
# PiSSA (Meng et al. 2024) initialises the adapter with $W_0$'s own top-$r$ singular triplets,
# $BA = U_r \operatorname{diag}(s_r) V_r^\top$ (split as $\sqrt{s}$ on each side), and freezes the
# residual $W_0 - BA$: the output at initialisation is unchanged, but training now moves the principal
# directions directly. Its premise is that fine-tuning changes those directions.
#
# **In the figure**: four curves at $r = r^*$: PiSSA and LoRA on an update inside $W_0$'s principal
# subspace (PiSSA's premise: it converges faster), and on a random-subspace update (PiSSA's adapter
# already holds $W_0$'s top part, so it cannot also hold a new rank-$r^*$ update: it stalls).


# %%
def pissa_vs_lora(ctx: LabContext) -> dict[str, float]:
    d, true_rank, steps = lora_sizes(ctx)
    ctx.log(
        f"Step 3: PiSSA vs LoRA init at r = {true_rank}, on a task whose update changes W0's "
        "principal directions (PiSSA's premise) and on a random-subspace update."
    )
    curves, metrics = {}, {}
    for principal in (True, False):
        task = Task(ctx, d, true_rank, principal=principal)
        where = "principal" if principal else "random"
        for init in ("pissa", "kaiming"):
            _, losses = run_lora(ctx, task, true_rank, init, steps)
            name = "PiSSA" if init == "pissa" else "LoRA"
            curves[f"{name}, {where} update"] = np.asarray(losses)
            target = 2.0 * task.noise**2
            reached = np.flatnonzero(np.asarray(losses) <= target)
            steps_to_target = int(reached[0]) + 1 if reached.size else steps
            metrics[f"{init}_{where}_steps_to_2x_noise"] = steps_to_target
            metrics[f"{init}_{where}_final_loss"] = float(losses[-1])
            when = f"after {steps_to_target} steps" if reached.size else "never reached"
            ctx.log(
                f"  {name:5s} on a {where:9s} update: loss <= {target:.0e} {when}; "
                f"{float(losses[-1]):.2e} at step {steps}"
            )
    ctx.save_figure(
        visualization.plot_training_curve(
            curves, title=f"PiSSA vs LoRA init (r = {true_rank})", ylabel="MSE", log_scale=True
        ),
        "pissa_vs_lora",
    )
    ctx.log(
        "  PiSSA's adapter holds W0's top-r part: with r = r* it cannot also hold a random rank-r* "
        "update (the sum has rank 2r*), so it stalls there; LoRA starts from zero and can."
    )
    params = lowrank.lora_init(ctx.key(50), d, d, true_rank, ALPHA, init="pissa", weight=task.base)
    reproduced = params.base_weight + params.scaling * params.B @ params.A
    metrics["pissa_init_reconstruction_error"] = float(jnp.max(jnp.abs(reproduced - task.base)))
    ctx.log(
        f"  PiSSA at init: residual + s·BA reproduces W0 to {metrics['pissa_init_reconstruction_error']:.1e}"
    )
    return metrics


# %%
if __name__ == "__main__":
    metrics.update(pissa_vs_lora(ctx))
    ctx.record(metrics)

# %% [markdown]
# ## What to take away
#
# - The SVD orders a matrix's directions by importance; Eckart-Young makes the truncated SVD the
#   best low-rank approximation and prices it with the discarded singular values.
# - Real fine-tuning updates are far closer to low rank than random matrices: that is LoRA's bet.
# - LoRA below the update's rank stalls exactly where Eckart-Young says; at or above it, it matches
#   full fine-tuning with a small fraction of the parameters.
#
# The cell below registers the lab with the runner (`python -m labs run 1.4.4`).


# %%
@register_lab(
    "1.4.4",
    "SVD for LoRA",
    key_metrics=(
        "randomized_svd_error_over_optimal",
        "full_fine_tuning_final_loss",
        "eckart_young_max_relative_difference",
    ),
)
def run(ctx: LabContext) -> dict[str, float]:
    metrics = spectra(ctx)
    ctx.record(metrics)
    jax.clear_caches()  # step 1's compiled SVDs are not needed again: keeps the peak memory < 1 GB
    metrics.update(lora_demo(ctx))
    ctx.record(metrics)
    metrics.update(pissa_vs_lora(ctx))
    return metrics
