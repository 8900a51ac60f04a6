# %% [markdown]
# # Lab 1.4.5: Probability distributions, from densities to gradient estimators
#
# A model that outputs a distribution is trained by its **log-likelihood**, compared with others by
# **KL divergence**, and, when its samples feed a loss, differentiated through **gradient
# estimators**. Six steps: densities under histograms of draws; the central limit theorem; maximum
# likelihood converging as the sample grows; forward vs reverse KL when one Gaussian is fitted to a
# bimodal mixture; softmax temperature and entropy; and the reparameterization trick's gradient
# variance against the score-function estimator's. All distributions come from
# `jaxmath.distributions` (torch.distributions' semantics, explicit PRNG keys).

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

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from jaxmath import distributions as D
from jaxmath import visualization
from labs import LabContext, exercises, register_lab
from labs.notebooks import lab_context

#: Sample sizes: (quick, full).
SIZES = {
    "density_draws": (4000, 20000),
    "clt_repeats": (2000, 20000),
    "mle_largest": (2000, 100000),
    "kl_draws": (4000, 50000),
    "kl_steps": (100, 300),
    "estimator_repeats": (200, 2000),
}


def size(ctx: LabContext, name: str) -> int:
    return SIZES[name][0 if ctx.quick else 1]


# %% [markdown]
# ## Exercise 1: the log-density of a normal distribution
#
# $$\log \mathcal N(x; \mu, \sigma^2) = -\frac{z^2}{2} - \log\sigma - \frac12 \log 2\pi,
#   \qquad z = \frac{x - \mu}{\sigma}.$$
#
# Each term matters: $-\frac12\log 2\pi$ and $-\log\sigma$ make the density integrate to 1 (drop
# them and likelihoods of different $\sigma$ stop being comparable, so a fitted $\sigma$ runs off),
# and the square is of $z$, i.e. the squared error is divided by the **variance**. Work in log space:
# the density itself underflows to 0 a few dozen $\sigma$ out, its log does not.


# %% tags=["exercise"]
def normal_log_prob(x: jax.Array, loc: jax.Array, scale: jax.Array) -> jax.Array:
    """log N(x; loc, scale^2), elementwise; x, loc and scale broadcast together (scale > 0)."""
    z = (x - loc) / scale
    return -0.5 * z**2 - jnp.log(scale) - 0.5 * math.log(2 * math.pi)


# %% tags=["check"]
if __name__ == "__main__":
    print(exercises.check_normal_log_prob(normal_log_prob))

# %% [markdown]
# ## Exercise 2: KL divergence between two normals
#
# $\mathrm{KL}(p \,\|\, q) = \mathbb E_{x \sim p}[\log p(x) - \log q(x)] \ge 0$, zero only when
# $p = q$. For $p = \mathcal N(\mu_p, \sigma_p^2)$ and $q = \mathcal N(\mu_q, \sigma_q^2)$ the
# expectation has a closed form:
#
# $$\mathrm{KL}(p \,\|\, q) = \log\frac{\sigma_q}{\sigma_p}
#   + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{2\sigma_q^2} - \frac12 .$$
#
# It is **not symmetric**: $\mathrm{KL}(p\,\|\,q) \ne \mathrm{KL}(q\,\|\,p)$ in general, which step 4
# turns into two very different fits.


# %% tags=["exercise"]
def kl_normal(
    loc_p: jax.Array, scale_p: jax.Array, loc_q: jax.Array, scale_q: jax.Array
) -> jax.Array:
    """KL(p || q) for p = N(loc_p, scale_p^2), q = N(loc_q, scale_q^2), elementwise (broadcasting)."""
    return jnp.log(scale_q / scale_p) + (scale_p**2 + (loc_p - loc_q) ** 2) / (2 * scale_q**2) - 0.5


# %% tags=["check"]
if __name__ == "__main__":
    print(exercises.check_kl_normal(kl_normal))

