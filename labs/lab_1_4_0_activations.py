# %% [markdown]
# # Lab 1.4.0: Activations, losses and numerical stability
#
# The foundation's warm-up, in four steps, each a figure and a few numbers:
#
# 1. activations and their derivatives (`jax.vmap(jax.grad(f))`), checked against the closed forms
#    and against central differences in float64 (`jaxmath.gradcheck`);
# 2. softmax temperature: the probabilities of one logit vector at several temperatures;
# 3. log-sum-exp at logits of $10^4$ in float32: the naive $\log\sum e^{x}$ overflows to inf (and
#    underflows to $-\infty$ at $-10^4$), `jaxmath.logsumexp` stays within float32's spacing;
# 4. losses: MSE vs Huber as functions of the error, and binary cross-entropy on probabilities vs on
#    logits, where float32 rounding of $\sigma(z)$ to 1 sends the former to its clamp of 100.

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
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmath import activations, gradcheck, losses, visualization
from labs import LabContext, exercises, register_lab
from labs.notebooks import lab_context

Activation = Callable[[jax.Array], jax.Array]


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": activations.sigmoid,
    "tanh": activations.tanh,
    "relu": activations.relu,
    "leaky_relu(0.1)": lambda x: activations.leaky_relu(x, negative_slope=0.1),
    "gelu": activations.gelu,
    "gelu (tanh)": lambda x: activations.gelu(x, approximate="tanh"),
    "silu": activations.silu,
    "softplus": activations.softplus,
}

#: Smooth activations whose gradients are checked against central differences (relu and
#: leaky_relu have a kink at 0, where a central difference straddles two slopes).
GRADIENT_CHECKED = ("sigmoid", "tanh", "gelu", "gelu (tanh)", "silu", "softplus")


#: Curve labels in legend order (JAX returns dicts with their keys sorted).
REGRESSION_LOSSES = ("MSE", "Huber (delta = 1)", "Huber (delta = 0.5)")
BINARY_LOSSES = ("with logits, target 1", "with logits, target 0", "on sigmoid(z), target 0")


# %% [markdown]
# ## Exercise: a numerically stable softmax
#
# $\mathrm{softmax}(z)_i = e^{z_i} / \sum_j e^{z_j}$ turns logits into probabilities. Written
# literally it breaks in float32 as soon as a logit exceeds $\log(3.4 \cdot 10^{38}) \approx 88.7$:
# $e^{z}$ overflows to inf and inf/inf is nan. The cure is free because softmax only depends on
# differences of logits: $\mathrm{softmax}(z) = \mathrm{softmax}(z - c)$ for any constant $c$. With
# $c = \max_j z_j$ every exponent is $\le 0$, so nothing overflows and the largest term is exactly 1
# (so the sum cannot underflow to 0 either). Normalise over the **last** axis: each row of a batch
# of logits is its own distribution.


# %% tags=["exercise"]
def softmax(logits: jax.Array) -> jax.Array:
    """Probabilities over the last axis of ``logits`` (any shape, each row summing to 1), computed
    without overflow for large logits: exp(z - max z) / sum(exp(z - max z))."""
    shifted = logits - jnp.max(logits, axis=-1, keepdims=True)
    exponentials = jnp.exp(shifted)
    return exponentials / jnp.sum(exponentials, axis=-1, keepdims=True)


# %% tags=["check"]
if __name__ == "__main__":
    print(exercises.check_softmax(softmax))

# %% [markdown]
# ## Step 1: activations and their derivatives
#
# `jax.grad(f)` differentiates a scalar function; `jax.vmap` maps it over the points of a grid, and
# `jax.jit` compiles all eight activations and their derivatives into one program. Closed forms to
# compare with: $\sigma'(x) = \sigma(x)(1 - \sigma(x))$, $\tanh'(x) = 1 - \tanh^2 x$. GELU is
# $x\,\Phi(x)$ (exact, with the erf) or its tanh approximation.
#
# **In the figures**: the curves, then their slopes. Note the sigmoid's slope peaks at $1/4$, ReLU's
# jumps from 0 to 1 at the kink, and the smooth activations (GELU, SiLU, softplus) dip or bend near 0.
# The smooth ones are then checked against central differences in float64.


