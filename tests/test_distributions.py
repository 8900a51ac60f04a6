"""jaxmath.distributions beyond the parity rows: pytrees under jit/vmap/grad, validation under jit,
masked Categoricals, the links the lab teaches (cross-entropy and MSE as negative log-likelihoods),
Poisson's entropy series, distrax where it agrees, and the figure functions."""

from __future__ import annotations

import math

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
from matplotlib.figure import Figure

import jaxmath
import torch_ref
from jaxmath import distributions as D
from jaxmath import visualization
from torch_ref import distributions as T

# ---- pytrees -------------------------------------------------------------------------------------


def test_a_distribution_is_a_pytree_through_jit_vmap_and_grad() -> None:
    normal = D.Normal(jnp.array([0.0, 1.0]), jnp.array([1.0, 2.0]))
    leaves, treedef = jax.tree.flatten(normal)
    assert len(leaves) == 2
    rebuilt = jax.tree.unflatten(treedef, leaves)
    np.testing.assert_array_equal(rebuilt.log_prob(0.5), normal.log_prob(0.5))

    shifted = jax.jit(lambda d: D.Normal(d.loc + 1.0, d.scale))(normal)
    assert isinstance(shifted, D.Normal) and shifted.batch_shape == (2,)
    np.testing.assert_allclose(shifted.mean, normal.mean + 1.0)

    # A batch of distributions is a distribution with batched leaves: vmap maps over it.
    per_element = jax.vmap(lambda d: d.entropy())(normal)
    np.testing.assert_allclose(per_element, normal.entropy(), rtol=1e-6)

    gradient = jax.grad(lambda scale: D.Normal(0.0, scale).log_prob(1.0))(2.0)
    np.testing.assert_allclose(gradient, -1 / 2.0 + 1 / 8.0, rtol=1e-6)  # d/ds (-x²/2s² - log s)


def test_jit_does_not_recompile_for_new_parameter_values() -> None:
    log_prob = jax.jit(lambda d, x: d.log_prob(x))
    for scale in (1.0, 2.0, 3.0):
        log_prob(D.Normal(jnp.zeros(3), jnp.full(3, scale)), jnp.ones(3))
    assert log_prob._cache_size() == 1


def test_mixture_and_bernoulli_pytrees_round_trip() -> None:
    mixture = D.MixtureSameFamily(
        D.Categorical(logits=jnp.array([0.0, 1.0])), D.Normal(jnp.array([-1.0, 1.0]), 1.0)
    )
    assert len(jax.tree.leaves(mixture)) == 3
    rebuilt = jax.jit(lambda m: m)(mixture)
    np.testing.assert_allclose(rebuilt.log_prob(0.3), mixture.log_prob(0.3), rtol=1e-6)
    bernoulli = jax.jit(lambda b: b)(D.Bernoulli(logits=jnp.array([0.0, 2.0])))
    np.testing.assert_allclose(bernoulli.probs, jax.nn.sigmoid(jnp.array([0.0, 2.0])), rtol=1e-6)


# ---- validation -----------------------------------------------------------------------------------


def test_value_checks_run_eagerly_are_skipped_under_jit_and_can_be_turned_off() -> None:
    with pytest.raises(ValueError, match=r"scale must be > 0, got -1.0"):
        D.Normal(0.0, jnp.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"value must be within the support of Exponential"):
        D.Exponential(1.0).log_prob(-1.0)
    # Under jit the values are tracers: no check, the formula's NaN comes out.
    value = jax.jit(lambda s: D.Normal(0.0, s).log_prob(1.0))(jnp.float32(-1.0))
    assert np.isnan(value)
    # validate_args=False: no check eagerly either (torch's validate_args=False).
    assert np.isfinite(D.Exponential(1.0, validate_args=False).log_prob(-1.0))
    assert np.isfinite(T.Exponential(1.0, validate_args=False).log_prob(-1.0))