# %% [markdown]
# ## Step 1: densities and mass functions against draws
#
# For each distribution: draw a sample with `sample(key, shape)`, and evaluate `exp(log_prob)` on a
# grid. If sampler and density agree, the histogram follows the curve. A goodness-of-fit test makes
# that a number: Kolmogorov-Smirnov (largest gap between the empirical and the exact CDF) for the
# continuous ones, chi-square on the counts for the discrete ones. The p-value is uniform on [0, 1]
# when they agree; a tiny one would flag a bug.
#
# **In the figure**: one panel per distribution, histogram of draws under the density (bars under
# the mass function for Poisson, Bernoulli and a Categorical with one impossible class, logit
# $-\infty$, which is never drawn).

# %%


#: name -> (the distribution, the grid its density is drawn on, scipy's frozen distribution)
CONTINUOUS = {
    "Normal(0, 1)": (lambda: D.Normal(0.0, 1.0), np.linspace(-4, 4, 400), scipy.stats.norm()),
    "Laplace(0, 1)": (lambda: D.Laplace(0.0, 1.0), np.linspace(-6, 6, 400), scipy.stats.laplace()),
    "Gamma(2, 1.5)": (
        lambda: D.Gamma(2.0, 1.5),
        np.linspace(1e-3, 6, 400),
        scipy.stats.gamma(2.0, scale=1 / 1.5),
    ),
    "Beta(2, 5)": (
        lambda: D.Beta(2.0, 5.0),
        np.linspace(1e-3, 1 - 1e-3, 400),
        scipy.stats.beta(2, 5),
    ),
    "Exponential(1)": (lambda: D.Exponential(1.0), np.linspace(0, 6, 400), scipy.stats.expon()),
}
#: name -> (the distribution, its support as the values log_prob takes)
DISCRETE = {
    "Poisson(3)": (lambda: D.Poisson(3.0), np.arange(0, 13, dtype=np.float32)),
    "Bernoulli(0.3)": (lambda: D.Bernoulli(probs=0.3), np.arange(0, 2, dtype=np.float32)),
    "Categorical(logits)": (
        lambda: D.Categorical(logits=jnp.array([1.0, -jnp.inf, 0.5, 2.0, 0.0])),
        np.arange(0, 5),
    ),
}


@functools.partial(jax.jit, static_argnames=("draws",))
def _draws_and_densities(key: jax.Array, draws: int) -> tuple[dict, dict]:
    """``draws`` samples of every distribution, and its density (mass) on its grid (support):
    one compiled program for all eight samplers."""
    keys = jax.random.split(key, 8)
    samples, densities = {}, {}
    families = [(name, make, grid) for name, (make, grid, _) in CONTINUOUS.items()]
    families += [(name, make, support) for name, (make, support) in DISCRETE.items()]
    for subkey, (name, make, points) in zip(keys, families, strict=True):
        dist = make()
        samples[name] = dist.sample(subkey, (draws,))
        densities[name] = jnp.exp(dist.log_prob(jnp.asarray(points)))
    return samples, densities


def densities(ctx: LabContext) -> dict[str, float]:
    draws = size(ctx, "density_draws")
    ctx.log(f"Step 1: densities and mass functions with {draws} draws each (KS / chi-square p).")
    samples, density = _draws_and_densities(jax.random.PRNGKey(ctx.seed + 1), draws)
    panels, p_values = [], {}
    for name, (_, grid, frozen) in CONTINUOUS.items():
        drawn = np.asarray(samples[name])
        p_values[name] = float(scipy.stats.kstest(drawn, frozen.cdf).pvalue)
        panels.append(
            {"title": name, "x": grid, "density": np.asarray(density[name]), "samples": drawn}
        )
    for name, (_, support) in DISCRETE.items():
        drawn = np.asarray(samples[name])
        pmf = np.asarray(density[name], np.float64)
        observed = np.array([np.sum(drawn == k) for k in support])
        keep = pmf > 0
        expected = pmf[keep] / pmf[keep].sum() * observed[keep].sum()
        p_values[name] = float(scipy.stats.chisquare(observed[keep], expected).pvalue)
        panels.append(
            {
                "title": name,
                "x": support.astype(int),
                "density": pmf,
                "samples": drawn,
                "discrete": True,
            }
        )
    ctx.save_figure(visualization.plot_densities_with_samples(panels), "densities")
    for name, p in p_values.items():
        ctx.log(f"  {name:22} p = {p:.3f}")
    return {f"p_value[{name}]": p for name, p in p_values.items()}


