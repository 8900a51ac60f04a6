"""Randomized SVD: jaxmath vs sklearn vs torch.svd_lowrank, each one's error beside its time.

A rank-32 randomized SVD (10 oversamples, 4 power iterations for every contender) of a 4096 x 4096
float32 matrix with a decaying spectrum plus noise, :math:`\\sigma_i = e^{-i/8} + 0.02\\,\\nu_i`
(:math:`\\nu_i`: the quarter-circle quantiles of a square Gaussian noise matrix's singular values).
The matrix is built with these exact singular values, :math:`A = D_1 C P_1 \\operatorname{diag}(\\sigma)
P_2 C^T D_2` (C the orthonormal DCT-II, P permutations, D random signs: dense singular vectors in
O(n^2 log n)), so the optimal rank-32 error :math:`(\\sum_{i>32} \\sigma_i^2)^{1/2}` is known exactly;
Gaussian test matrices are rotation invariant, so the algorithms' error does not depend on which
orthogonal factors are used. Each contender's row carries its Frobenius error relative to that
optimum as its quality (target: <= 1.001, and no worse than sklearn's).

- ``jaxmath.randomized_svd``: jitted; shifted Cholesky-QR normalisation, products as ``Q^T A``.
- ``sklearn randomized_svd``: its default normaliser for n_iter > 2 (LU).
- ``torch.svd_lowrank``: q = k + 10, niter = 4 (Householder QR normalisation).

Work per iteration: 2 (2 n_iter + 2) m n l FLOPs (the products with A; l = 42), against the float32
matmul rate measured in the same run.

Each contender runs in its own worker process (isolation="process"): torch's and JAX's thread pools
slow each other when interleaved in one process (see benchmarks/backprop.py).

``FULL_SVD`` ("lowrank_full_svd"; ``python -m benchmarks lowrank`` runs both): the full SVD of a
768 x 768 float32 matrix in jaxmath (with the sign rule), jnp.linalg.svd, numpy and torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks._harness import Benchmark, Contender, Trial

DECAY = 8.0
NOISE = 0.02


def _spectrum(n: int) -> Any:
    """e^{-i/DECAY} + NOISE * the quarter-circle quantiles (an n x n Gaussian noise matrix's)."""
    import numpy as np

    grid = np.linspace(0.0, 2.0, 20001)
    cdf = (grid * np.sqrt(4.0 - grid**2) / 2.0 + 2.0 * np.arcsin(grid / 2.0)) / np.pi
    noise = np.interp(1.0 - (np.arange(n) + 0.5) / n, cdf, grid)
    return np.exp(-np.arange(n) / DECAY) + NOISE * noise


def test_matrix(n: int, seed: int = 0) -> tuple[Any, Any]:
    """(A float32 (n, n), its singular values float64): D1 C P1 diag(s) P2^T C^T D2."""
    import numpy as np
    import scipy.fft

    rng = np.random.default_rng(seed)
    sigma = _spectrum(n)
    permuted = np.zeros((n, n))
    permuted[rng.permutation(n), rng.permutation(n)] = sigma
    a = scipy.fft.dct(scipy.fft.dct(permuted, axis=0, norm="ortho"), axis=1, norm="ortho")
    a *= rng.choice([-1.0, 1.0], n)[:, None]
    a *= rng.choice([-1.0, 1.0], n)[None, :]
    return a.astype(np.float32), sigma


def _quality(params: Mapping[str, Any], a: Any, sigma: Any, factors: Any) -> dict[str, float]:
    """||A - U S Vh||_F / optimal (float64) of the contender's own output: the table's quality."""
    import numpy as np

    U, S, Vh = (np.asarray(factor, np.float64) for factor in factors)
    k = params["k"]
    optimal = float(np.sqrt(np.sum(sigma[k:] ** 2)))
    error = float(np.linalg.norm(a.astype(np.float64) - (U * S) @ Vh))
    return {"error_vs_optimal": error / optimal}


def _jaxmath(params: Mapping[str, Any]) -> Trial:
    import functools

    import jax

    from jaxmath import lowrank

    a_np, sigma = test_matrix(params["n"])
    a = jax.device_put(a_np)
    run = jax.jit(
        functools.partial(
            lowrank.randomized_svd,
            k=params["k"],
            n_oversamples=params["n_oversamples"],
            n_iter=params["n_iter"],
        )
    )
    key = jax.random.PRNGKey(0)
    return Trial(run=lambda: run(key, a), quality=_quality(params, a_np, sigma, run(key, a)))


def _sklearn(params: Mapping[str, Any]) -> Trial:
    from sklearn.utils.extmath import randomized_svd

    a, sigma = test_matrix(params["n"])

    def run() -> Any:
        return randomized_svd(
            a,
            params["k"],
            n_oversamples=params["n_oversamples"],
            n_iter=params["n_iter"],
            random_state=0,
        )

    return Trial(run=run, quality=_quality(params, a, sigma, run()))


def _torch(params: Mapping[str, Any]) -> Trial:
    import torch

    a_np, sigma = test_matrix(params["n"])
    a = torch.from_numpy(a_np)
    torch.manual_seed(0)
    columns = params["k"] + params["n_oversamples"]

    def run() -> Any:
        return torch.svd_lowrank(a, q=columns, niter=params["n_iter"])

    U, S, V = run()
    k = params["k"]
    return Trial(run=run, quality=_quality(params, a_np, sigma, (U[:, :k], S[:k], V[:, :k].T)))


def _params(quick: bool) -> dict[str, Any]:
    return {"n": 256 if quick else 4096, "k": 8 if quick else 32, "n_oversamples": 10, "n_iter": 4}


def _work(params: Mapping[str, Any]) -> dict[str, float]:
    n, columns = params["n"], params["k"] + params["n_oversamples"]
    return {"flops": 2.0 * (2 * params["n_iter"] + 2) * n * n * columns, "bytes": 0.0}


RANDOMIZED_SVD = Benchmark(
    name="lowrank_randomized_svd",
    description=(
        "rank-32 randomized SVD (p=10, q=4) of a 4096x4096 float32 matrix, decaying spectrum + noise"
    ),
    contenders=(
        Contender("jaxmath.randomized_svd (jit)", _jaxmath, ours=True),
        Contender("sklearn randomized_svd (LU)", _sklearn),
        Contender("torch.svd_lowrank", _torch),
    ),
    params=_params,
    work=_work,
    floor_ms=lambda params, limits: (
        _work(params)["flops"] / (limits["matmul_gflop_per_s"] * 1e9) * 1e3
    ),
    floor_note="the products with A at the float32 matmul rate",
    isolation="process",
    rounds=5,
    iterations_per_round=3,
)


# ------------------------------------------------------------------------------------------------
# Full SVD of a 768 x 768 matrix
# ------------------------------------------------------------------------------------------------


def _square(params: Mapping[str, Any]) -> Any:
    import numpy as np

    return np.random.default_rng(1).standard_normal((params["n"], params["n"])).astype(np.float32)


def _full_jaxmath(params: Mapping[str, Any]) -> Any:
    import jax

    from jaxmath import lowrank

    a = jax.device_put(_square(params))
    run = jax.jit(lowrank.svd)
    return lambda: run(a)


def _full_jnp(params: Mapping[str, Any]) -> Any:
    import jax
    import jax.numpy as jnp

    a = jax.device_put(_square(params))
    run = jax.jit(lambda matrix: jnp.linalg.svd(matrix, full_matrices=False))
    return lambda: run(a)


def _full_numpy(params: Mapping[str, Any]) -> Any:
    import numpy as np

    a = _square(params)
    return lambda: np.linalg.svd(a, full_matrices=False)


def _full_torch(params: Mapping[str, Any]) -> Any:
    import torch

    a = torch.from_numpy(_square(params))
    return lambda: torch.linalg.svd(a, full_matrices=False)


FULL_SVD = Benchmark(
    name="lowrank_full_svd",
    description="full (thin) SVD of a 768x768 float32 Gaussian matrix",
    contenders=(
        Contender("jaxmath.svd (jit, sign rule)", _full_jaxmath, ours=True),
        Contender("jnp.linalg.svd (jit)", _full_jnp, ours=True, note="without the sign rule"),
        Contender("numpy.linalg.svd", _full_numpy),
        Contender("torch.linalg.svd", _full_torch),
    ),
    params=lambda quick: {"n": 64 if quick else 768},
    isolation="process",
    rounds=5,
    iterations_per_round=3,
)


BENCHMARKS = (RANDOMIZED_SVD, FULL_SVD)