def test_static_checks_raise_under_jit() -> None:
    with pytest.raises(TypeError, match=r"loc must be a floating-point array, got dtype int"):
        jax.jit(lambda loc: D.Normal(loc, 1.0).mean)(jnp.arange(3))
    with pytest.raises(ValueError, match=r"exactly one of probs or logits"):
        jax.jit(lambda p: D.Bernoulli(probs=p, logits=p).mean)(jnp.ones(2) * 0.5)
    with pytest.raises(ValueError, match=r"parameter shapes do not broadcast"):
        jax.jit(lambda a, b: D.Normal(a, b).mean)(jnp.zeros(3), jnp.ones(2))
    with pytest.raises(ValueError, match=r"sample_shape must be a tuple of ints >= 0"):
        D.Normal(0.0, 1.0).sample(jax.random.PRNGKey(0), (-1,))
    with pytest.raises(TypeError, match=r"key must be a jax.random key, got int"):
        D.Normal(0.0, 1.0).sample(0)
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator, got int"):
        T.Normal(0.0, 1.0).sample(0)


def test_methods_without_a_closed_form_raise_not_implemented_in_both() -> None:
    for package in (D, T):
        with pytest.raises(NotImplementedError, match=r"Beta has no closed-form cdf"):
            package.Beta(2.0, 3.0).cdf(0.5)
        with pytest.raises(NotImplementedError, match=r"Poisson has no reparameterized sampler"):
            package.Poisson(2.0).rsample(None)
        with pytest.raises(NotImplementedError, match=r"MixtureSameFamily has no closed-form"):
            package.MixtureSameFamily(
                package.Categorical(logits=np.zeros(2, np.float32)),
                package.Normal(np.zeros(2, np.float32), np.ones(2, np.float32)),
            ).entropy()


# ---- Categorical ------------------------------------------------------------------------------


def test_masked_classes_give_minus_inf_log_prob_finite_entropy_and_gradient() -> None:
    logits = jnp.array([1.0, -jnp.inf, 0.5, -jnp.inf])
    dist = D.Categorical(logits=logits)
    log_probs = dist.log_prob(jnp.arange(4))
    assert np.isneginf(log_probs[1]) and np.isneginf(log_probs[3])
    expected = scipy.stats.entropy(scipy.special.softmax([1.0, 0.5]))
    np.testing.assert_allclose(dist.entropy(), expected, rtol=1e-6)
    gradient = jax.grad(lambda z: D.Categorical(logits=z).entropy())(logits)
    assert np.isfinite(gradient).all() and gradient[1] == 0 and gradient[3] == 0
    twin = T.Categorical(logits=torch.tensor([1.0, -math.inf, 0.5, -math.inf]))
    np.testing.assert_allclose(twin.entropy().numpy(), expected, rtol=1e-6)


def test_sampling_never_draws_a_masked_class_even_at_the_end() -> None:
    """Trailing zero-probability classes are never drawn (the alias table gives them threshold 0
    and an alias of positive probability; torch_ref's inverse-CDF search clips to the last class
    of positive probability)."""
    probs = np.array([0.3, 0.0, 0.7, 0.0, 0.0], np.float32)
    draws = np.asarray(D.Categorical(probs=probs).sample(jax.random.PRNGKey(0), (200_000,)))
    assert set(np.unique(draws)) == {0, 2}
    twin = T.Categorical(probs=torch.from_numpy(probs)).sample(
        torch.Generator().manual_seed(0), (200_000,)
    )
    assert set(np.unique(twin.numpy())) == {0, 2}


def test_batched_categorical_samples_each_row_from_its_own_probabilities() -> None:
    probs = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    draws = D.Categorical(probs=probs).sample(jax.random.PRNGKey(1), (50,))
    assert draws.shape == (50, 2)
    assert (draws[:, 0] == 0).all() and (draws[:, 1] == 2).all()


def test_categorical_log_prob_is_a_gather_not_a_one_hot_product() -> None:
    dist = D.Categorical(logits=jnp.zeros(1000))
    hlo = jax.jit(lambda d, v: d.log_prob(v)).lower(dist, jnp.zeros(10, jnp.int32)).as_text()
    assert "gather" in hlo and "1000x" not in hlo.replace("1000xf", "")  # no (n, 1000) one-hot