# %%
if __name__ == "__main__":
    ctx = lab_context("1.4.5")
    metrics = densities(ctx)

# %% [markdown]
# ## Step 2: the central limit theorem
#
# The mean of $n$ independent draws with mean $\mu$ and standard deviation $\sigma$, standardised as
# $\sqrt n(\bar x_n - \mu)/\sigma$, tends to $\mathcal N(0, 1)$ whatever the distribution. The
# Exponential(1) is a hard case: skewed, all its mass on $x > 0$.
#
# **In the figure**: histograms of the standardised mean for $n = 1, 2, 5, 30$ over the standard
# normal density: the skew fades as $n$ grows, and the KS distance printed below shrinks roughly like
# $1/\sqrt n$ (the Berry-Esseen rate).


# %%
CLT_SIZES = (1, 2, 5, 30)


@functools.partial(jax.jit, static_argnames=("repeats",))
def _standardised_means(key: jax.Array, repeats: int) -> list[jax.Array]:
    """sqrt(n) (mean of n Exponential(1) draws - 1), ``repeats`` times, for each n in CLT_SIZES."""
    exponential = D.Exponential(1.0)
    return [
        math.sqrt(n) * (exponential.sample(jax.random.fold_in(key, n), (repeats, n)).mean(1) - 1.0)
        for n in CLT_SIZES
    ]


def central_limit(ctx: LabContext) -> dict[str, float]:
    repeats = size(ctx, "clt_repeats")
    ctx.log("Step 2: the central limit theorem: standardised means of n Exponential(1) draws.")
    standardised = _standardised_means(jax.random.PRNGKey(ctx.seed + 2), repeats)
    means, ks = {}, {}
    for n, values in zip(CLT_SIZES, standardised, strict=True):  # mean 1, sd 1
        means[n] = np.asarray(values)
        ks[n] = float(scipy.stats.kstest(means[n], "norm").statistic)
        ctx.log(f"  n = {n:3}: KS distance to N(0, 1) = {ks[n]:.4f}")
    grid = np.linspace(-4, 4, 300)
    figure = visualization.plot_central_limit(means, grid, scipy.stats.norm.pdf(grid))
    ctx.save_figure(figure, "central_limit")
    assert ks[30] < ks[1], "the means must get closer to normal as n grows"
    return {f"clt_ks_distance[n={n}]": value for n, value in ks.items()}


# %%
if __name__ == "__main__":
    metrics |= central_limit(ctx)

# %% [markdown]
# ## Step 3: maximum likelihood
#
# The maximum-likelihood estimate maximises $\sum_i \log p_\theta(x_i)$. For these families it has a
# closed form: the sample mean and the (biased, $1/n$) standard deviation for a normal, $1/\bar x$
# for an exponential rate, the frequencies for Bernoulli and categorical probabilities. It is
# consistent: the error shrinks like $1/\sqrt n$.
#
# **In the figure**: the absolute error of each estimate against the sample size on log-log axes
# (one sample path, so the curves wiggle); their slope is about $-1/2$.


# %%
MLE_TRUTH = {
    "normal loc": 2.0,
    "normal scale": 1.5,
    "exponential rate": 0.7,
    "bernoulli p": 0.3,
    "categorical p[2]": 0.5,
}


