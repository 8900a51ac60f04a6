"""jaxmath.lowrank beyond the parity rows: the properties the issue names, and PEFT through its public
path (get_peft_model on a tiny torch nn.Linear): init distributions, scaling, PiSSA, DoRA, merge.

The row-by-row comparisons (jaxmath == torch_ref == numpy / torch / sklearn / PEFT) live in
parity_tests/cases_lowrank.py; here: Eckart-Young against the reconstruction, randomized SVD's error
against the optimum and against sklearn's at the same oversampling and iterations, LoRA's exact-zero
initial update, merge/unmerge round trips, PiSSA reproducing W, DoRA's gradients, jit caching.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
import torch
from peft import LoraConfig, get_peft_model

from jaxmath import lowrank
from torch_ref import lowrank as torch_lowrank

DTYPES = ("float32", "float64")
EPS = {"float32": 1.2e-7, "float64": 2.3e-16}


def matrix(shape: tuple[int, int], spectrum: np.ndarray, dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = len(spectrum)
    u = np.linalg.qr(rng.standard_normal((shape[0], p)))[0]
    v = np.linalg.qr(rng.standard_normal((shape[1], p)))[0]
    return ((u * spectrum) @ v.T).astype(dtype)


def decaying_plus_noise(n: int = 300, m: int = 200, seed: int = 0) -> np.ndarray:
    """exp(-i/5) spectrum plus a Gaussian noise matrix: the optimum needs the exact SVD."""
    rng = np.random.default_rng(seed)
    signal = matrix((n, m), np.exp(-np.arange(m) / 5.0), "float64", seed)
    return signal + 0.01 * rng.standard_normal((n, m)) / np.sqrt(m)


# ------------------------------------------------------------------------------------------------
# SVD and Eckart-Young
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", ["fro", "spectral"])
def test_low_rank_error_equals_eckart_young(dtype: str, norm: str) -> None:
    """||A - A_k|| measured on the reconstruction == the error from the singular values, to float
    precision, for every k, in both packages."""
    a = matrix((12, 9), 2.0 * 0.7 ** np.arange(9), dtype)
    s = np.array(lowrank.svd(a).S)
    order = "fro" if norm == "fro" else 2
    scale = np.linalg.norm(a, order)
    for k in range(1, 10):
        measured = np.linalg.norm(
            a.astype(np.float64) - np.asarray(lowrank.low_rank_approx(a, k), np.float64), order
        )
        predicted = float(lowrank.eckart_young_error(s, k, norm=norm))
        assert abs(measured - predicted) <= 20 * EPS[dtype] * scale, (k, measured, predicted)
        twin = float(torch_lowrank.eckart_young_error(torch.from_numpy(s), k, norm=norm))
        assert twin == pytest.approx(predicted, rel=1e-5 if dtype == "float32" else 1e-12)


def test_svd_sign_rule_and_reconstruction() -> None:
    a = matrix((7, 5), np.array([3.0, 2.0, 1.0, 0.5, 0.1]), "float64")
    U, S, Vh = lowrank.svd(a)
    np.testing.assert_allclose((U * S) @ Vh, a, atol=1e-13)
    biggest = np.asarray(U)[np.argmax(np.abs(np.asarray(U)), axis=0), np.arange(5)]
    assert (biggest > 0).all()  # the largest entry of each left singular vector is positive
    # the rule holds whatever sign LAPACK returned: flipping a component of the input's factors
    flipped = lowrank.svd(-a)
    np.testing.assert_allclose(flipped.U, U, atol=1e-12)
    np.testing.assert_allclose(flipped.Vh, -np.asarray(Vh), atol=1e-12)


def test_svd_gradient_at_tiny_scale() -> None:
    """Entries ~1e-15 in float32: gradients ~1e15, agreeing with float64 to ~1e-6 of their largest
    entry (the parity rows compare this scale by value only; see cases_lowrank.svd_huge_edge)."""
    a64 = matrix((5, 4), 3.0 * 0.6 ** np.arange(4), "float64", seed=3) * 1e-15
    cotangent = lowrank.SVDResult(*(np.ones_like(x) for x in lowrank.svd(a64)))
    g64 = np.asarray(jax.vjp(lowrank.svd, a64)[1](cotangent)[0])
    a32 = a64.astype(np.float32)
    cotangent32 = lowrank.SVDResult(*(np.asarray(x, np.float32) for x in cotangent))
    g32 = np.asarray(jax.vjp(lowrank.svd, a32)[1](cotangent32)[0])
    assert np.abs(g64).max() > 1e14
    assert np.abs(g32 - g64).max() <= 1e-5 * np.abs(g64).max()


def test_rank_measures() -> None:
    assert float(lowrank.effective_rank(jnp.array([2.0, 0.0, 0.0]))) == pytest.approx(1.0)
    assert float(lowrank.effective_rank(jnp.full(5, 0.3))) == pytest.approx(5.0)
    assert np.isnan(float(lowrank.effective_rank(jnp.zeros(3))))
    assert np.isnan(float(torch_lowrank.effective_rank(torch.zeros(3))))
    assert float(lowrank.stable_rank(jnp.eye(4))) == pytest.approx(4.0)
    rank_one = np.outer([1.0, 2.0], [3.0, -1.0, 0.5])
    assert float(lowrank.stable_rank(rank_one)) == pytest.approx(1.0)
    curve = np.asarray(lowrank.energy_ratio(jnp.array([3.0, 2.0, 1.0])))
    np.testing.assert_allclose(curve, np.cumsum([9.0, 4.0, 1.0]) / 14.0)
    # no overflow: squares of 1e20 are inf in float32
    big = np.array([1e20, 1e20], np.float32)
    assert float(lowrank.eckart_young_error(big, 1)) == pytest.approx(1e20, rel=1e-6)
    assert float(lowrank.energy_ratio(big, 1)) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------
# Randomized SVD
# ------------------------------------------------------------------------------------------------


def frobenius_error(a: np.ndarray, factors: tuple) -> float:
    U, S, Vh = (np.asarray(x, np.float64) for x in factors)
    return float(np.linalg.norm(a - (U * S) @ Vh))


@pytest.mark.parametrize("dtype", DTYPES)
def test_randomized_svd_error_within_0_1_percent_and_no_worse_than_sklearn(dtype: str) -> None:
    """Halko et al.'s promise on a decaying spectrum: error <= 1.001 x the optimum (from the exact
    SVD), and, averaged over 5 draws, no worse than sklearn's randomized_svd at the same
    oversampling (10) and iterations (4), in both packages."""
    from sklearn.utils.extmath import randomized_svd

    a64 = decaying_plus_noise()
    a = a64.astype(dtype)
    k = 20
    optimal = float(np.sqrt(np.sum(np.linalg.svd(a64, compute_uv=False)[k:] ** 2)))
    ours, twins, sklearns = [], [], []
    for seed in range(5):
        ours.append(frobenius_error(a64, lowrank.randomized_svd(jax.random.PRNGKey(seed), a, k)))
        generator = torch.Generator().manual_seed(seed)
        twin = torch_lowrank.randomized_svd(generator, torch.from_numpy(a), k)
        twins.append(frobenius_error(a64, tuple(t.numpy() for t in twin)))
        reference = randomized_svd(a, k, n_oversamples=10, n_iter=4, random_state=seed)
        sklearns.append(frobenius_error(a64, reference))
    for errors in (ours, twins):
        assert max(errors) <= 1.001 * optimal, (np.array(errors) / optimal, dtype)
        assert np.mean(errors) <= np.mean(sklearns) * (1 + 1e-5), (errors, sklearns)


def test_randomized_svd_is_jitted_once_and_handles_rank_deficiency() -> None:
    run = jax.jit(lowrank.randomized_svd, static_argnames=("k", "n_oversamples", "n_iter"))
    a = jnp.asarray(matrix((40, 30), 4.0 ** -np.arange(30), "float32"))
    first = run(jax.random.PRNGKey(0), a, k=3)
    run(jax.random.PRNGKey(1), a * 2.0, k=3)
    assert run._cache_size() == 1
    np.testing.assert_allclose(first.S, 4.0 ** -np.arange(3), rtol=1e-5)
    for bad in (np.zeros((20, 10)), matrix((20, 10), np.array([2.0, 1.0]), "float64")):
        for package, rng, convert in (
            (lowrank, jax.random.PRNGKey(0), np.asarray),
            (torch_lowrank, torch.Generator().manual_seed(0), torch.from_numpy),
        ):
            U, S, Vh = package.randomized_svd(rng, convert(bad), 4)
            assert np.isfinite(np.asarray(U)).all() and np.isfinite(np.asarray(Vh)).all()
            expected = np.linalg.svd(bad, compute_uv=False)[:4]
            np.testing.assert_allclose(np.asarray(S), expected, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# LoRA against PEFT's public path: get_peft_model on a tiny model
# ------------------------------------------------------------------------------------------------


class Tiny(torch.nn.Module):
    def __init__(self, d_in: int, d_out: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(d_in, d_out, bias=True, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def peft_model(d_in: int, d_out: int, seed: int = 0, **config: object) -> tuple:
    torch.manual_seed(seed)
    model = Tiny(d_in, d_out)
    weight = model.proj.weight.detach().clone()
    wrapped = get_peft_model(model, LoraConfig(target_modules=["proj"], **config))
    return wrapped, weight, wrapped.base_model.model.proj


@pytest.mark.parametrize(
    ("init", "peft_init", "r"), [("kaiming", True, 16), ("gaussian", "gaussian", 16)]
)
def test_init_distributions_match_peft(init: str, peft_init: object, r: int) -> None:
    """A's distribution (KS test, 16 x 400 draws), B = 0, so the initial update is exactly zero."""
    d_in, d_out = 400, 300
    _, _, layer = peft_model(d_in, d_out, r=r, lora_alpha=32, init_lora_weights=peft_init)
    theirs = layer.lora_A["default"].weight.detach().numpy()
    for package, rng in (
        (lowrank, jax.random.PRNGKey(5)),
        (torch_lowrank, torch.Generator().manual_seed(5)),
    ):
        params = package.lora_init(rng, d_out, d_in, r, 32.0, init=init)
        ours = np.asarray(params.A)
        assert ours.shape == theirs.shape and np.asarray(params.B).shape == (d_out, r)
        assert scipy.stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > 1e-3
        assert not np.asarray(params.B).any() and not layer.lora_B["default"].weight.any()
    bound = 1 / np.sqrt(d_in) if init == "kaiming" else None
    params = lowrank.lora_init(jax.random.PRNGKey(0), d_out, d_in, r, 32.0, init=init)
    if bound is not None:
        assert np.abs(np.asarray(params.A)).max() <= bound
    x, weight = np.ones((3, d_in), np.float32), np.ones((d_out, d_in), np.float32)
    # exactly zero update: the same float32 numbers as the frozen layer alone
    np.testing.assert_array_equal(
        lowrank.lora_forward(x, weight, params.A, params.B, params.scaling), x @ weight.T
    )


