"""Lab 1.4.5: probability distributions, from densities to gradient estimators.

Six steps, each a figure and a few metrics: densities and mass functions under histograms of draws;
the central limit theorem; maximum likelihood converging as the sample grows; forward vs reverse KL
when one Gaussian is fitted to a bimodal mixture; softmax temperature and entropy; and the
reparameterization trick's gradient variance against the score-function estimator's.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from jaxmath import distributions as D
from jaxmath import visualization
from labs import LabContext, register_lab


def densities(ctx: LabContext, draws: int) -> dict[str, float]:
    ctx.log(f"Step 1: densities and mass functions with {draws} draws each (KS / chi-square p).")
    continuous = {
        "Normal(0, 1)": (D.Normal(0.0, 1.0), np.linspace(-4, 4, 400), scipy.stats.norm()),
        "Laplace(0, 1)": (D.Laplace(0.0, 1.0), np.linspace(-6, 6, 400), scipy.stats.laplace()),
        "Gamma(2, 1.5)": (
            D.Gamma(2.0, 1.5),
            np.linspace(1e-3, 6, 400),
            scipy.stats.gamma(2.0, scale=1 / 1.5),
        ),
        "Beta(2, 5)": (D.Beta(2.0, 5.0), np.linspace(1e-3, 1 - 1e-3, 400), scipy.stats.beta(2, 5)),
        "Exponential(1)": (D.Exponential(1.0), np.linspace(0, 6, 400), scipy.stats.expon()),
    }
    discrete = {
        "Poisson(3)": (D.Poisson(3.0), np.arange(0, 13)),
        "Bernoulli(0.3)": (D.Bernoulli(probs=0.3), np.arange(0, 2)),
        "Categorical(logits)": (
            D.Categorical(logits=jnp.array([1.0, -jnp.inf, 0.5, 2.0, 0.0])),
            np.arange(0, 5),
        ),
    }
    panels, p_values = [], {}
    keys = jax.random.split(jax.random.PRNGKey(ctx.seed + 1), 8)
    for key, (name, (dist, grid, frozen)) in zip(keys, continuous.items(), strict=False):
        samples = np.asarray(dist.sample(key, (draws,)))
        density = np.exp(np.asarray(dist.log_prob(jnp.asarray(grid, jnp.float32))))
        p_values[name] = float(scipy.stats.kstest(samples, frozen.cdf).pvalue)
        panels.append({"title": name, "x": grid, "density": density, "samples": samples})
    for key, (name, (dist, support)) in zip(keys[5:], discrete.items(), strict=True):
        samples = np.asarray(dist.sample(key, (draws,)))
        value = support.astype(np.float32) if name != "Categorical(logits)" else support
        pmf = np.exp(np.asarray(dist.log_prob(jnp.asarray(value)), np.float64))
        observed = np.array([np.sum(samples == k) for k in support])
        keep = pmf > 0
        expected = pmf[keep] / pmf[keep].sum() * observed[keep].sum()
        p_values[name] = float(scipy.stats.chisquare(observed[keep], expected).pvalue)
        panels.append(
            {"title": name, "x": support, "density": pmf, "samples": samples, "discrete": True}
        )
    ctx.save_figure(visualization.plot_densities_with_samples(panels), "densities")
    for name, p in p_values.items():
        ctx.log(f"  {name:22} p = {p:.3f}")
    return {f"p_value[{name}]": p for name, p in p_values.items()}


def central_limit(ctx: LabContext, repeats: int) -> dict[str, float]:
    ctx.log("Step 2: the central limit theorem: standardised means of n Exponential(1) draws.")
    exponential = D.Exponential(1.0)
    means, ks = {}, {}
    key = jax.random.PRNGKey(ctx.seed + 2)
    for n in (1, 2, 5, 30):
        draws = exponential.sample(jax.random.fold_in(key, n), (repeats, n))
        standardised = np.asarray(math.sqrt(n) * (draws.mean(axis=1) - 1.0))  # mean 1, sd 1
        means[n] = standardised
        ks[n] = float(scipy.stats.kstest(standardised, "norm").statistic)
        ctx.log(f"  n = {n:3}: KS distance to N(0, 1) = {ks[n]:.4f}")
    grid = np.linspace(-4, 4, 300)
    figure = visualization.plot_central_limit(means, grid, scipy.stats.norm.pdf(grid))
    ctx.save_figure(figure, "central_limit")
    assert ks[30] < ks[1], "the means must get closer to normal as n grows"
    return {f"clt_ks_distance[n={n}]": value for n, value in ks.items()}


def maximum_likelihood(ctx: LabContext, largest: int) -> dict[str, float]:
    ctx.log("Step 3: maximum likelihood: fitted parameters converge as the sample grows.")
    key = jax.random.PRNGKey(ctx.seed + 3)
    truth = {
        "normal loc": 2.0,
        "normal scale": 1.5,
        "exponential rate": 0.7,
        "bernoulli p": 0.3,
        "categorical p[2]": 0.5,
    }
    normal = D.Normal(2.0, 1.5)
    exponential = D.Exponential(0.7)
    bernoulli = D.Bernoulli(probs=0.3)
    categorical = D.Categorical(probs=jnp.array([0.2, 0.3, 0.5]))
    keys = jax.random.split(key, 4)
    pools = {
        "normal": normal.sample(keys[0], (largest,)),
        "exponential": exponential.sample(keys[1], (largest,)),
        "bernoulli": bernoulli.sample(keys[2], (largest,)),
        "categorical": categorical.sample(keys[3], (largest,)),
    }
    sizes = np.unique(np.logspace(1, math.log10(largest), 9).astype(int))
    errors: dict[str, list[float]] = {name: [] for name in truth}
    fitted: dict[str, float] = {}
    for n in sizes:
        fit_n = D.fit_normal(pools["normal"][:n])
        estimates = {
            "normal loc": float(fit_n.loc),
            "normal scale": float(fit_n.scale),
            "exponential rate": float(D.fit_exponential(pools["exponential"][:n]).rate),
            "bernoulli p": float(D.fit_bernoulli(pools["bernoulli"][:n]).probs),
            "categorical p[2]": float(
                D.fit_categorical(pools["categorical"][:n], num_classes=3).probs[2]
            ),
        }
        for name, estimate in estimates.items():
            errors[name].append(abs(estimate - truth[name]))
        fitted = estimates
    figure = visualization.plot_convergence(
        sizes, errors, title="MLE error vs sample size (one sample path)"
    )
    ctx.save_figure(figure, "mle_convergence")
    for name, estimate in fitted.items():
        ctx.log(f"  n = {sizes[-1]}: {name} = {estimate:.4f} (true {truth[name]})")
    return {f"mle[{name}]": value for name, value in fitted.items()} | {
        "mle_sample_size": int(sizes[-1])
    }


def forward_reverse_kl(ctx: LabContext, draws: int, steps: int) -> dict[str, float]:
    ctx.log(
        "Step 4: one Gaussian fitted to a bimodal mixture: forward KL(p||q) vs reverse KL(q||p)."
    )
    mixture = D.MixtureSameFamily(
        D.Categorical(probs=jnp.array([0.5, 0.5])),
        D.Normal(jnp.array([-2.0, 2.0]), jnp.array([0.6, 0.6])),
    )
    key = jax.random.PRNGKey(ctx.seed + 4)
    # Forward KL: min_q E_p[-log q] is maximum likelihood on draws of p: moment matching.
    forward = D.fit_normal(mixture.sample(key, (draws,)))
    ctx.log(
        f"  forward KL (MLE on draws of p): mean {float(forward.loc):+.3f}, sd {float(forward.scale):.3f}"
    )

    # Reverse KL: min_q E_q[log q - log p], by reparameterized gradients (rsample).
    def reverse_kl(params: jax.Array, key: jax.Array) -> jax.Array:
        q = D.Normal(params[0], jnp.exp(params[1]))
        x = q.rsample(key, (256,))
        return jnp.mean(q.log_prob(x) - mixture.log_prob(x))

    step = jax.jit(jax.value_and_grad(reverse_kl))
    # Start right of 0 with scale 0.5: the fit falls into the right-hand mode (from the left, the
    # left one: reverse KL has two minima, forward KL one).
    params = jnp.array([0.5, math.log(0.5)])
    for index in range(steps):
        _, gradient = step(params, jax.random.fold_in(key, index))
        params = params - 0.1 * gradient
    reverse = D.Normal(params[0], jnp.exp(params[1]))
    ctx.log(
        f"  reverse KL (mode seeking): mean {float(reverse.loc):+.3f}, sd {float(reverse.scale):.3f}"
    )
    grid = jnp.linspace(-5, 5, 400)
    figure = visualization.plot_kl_fits(
        grid,
        np.exp(np.asarray(mixture.log_prob(grid))),
        {
            "forward KL(p||q): covers both modes": np.exp(np.asarray(forward.log_prob(grid))),
            "reverse KL(q||p): picks one mode": np.exp(np.asarray(reverse.log_prob(grid))),
        },
    )
    ctx.save_figure(figure, "forward_vs_reverse_kl")
    return {
        "forward_kl_fit_loc": float(forward.loc),
        "forward_kl_fit_scale": float(forward.scale),
        "reverse_kl_fit_loc": float(reverse.loc),
        "reverse_kl_fit_scale": float(reverse.scale),
        "mixture_scale": float(jnp.sqrt(mixture.variance)),
    }


def temperature(ctx: LabContext) -> dict[str, float]:
    ctx.log("Step 5: softmax temperature: Categorical(logits / T) flattens as T grows.")
    logits = jnp.array([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    temperatures = np.logspace(-1.5, 1.5, 13)
    entropies = [float(D.Categorical(logits=logits / t).entropy()) for t in temperatures]
    shown = {
        f"T = {t}": np.asarray(D.Categorical(logits=logits / t).probs) for t in (0.1, 1.0, 10.0)
    }
    figure = visualization.plot_temperature(temperatures, entropies, shown, math.log(logits.size))
    ctx.save_figure(figure, "temperature_entropy")
    ctx.log(
        f"  H at T = {temperatures[0]:.3f}: {entropies[0]:.4f}; at T = {temperatures[-1]:.1f}: "
        f"{entropies[-1]:.4f} (log C = {math.log(logits.size):.4f})"
    )
    return {"entropy_low_temperature": entropies[0], "entropy_high_temperature": entropies[-1]}


def estimator_variance(ctx: LabContext, repeats: int) -> dict[str, float]:
    ctx.log("Step 6: d/dmu E_{x~N(mu, 1)}[x^2] = 2 mu: reparameterization vs score function.")
    mu, sigma = 1.0, 1.0
    sizes = np.array([1, 4, 16, 64, 256])

    def reparameterized(mu: jax.Array, key: jax.Array, n: int) -> jax.Array:
        return jax.grad(lambda m: jnp.mean(D.Normal(m, sigma).rsample(key, (n,)) ** 2))(mu)

    def score_function(mu: jax.Array, key: jax.Array, n: int) -> jax.Array:
        x = D.Normal(mu, sigma).sample(key, (n,))
        # f(x) * d log q(x) / dmu per draw, by jax.grad of log_prob (no gradient flows through x)
        score = jax.vmap(lambda xi: jax.grad(lambda m: D.Normal(m, sigma).log_prob(xi))(mu))(x)
        return jnp.mean(x**2 * score)

    variances: dict[str, list[float]] = {"reparameterization": [], "score function": []}
    means: dict[str, float] = {}
    key = jax.random.PRNGKey(ctx.seed + 6)
    for n in sizes:
        keys = jax.random.split(jax.random.fold_in(key, int(n)), repeats)
        for name, estimator in (
            ("reparameterization", reparameterized),
            ("score function", score_function),
        ):
            estimates = jax.jit(
                jax.vmap(lambda k, e=estimator, n=int(n): e(jnp.float32(mu), k, n))
            )(keys)
            variances[name].append(float(jnp.var(estimates)))
            means[name] = float(jnp.mean(estimates))
    figure = visualization.plot_estimator_variance(sizes, variances)
    ctx.save_figure(figure, "estimator_variance")
    for name in variances:
        ctx.log(
            f"  {name:18}: mean {means[name]:.3f} (exact {2 * mu}), variance at n=1 "
            f"{variances[name][0]:.3f}, at n={sizes[-1]} {variances[name][-1]:.4f}"
        )
    ratio = variances["score function"][0] / variances["reparameterization"][0]
    ctx.log(f"  the score-function estimator's variance is {ratio:.1f}x larger at n = 1")
    return {
        "variance_reparameterization[n=1]": variances["reparameterization"][0],
        "variance_score_function[n=1]": variances["score function"][0],
        f"variance_reparameterization[n={sizes[-1]}]": variances["reparameterization"][-1],
        f"variance_score_function[n={sizes[-1]}]": variances["score function"][-1],
        "gradient_mean_reparameterization": means["reparameterization"],
        "gradient_mean_score_function": means["score function"],
    }


@register_lab(
    "1.4.5", "Probability distributions: densities, CLT, MLE, KL, temperature, estimators"
)
def run(ctx: LabContext) -> dict[str, float]:
    metrics: dict[str, float] = {}
    metrics |= densities(ctx, 4000 if ctx.quick else 20000)
    metrics |= central_limit(ctx, 2000 if ctx.quick else 20000)
    metrics |= maximum_likelihood(ctx, 2000 if ctx.quick else 100000)
    metrics |= forward_reverse_kl(ctx, 4000 if ctx.quick else 50000, 100 if ctx.quick else 300)
    metrics |= temperature(ctx)
    metrics |= estimator_variance(ctx, 200 if ctx.quick else 2000)
    return metrics