# %%
def _numpy_in_order(arrays: Mapping[str, Any], names: Iterable[str]) -> dict[str, np.ndarray]:
    """``arrays`` as NumPy, keys in the order of ``names`` (a jitted function sorts dict keys)."""
    return {name: np.asarray(arrays[name]) for name in names}


def _metric_name(label: str) -> str:
    """'gelu (tanh)' -> 'gelu_tanh', for metric keys."""
    return "_".join(label.replace("(", " ").replace(")", " ").split())


@jax.jit
def _curves_and_slopes(x: jax.Array) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """Every activation and its derivative at ``x`` (shape (n,)), compiled as one program."""
    values = {name: f(x) for name, f in ACTIVATIONS.items()}
    slopes = {name: jax.vmap(jax.grad(f))(x) for name, f in ACTIVATIONS.items()}
    return values, slopes


def activation_curves(ctx: LabContext) -> dict[str, float | bool]:
    """Step 1: curves, derivatives by autodiff, closed forms, and a float64 gradient check."""
    ctx.log(
        "Step 1: activations and their derivatives (jax.vmap of jax.grad, one compiled program)."
    )
    x = np.linspace(-4.0, 4.0, 201 if ctx.quick else 801, dtype=np.float32)
    values, slopes = (_numpy_in_order(d, ACTIVATIONS) for d in _curves_and_slopes(x))
    dashed = {"gelu (tanh)": "--"}
    ctx.save_figure(
        visualization.plot_functions(
            x, values, "Activations", ylabel="f(x)", ylim=(-1.5, 4.0), linestyles=dashed
        ),
        "activations",
    )
    ctx.save_figure(
        visualization.plot_functions(
            x, slopes, "Derivatives (jax.grad)", ylabel="f'(x)", ylim=(-0.3, 1.3), linestyles=dashed
        ),
        "derivatives",
    )

    sigmoid = values["sigmoid"]
    closed_form_error = max(
        float(np.max(np.abs(slopes["sigmoid"] - sigmoid * (1.0 - sigmoid)))),
        float(np.max(np.abs(slopes["tanh"] - (1.0 - values["tanh"] ** 2)))),
    )
    peak = float(np.max(slopes["sigmoid"]))
    gelu_gap = float(np.max(np.abs(values["gelu"] - values["gelu (tanh)"])))
    ctx.log(
        f"sigmoid' = s(1 - s) and tanh' = 1 - tanh^2 match jax.grad to {closed_form_error:.1e}."
    )
    ctx.log(
        f"sigmoid' peaks at {peak:.4f} (1/4 at x = 0): a stack of sigmoids shrinks the gradient "
        "at least 4x per layer, the vanishing gradient of lab 1.4.1."
    )
    ctx.log("relu' is 0 or 1 (0 at x = 0, as torch): no shrinking, but a unit with x < 0 is dead.")
    ctx.log(
        f"gelu's tanh approximation differs from the exact erf form by at most {gelu_gap:.1e} "
        "on [-4, 4] (dashed over solid in the figures)."
    )

    metrics: dict[str, float | bool] = {
        "sigmoid_max_slope": peak,
        "closed_form_derivative_error": closed_form_error,
        "gelu_tanh_approximation_gap": gelu_gap,
    }
    with jax.enable_x64(True):
        metrics.update(_gradient_check(ctx))
    return metrics