@pytest.mark.parametrize("use_rslora", [False, True])
def test_scaling_matches_peft(use_rslora: bool) -> None:
    for r, alpha in ((1, 1), (4, 8), (16, 32), (64, 16)):
        _, _, layer = peft_model(8, 70, r=r, lora_alpha=alpha, use_rslora=use_rslora)
        ours = lowrank.lora_init(
            jax.random.PRNGKey(0), 70, 8, r, float(alpha), use_rslora=use_rslora
        )
        assert ours.scaling == pytest.approx(layer.scaling["default"], rel=1e-15)


@pytest.mark.parametrize("use_rslora", [False, True])
def test_pissa_matches_peft_and_reproduces_w(use_rslora: bool) -> None:
    r, alpha = 4, 8
    wrapped, weight, layer = peft_model(
        12, 10, r=r, lora_alpha=alpha, init_lora_weights="pissa", use_rslora=use_rslora
    )
    w = weight.numpy()
    for package, rng, convert in (
        (lowrank, jax.random.PRNGKey(0), np.asarray),
        (torch_lowrank, torch.Generator(), torch.from_numpy),
    ):
        params = package.lora_init(
            rng, 10, 12, r, float(alpha), init="pissa", weight=convert(w), use_rslora=use_rslora
        )
        A, B = np.asarray(params.A), np.asarray(params.B)
        A_peft = layer.lora_A["default"].weight.detach().numpy()
        B_peft = layer.lora_B["default"].weight.detach().numpy()
        signs = np.sign(np.sum(B * B_peft, axis=0))  # LAPACK's sign per component vs our rule
        np.testing.assert_allclose(A, A_peft * signs[:, None], atol=2e-6)
        np.testing.assert_allclose(B, B_peft * signs, atol=2e-6)
        residual = layer.base_layer.weight.detach().numpy()
        np.testing.assert_allclose(np.asarray(params.base_weight), residual, atol=2e-6)
        reproduced = np.asarray(params.base_weight) + params.scaling * B @ A
        np.testing.assert_allclose(reproduced, w, atol=2e-6)  # base + adapter = W at init
    x = torch.randn(5, 12)
    with torch.no_grad():
        expected = (x @ weight.T + layer.base_layer.bias).numpy()
        np.testing.assert_allclose(wrapped(x).numpy(), expected, atol=1e-5)