@functools.partial(jax.jit, static_argnames=("sizes",))
def _mle_estimates(key: jax.Array, sizes: tuple[int, ...]) -> jax.Array:
    """Draw max(sizes) points of each family once; fit on the first n for each n in ``sizes``.
    Returns (len(sizes), 5) estimates in MLE_TRUTH's order (one compiled program)."""
    keys = jax.random.split(key, 4)
    largest = max(sizes)
    normal = D.Normal(2.0, 1.5).sample(keys[0], (largest,))
    exponential = D.Exponential(0.7).sample(keys[1], (largest,))
    bernoulli = D.Bernoulli(probs=0.3).sample(keys[2], (largest,))
    categorical = D.Categorical(probs=jnp.array([0.2, 0.3, 0.5])).sample(keys[3], (largest,))
    rows = []
    for n in sizes:
        fit_n = D.fit_normal(normal[:n])
        rows.append(
            jnp.stack(
                [
                    fit_n.loc,
                    fit_n.scale,
                    D.fit_exponential(exponential[:n]).rate,
                    D.fit_bernoulli(bernoulli[:n]).probs,
                    D.fit_categorical(categorical[:n], num_classes=3).probs[2],
                ]
            )
        )
    return jnp.stack(rows)


def maximum_likelihood(ctx: LabContext) -> dict[str, float]:
    largest = size(ctx, "mle_largest")
    ctx.log("Step 3: maximum likelihood: fitted parameters converge as the sample grows.")
    sizes = np.unique(np.logspace(1, math.log10(largest), 9).astype(int))
    estimates = np.asarray(
        _mle_estimates(jax.random.PRNGKey(ctx.seed + 3), tuple(int(n) for n in sizes)), np.float64
    )
    truth = np.array(list(MLE_TRUTH.values()))
    errors = {
        name: np.abs(estimates[:, column] - truth[column]).tolist()
        for column, name in enumerate(MLE_TRUTH)
    }
    fitted = {name: float(estimates[-1, column]) for column, name in enumerate(MLE_TRUTH)}
    figure = visualization.plot_convergence(
        sizes, errors, title="MLE error vs sample size (one sample path)"
    )
    ctx.save_figure(figure, "mle_convergence")
    for name, estimate in fitted.items():
        ctx.log(f"  n = {sizes[-1]}: {name} = {estimate:.4f} (true {MLE_TRUTH[name]})")
    return {f"mle[{name}]": value for name, value in fitted.items()} | {
        "mle_sample_size": int(sizes[-1])
    }


# %%
if __name__ == "__main__":
    metrics |= maximum_likelihood(ctx)

# %% [markdown]
# ## Step 4: forward vs reverse KL
#
# Fit one Gaussian $q$ to a mixture $p$ of two well-separated Gaussians.
#
# - **Forward** $\mathrm{KL}(p\,\|\,q) = \mathbb E_p[\log p - \log q]$: minimising it over $q$ is
#   maximum likelihood on draws of $p$. Wherever $p$ has mass, $q$ must too, or $-\log q$ explodes:
#   the fit **covers** both modes (mean and variance match $p$'s moments).
# - **Reverse** $\mathrm{KL}(q\,\|\,p) = \mathbb E_q[\log q - \log p]$ (variational inference):
#   $q$ is penalised for putting mass where $p$ has little, not for missing mass: the fit **seeks one
#   mode**. Minimised by gradient descent with reparameterized samples $x = \mu + \sigma\epsilon$.
#
# **In the figure**: the mixture's density with both fits: the broad forward fit straddles the gap,
# the narrow reverse fit sits on one mode.


# %%
def mixture() -> D.MixtureSameFamily:
    """p: an even mixture of N(-2, 0.6^2) and N(2, 0.6^2)."""
    return D.MixtureSameFamily(
        D.Categorical(probs=jnp.array([0.5, 0.5])),
        D.Normal(jnp.array([-2.0, 2.0]), jnp.array([0.6, 0.6])),
    )


def _reverse_kl(params: jax.Array, key: jax.Array) -> jax.Array:
    """A 256-draw reparameterized estimate of KL(q || p), q = N(params[0], exp(params[1])^2)."""
    q = D.Normal(params[0], jnp.exp(params[1]))
    x = q.rsample(key, (256,))
    return jnp.mean(q.log_prob(x) - mixture().log_prob(x))