def _gradient_check(ctx: LabContext) -> dict[str, float | bool]:
    """jax.grad against central differences in float64: every activation in one pytree call.

    ``numerical_gradient`` takes any pytree, so one call checks all activations; the pass rule is
    ``check_gradients``'s: |g - n| <= atol + rtol * |n| at its float64 tolerances.
    """
    points = np.linspace(-3.0, 3.0, 13) + 0.05  # float64, off the kinks
    inputs = {name: points for name in GRADIENT_CHECKED}

    @jax.jit
    def total(xs: dict[str, jax.Array]) -> jax.Array:
        return sum(jnp.sum(ACTIVATIONS[name](x)) for name, x in xs.items())

    analytic = jax.tree.map(np.asarray, jax.grad(total)(inputs))
    numerical = jax.tree.map(np.asarray, gradcheck.numerical_gradient(total, inputs))
    rtol, atol = gradcheck.GRADCHECK_TOLERANCES[np.dtype("float64")]
    metrics: dict[str, float | bool] = {}
    passed = True
    for name in GRADIENT_CHECKED:
        difference = np.abs(analytic[name] - numerical[name])
        scale = np.maximum(np.abs(analytic[name]), np.abs(numerical[name]))
        relative_error = float(np.max(difference / np.where(scale > 0, scale, 1.0)))
        ok = bool(np.all(difference <= atol + rtol * np.abs(numerical[name])))
        passed = passed and ok
        metrics[f"gradcheck_rel_error_{_metric_name(name)}"] = relative_error
        ctx.log(
            f"gradient check {name:12s} (float64, 13 points): max relative error "
            f"{relative_error:.1e}, passed: {ok}"
        )
    ctx.log(
        f"(pass: |jax.grad - numerical| <= {atol:g} + {rtol:g} |numerical|. Central differences "
        "with h = eps^(1/3) = 6e-6 leave absolute errors near 1e-10, so relative errors grow where "
        "a slope is small; float64 round-off alone would be 1e-16.)"
    )
    metrics["gradcheck_passed"] = passed
    return metrics


# %%
if __name__ == "__main__":
    ctx = lab_context("1.4.0")
    metrics = activation_curves(ctx)

# %% [markdown]
# ## Step 2: softmax temperature
#
# Dividing the logits by a temperature $T$ before the softmax sharpens the distribution ($T < 1$:
# towards the argmax) or flattens it ($T > 1$: towards uniform); the entropy
# $H = -\sum_i p_i \log p_i$ measures where it sits between 0 and $\log C$. Adding a constant to
# every logit changes nothing, which is why subtracting the max (the exercise) is free.
#
# **In the figure**: the four probabilities of one logit vector, one bar group per temperature.


# %%
def softmax_temperature(ctx: LabContext) -> dict[str, float]:
    """Step 2: softmax(z / T) for several T, and softmax's invariance to shifting z."""
    ctx.log(
        "Step 2: softmax(z / T): low T sharpens towards the argmax, high T flattens to uniform."
    )
    logits = np.array([2.0, 1.0, 0.1, -1.0], np.float32)
    stable_softmax = jax.jit(activations.softmax)
    temperatures = (0.25, 0.5, 1.0, 2.0, 5.0)
    probabilities = {t: np.asarray(stable_softmax(logits / np.float32(t))) for t in temperatures}
    entropies = {t: float(-np.sum(p * np.log(p))) for t, p in probabilities.items()}
    for t, p in probabilities.items():
        ctx.log(
            f"T = {t:<4}: p = {np.round(p, 3)}, entropy {entropies[t]:.3f} nats "
            f"(uniform: log 4 = {math.log(4):.3f})"
        )
    shift_gap = float(
        np.max(np.abs(np.asarray(stable_softmax(logits + np.float32(1000.0))) - probabilities[1.0]))
    )
    ctx.log(
        f"softmax(z + 1000) - softmax(z): max {shift_gap:.1e}. Only differences of logits matter, "
        "which is why subtracting max(z) first is free."
    )
    figure = visualization.plot_grouped_bars(
        {f"T = {t}": p for t, p in probabilities.items()},
        [f"z = {float(z):g}" for z in logits],
        title="softmax(z / T) of one logit vector",
        ylabel="probability",
    )
    ctx.save_figure(figure, "softmax_temperature")
    return {
        "entropy_T0.25": entropies[0.25],
        "entropy_T5": entropies[5.0],
        "softmax_shift_invariance_error": shift_gap,
    }


