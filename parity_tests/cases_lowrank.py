"""Case rows for jaxmath.lowrank: jaxmath == torch_ref == the upstreams (numpy / torch.linalg SVDs with
sklearn's svd_flip, sklearn's randomized_svd fed the same test matrix, torch.svd_lowrank, PCA,
scipy's entropy, and PEFT's own LoRA / PiSSA / DoRA layers). Joined into the one table by cases.py.

Random results are compared draw for draw only where both sides see the same numbers: sketched_svd
takes the Gaussian test matrix as an argument, and randomized_svd's rows use matrices whose spectrum
falls so fast (4^-i) that every draw gives the same factors to rounding. lora_init's random factors are
compared as distributions (two-sample KS test), PiSSA's deterministic ones by value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.stats
import torch

import jaxmath.lowrank  # noqa: F401  (binds jaxmath.lowrank, which the rows call by name)
import torch_ref.lowrank  # noqa: F401
from parity_tests.harness import (
    TOLERANCES,
    Case,
    ErrorInput,
    Framework,
    Reference,
    Sample,
    Tolerance,
    assert_trees_close,
)
from parity_tests.inputs import normal

# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------


def orthonormal(rng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
    """A (rows, columns) matrix with orthonormal columns (QR of a Gaussian matrix), float64."""
    q, r = np.linalg.qr(rng.standard_normal((rows, columns)))
    return q * np.sign(np.diag(r))


def with_spectrum(
    rng: np.random.Generator, shape: tuple[int, int], spectrum: np.ndarray, dtype: str
) -> np.ndarray:
    """A matrix of ``shape`` with the given singular values (float64 construction, then cast)."""
    p = len(spectrum)
    matrix = (orthonormal(rng, shape[0], p) * spectrum) @ orthonormal(rng, shape[1], p).T
    return matrix.astype(dtype)


def separated(p: int, top: float = 3.0) -> np.ndarray:
    """Distinct, well separated singular values (ratio 0.6): singular vectors well conditioned."""
    return top * 0.6 ** np.arange(p)


def steep(p: int) -> np.ndarray:
    """4^-i: a spectrum so steep that randomized SVD's result does not depend on its draw."""
    return 4.0 ** -np.arange(p)


# ------------------------------------------------------------------------------------------------
# References
# ------------------------------------------------------------------------------------------------