def test_dora_init_and_output_match_peft() -> None:
    wrapped, weight, layer = peft_model(6, 5, r=2, lora_alpha=4, use_dora=True)
    magnitude = layer.lora_magnitude_vector["default"].weight.detach().numpy()
    A = np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32)
    B = np.zeros((5, 2), np.float32)  # at init
    ours = lowrank.dora_magnitude(weight.numpy(), A, B, 2.0)
    np.testing.assert_allclose(ours, magnitude, rtol=1e-6)  # the row norms of W
    np.testing.assert_allclose(ours, np.linalg.norm(weight.numpy(), axis=1), rtol=1e-6)
    with torch.no_grad():  # a trained adapter: B != 0, magnitude moved
        layer.lora_B["default"].weight.copy_(torch.randn(5, 2))
        layer.lora_magnitude_vector["default"].weight.mul_(1.3)
    x = torch.randn(4, 6)
    with torch.no_grad():
        expected = wrapped(x).numpy()
    got = lowrank.dora_forward(
        x.numpy(),
        weight.numpy(),
        layer.lora_A["default"].weight.detach().numpy(),
        layer.lora_B["default"].weight.detach().numpy(),
        layer.lora_magnitude_vector["default"].weight.detach().numpy(),
        layer.scaling["default"],
        bias=layer.base_layer.bias.detach().numpy(),
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_merge_matches_peft_merge_and_unload() -> None:
    wrapped, weight, layer = peft_model(7, 4, r=3, lora_alpha=6)
    with torch.no_grad():
        layer.lora_B["default"].weight.copy_(torch.randn(4, 3))
    A = layer.lora_A["default"].weight.detach().numpy()
    B = layer.lora_B["default"].weight.detach().numpy()
    merged = wrapped.merge_and_unload().proj.weight.detach().numpy()
    ours = np.asarray(lowrank.lora_merge(weight.numpy(), A, B, layer.scaling["default"]))
    np.testing.assert_allclose(ours, merged, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_merge_unmerge_round_trip_and_forward(dtype: str) -> None:
    rng = np.random.default_rng(0)
    W, A, B = (rng.standard_normal(shape).astype(dtype) for shape in ((6, 5), (2, 5), (6, 2)))
    x = rng.standard_normal((3, 5)).astype(dtype)
    for package, convert in ((lowrank, np.asarray), (torch_lowrank, torch.from_numpy)):
        merged = package.lora_merge(convert(W), convert(A), convert(B), 2.0)
        back = np.asarray(package.lora_unmerge(merged, convert(A), convert(B), 2.0))
        np.testing.assert_allclose(back, W, atol=10 * EPS[dtype] * 10)
        forward = package.lora_forward(convert(x), convert(W), convert(A), convert(B), 2.0)
        np.testing.assert_allclose(
            np.asarray(forward), x @ np.asarray(merged).T, rtol=10 * EPS[dtype], atol=1e-5
        )


def test_dora_gradients_treat_the_norm_as_a_constant() -> None:
    """As the DoRA paper's section 4.3 and PEFT: the weight norm is detached, so the gradient in A
    equals the one computed with a fixed norm (and differs from the full derivative)."""
    rng = np.random.default_rng(1)
    x, W = rng.standard_normal((4, 6)), rng.standard_normal((5, 6))
    A, B = rng.standard_normal((2, 6)), rng.standard_normal((5, 2))
    m = np.abs(rng.standard_normal(5)) + 0.5
    norm = np.linalg.norm(W + 2.0 * B @ A, axis=1)

    def fixed(A: jax.Array) -> jax.Array:
        return jnp.sum((m / norm) * (x @ W.T + 2.0 * (x @ A.T) @ B.T))

    def ours(A: jax.Array) -> jax.Array:
        return jnp.sum(lowrank.dora_forward(x, W, A, B, m, 2.0))

    np.testing.assert_allclose(jax.grad(ours)(A), jax.grad(fixed)(A), rtol=1e-12)


def test_param_count() -> None:
    count = lowrank.lora_param_count(768, 768, 8)
    assert count == (12288, 589824, 12288 / 589824)
    assert f"{100 * count.fraction:.2f}%" == "2.08%"