@pytest.mark.parametrize(
    "probs",
    [
        np.full(7, 1 / 7),
        np.array([0.97, 0.0, 0.01, 0.02, 0.0]),
        scipy.special.softmax(np.random.default_rng(3).standard_normal(1000) * 3),
        np.array([1e-6] * 999 + [1 - 999e-6]),
        np.array([0.0] * 500 + [0.5, 0.5] + [0.0] * 498),
    ],
    ids=["uniform", "peaked-masked", "1000-classes", "mass-piled-at-the-end", "two-of-1000"],
)
def test_alias_table_reproduces_the_probabilities_exactly(probs: np.ndarray) -> None:
    """The table's implied mass of class k, (threshold_k + sum of (1 - threshold_j) over buckets j
    aliasing to k) / K, equals p_k to rounding: float64 to 1e-13, float32 to 2e-6 relative to the
    largest p (the cumulative sum's order); masked classes get exactly 0."""
    from jaxmath.distributions import _alias_table

    for dtype, tol in ((np.float64, 1e-13), (np.float32, 2e-6)):
        with jax.enable_x64(dtype == np.float64):
            threshold, alias = jax.jit(_alias_table)(jnp.asarray(probs, dtype))
        threshold, alias = np.asarray(threshold, np.float64), np.asarray(alias)
        mass = threshold.copy()
        np.add.at(mass, alias, 1 - threshold)
        mass /= len(probs)
        np.testing.assert_allclose(mass, probs, rtol=0, atol=tol * probs.max())
        assert (mass[probs == 0] == 0).all() and (threshold[probs == 0] == 0).all()
        assert (probs[alias] > 0).all()


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg", "unsafe_rbg"])
def test_categorical_draws_pass_a_chi_square_test_at_fixed_keys(impl: str) -> None:
    """200k draws from 1000 classes (and a batch of two rows of 50), every key implementation:
    chi-square against the exact probabilities, p > 1e-3 at these fixed seeds (deterministic)."""
    logits = np.random.default_rng(0).standard_normal(1000).astype(np.float32) * 2
    key = jax.random.key(4, impl=impl)
    draws = np.asarray(D.Categorical(logits=logits).sample(key, (200_000,)))
    probs = scipy.special.softmax(logits.astype(np.float64))
    expected = probs * draws.size
    counts = np.bincount(draws, minlength=1000)
    # Pool the classes expected fewer than 5 times into one cell (chi-square's validity rule).
    small = expected < 5
    observed = np.append(counts[~small], counts[small].sum())
    pooled = np.append(expected[~small], expected[small].sum())
    assert scipy.stats.chisquare(observed, pooled).pvalue > 1e-3
    rows = np.random.default_rng(1).standard_normal((2, 50))
    batched = np.asarray(D.Categorical(logits=rows).sample(key, (50_000,)))
    for row in range(2):
        counts = np.bincount(batched[:, row], minlength=50)
        expected = scipy.special.softmax(rows[row]) * len(batched)
        assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3


def test_categorical_sampling_is_not_biased_by_the_bucket_split() -> None:
    """The bucket j = floor(K u) and the side K u - j come from one uniform: a distribution whose
    classes each straddle two buckets (K = 3, p = (0.5, 0.25, 0.25)) must still give its exact
    marginals (1M draws: each frequency within 4 standard errors), also in float64."""
    probs = np.array([0.5, 0.25, 0.25])
    for x64 in (False, True):
        with jax.enable_x64(x64):
            draws = D.Categorical(probs=jnp.asarray(probs)).sample(jax.random.key(9), (1_000_000,))
            frequencies = np.bincount(np.asarray(draws), minlength=3) / 1_000_000
        standard_error = np.sqrt(probs * (1 - probs) / 1_000_000)
        assert (np.abs(frequencies - probs) < 4 * standard_error).all()


# ---- the PRNG: JAX's threefry stream, unrolled on CPU ---------------------------------------------