def flip_numpy(u: np.ndarray, vh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's svd_flip(u_based_decision=True) on the first p components; for full_matrices the
    unpartnered columns of U / rows of Vh get their own largest entry positive."""
    from sklearn.utils.extmath import svd_flip

    p = min(u.shape[1], vh.shape[0])
    thin_u, thin_vh = svd_flip(u[:, :p].copy(), vh[:p].copy(), u_based_decision=True)
    extra_u, extra_vh = u[:, p:], vh[p:]
    sign_u = np.sign(extra_u[np.argmax(np.abs(extra_u), axis=0), np.arange(extra_u.shape[1])])
    sign_vh = np.sign(extra_vh[np.arange(extra_vh.shape[0]), np.argmax(np.abs(extra_vh), axis=1)])
    return (
        np.concatenate([thin_u, extra_u * np.where(sign_u == 0, 1, sign_u)], axis=1),
        np.concatenate([thin_vh, extra_vh * np.where(sign_vh == 0, 1, sign_vh)[:, None]]),
    )


def numpy_svd(a: np.ndarray, full_matrices: bool = False) -> tuple[np.ndarray, ...]:
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    u, vh = flip_numpy(u, vh)
    return u, s, vh


def _signs_from_numpy(u: torch.Tensor, vh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """±1 per column of U / row of Vh that turns torch's factors into svd_flip's."""
    u_np, vh_np = u.detach().numpy(), vh.detach().numpy()
    flipped_u, flipped_vh = flip_numpy(u_np, vh_np)
    sign_u = np.sign(np.sum(flipped_u * u_np, axis=0))
    sign_vh = np.sign(np.sum(flipped_vh * vh_np, axis=1))
    return torch.from_numpy(sign_u).to(u.dtype), torch.from_numpy(sign_vh).to(vh.dtype)


def torch_svd(a: torch.Tensor, full_matrices: bool = False) -> tuple[torch.Tensor, ...]:
    """torch.linalg.svd, signs by sklearn's svd_flip (constants: autograd flows through U, S, Vh)."""
    u, s, vh = torch.linalg.svd(a, full_matrices=full_matrices)
    sign_u, sign_vh = _signs_from_numpy(u, vh)
    return u * sign_u, s, vh * sign_vh[:, None]


def numpy_low_rank(a: np.ndarray, k: int) -> np.ndarray:
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vh[:k]


def torch_low_rank(a: torch.Tensor, k: int) -> torch.Tensor:
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vh[:k]


def reconstruction_error(s: np.ndarray, k: int, norm: str = "fro") -> np.ndarray:
    """numpy.linalg.norm(A - A_k) for a matrix A built with singular values s (a fixed rotation):
    the Eckart–Young error measured, not computed from s."""
    s64 = np.asarray(s, np.float64)
    a = with_spectrum(np.random.default_rng(7), (len(s64) + 3, len(s64) + 1), s64, "float64")
    error = np.linalg.norm(a - numpy_low_rank(a, k), "fro" if norm == "fro" else 2)
    return np.asarray(error, dtype=s.dtype)


def pca_energy(s: np.ndarray, k: int | None = None) -> np.ndarray:
    """sklearn PCA's cumulative explained_variance_ratio_ on centred data with singular values s."""
    from sklearn.decomposition import PCA

    s64 = np.asarray(s, np.float64)
    p, rng = len(s64), np.random.default_rng(3)
    samples = p + 4
    basis = orthonormal(rng, samples, p + 1)
    ones = np.ones((samples, 1)) / np.sqrt(samples)
    basis = basis - ones @ (ones.T @ basis)  # centred: orthogonal to the constant vector
    basis = np.linalg.qr(basis)[0][:, :p]
    data = (basis * s64) @ orthonormal(rng, p, p).T
    curve = np.cumsum(PCA(n_components=p, svd_solver="full").fit(data).explained_variance_ratio_)
    return np.asarray(curve if k is None else curve[k - 1], dtype=s.dtype)


def entropy_rank(s: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.asarray(np.exp(scipy.stats.entropy(np.asarray(s, np.float64))), dtype=s.dtype)


def numpy_stable_rank(a: np.ndarray) -> np.ndarray:
    return np.asarray(np.linalg.norm(a, "fro") ** 2 / np.linalg.norm(a, 2) ** 2, dtype=a.dtype)


def torch_stable_rank(a: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(a, "fro") ** 2 / torch.linalg.matrix_norm(a, 2) ** 2


class _FixedNormal(np.random.RandomState):
    """A RandomState whose normal() returns a given matrix: feeds sklearn our test matrix."""

    def __init__(self, matrix: np.ndarray) -> None:
        super().__init__(0)
        self.matrix = matrix

    def normal(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.matrix.copy()


def sklearn_sketched(
    a: np.ndarray, test_matrix: np.ndarray, k: int | None = None, n_iter: int = 4
) -> tuple[np.ndarray, ...]:
    """sklearn.utils.extmath.randomized_svd with our Ω, QR normalisation, no transpose, svd_flip."""
    from sklearn.utils.extmath import randomized_svd

    columns = test_matrix.shape[1]
    k = columns if k is None else k
    u, s, vh = randomized_svd(
        a,
        k,
        n_oversamples=columns - k,
        n_iter=n_iter,
        power_iteration_normalizer="QR",
        transpose=False,
        flip_sign=False,
        random_state=_FixedNormal(test_matrix.astype(a.dtype)),
    )
    u, vh = flip_numpy(u, vh)
    return u, s, vh


def sklearn_randomized(
    seed: int, a: np.ndarray, k: int, n_oversamples: int = 10, n_iter: int = 4
) -> tuple[np.ndarray, ...]:
    from sklearn.utils.extmath import randomized_svd

    u, s, vh = randomized_svd(
        a, k, n_oversamples=n_oversamples, n_iter=n_iter, random_state=seed, flip_sign=False
    )
    u, vh = flip_numpy(u, vh)
    return u, s, vh


def torch_svd_lowrank(
    seed: int, a: np.ndarray, k: int, n_oversamples: int = 10, n_iter: int = 4
) -> tuple[np.ndarray, ...]:
    """torch.svd_lowrank(q = k + n_oversamples, niter = n_iter), seeded, svd_flip'ed (NumPy out)."""
    columns = min(k + n_oversamples, *a.shape)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        u, s, v = torch.svd_lowrank(torch.from_numpy(a), q=columns, niter=n_iter)
    u, vh = flip_numpy(u[:, :k].numpy(), v[:, :k].T.numpy())
    return u, s[:k].numpy(), vh


# PEFT: a torch.nn.Linear wrapped by peft.tuners.lora.Linear (the LoraLayer of get_peft_model)


def peft_layer(
    weight: torch.Tensor,
    r: int,
    alpha: float = 8.0,
    bias: torch.Tensor | None = None,
    **config: Any,
) -> Any:
    from peft import LoraConfig
    from peft.tuners.lora.layer import Linear as LoraLinear

    d_out, d_in = weight.shape
    base = torch.nn.Linear(d_in, d_out, bias=bias is not None, dtype=weight.dtype)
    with torch.no_grad():
        base.weight.copy_(weight)
        if bias is not None:
            base.bias.copy_(bias)
    lora_config = LoraConfig(r=r, lora_alpha=alpha, **config)
    return LoraLinear(base, "default", config=lora_config, r=r, lora_alpha=alpha)


def peft_parameters(
    layer: Any,
    weight: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    bias: torch.Tensor | None = None,
    magnitude: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The tensors to substitute with torch.func.functional_call (autograd flows into them)."""
    parameters = {
        "base_layer.weight": weight,
        "lora_A.default.weight": A,
        "lora_B.default.weight": B,
    }
    if bias is not None:
        parameters["base_layer.bias"] = bias
    if magnitude is not None:
        parameters["lora_magnitude_vector.default.weight"] = magnitude
    return parameters


def peft_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    scaling: float,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    layer = peft_layer(weight.detach(), A.shape[0], bias=None if bias is None else bias.detach())
    layer.scaling["default"] = scaling
    parameters = peft_parameters(layer, weight, A, B, bias)
    return torch.func.functional_call(layer, parameters, (x,))


def merged_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    scaling: float,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """torch.nn.functional.linear with the merged weight W + s BA."""
    return torch.nn.functional.linear(x, weight + scaling * (B @ A), bias)


def peft_delta(weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float) -> Any:
    """PEFT's get_delta_weight through functional_call (differentiable in A and B)."""
    layer = peft_layer(weight.detach(), A.shape[0])
    layer.scaling["default"] = scaling
    for module, tensor in ((layer.lora_A["default"], A), (layer.lora_B["default"], B)):
        del module.weight  # a plain tensor in the parameter's place: autograd reaches A and B
        module.weight = tensor
    return layer.get_delta_weight("default")


def peft_merged_weight(
    weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float
) -> torch.Tensor:
    return weight + peft_delta(weight, A, B, scaling)


def peft_unmerged_weight(
    weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float
) -> torch.Tensor:
    return weight - peft_delta(weight, A, B, scaling)


def _peft_with_factors(
    weight: np.ndarray, A: np.ndarray, B: np.ndarray, scaling: float, **config: Any
) -> Any:
    layer = peft_layer(torch.from_numpy(np.array(weight)), A.shape[0], **config)
    layer.scaling["default"] = scaling
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(torch.from_numpy(np.array(A)))
        layer.lora_B["default"].weight.copy_(torch.from_numpy(np.array(B)))
    return layer


def peft_merge(weight: np.ndarray, A: np.ndarray, B: np.ndarray, scaling: float) -> np.ndarray:
    """PEFT's layer.merge() (in place on the base weight), read back."""
    layer = _peft_with_factors(weight, A, B, scaling)
    layer.merge()
    return layer.base_layer.weight.detach().numpy().copy()


def peft_unmerge(weight: np.ndarray, A: np.ndarray, B: np.ndarray, scaling: float) -> np.ndarray:
    """PEFT's unmerge of a layer whose base weight holds the merged ``weight``."""
    layer = _peft_with_factors(weight, A, B, scaling)
    layer.merged_adapters.append("default")
    layer.unmerge()
    return layer.base_layer.weight.detach().numpy().copy()


def peft_weight_norm(
    weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float
) -> torch.Tensor:
    """PEFT's DoraLinearLayer.get_weight_norm(W, B @ A, scaling), the DoRA magnitude's formula."""
    from peft.tuners.lora.dora import DoraLinearLayer

    return DoraLinearLayer(fan_in_fan_out=False).get_weight_norm(weight, B @ A, scaling)


def peft_dora_init(weight: np.ndarray, A: np.ndarray, B: np.ndarray, scaling: float) -> np.ndarray:
    """The magnitude PEFT's DoRA variant initialises (update_layer) for these factors."""
    layer = _peft_with_factors(weight, A, B, scaling, use_dora=True)
    dora = layer.lora_magnitude_vector["default"]
    dora.update_layer(
        base_layer=layer.base_layer,
        lora_A=layer.lora_A["default"].weight,
        lora_B=layer.lora_B["default"].weight,
        scaling=scaling,
    )
    return dora.weight.detach().numpy().copy()


def peft_dora_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    magnitude: torch.Tensor,
    scaling: float,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    layer = peft_layer(
        weight.detach(),
        A.shape[0],
        bias=None if bias is None else bias.detach(),
        use_dora=True,
    )
    layer.scaling["default"] = scaling
    parameters = peft_parameters(layer, weight, A, B, bias, magnitude)
    return torch.func.functional_call(layer, parameters, (x,))


PEFT_INITS = {"kaiming": True, "gaussian": "gaussian", "pissa": "pissa"}


def peft_lora_init(
    seed: int,
    d_out: int,
    d_in: int,
    r: int,
    alpha: float,
    init: str = "kaiming",
    weight: np.ndarray | None = None,
    use_rslora: bool = False,
    dtype: str | None = None,
) -> tuple[Any, ...]:
    """What PEFT's LoraLayer initialises: (lora_A, lora_B, scaling, base weight after init).

    PEFT computes PiSSA in float32 only (it refuses float64 weights): float64 weights are cast.
    """
    torch_dtype = getattr(torch, dtype or (str(weight.dtype) if weight is not None else "float32"))
    if init == "pissa":
        torch_dtype = torch.float32
    with torch.random.fork_rng():
        torch.manual_seed(seed + 1)
        base = (
            torch.from_numpy(np.array(weight)).to(torch_dtype)
            if weight is not None
            else torch.zeros(d_out, d_in, dtype=torch_dtype)
        )
        layer = peft_layer(
            base, r, alpha, init_lora_weights=PEFT_INITS[init], use_rslora=use_rslora
        )
    return (
        layer.lora_A["default"].weight.detach().numpy(),
        layer.lora_B["default"].weight.detach().numpy(),
        layer.scaling["default"],
        None if weight is None else layer.base_layer.weight.detach().numpy(),
    )


def peft_param_count(d_out: int, d_in: int, r: int) -> tuple[int, int, float]:
    """PEFT's get_nb_trainable_parameters on a bias-free Linear wrapped by get_peft_model."""
    from peft import LoraConfig, get_peft_model

    model = torch.nn.Sequential(torch.nn.Linear(d_in, d_out, bias=False))
    peft_model = get_peft_model(model, LoraConfig(r=r, target_modules=["0"]))
    trainable, total = peft_model.get_nb_trainable_parameters()
    return trainable, total - trainable, trainable / (total - trainable)


# ------------------------------------------------------------------------------------------------
# Comparisons
# ------------------------------------------------------------------------------------------------


def _align_pissa(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PiSSA's factors with the module's sign rule applied through B's columns (B = U_r sqrt(S_r))."""
    rows = np.argmax(np.abs(B), axis=0)
    signs = np.sign(B[rows, np.arange(B.shape[1])])
    signs = np.where(signs == 0, 1, signs)
    return A * signs[:, None], B * signs


def compare_lora_init(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """Same scaling; B = 0 and A drawn from the same distribution (KS p > 1e-3, std within 3%) for the
    random inits; PiSSA's A, B (after the sign rule) and residual equal. A float32 expected value
    (PEFT's PiSSA runs in float32 only) is compared at float32's tolerance."""
    A, B, scaling, base = actual
    A_ref, B_ref, scaling_ref, base_ref = expected
    A, B, A_ref, B_ref = (np.asarray(value) for value in (A, B, A_ref, B_ref))
    assert A.shape == A_ref.shape and B.shape == B_ref.shape, f"{context}: shapes"
    np.testing.assert_allclose(scaling, scaling_ref, rtol=1e-12, err_msg=f"{context}: scaling")
    assert (base is None) == (base_ref is None), f"{context}: base weight presence"
    if A.dtype == np.float64 and A_ref.dtype == np.float32:
        tol = TOLERANCES["matmul"]["float32"]
    if not B.any():
        assert not B_ref.any(), f"{context}: B must be zero at init"
        result = scipy.stats.ks_2samp(A.ravel(), A_ref.ravel())
        assert result.pvalue > 1e-3, f"{context}: KS p = {result.pvalue:.2e}"
        np.testing.assert_allclose(A.std(), A_ref.std(), rtol=0.03, err_msg=context)
        if base is not None:
            assert_trees_close(base, base_ref, tol, f"{context}: base weight")
        return
    assert_trees_close(_align_pissa(A, B), _align_pissa(A_ref, B_ref), tol, f"{context}: A, B")
    assert_trees_close(base, base_ref, tol, f"{context}: residual")


# ------------------------------------------------------------------------------------------------
# Samples
# ------------------------------------------------------------------------------------------------

SVD_SHAPES = ((5, 3), (3, 5), (4, 4), (6, 1), (1, 1))


def svd_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for shape in SVD_SHAPES:
        a = with_spectrum(rng, shape, separated(min(shape)), dtype)
        yield Sample((a,), {}, f"{shape}")


def svd_full_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for shape in ((4, 3), (3, 4), (4, 4)):  # complements of dimension <= 1: unique up to sign
        a = with_spectrum(rng, shape, separated(min(shape)), dtype)
        yield Sample((a,), {"full_matrices": True}, f"{shape} full")


def scaled_matrix_edges(dtype: str) -> Iterator[Sample]:
    rng = np.random.default_rng(11)
    for scale in (1e15, 1e-15):
        a = with_spectrum(rng, (5, 4), separated(4), "float64") * scale
        yield Sample((a.astype(dtype),), {}, f"entries ~{scale:g}")


def svd_huge_edge(dtype: str) -> Iterator[Sample]:
    """Entries ~1e15 (gradients ~1e-15). At ~1e-15 the gradients are ~1e15 and agree to 5e-7 of
    their largest entry, which the table's absolute atol cannot express: that scale is compared by
    value in the 'tiny' row and by gradient in tests/test_lowrank.py."""
    yield from (s for s in scaled_matrix_edges(dtype) if "1e+15" in s.description)


def svd_tiny_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    yield from (s for s in scaled_matrix_edges(dtype) if "1e-15" in s.description)


def low_rank_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for shape, k in (((6, 4), 1), ((6, 4), 2), ((6, 4), 4), ((3, 5), 2), ((1, 1), 1)):
        a = with_spectrum(rng, shape, separated(min(shape)), dtype)
        yield Sample((a,), {"k": k}, f"{shape} k={k}")


def low_rank_edges(dtype: str) -> Iterator[Sample]:
    for sample in scaled_matrix_edges(dtype):
        yield Sample(sample.args, {"k": 2}, sample.description + ", k=2")


def rank_deficient_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    """Exactly low-rank matrices: A_k = A for k = rank; repeated zero singular values leave the
    SVD's derivative undefined, so this row compares values only."""
    for shape, rank in (((5, 4), 2), ((3, 6), 1)):
        a = with_spectrum(rng, shape, separated(rank), dtype)
        yield Sample((a,), {"k": rank}, f"{shape} rank {rank}, k={rank}")


def spectrum(rng: np.random.Generator, p: int, dtype: str) -> np.ndarray:
    return np.sort(rng.uniform(0.1, 3.0, p))[::-1].astype(dtype)


def eckart_young_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    s = spectrum(rng, 5, dtype)
    for k in (1, 2, 4, 5):
        yield Sample((s,), {"k": k}, f"p=5 k={k}, fro (default norm)")
        yield Sample((s,), {"k": k, "norm": "spectral"}, f"p=5 k={k}, spectral")
    yield Sample((spectrum(rng, 1, dtype),), {"k": 1}, "p=1 k=1")


def eckart_young_edges(dtype: str) -> Iterator[Sample]:
    s = np.array([3.0, 1.0, 0.0, 0.0], dtype)
    yield Sample((s,), {"k": 2}, "zero tail: error 0 (gradient 0, not NaN)")
    big = np.array([1e20, 5e19, 1e19], dtype)
    yield Sample((big,), {"k": 1}, "s ~1e20 (squares overflow float32)")


def energy_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    s = spectrum(rng, 6, dtype)
    yield Sample((s,), {}, "p=6 curve (k=None)")
    for k in (1, 3, 6):
        yield Sample((s,), {"k": k}, f"p=6 k={k}")
    yield Sample((spectrum(rng, 1, dtype),), {}, "p=1")


def energy_edges(dtype: str) -> Iterator[Sample]:
    yield Sample((np.array([2.0, 1.0, 0.0], dtype),), {}, "a zero singular value")
    yield Sample((np.array([1e20, 3e19, 1e18], dtype),), {}, "s ~1e20")


def effective_rank_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for p in (1, 3, 8):
        yield Sample((spectrum(rng, p, dtype),), {}, f"p={p}")
    yield Sample((rng.uniform(0.1, 3.0, 5).astype(dtype),), {}, "unsorted")


def effective_rank_edges(dtype: str) -> Iterator[Sample]:
    yield Sample((np.array([2.0, 0.0, 0.0], dtype),), {}, "rank one: 1")
    yield Sample((np.full(4, 0.7, dtype),), {}, "equal values: 4")
    yield Sample((np.array([1e30, 2e29, 1e29], dtype),), {}, "s ~1e30")


def stable_rank_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for shape in ((5, 3), (3, 6), (4, 4), (1, 1)):
        yield Sample((with_spectrum(rng, shape, separated(min(shape)), dtype),), {}, f"{shape}")


def stable_rank_edges(dtype: str) -> Iterator[Sample]:
    yield from scaled_matrix_edges(dtype)
    rank_one = np.outer([1.0, 2.0, -1.0], [0.5, 1.0]).astype(dtype)
    yield Sample((rank_one,), {}, "rank one: 1")


def sketch_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    a = with_spectrum(rng, (20, 12), separated(12), dtype)
    omega = normal(rng, (12, 6), dtype, scale=1.0)
    yield Sample((a, omega), {}, "(20, 12), l=6, defaults (k=l, n_iter=4)")
    yield Sample((a, omega), {"k": 3, "n_iter": 1}, "k=3 n_iter=1")
    wide = with_spectrum(rng, (8, 15), separated(8), dtype)
    yield Sample((wide, normal(rng, (15, 5), dtype, 1.0)), {"k": 2, "n_iter": 0}, "wide, n_iter=0")


def randomized_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    a = with_spectrum(rng, (40, 30), steep(30), dtype)
    yield Sample((0, a, 3), {}, "(40, 30) 4^-i spectrum, k=3, defaults")
    yield Sample((1, a, 3), {"n_oversamples": 5, "n_iter": 3}, "k=3 p=5 q=3")
    tall = with_spectrum(rng, (30, 8), steep(8), dtype)
    yield Sample((2, tall, 2), {"n_oversamples": 20}, "l clipped to min(m, n)")


def call_randomized(framework: Framework, seed: int, a: Any, k: int, **kwargs: Any) -> Any:
    return framework.package.lowrank.randomized_svd(framework.rng(seed), a, k, **kwargs)


def lora_factors(
    rng: np.random.Generator, d_out: int, d_in: int, r: int, dtype: str
) -> tuple[np.ndarray, ...]:
    return (
        normal(rng, (d_out, d_in), dtype, 0.5),
        normal(rng, (r, d_in), dtype, 0.5),
        normal(rng, (d_out, r), dtype, 0.5),
    )


def lora_forward_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for batch, d_out, d_in, r, scaling in (
        ((4,), 5, 6, 2, 2.0),
        ((2, 3), 3, 4, 1, 0.5),
        ((1,), 8, 3, 3, 16.0),
    ):
        W, A, B = lora_factors(rng, d_out, d_in, r, dtype)
        x = normal(rng, (*batch, d_in), dtype, 1.0)
        yield Sample((x, W, A, B, scaling), {}, f"x {(*batch, d_in)} W {(d_out, d_in)} r={r}")
    W, A, B = lora_factors(rng, 5, 7, 2, dtype)  # shapes of its own: its own jit group
    x, bias = normal(rng, (4, 7), dtype, 1.0), normal(rng, (5,), dtype, 1.0)
    yield Sample((x, W, A, B, 2.0), {"bias": bias}, "with bias")


def lora_shape_errors(with_x: bool, magnitude: bool = False) -> Callable[[], Iterator[ErrorInput]]:
    """Shapes of W, A, B (and x) that do not chain, and a 1-D weight."""

    def errors() -> Iterator[ErrorInput]:
        W, A, B = np.zeros((5, 6)), np.zeros((2, 6)), np.zeros((5, 2))
        m = (np.ones(5),) if magnitude else ()
        lead = (np.zeros((4, 6)),) if with_x else ()
        yield ErrorInput(
            Sample((*lead, W, np.zeros((2, 7)), B, *m, 1.0), {}, "A's d_in != W's"),
            ValueError,
            r"A must have shape \(r, 6\) to match weight \(5, 6\), got \(2, 7\)",
        )
        yield ErrorInput(
            Sample((*lead, W, A, np.zeros((5, 3)), *m, 1.0), {}, "B's r != A's"),
            ValueError,
            r"B must have shape \(5, 2\) to match weight \(5, 6\) and A \(2, 6\), got \(5, 3\)",
        )
        yield ErrorInput(
            Sample((*lead, W, A, np.zeros((4, 2)), *m, 1.0), {}, "B's d_out != W's"),
            ValueError,
            r"B must have shape \(5, 2\) to match weight \(5, 6\) and A \(2, 6\), got \(4, 2\)",
        )
        yield ErrorInput(
            Sample((*lead, np.zeros(6), A, B, *m, 1.0), {}, "1-D weight"),
            ValueError,
            r"weight must be a 2-D matrix, got shape \(6,\)",
        )
        if with_x:
            yield ErrorInput(
                Sample((np.zeros((4, 5)), W, A, B, *m, 1.0), {}, "x's features != d_in"),
                ValueError,
                r"x must have shape \(\.\.\., 6\) to match weight \(5, 6\), got \(4, 5\)",
                upstream_rejects=True,
                upstream_exception=RuntimeError,
                upstream_match="cannot be multiplied",
            )
            yield ErrorInput(
                Sample((np.zeros((4, 6)), W, A, B, *m, 1.0), {"bias": np.zeros(4)}, "bias"),
                ValueError,
                r"bias must have shape \(5,\) to match weight \(5, 6\), got \(4,\)",
            )
        yield ErrorInput(
            Sample((*lead, W, A, B, *m, "2"), {}, "string scaling"),
            TypeError,
            r"scaling must be a real number, got '2'",
        )

    return errors


def merge_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for d_out, d_in, r, scaling in ((5, 6, 2, 2.0), (3, 3, 3, 0.25), (7, 2, 1, 8.0)):
        W, A, B = lora_factors(rng, d_out, d_in, r, dtype)
        yield Sample((W, A, B, scaling), {}, f"W {(d_out, d_in)} r={r} s={scaling}")


def dora_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for batch, d_out, d_in, r, scaling in (((4,), 5, 6, 2, 2.0), ((2, 3), 3, 4, 1, 0.5)):
        W, A, B = lora_factors(rng, d_out, d_in, r, dtype)
        magnitude = np.abs(normal(rng, (d_out,), dtype, 1.0)) + 0.5
        x = normal(rng, (*batch, d_in), dtype, 1.0)
        yield Sample((x, W, A, B, magnitude, scaling), {}, f"x {(*batch, d_in)} r={r}")
    W, A, B = lora_factors(rng, 5, 7, 2, dtype)  # shapes of its own: its own jit group
    magnitude = np.abs(normal(rng, (5,), dtype, 1.0)) + 0.5
    x, bias = normal(rng, (4, 7), dtype, 1.0), normal(rng, (5,), dtype, 1.0)
    yield Sample((x, W, A, B, magnitude, 2.0), {"bias": bias}, "with bias")


def lora_init_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    yield Sample((0, 200, 300, 64, 16.0), {"dtype": dtype}, "kaiming (default init) r=64")
    yield Sample((1, 200, 300, 64, 16.0), {}, "defaults (float32)")
    yield Sample((2, 100, 200, 64, 8.0), {"init": "gaussian", "dtype": dtype}, "gaussian r=64")
    yield Sample(
        (3, 100, 200, 32, 8.0), {"use_rslora": True, "dtype": dtype}, "kaiming, rsLoRA scaling"
    )
    W = normal(rng, (60, 50), dtype, 0.3)
    yield Sample((4, 60, 50, 40, 16.0), {"weight": W}, "kaiming with a weight (kept as base)")
    for r, alpha, rslora in ((4, 8.0, False), (6, 3.0, True), (1, 1.0, False)):
        W = with_spectrum(rng, (12, 10), separated(10), dtype)
        yield Sample(
            (5 + r, 12, 10, r, alpha),
            {"init": "pissa", "weight": W, "use_rslora": rslora},
            f"pissa r={r} alpha={alpha} rslora={rslora}",
        )


def call_lora_init(framework: Framework, seed: int, *args: Any, **kwargs: Any) -> Any:
    return framework.package.lowrank.lora_init(framework.rng(seed), *args, **kwargs)


def lora_init_errors() -> Iterator[ErrorInput]:
    weight = np.zeros((5, 4))
    for name, position, value, message in (
        ("r", 3, 0, r"r must be >= 1, got 0"),
        ("r", 3, -2, r"r must be >= 1, got -2"),
        ("alpha", 4, 0.0, r"alpha must be > 0.0, got 0.0"),
        ("alpha", 4, -1.0, r"alpha must be > 0.0, got -1.0"),
        ("d_out", 1, 0, r"d_out must be >= 1, got 0"),
    ):
        args = [0, 5, 4, 2, 8.0]
        args[position] = value
        yield ErrorInput(Sample(tuple(args), {}, f"{name}={value}"), ValueError, message)
    yield ErrorInput(
        Sample((0, 5, 4, 2.5, 8.0), {}, "float r"),
        TypeError,
        r"r must be a Python int \(static under jit\), got 2.5",
    )
    yield ErrorInput(
        Sample((0, 5, 4, 2, 8.0), {"init": "pissa"}, "PiSSA without a weight"),
        ValueError,
        r"weight is required for init='pissa', got None",
    )
    yield ErrorInput(
        Sample((0, 5, 4, 5, 8.0), {"init": "pissa", "weight": weight}, "PiSSA r > min"),
        ValueError,
        r"r must be <= min\(d_out, d_in\) = 4 for PiSSA, got 5",
    )
    yield ErrorInput(
        Sample((0, 5, 4, 2, 8.0), {"init": "orthogonal"}, "unknown init"),
        ValueError,
        r"init must be one of 'kaiming', 'gaussian', 'pissa', got 'orthogonal'",
    )
    yield ErrorInput(
        Sample((0, 5, 4, 2, 8.0), {"weight": np.zeros((4, 5))}, "weight (in, out)"),
        ValueError,
        r"weight must have shape \(d_out, d_in\) = \(5, 4\), got \(4, 5\)",
    )
    yield ErrorInput(
        Sample((0, 5, 4, 2, 8.0), {"weight": np.zeros(20)}, "1-D weight"),
        ValueError,
        r"weight must be a 2-D matrix, got shape \(20,\)",
    )
    yield ErrorInput(
        Sample((0, 5, 4, 2, 8.0), {"dtype": "int32"}, "integer dtype"),
        ValueError,
        r"dtype must be one of 'float32', 'float64', got 'int32'",
    )


def matrix_errors(
    extra_args: tuple[Any, ...] = (), kwargs: dict | None = None
) -> Iterator[ErrorInput]:
    """A non-2-D matrix and an integer one."""
    kwargs = kwargs or {}
    yield ErrorInput(
        Sample((*extra_args[:1], np.zeros(4), *extra_args[1:]), kwargs, "1-D a"),
        ValueError,
        r"a must be a 2-D matrix, got shape \(4,\)",
    )
    yield ErrorInput(
        Sample((*extra_args[:1], np.zeros((2, 3, 4)), *extra_args[1:]), kwargs, "3-D a"),
        ValueError,
        r"a must be a 2-D matrix, got shape \(2, 3, 4\)",
    )
    yield ErrorInput(
        Sample((*extra_args[:1], np.ones((3, 3), np.int64), *extra_args[1:]), kwargs, "int a"),
        TypeError,
        r"a must be a floating-point array, got dtype int64",
    )


def rank_errors(make: Callable[[int], Sample], limit_message: str) -> Iterator[ErrorInput]:
    """k <= 0, k > min(m, n), and a non-int k."""
    for k in (0, -1):
        yield ErrorInput(make(k), ValueError, rf"k must be >= 1, got {k}")
    yield ErrorInput(make(9), ValueError, limit_message)
    yield ErrorInput(make(2.0), TypeError, r"k must be a Python int \(static under jit\), got 2.0")


def svd_errors() -> Iterator[ErrorInput]:
    yield from matrix_errors()
    yield ErrorInput(
        Sample((np.ones((3, 2)),), {"full_matrices": "yes"}, "full_matrices a string"),
        TypeError,
        r"full_matrices must be a bool, got 'yes'",
    )


def low_rank_errors() -> Iterator[ErrorInput]:
    yield from matrix_errors(kwargs={"k": 1})
    yield from rank_errors(
        lambda k: Sample((np.ones((5, 3)),), {"k": k}, f"k={k}"),
        r"k must be <= min\(m, n\) = 3 for a matrix of shape \(5, 3\), got 9",
    )


def spectrum_errors(with_norm: bool) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        yield from rank_errors(
            lambda k: Sample((np.ones(4),), {"k": k}, f"k={k}"),
            r"k must be <= min\(m, n\) = 4 \(the length of s\), got 9",
        )
        yield ErrorInput(
            Sample((np.ones((2, 2)),), {"k": 1}, "2-D s"),
            ValueError,
            r"s must be a 1-D array of singular values, got shape \(2, 2\)",
        )
        if with_norm:
            yield ErrorInput(
                Sample((np.ones(3),), {"k": 1, "norm": "nuclear"}, "unknown norm"),
                ValueError,
                r"norm must be one of 'fro', 'spectral', got 'nuclear'",
            )

    return errors


def sketch_errors() -> Iterator[ErrorInput]:
    a, omega = np.ones((6, 5)), np.ones((5, 3))
    yield ErrorInput(
        Sample((np.ones(5), omega), {}, "1-D a"),
        ValueError,
        r"a must be a 2-D matrix, got shape \(5,\)",
    )
    yield ErrorInput(
        Sample((a, np.ones((4, 3))), {}, "Ω rows != n"),
        ValueError,
        r"test_matrix must have shape \(5, l\) with l <= min\(m, n\) = 5 for a of shape \(6, 5\), got \(4, 3\)",
    )
    yield ErrorInput(
        Sample((a, np.ones((5, 6))), {}, "l > min(m, n)"),
        ValueError,
        r"test_matrix must have shape \(5, l\) with l <= min\(m, n\) = 5 for a of shape \(6, 5\), got \(5, 6\)",
    )
    yield ErrorInput(
        Sample((a, omega), {"k": 4}, "k > l"),
        ValueError,
        r"k must be <= l = 3 \(test_matrix's columns\), got 4",
    )
    yield ErrorInput(Sample((a, omega), {"k": 0}, "k = 0"), ValueError, r"k must be >= 1, got 0")
    yield ErrorInput(
        Sample((a, omega), {"n_iter": -1}, "n_iter < 0"), ValueError, r"n_iter must be >= 0, got -1"
    )


def randomized_errors() -> Iterator[ErrorInput]:
    yield ErrorInput(
        Sample((0, np.ones(5), 1), {}, "1-D a"),
        ValueError,
        r"a must be a 2-D matrix, got shape \(5,\)",
    )
    yield from rank_errors(
        lambda k: Sample((0, np.ones((6, 4)), k), {}, f"k={k}"),
        r"k must be <= min\(m, n\) = 4 for a matrix of shape \(6, 4\), got 9",
    )
    yield ErrorInput(
        Sample((0, np.ones((6, 4)), 2), {"n_oversamples": -3}, "n_oversamples < 0"),
        ValueError,
        r"n_oversamples must be >= 0, got -3",
    )
    yield ErrorInput(
        Sample((0, np.ones((6, 4)), 2), {"n_iter": -1}, "n_iter < 0"),
        ValueError,
        r"n_iter must be >= 0, got -1",
    )


def param_count_errors() -> Iterator[ErrorInput]:
    yield ErrorInput(Sample((8, 8, 0), {}, "r = 0"), ValueError, r"r must be >= 1, got 0")
    yield ErrorInput(Sample((8, 8, -4), {}, "r < 0"), ValueError, r"r must be >= 1, got -4")
    yield ErrorInput(Sample((0, 8, 2), {}, "d_out = 0"), ValueError, r"d_out must be >= 1, got 0")


def dora_errors() -> Iterator[ErrorInput]:
    yield from lora_shape_errors(with_x=True, magnitude=True)()
    yield ErrorInput(
        Sample(
            (
                np.zeros((4, 6)),
                np.zeros((5, 6)),
                np.zeros((2, 6)),
                np.zeros((5, 2)),
                np.ones(6),
                1.0,
            ),
            {},
            "magnitude per input feature",
        ),
        ValueError,
        r"magnitude must have shape \(5,\) to match weight \(5, 6\), got \(6,\)",
    )


KEYWORD_K = (
    "k is a required static int, passed by keyword so that jit keeps it static; the samples "
    "leave every other option at its default"
)
PYTHON_NUMBERS = "the result is Python ints and a float, computed from static sizes"

LOWRANK_CASES: list[Case] = [
    Case(
        "svd",
        "lowrank",
        svd_samples,
        references=(
            Reference("torch.linalg.svd + svd_flip", torch_svd),
            Reference("numpy.linalg.svd + sklearn svd_flip", numpy_svd, "numpy"),
        ),
        edge_inputs=svd_huge_edge,
        error_inputs=svd_errors,
        kind="matmul",
    ),
    Case(
        "svd",
        "lowrank",
        svd_tiny_samples,
        references=(
            Reference("torch.linalg.svd + svd_flip", torch_svd),
            Reference("numpy.linalg.svd + sklearn svd_flip", numpy_svd, "numpy"),
        ),
        grad_argnums=(),
        kind="matmul",
        variant="tiny entries",
    ),
    Case(
        "svd",
        "lowrank",
        svd_full_samples,
        references=(
            Reference("torch.linalg.svd + svd_flip", torch_svd),
            Reference("numpy.linalg.svd + sklearn svd_flip", numpy_svd, "numpy"),
        ),
        grad_argnums=(),
        kind="matmul",
        variant="full_matrices",
        opt_outs={
            "defaults": "this row tests the option full_matrices=True, the main row the default"
        },
    ),
    Case(
        "low_rank_approx",
        "lowrank",
        low_rank_samples,
        references=(
            Reference("torch.linalg.svd truncated", torch_low_rank),
            Reference("numpy.linalg.svd truncated", numpy_low_rank, "numpy"),
        ),
        edge_inputs=low_rank_edges,
        error_inputs=low_rank_errors,
        kind="matmul",
        opt_outs={"defaults": KEYWORD_K},
    ),
    Case(
        "low_rank_approx",
        "lowrank",
        rank_deficient_samples,
        references=(Reference("numpy.linalg.svd truncated", numpy_low_rank, "numpy"),),
        grad_argnums=(),
        kind="matmul",
        variant="rank deficient",
        opt_outs={"defaults": KEYWORD_K},
    ),
    Case(
        "eckart_young_error",
        "lowrank",
        eckart_young_samples,
        references=(
            Reference(
                "numpy.linalg.norm(A - A_k) of a matrix with these s", reconstruction_error, "numpy"
            ),
        ),
        edge_inputs=eckart_young_edges,
        error_inputs=spectrum_errors(with_norm=True),
        kind="matmul",
        opt_outs={"defaults": KEYWORD_K},
    ),
    Case(
        "energy_ratio",
        "lowrank",
        energy_samples,
        references=(
            Reference("sklearn PCA cumulative explained_variance_ratio_", pca_energy, "numpy"),
        ),
        edge_inputs=energy_edges,
        error_inputs=spectrum_errors(with_norm=False),
        kind="matmul",
    ),
    Case(
        "effective_rank",
        "lowrank",
        effective_rank_samples,
        references=(Reference("exp(scipy.stats.entropy(s))", entropy_rank, "numpy"),),
        edge_inputs=effective_rank_edges,
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample((np.ones((2, 2)),), {}, "2-D s"),
                    ValueError,
                    r"s must be a 1-D array of singular values, got shape \(2, 2\)",
                )
            ]
        ),
        kind="reduction",
    ),
    Case(
        "stable_rank",
        "lowrank",
        stable_rank_samples,
        references=(
            Reference("torch.linalg.matrix_norm fro^2 / 2^2", torch_stable_rank),
            Reference("numpy.linalg.norm fro^2 / 2^2", numpy_stable_rank, "numpy"),
        ),
        edge_inputs=stable_rank_edges,
        error_inputs=matrix_errors,
        kind="matmul",
    ),
    Case(
        "sketched_svd",
        "lowrank",
        sketch_samples,
        references=(
            Reference("sklearn randomized_svd fed the same Ω (QR)", sklearn_sketched, "numpy"),
        ),
        error_inputs=sketch_errors,
        grad_argnums=(),
        kind="matmul",
    ),
    Case(
        "randomized_svd",
        "lowrank",
        randomized_samples,
        references=(
            Reference("sklearn randomized_svd (own draws)", sklearn_randomized, "numpy"),
            Reference("torch.svd_lowrank (own draws)", torch_svd_lowrank, "numpy"),
        ),
        error_inputs=randomized_errors,
        grad_argnums=(),
        kind="matmul",
        call=call_randomized,
        jit=False,
    ),
    Case(
        "lora_init",
        "lowrank",
        lora_init_samples,
        references=(
            Reference("PEFT LoraLayer (peft.tuners.lora.Linear)", peft_lora_init, "numpy"),
        ),
        error_inputs=lora_init_errors,
        grad_argnums=(),
        kind="matmul",
        call=call_lora_init,
        compare=compare_lora_init,
        jit=False,
    ),
    Case(
        "lora_forward",
        "lowrank",
        lora_forward_samples,
        references=(
            Reference("PEFT lora.Linear forward", peft_forward),
            Reference("F.linear with W + s BA", merged_forward),
        ),
        error_inputs=lora_shape_errors(with_x=True),
        grad_argnums=(0, 1, 2, 3),
        kind="matmul",
    ),
    Case(
        "lora_merge",
        "lowrank",
        merge_samples,
        references=(
            Reference("PEFT W + get_delta_weight", peft_merged_weight),
            Reference("PEFT layer.merge()", peft_merge, "numpy"),
        ),
        error_inputs=lora_shape_errors(with_x=False),
        grad_argnums=(0, 1, 2),
        kind="matmul",
    ),
    Case(
        "lora_unmerge",
        "lowrank",
        merge_samples,
        references=(
            Reference("PEFT W - get_delta_weight", peft_unmerged_weight),
            Reference("PEFT layer.unmerge()", peft_unmerge, "numpy"),
        ),
        error_inputs=lora_shape_errors(with_x=False),
        grad_argnums=(0, 1, 2),
        kind="matmul",
    ),
    Case(
        "lora_param_count",
        "lowrank",
        lambda rng, dtype: iter(
            [
                Sample((768, 768, 8), {}, "768x768 r=8"),
                Sample((64, 300, 1), {}, "64x300 r=1"),
                Sample((10, 20, 30), {}, "r above min"),
            ]
        ),
        references=(Reference("PEFT get_nb_trainable_parameters", peft_param_count, "numpy"),),
        error_inputs=param_count_errors,
        grad_argnums=(),
        jit=False,
    ),
    Case(
        "dora_magnitude",
        "lowrank",
        merge_samples,
        references=(
            Reference("PEFT DoraLinearLayer.get_weight_norm", peft_weight_norm),
            Reference("PEFT DoRA init (update_layer)", peft_dora_init, "numpy"),
        ),
        error_inputs=lora_shape_errors(with_x=False),
        grad_argnums=(0, 1, 2),
        kind="matmul",
    ),
    Case(
        "dora_forward",
        "lowrank",
        dora_samples,
        references=(Reference("PEFT lora.Linear forward, use_dora=True", peft_dora_forward),),
        error_inputs=dora_errors,
        grad_argnums=(0, 4),
        kind="matmul",
    ),
    Case(
        "dora_forward",
        "lowrank",
        dora_samples,
        references=(Reference("PEFT lora.Linear forward, use_dora=True", peft_dora_forward),),
        grad_argnums=(1, 2, 3),
        kind="matmul",
        variant="grad W A B",
        opt_outs={
            "numerical_gradient": (
                "the weight norm is detached from the gradient (DoRA section 4.3, as PEFT), so "
                "the gradient in W, A and B is by design not the derivative central differences see"
            )
        },
    ),
]