# %%
if __name__ == "__main__":
    metrics.update(softmax_temperature(ctx))

# %% [markdown]
# ## Step 3: log-sum-exp in float32
#
# $\mathrm{lse}(x) = \log \sum_i e^{x_i}$ appears in every log-softmax and cross-entropy. The same
# shift as in the exercise makes it safe: $\mathrm{lse}(x) = m + \log\sum_i e^{x_i - m}$ with
# $m = \max_i x_i$. We evaluate it on $[z, z - 1, z - 2]$ for $z$ up to $10^4$.
#
# **In the figure**: $\mathrm{lse} - z$ (exactly $\log(1 + e^{-1} + e^{-2}) \approx 0.408$): the
# stable version stays on that line at every $z$, while the naive one disappears (inf) past
# $z \approx 88$; the small steps of the stable curve are float32's spacing at large $z$.


# %%
def _naive_logsumexp(x: jax.Array) -> jax.Array:
    return jnp.log(jnp.sum(jnp.exp(x), axis=-1))


def logsumexp_stability(ctx: LabContext) -> dict[str, float | bool]:
    """Step 3: naive log(sum(exp(x))) against jaxmath.logsumexp at 1e4, in float32."""
    ctx.log("Step 3: log-sum-exp of [z, z - 1, z - 2] in float32, up to z = 1e4.")
    offsets = np.array([0.0, -1.0, -2.0], dtype=np.float32)
    exact_gap = math.log1p(math.exp(-1.0) + math.exp(-2.0))  # lse(z, z-1, z-2) - z, float64
    naive, stable = jax.jit(_naive_logsumexp), jax.jit(activations.logsumexp)

    at_1e4, at_minus_1e4 = np.float32(1e4) + offsets, np.float32(-1e4) + offsets
    naive_high, stable_high = float(naive(at_1e4)), float(stable(at_1e4))
    naive_low, stable_low = float(naive(at_minus_1e4)), float(stable(at_minus_1e4))
    error_high = abs(stable_high - (1e4 + exact_gap))
    error_low = abs(stable_low - (-1e4 + exact_gap))
    spacing = float(np.spacing(np.float32(1e4)))
    ctx.log(f"z = 1e4 : naive = {naive_high} (exp(1e4) > float32's max 3.4e38: overflow)")
    ctx.log(f"          jaxmath.logsumexp = {stable_high:.4f}, float64 exact {1e4 + exact_gap:.4f}")
    ctx.log(f"z = -1e4: naive = {naive_low} (exp(-1e4) underflows to 0, log(0) = -inf)")
    ctx.log(f"          jaxmath.logsumexp = {stable_low:.4f}, float64 exact {-1e4 + exact_gap:.4f}")
    ctx.log(
        f"error {error_high:.1e}, within float32's spacing at 1e4 ({spacing:.1e}): "
        "m + log(sum(exp(x - m))) with m = max(x) only ever exponentiates numbers <= 0."
    )

    z = np.geomspace(1.0, 1e4, 120 if ctx.quick else 400)
    grid = z.astype(np.float32)[:, None] + offsets  # (points, 3)
    naive_gap = np.asarray(naive(grid), np.float64) - z
    stable_gap = np.asarray(stable(grid), np.float64) - z
    overflow_at = float(z[np.argmax(~np.isfinite(naive_gap))])
    threshold = math.log(float(np.finfo(np.float32).max)) - exact_gap
    ctx.log(
        f"the naive sum overflows once z > log(3.4e38) - {exact_gap:.2f} = {threshold:.2f} "
        f"(on the plotted grid, from z = {overflow_at:.1f}); logsumexp is finite all the way."
    )
    figure = visualization.plot_functions(
        z,
        {
            "naive log(sum(exp(x)))": naive_gap,
            "jaxmath.logsumexp": stable_gap,
            "exact (float64)": np.full_like(z, exact_gap),
        },
        "log-sum-exp([z, z-1, z-2]) - z, float32",
        xlabel="z",
        ylabel="value - z",
        ylim=(exact_gap - 0.003, exact_gap + 0.003),
        linestyles={"jaxmath.logsumexp": "--", "exact (float64)": ":"},
        log_x=True,
    )
    axes = figure.axes[0]
    axes.axvline(overflow_at, color="C0", linewidth=0.8, linestyle="-.")
    axes.text(
        0.03,
        0.05,
        f"naive: inf from z = {overflow_at:.1f} (no line)\n"
        f"at z = 1e4: naive {naive_high}, logsumexp {stable_high:.4f}",
        transform=axes.transAxes,
        fontsize="small",
    )
    ctx.save_figure(figure, "logsumexp_stability")
    return {
        "logsumexp_1e4": stable_high,
        "logsumexp_abs_error_1e4": error_high,
        "logsumexp_abs_error_minus_1e4": error_low,
        "logsumexp_naive_1e4": naive_high,
        "logsumexp_naive_is_inf": math.isinf(naive_high),
        "logsumexp_naive_overflow_z": overflow_at,
    }