@pytest.mark.parametrize("partitionable", [True, False])
@pytest.mark.parametrize("shape", [(7,), (10, 3)])  # odd (JAX pads a counter), 2-d
def test_fast_bits_and_draws_equal_jax_random_bit_for_bit(
    partitionable: bool, shape: tuple[int, ...]
) -> None:
    """The unrolled threefry gives jax.random.bits' words under either jax_threefry_partitionable
    setting (odd sizes included: JAX pads one counter), so Normal, Uniform, Exponential and
    Laplace draw exactly jax.random's numbers (float32 and float64), only faster on CPU."""
    from jaxmath.distributions import _random_bits, _threefry_key_data

    key = jax.random.key(11)
    assert _threefry_key_data(key) is not None  # the fast path is the one tested
    with jax.threefry_partitionable(partitionable):
        np.testing.assert_array_equal(
            jax.jit(_random_bits, static_argnums=(1, 2))(key, shape, 32),
            jax.random.bits(key, shape, jnp.uint32),
        )
        raw = jax.random.PRNGKey(11)  # a raw uint32 key of the default implementation
        np.testing.assert_array_equal(
            _random_bits(raw, shape, 32), jax.random.bits(raw, shape, jnp.uint32)
        )
        for x64 in (False, True):
            with jax.enable_x64(x64):
                dtype = jnp.float64 if x64 else jnp.float32
                if x64:
                    np.testing.assert_array_equal(
                        _random_bits(key, shape, 64), jax.random.bits(key, shape, jnp.uint64)
                    )
                pairs = [
                    (D.Normal(dtype(0), dtype(1)).sample(key, shape), jax.random.normal),
                    (D.Uniform(dtype(0), dtype(1)).sample(key, shape), jax.random.uniform),
                    (D.Exponential(dtype(1)).sample(key, shape), jax.random.exponential),
                ]
                for ours, theirs in pairs:
                    np.testing.assert_array_equal(ours, theirs(key, shape, dtype))


def test_other_key_implementations_fall_back_to_jax_random() -> None:
    from jaxmath.distributions import _random_bits, _threefry_key_data

    for impl in ("rbg", "unsafe_rbg"):
        key = jax.random.key(5, impl=impl)
        assert _threefry_key_data(key) is None
        np.testing.assert_array_equal(
            _random_bits(key, (100,), 32), jax.random.bits(key, (100,), jnp.uint32)
        )
    keys = jax.random.split(jax.random.key(0), 3)
    assert _threefry_key_data(keys) is None  # a batch of keys: jax.random's own error
    vmapped = jax.vmap(lambda k: D.Normal(0.0, 1.0).sample(k, (4,)))(keys)
    np.testing.assert_array_equal(vmapped, jax.vmap(lambda k: jax.random.normal(k, (4,)))(keys))


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_continuous_draws_pass_ks_and_moment_tests_at_fixed_keys(impl: str) -> None:
    """50k draws per distribution, each key implementation: one-sample KS against scipy.stats'
    exact cdf (p > 1e-3 at these fixed seeds) and the sample mean within 5 standard errors."""
    key = jax.random.key(21, impl=impl)
    cases = [
        (D.Normal(1.5, 2.0), scipy.stats.norm(1.5, 2.0)),
        (D.Uniform(-1.0, 3.0), scipy.stats.uniform(-1.0, 4.0)),
        (D.Exponential(0.5), scipy.stats.expon(scale=2.0)),
        (D.Laplace(-1.0, 0.5), scipy.stats.laplace(-1.0, 0.5)),
    ]
    for dist, frozen in cases:
        draws = np.asarray(dist.sample(key, (50_000,)), np.float64)
        assert scipy.stats.kstest(draws, frozen.cdf).pvalue > 1e-3, type(dist).__name__
        assert abs(draws.mean() - frozen.mean()) < 5 * frozen.std() / np.sqrt(draws.size)
    flips = np.asarray(D.Bernoulli(probs=0.3).sample(key, (50_000,)))
    assert abs(flips.mean() - 0.3) < 5 * np.sqrt(0.21 / 50_000)
    mvn = D.MultivariateNormal(
        jnp.array([1.0, -1.0]), scale_tril=jnp.array([[1.0, 0.0], [0.6, 0.5]])
    )
    vectors = np.asarray(mvn.sample(key, (50_000,)), np.float64)
    np.testing.assert_allclose(np.cov(vectors.T), [[1.0, 0.6], [0.6, 0.61]], atol=0.03)