@functools.partial(jax.jit, static_argnames=("draws", "steps"))
def _kl_fits(key: jax.Array, draws: int, steps: int) -> tuple[jax.Array, jax.Array]:
    """(forward fit's (loc, scale), reverse fit's (loc, log scale)), one compiled program."""
    # Forward KL: min_q E_p[-log q] is maximum likelihood on draws of p: moment matching.
    forward = D.fit_normal(mixture().sample(key, (draws,)))

    # Reverse KL: min_q E_q[log q - log p], by reparameterized gradients (rsample), lr 0.1.
    def step(params: jax.Array, index: jax.Array) -> tuple[jax.Array, None]:
        gradient = jax.grad(_reverse_kl)(params, jax.random.fold_in(key, index))
        return params - 0.1 * gradient, None

    # Start right of 0 with scale 0.5: the fit falls into the right-hand mode (from the left, the
    # left one: reverse KL has two minima, forward KL one).
    start = jnp.array([0.5, math.log(0.5)])
    reverse, _ = jax.lax.scan(step, start, jnp.arange(steps))
    return jnp.stack([forward.loc, forward.scale]), reverse


def forward_reverse_kl(ctx: LabContext) -> dict[str, float]:
    draws, steps = size(ctx, "kl_draws"), size(ctx, "kl_steps")
    ctx.log(
        "Step 4: one Gaussian fitted to a bimodal mixture: forward KL(p||q) vs reverse KL(q||p)."
    )
    forward_params, reverse_params = _kl_fits(jax.random.PRNGKey(ctx.seed + 4), draws, steps)
    forward = D.Normal(forward_params[0], forward_params[1])
    ctx.log(
        f"  forward KL (MLE on draws of p): mean {float(forward.loc):+.3f}, sd {float(forward.scale):.3f}"
    )
    reverse = D.Normal(reverse_params[0], jnp.exp(reverse_params[1]))
    ctx.log(
        f"  reverse KL (mode seeking, {steps} steps): mean {float(reverse.loc):+.3f}, "
        f"sd {float(reverse.scale):.3f}"
    )
    p = mixture()
    grid = jnp.linspace(-5, 5, 400)
    figure = visualization.plot_kl_fits(
        grid,
        np.exp(np.asarray(p.log_prob(grid))),
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
        "mixture_scale": float(jnp.sqrt(p.variance)),
    }


# %%
if __name__ == "__main__":
    metrics |= forward_reverse_kl(ctx)

# %% [markdown]
# ## Step 5: softmax temperature
#
# A categorical distribution over logits $z$ at temperature $T$ has probabilities
# $\mathrm{softmax}(z / T)$. As $T \to 0$ it concentrates on the argmax (entropy $\to 0$, greedy
# decoding); as $T \to \infty$ it flattens to uniform (entropy $\to \log C$). Sampling from a
# language model at $T < 1$ or $T > 1$ is exactly this.
#
# **In the figure**: the entropy against $T$ (log axis) between its limits $0$ and $\log C$, and the
# probabilities at $T = 0.1, 1, 10$.


# %%
@jax.jit
def _entropies(logits: jax.Array, temperatures: jax.Array) -> jax.Array:
    """H(Categorical(logits / T)) for each T (one compiled, vmapped program)."""
    return jax.vmap(lambda t: D.Categorical(logits=logits / t).entropy())(temperatures)