@jax.jit
def _regression_losses(error: jax.Array) -> dict[str, jax.Array]:
    """Per-element MSE and Huber losses of ``error`` (shape (n,)) against a zero target."""
    zero = jnp.zeros_like(error)
    return {
        "MSE": losses.mse_loss(error, zero, reduction="none"),
        "Huber (delta = 1)": losses.huber_loss(error, zero, reduction="none"),
        "Huber (delta = 0.5)": losses.huber_loss(error, zero, reduction="none", delta=0.5),
    }


@jax.jit
def _binary_losses(logits: jax.Array) -> dict[str, jax.Array]:
    """Per-element BCE of ``logits`` (shape (n,)): with logits, and on sigmoid(logits)."""
    ones, zeros = jnp.ones_like(logits), jnp.zeros_like(logits)
    return {
        "with logits, target 1": losses.binary_cross_entropy_with_logits(
            logits, ones, reduction="none"
        ),
        "with logits, target 0": losses.binary_cross_entropy_with_logits(
            logits, zeros, reduction="none"
        ),
        "on sigmoid(z), target 0": losses.binary_cross_entropy(
            activations.sigmoid(logits), zeros, reduction="none"
        ),
    }


# %%
if __name__ == "__main__":
    metrics.update(logsumexp_stability(ctx))

# %% [markdown]
# ## Step 4: losses
#
# **Regression**: MSE $= e^2$ grows quadratically, so one outlier dominates the gradient ($2e$);
# Huber is quadratic within $\delta$ and linear beyond, so its gradient is bounded by $\delta$.
#
# **Classification**: binary cross-entropy on a probability $p = \sigma(z)$,
# $-[y \log p + (1 - y)\log(1 - p)]$, breaks in float32 once $\sigma(z)$ rounds to exactly 1
# (from $z \approx 17$): $\log(1 - p) = \log 0$, which torch clamps at $-100$. On logits it is
# $\mathrm{softplus}(z) - yz$ with $\mathrm{softplus}(z) = \max(z, 0) + \log(1 + e^{-|z|})$:
# exact at any $z$.
#
# **In the figures**: the regression losses against the error; the BCE curves against the logit, with
# the probability-based one (dashed) hitting the flat ceiling of 100 where it loses its gradient.