def test_the_library_reads_but_never_sets_the_threefry_flag() -> None:
    before = jax.config.jax_threefry_partitionable
    D.Normal(0.0, 1.0).sample(jax.random.key(0), (10,))
    D.Categorical(logits=jnp.zeros(5)).sample(jax.random.key(0), (10,))
    assert jax.config.jax_threefry_partitionable == before


def test_rows_without_the_generic_jit_test_run_under_jit() -> None:
    """Categorical(probs=...), fit_poisson and fit_bernoulli (their generic jit rows are off: the
    test halves float inputs, which leaves the support) give the eager numbers under jit."""
    probs = jnp.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    value = jnp.array([2, 0])
    eager = D.Categorical(probs=probs).log_prob(value)
    np.testing.assert_allclose(
        jax.jit(lambda p, v: D.Categorical(probs=p).log_prob(v))(probs, value), eager
    )
    counts = jnp.array([[0.0, 3.0], [2.0, 5.0], [1.0, 1.0]])
    np.testing.assert_allclose(jax.jit(lambda x: D.fit_poisson(x).rate)(counts), counts.mean(0))
    flips = jnp.array([[0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(jax.jit(lambda x: D.fit_bernoulli(x).probs)(flips), flips.mean(0))


# ---- the links the lab teaches -------------------------------------------------------------------


def test_cross_entropy_is_the_mean_nll_of_a_categorical() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((16, 7))
    target = rng.integers(0, 7, 16)
    nll = -jnp.mean(D.Categorical(logits=jnp.asarray(logits)).log_prob(jnp.asarray(target)))
    np.testing.assert_allclose(
        nll, jaxmath.cross_entropy_loss(jnp.asarray(logits), jnp.asarray(target)), rtol=1e-12
    )
    t_logits, t_target = torch.from_numpy(logits), torch.from_numpy(target)
    twin = -T.Categorical(logits=t_logits).log_prob(t_target).mean()
    np.testing.assert_allclose(
        twin.numpy(), torch_ref.cross_entropy_loss(t_logits, t_target).numpy(), rtol=1e-12
    )


def test_mse_is_the_nll_of_a_normal_with_fixed_scale_up_to_constants() -> None:
    rng = np.random.default_rng(1)
    prediction, target = rng.standard_normal(50), rng.standard_normal(50)
    for sigma in (1.0, 0.3):
        nll = -jnp.mean(D.Normal(jnp.asarray(prediction), sigma).log_prob(jnp.asarray(target)))
        mse = jaxmath.mse_loss(jnp.asarray(prediction), jnp.asarray(target))
        constant = math.log(sigma) + 0.5 * math.log(2 * math.pi)
        np.testing.assert_allclose(nll, mse / (2 * sigma**2) + constant, rtol=1e-12)
    # Same minimiser: the gradient of the NLL in the prediction is the MSE's over 2 sigma^2.
    grad_nll = jax.grad(lambda p: -jnp.mean(D.Normal(p, 1.0).log_prob(jnp.asarray(target))))
    grad_mse = jax.grad(lambda p: jaxmath.mse_loss(p, jnp.asarray(target)))
    np.testing.assert_allclose(
        grad_nll(jnp.asarray(prediction)), grad_mse(jnp.asarray(prediction)) / 2, rtol=1e-12
    )


# ---- Poisson entropy, edges where upstreams disagree, distrax ------------------------------------


def _poisson_entropy_by_summation(rate: float) -> float:
    """-sum p log p over +-60 sd in float64 (its log-pmf terms of ~rate log rate cancel, so it is a
    reference to ~1e-11 only up to rate ~1e5)."""
    k = np.arange(max(0, int(rate - 60 * math.sqrt(rate))), int(rate + 60 * math.sqrt(rate)) + 60)
    log_pmf = k * math.log(rate) - rate - scipy.special.gammaln(k + 1)
    return float(-np.sum(np.exp(log_pmf) * log_pmf))


@pytest.mark.parametrize("rate", [0.3, 50.0, 999.0, 1000.5, 1e4, 1e5])
def test_poisson_entropy_series_and_window_match_a_direct_sum(rate: float) -> None:
    expected = _poisson_entropy_by_summation(rate)
    ours = float(D.Poisson(jnp.float64(rate)).entropy())
    twin = float(T.Poisson(torch.tensor(rate, dtype=torch.float64)).entropy())
    assert abs(ours - expected) <= 1e-10 * abs(expected) + 1e-12, (ours, expected)
    assert abs(twin - expected) <= 1e-10 * abs(expected) + 1e-12, (twin, expected)


def test_bernoulli_at_probs_0_and_1_follows_scipy_where_torch_clamps() -> None:
    probs, value = np.array([0.0, 1.0]), np.array([1.0, 1.0])
    ours = np.asarray(D.Bernoulli(probs=jnp.asarray(probs)).log_prob(jnp.asarray(value)))
    np.testing.assert_array_equal(ours, scipy.stats.bernoulli(probs).logpmf(value))  # [-inf, 0]
    clamped = torch.distributions.Bernoulli(probs=torch.from_numpy(probs)).log_prob(
        torch.from_numpy(value)
    )
    assert np.isfinite(clamped[0].item())  # torch: log(eps), the documented difference


def test_distrax_agrees_where_it_has_the_same_semantics() -> None:
    x = jnp.linspace(-3.0, 3.0, 7)
    for ours, theirs in (
        (D.Normal(0.5, 2.0), distrax.Normal(0.5, 2.0)),
        (D.Laplace(0.5, 2.0), distrax.Laplace(0.5, 2.0)),
    ):
        np.testing.assert_allclose(ours.log_prob(x), theirs.log_prob(x), rtol=1e-12)
        np.testing.assert_allclose(ours.entropy(), theirs.entropy(), rtol=1e-12)
        np.testing.assert_allclose(ours.cdf(x), theirs.cdf(x), rtol=1e-12)
    logits = jnp.array([0.3, -1.0, 2.0])
    classes = jnp.array([0, 1, 2, 2])
    np.testing.assert_allclose(
        D.Categorical(logits=logits).log_prob(classes),
        distrax.Categorical(logits=logits).log_prob(classes),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(1.0, 2.0)),
        distrax.Normal(0.0, 1.0).kl_divergence(distrax.Normal(1.0, 2.0)),
        rtol=1e-12,
    )


def test_kl_divergence_matches_a_monte_carlo_estimate() -> None:
    p, q = D.Gamma(3.0, 2.0), D.Gamma(2.0, 1.0)
    x = p.sample(jax.random.PRNGKey(0), (400_000,))
    estimate = jnp.mean(p.log_prob(x) - q.log_prob(x))
    np.testing.assert_allclose(D.kl_divergence(p, q), estimate, atol=5e-3)


# ---- figures -----------------------------------------------------------------------------------


def test_figure_functions_return_figures() -> None:
    x = np.linspace(-3, 3, 50)
    draws = np.random.default_rng(0).standard_normal(500)
    panels = [
        {"title": "N", "x": x, "density": scipy.stats.norm.pdf(x), "samples": draws},
        {
            "title": "P",
            "x": np.arange(5),
            "density": np.full(5, 0.2),
            "samples": draws.round() % 5,
            "discrete": True,
        },
    ]
    figures = [
        visualization.plot_densities_with_samples(panels, ncols=2),
        visualization.plot_central_limit({1: draws, 5: draws}, x, scipy.stats.norm.pdf(x)),
        visualization.plot_convergence([10, 100, 1000], {"loc": [0.3, 0.1, 0.03]}),
        visualization.plot_kl_fits(x, scipy.stats.norm.pdf(x), {"fit": scipy.stats.norm.pdf(x)}),
        visualization.plot_temperature([0.1, 1.0, 10.0], [0.1, 1.0, 1.5], {"T=1": [0.5, 0.5]}, 1.6),
        visualization.plot_estimator_variance([1, 10], {"reparameterization": [1.0, 0.1]}),
    ]
    assert all(isinstance(figure, Figure) for figure in figures)
    with pytest.raises(ValueError, match=r"density must have the shape of x"):
        visualization.plot_densities_with_samples([{**panels[0], "density": np.ones(3)}])