def temperature(ctx: LabContext) -> dict[str, float]:
    ctx.log("Step 5: softmax temperature: Categorical(logits / T) flattens as T grows.")
    logits = jnp.array([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    temperatures = np.logspace(-1.5, 1.5, 13)
    entropies = np.asarray(_entropies(logits, jnp.asarray(temperatures, jnp.float32))).tolist()
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


# %%
if __name__ == "__main__":
    metrics |= temperature(ctx)

# %% [markdown]
# ## Step 6: two gradient estimators
#
# To differentiate $\mathbb E_{x \sim q_\mu}[f(x)]$ with respect to $\mu$ from samples:
#
# - **reparameterization** (pathwise): write $x = \mu + \sigma\epsilon$, $\epsilon \sim \mathcal N(0,
#   1)$, and differentiate through the sample: $\nabla_\mu \mathbb E[f(x)] = \mathbb E[f'(x)]$;
# - **score function** (REINFORCE): $\nabla_\mu \mathbb E[f(x)] = \mathbb E[f(x)\,\nabla_\mu \log
#   q_\mu(x)]$, which needs only $\log q$, not a differentiable $f$ or sampler.
#
# Both are unbiased; here $f(x) = x^2$ and the exact gradient is $2\mu$. Their variances differ.
#
# **In the figure**: the variance of each estimator against the number of samples $n$ (log-log, both
# fall like $1/n$); the score-function line sits well above: it needs many more samples for the same
# accuracy, which is why VAEs use the reparameterization trick.


# %%
ESTIMATOR_SIZES = (1, 4, 16, 64, 256)
SIGMA = 1.0


def reparameterized(mu: jax.Array, key: jax.Array, n: int) -> jax.Array:
    """d/dmu of the n-draw mean of x^2, x = mu + sigma eps: the gradient flows through x."""
    return jax.grad(lambda m: jnp.mean(D.Normal(m, SIGMA).rsample(key, (n,)) ** 2))(mu)


def score_function(mu: jax.Array, key: jax.Array, n: int) -> jax.Array:
    """The n-draw mean of f(x) d log q(x) / dmu (REINFORCE): no gradient flows through x."""
    x = D.Normal(mu, SIGMA).sample(key, (n,))
    score = jax.vmap(lambda xi: jax.grad(lambda m: D.Normal(m, SIGMA).log_prob(xi))(mu))(x)
    return jnp.mean(x**2 * score)


@functools.partial(jax.jit, static_argnames=("repeats",))
def _gradient_estimates(key: jax.Array, mu: jax.Array, repeats: int) -> dict[str, list]:
    """``repeats`` estimates of each estimator for each n in ESTIMATOR_SIZES (one program)."""
    estimates: dict[str, list] = {"reparameterization": [], "score function": []}
    for n in ESTIMATOR_SIZES:
        keys = jax.random.split(jax.random.fold_in(key, n), repeats)
        for name, estimator in (
            ("reparameterization", reparameterized),
            ("score function", score_function),
        ):
            estimates[name].append(jax.vmap(lambda k, e=estimator, n=n: e(mu, k, n))(keys))
    return estimates


def estimator_variance(ctx: LabContext) -> dict[str, float]:
    repeats = size(ctx, "estimator_repeats")
    ctx.log("Step 6: d/dmu E_{x~N(mu, 1)}[x^2] = 2 mu: reparameterization vs score function.")
    mu = 1.0
    sizes = np.array(ESTIMATOR_SIZES)
    estimates = _gradient_estimates(jax.random.PRNGKey(ctx.seed + 6), jnp.float32(mu), repeats)
    variances = {name: [float(jnp.var(e)) for e in values] for name, values in estimates.items()}
    means = {name: float(jnp.mean(values[-1])) for name, values in estimates.items()}
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


# %%
if __name__ == "__main__":
    metrics |= estimator_variance(ctx)
    ctx.record(metrics)

# %% [markdown]
# ## What to take away
#
# - `log_prob` is the workhorse: fitting (maximum likelihood), comparing (KL) and differentiating
#   (score function) are all built on it; keep every term of it, and work in log space.
# - KL is asymmetric: the forward direction covers all modes, the reverse direction picks one.
# - Reparameterized gradients have far lower variance than score-function gradients when they apply.
#
# The cell below registers the lab with the runner (`python -m labs run 1.4.5`).


# %%
@register_lab(
    "1.4.5", "Probability distributions: densities, CLT, MLE, KL, temperature, estimators"
)
def run(ctx: LabContext) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for step in (
        densities,
        central_limit,
        maximum_likelihood,
        forward_reverse_kl,
        temperature,
        estimator_variance,
    ):
        metrics |= step(ctx)
        ctx.record(metrics)
    return metrics