# %%
def loss_curves(ctx: LabContext) -> dict[str, float]:
    """Step 4: regression losses (MSE, Huber) and binary cross-entropy on probabilities vs logits."""
    ctx.log("Step 4: losses as functions of the error and of the logit.")
    error = np.linspace(-3.0, 3.0, 121 if ctx.quick else 601, dtype=np.float32)
    ctx.save_figure(
        visualization.plot_functions(
            error,
            _numpy_in_order(_regression_losses(error), REGRESSION_LOSSES),
            "Regression losses",
            xlabel="prediction - target",
            ylabel="loss",
        ),
        "regression_losses",
    )
    # Elementwise losses: a forward-mode derivative with tangent 1 gives every slope at once.
    _, slopes = jax.jvp(_regression_losses, (error,), (np.ones_like(error),))
    slopes = jax.tree.map(np.asarray, slopes)
    mse_slope, huber_slope = float(slopes["MSE"][-1]), float(slopes["Huber (delta = 1)"][-1])
    ctx.log(
        f"at an error of 3 the MSE gradient is {mse_slope:g}, Huber's {huber_slope:g}: Huber is "
        "quadratic within delta and linear beyond, so an outlier pulls with a bounded force."
    )

    logits = np.linspace(-30.0, 30.0, 241 if ctx.quick else 1201, dtype=np.float32)
    classification = _numpy_in_order(_binary_losses(logits), BINARY_LOSSES)
    ctx.save_figure(
        visualization.plot_functions(
            logits,
            classification,
            "Binary cross-entropy, float32",
            xlabel="logit z",
            ylabel="loss",
            linestyles={"on sigmoid(z), target 0": "--"},
        ),
        "binary_cross_entropy",
    )
    on_probabilities = classification["on sigmoid(z), target 0"]
    cliff = float(logits[np.argmax(on_probabilities >= 100.0)])
    at_20 = {
        name: float(np.asarray(v)[0]) for name, v in _binary_losses(np.float32([20.0])).items()
    }
    at_extremes = np.asarray(_binary_losses(np.float32([-1e4, 1e4]))["with logits, target 1"])
    ctx.log(
        f"target 0, z = 20: on probabilities {at_20['on sigmoid(z), target 0']:g}, with logits "
        f"{at_20['with logits, target 0']:g}. From z = {cliff:.2f}, sigmoid(z) rounds to 1.0 in "
        "float32, log(1 - p) = log(0), and torch's clamp of each log at -100 caps the loss at 100: "
        "the gradient is gone."
    )
    ctx.log(
        "with logits, the loss is softplus(z) = max(z, 0) + log1p(exp(-|z|)): exact at any z, "
        "which is why models output logits and the loss applies the sigmoid."
    )
    ctx.log(f"BCE with logits at z = -1e4, 1e4 (target 1): {at_extremes}, both finite.")
    return {
        "huber_gradient_at_error_3": huber_slope,
        "mse_gradient_at_error_3": mse_slope,
        "bce_probabilities_target0_z20": at_20["on sigmoid(z), target 0"],
        "bce_with_logits_target0_z20": at_20["with logits, target 0"],
        "bce_probabilities_cliff_z": cliff,
        "bce_with_logits_at_minus_1e4": float(at_extremes[0]),
    }


# %%
if __name__ == "__main__":
    metrics.update(loss_curves(ctx))
    ctx.record(metrics)

# %% [markdown]
# ## What to take away
#
# - `jax.vmap(jax.grad(f))` gives derivatives on a grid; check them against closed forms and finite
#   differences.
# - Shift by the max before exponentiating (softmax, log-sum-exp), and compute losses from logits,
#   not from probabilities: float32 has no room for $e^{100}$ or for $1 - 10^{-8}$.
#
# The cell below registers the lab with the runner (`python -m labs run 1.4.0`).


# %%
@register_lab(
    "1.4.0",
    "Activations, losses and numerical stability",
    key_metrics=("gradcheck_passed", "logsumexp_naive_1e4", "logsumexp_abs_error_1e4"),
)
def run(ctx: LabContext) -> dict[str, float | bool]:
    """Run the four steps; each records its metrics as it finishes."""
    for step in (activation_curves, softmax_temperature, logsumexp_stability, loss_curves):
        ctx.record(step(ctx))
    return ctx.metrics
