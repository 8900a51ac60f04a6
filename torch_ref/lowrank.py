r"""Low-rank structure in PyTorch: jaxmath.lowrank's twin, name for name (see its docstrings).

The SVD with scikit-learn's ``svd_flip`` sign rule (``u_based_decision=True``: the largest-|.| entry of
each column of U is positive, the matching row of Vh follows), Eckart–Young errors, energy, effective
and stable rank, randomized SVD (Halko, Martinsson & Tropp 2011, shifted Cholesky-QR normalisation),
and LoRA / PiSSA / DoRA as PEFT's ``LoraLayer`` computes them. Random draws take a
``torch.Generator`` where jaxmath takes a ``jax.random`` key; the streams differ, so random results
agree in distribution, and exactly when both are fed the same numbers (:func:`sketched_svd`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from torch_ref._validation import as_float_tensor, check_option, check_scalar_in_range

__all__ = [
    "LoraParamCount",
    "LoraParams",
    "SVDResult",
    "dora_forward",
    "dora_magnitude",
    "eckart_young_error",
    "effective_rank",
    "energy_ratio",
    "lora_forward",
    "lora_init",
    "lora_merge",
    "lora_param_count",
    "lora_unmerge",
    "low_rank_approx",
    "randomized_svd",
    "sketched_svd",
    "stable_rank",
    "svd",
]

NORMS = ("fro", "spectral")
LORA_INITS = ("kaiming", "gaussian", "pissa")
FLOAT_DTYPES = ("float32", "float64")


class SVDResult(NamedTuple):
    """A (thin) singular value decomposition ``a = U @ diag(S) @ Vh``, signs fixed by the module's rule."""

    U: torch.Tensor  # (m, p) left singular vectors as columns; (m, m) with full_matrices
    S: torch.Tensor  # (p,) singular values, descending, >= 0; p = min(m, n) (k for truncated SVDs)
    Vh: torch.Tensor  # (p, n) right singular vectors as rows; (n, n) with full_matrices


class LoraParams(NamedTuple):
    """A LoRA adapter for a frozen weight (d_out, d_in): ``weight + scaling * B @ A``."""

    A: torch.Tensor  # (r, d_in): PEFT's lora_A.weight
    B: torch.Tensor  # (d_out, r): PEFT's lora_B.weight
    scaling: float  # alpha / r, or alpha / sqrt(r) with rsLoRA
    base_weight: torch.Tensor | None  # (d_out, d_in) frozen weight: PiSSA's residual, else `weight`


class LoraParamCount(NamedTuple):
    """Trainable parameters of a rank-r adapter against the full (d_out, d_in) matrix."""

    lora: int  # r * (d_in + d_out)
    full: int  # d_out * d_in
    fraction: float  # lora / full


# ------------------------------------------------------------------------------------------------
# Validation (messages identical in jaxmath)
# ------------------------------------------------------------------------------------------------


def _matrix(name: str, a: Any) -> torch.Tensor:
    tensor = as_float_tensor(name, a)
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(tensor.shape)}")
    return tensor


def _vector(name: str, s: Any) -> torch.Tensor:
    tensor = as_float_tensor(name, s)
    if tensor.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of singular values, got shape {tuple(tensor.shape)}"
        )
    return tensor


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a Python int (static under jit), got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def _nonnegative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a Python int (static under jit), got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _rank(k: Any, shape: tuple[int, ...]) -> int:
    _positive_int("k", k)
    limit = min(shape)
    if k > limit:
        raise ValueError(
            f"k must be <= min(m, n) = {limit} for a matrix of shape {tuple(shape)}, got {k}"
        )
    return k


def _rank_of_spectrum(k: Any, s: torch.Tensor) -> int:
    _positive_int("k", k)
    if k > s.shape[0]:
        raise ValueError(f"k must be <= min(m, n) = {s.shape[0]} (the length of s), got {k}")
    return k


def _check_lora_shapes(weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> None:
    d_out, d_in = weight.shape
    if A.ndim != 2 or A.shape[1] != d_in:
        raise ValueError(
            f"A must have shape (r, {d_in}) to match weight {tuple(weight.shape)}, got {tuple(A.shape)}"
        )
    if tuple(B.shape) != (d_out, A.shape[0]):
        raise ValueError(
            f"B must have shape {(d_out, A.shape[0])} to match weight {tuple(weight.shape)} and "
            f"A {tuple(A.shape)}, got {tuple(B.shape)}"
        )


def _check_input(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    d_out, d_in = weight.shape
    if x.ndim < 1 or x.shape[-1] != d_in:
        raise ValueError(
            f"x must have shape (..., {d_in}) to match weight {tuple(weight.shape)}, got {tuple(x.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (d_out,):
        raise ValueError(
            f"bias must have shape ({d_out},) to match weight {tuple(weight.shape)}, got {tuple(bias.shape)}"
        )


def _scaling(scaling: Any) -> None:
    check_scalar_in_range("scaling", scaling)


def _check_generator(generator: Any) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")


# ------------------------------------------------------------------------------------------------
# The SVD and what the singular values say
# ------------------------------------------------------------------------------------------------


def _flip_signs(U: torch.Tensor, Vh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn's ``svd_flip(U, Vh, u_based_decision=True)``; extra columns/rows (full_matrices)
    without a partner are fixed by their own largest entry."""
    p = min(U.shape[1], Vh.shape[0])
    columns = torch.argmax(U.abs(), dim=0)
    signs_u = torch.sign(U[columns, torch.arange(U.shape[1])])
    signs_u = torch.where(signs_u == 0, torch.ones_like(signs_u), signs_u)
    rows = torch.argmax(Vh.abs(), dim=1)
    signs_v = torch.sign(Vh[torch.arange(Vh.shape[0]), rows])
    signs_v = torch.where(signs_v == 0, torch.ones_like(signs_v), signs_v)
    signs_v = torch.cat([signs_u[:p], signs_v[p:]])
    return U * signs_u, Vh * signs_v[:, None]


def svd(a: torch.Tensor, full_matrices: bool = False) -> SVDResult:
    r"""Singular value decomposition with the module's sign rule (see jaxmath.lowrank.svd)."""
    a = _matrix("a", a)
    if not isinstance(full_matrices, bool):
        raise TypeError(f"full_matrices must be a bool, got {full_matrices!r}")
    U, S, Vh = torch.linalg.svd(a, full_matrices=full_matrices)
    U, Vh = _flip_signs(U, Vh)
    return SVDResult(U, S, Vh)


def low_rank_approx(a: torch.Tensor, k: int) -> torch.Tensor:
    r"""The best rank-k approximation :math:`U_k \operatorname{diag}(S_k) V_{h,k}` (Eckart–Young–Mirsky)."""
    a = _matrix("a", a)
    _rank(k, tuple(a.shape))
    U, S, Vh = torch.linalg.svd(a, full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


def _scaled(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(max |s|, s / max |s|), safe for s = 0 (see jaxmath)."""
    scale = (torch.amax(s.abs(), dim=0) if s.numel() else torch.zeros((), dtype=s.dtype)).detach()
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    return scale, s / safe


def _norm(s: torch.Tensor) -> torch.Tensor:
    """sqrt(sum(s**2)) without overflow, with a zero (sub)gradient at s = 0."""
    scale, ratios = _scaled(s)
    squares = torch.sum(ratios**2)
    positive = squares > 0
    root = torch.sqrt(torch.where(positive, squares, torch.ones_like(squares)))
    return scale * torch.where(positive, root, torch.zeros_like(root))


def eckart_young_error(s: torch.Tensor, k: int, norm: str = "fro") -> torch.Tensor:
    r"""The best rank-k approximation's error from the singular values: 'fro' :math:`\sqrt{\sum_{i>k}
    \sigma_i^2}`, 'spectral' :math:`\sigma_{k+1}` (0 when k = p)."""
    s = _vector("s", s)
    _rank_of_spectrum(k, s)
    check_option("norm", norm, NORMS)
    if norm == "spectral":
        return torch.sum(s[k : k + 1])  # s[k], or 0 when k = p (a sum, so differentiable)
    return _norm(s[k:])


def energy_ratio(s: torch.Tensor, k: int | None = None) -> torch.Tensor:
    r"""Cumulative explained energy :math:`\sum_{i \le k} \sigma_i^2 / \sum_i \sigma_i^2` (None: the curve)."""
    s = _vector("s", s)
    energy = _scaled(s)[1] ** 2
    if k is None:
        return torch.cumsum(energy, dim=0) / torch.sum(energy)
    _rank_of_spectrum(k, s)
    return torch.sum(energy[:k]) / torch.sum(energy)


def effective_rank(s: torch.Tensor) -> torch.Tensor:
    r"""Effective rank (Roy & Vetterli, 2007): :math:`\exp(-\sum_i p_i \log p_i)`, :math:`p = \sigma/\|\sigma\|_1`."""
    s = _vector("s", s)
    ratios = s / torch.amax(s, dim=0).detach()
    p = ratios / torch.sum(ratios)
    positive = p > 0
    terms = torch.where(positive, p * torch.log(torch.where(positive, p, torch.ones_like(p))), 0.0)
    return torch.where(torch.amax(s, dim=0) > 0, torch.exp(-torch.sum(terms)), torch.nan)


def stable_rank(a: torch.Tensor) -> torch.Tensor:
    r"""Stable rank :math:`\|A\|_F^2 / \|A\|_2^2`."""
    a = _matrix("a", a)
    s = torch.linalg.svdvals(a)
    return torch.sum((s / s[0]) ** 2)


# ------------------------------------------------------------------------------------------------
# Randomized SVD (Halko, Martinsson & Tropp, 2011)
# ------------------------------------------------------------------------------------------------


def _orthonormal_rows(P: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, Z), P = M Z, Z's rows orthonormal: SVQB through the Gram matrix's eigendecomposition,
    shift sqrt(n) eps tr(P P^T) + tiny (see jaxmath)."""
    n = P.shape[1]
    gram = P @ P.T
    info = torch.finfo(P.dtype)
    shift = math.sqrt(n) * info.eps * torch.trace(gram) + info.tiny
    w, V = torch.linalg.eigh(gram)
    w = torch.clamp(w, min=0.0) + shift
    root = torch.sqrt(w)
    return V * root, (V / root).T @ P


def _orthonormal_rows3(P: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """P = M Z with Z's rows orthonormal to rounding: three SVQB passes (see jaxmath)."""
    M1, Z = _orthonormal_rows(P)
    M2, Z = _orthonormal_rows(Z)
    M3, Z = _orthonormal_rows(Z)
    return M1 @ M2 @ M3, Z


def sketched_svd(
    a: torch.Tensor, test_matrix: torch.Tensor, k: int | None = None, n_iter: int = 4
) -> SVDResult:
    r"""The deterministic core of :func:`randomized_svd` given the test matrix Ω (n, l)."""
    a = _matrix("a", a)
    omega = _matrix("test_matrix", test_matrix)
    m, n = a.shape
    if omega.shape[0] != n or omega.shape[1] > min(m, n):
        raise ValueError(
            f"test_matrix must have shape ({n}, l) with l <= min(m, n) = {min(m, n)} for a of "
            f"shape {(m, n)}, got {tuple(omega.shape)}"
        )
    k = omega.shape[1] if k is None else k
    _positive_int("k", k)
    if k > omega.shape[1]:
        raise ValueError(f"k must be <= l = {omega.shape[1]} (test_matrix's columns), got {k}")
    _nonnegative_int("n_iter", n_iter)
    omega = omega.to(a.dtype)
    Y = a @ omega
    for _ in range(n_iter):
        Qt = _orthonormal_rows(Y.T)[1]
        P = _orthonormal_rows(Qt @ a)[1]
        Y = a @ P.T
    Qt = _orthonormal_rows3(Y.T)[1]
    M, Z = _orthonormal_rows3(Qt @ a)
    U_small, S, Vh_small = torch.linalg.svd(M)
    U, Vh = _flip_signs((Qt.T @ U_small)[:, :k], (Vh_small @ Z)[:k])
    return SVDResult(U, S[:k], Vh)


def randomized_svd(
    generator: torch.Generator, a: torch.Tensor, k: int, n_oversamples: int = 10, n_iter: int = 4
) -> SVDResult:
    r"""Rank-k randomized SVD: :func:`sketched_svd` with Ω ~ N(0, 1), (n, min(k + n_oversamples, m, n))."""
    _check_generator(generator)
    a = _matrix("a", a)
    _rank(k, tuple(a.shape))
    _nonnegative_int("n_oversamples", n_oversamples)
    _nonnegative_int("n_iter", n_iter)
    columns = min(k + n_oversamples, *a.shape)
    omega = torch.randn(a.shape[1], columns, generator=generator, dtype=a.dtype)
    return sketched_svd(a, omega, k, n_iter)


# ------------------------------------------------------------------------------------------------
# LoRA, PiSSA, DoRA (as PEFT's LoraLayer)
# ------------------------------------------------------------------------------------------------


def lora_init(
    generator: torch.Generator,
    d_out: int,
    d_in: int,
    r: int,
    alpha: float,
    init: str = "kaiming",
    weight: torch.Tensor | None = None,
    use_rslora: bool = False,
    dtype: str | None = None,
) -> LoraParams:
    r"""A rank-r LoRA adapter initialised as PEFT's ``LoraLayer`` (see jaxmath.lowrank.lora_init)."""
    _check_generator(generator)
    _positive_int("d_out", d_out)
    _positive_int("d_in", d_in)
    _positive_int("r", r)
    check_scalar_in_range("alpha", alpha, 0.0, low_inclusive=False)
    check_option("init", init, LORA_INITS)
    if not isinstance(use_rslora, bool):
        raise TypeError(f"use_rslora must be a bool, got {use_rslora!r}")
    if dtype is not None:
        check_option("dtype", dtype, FLOAT_DTYPES)
    if weight is not None:
        weight = _matrix("weight", weight)
        if tuple(weight.shape) != (d_out, d_in):
            raise ValueError(
                f"weight must have shape (d_out, d_in) = {(d_out, d_in)}, got {tuple(weight.shape)}"
            )
    torch_dtype = (
        getattr(torch, dtype) if dtype else (weight.dtype if weight is not None else torch.float32)
    )
    scaling = alpha / math.sqrt(r) if use_rslora else alpha / r
    if init == "pissa":
        if weight is None:
            raise ValueError("weight is required for init='pissa', got None")
        if r > min(d_out, d_in):
            raise ValueError(
                f"r must be <= min(d_out, d_in) = {min(d_out, d_in)} for PiSSA, got {r}"
            )
        U, S, Vh = svd(weight.to(torch_dtype))
        root = torch.sqrt(S[:r] / scaling)
        A = root[:, None] * Vh[:r]
        B = U[:, :r] * root
        return LoraParams(A, B, scaling, weight.to(torch_dtype) - scaling * (B @ A))
    if init == "kaiming":
        bound = 1.0 / math.sqrt(d_in)
        A = torch.rand(r, d_in, generator=generator, dtype=torch_dtype) * (2 * bound) - bound
    else:
        A = torch.randn(r, d_in, generator=generator, dtype=torch_dtype) / r
    return LoraParams(A, torch.zeros(d_out, r, dtype=torch_dtype), scaling, weight)


def lora_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    scaling: float,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    r""":math:`y = x W^T + s\,(x A^T) B^T + b` without forming :math:`W + sBA`."""
    x, weight = as_float_tensor("x", x), _matrix("weight", weight)
    A, B = as_float_tensor("A", A), as_float_tensor("B", B)
    bias = None if bias is None else as_float_tensor("bias", bias)
    _check_lora_shapes(weight, A, B)
    _check_input(x, weight, bias)
    _scaling(scaling)
    y = x @ weight.T + scaling * ((x @ A.T) @ B.T)
    return y if bias is None else y + bias


def lora_merge(
    weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float
) -> torch.Tensor:
    r""":math:`W + s\,BA` (PEFT's ``merge``)."""
    weight, A, B = _matrix("weight", weight), as_float_tensor("A", A), as_float_tensor("B", B)
    _check_lora_shapes(weight, A, B)
    _scaling(scaling)
    return weight + scaling * (B @ A)


def lora_unmerge(
    weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float
) -> torch.Tensor:
    r""":math:`W' - s\,BA` (PEFT's ``unmerge``)."""
    weight, A, B = _matrix("weight", weight), as_float_tensor("A", A), as_float_tensor("B", B)
    _check_lora_shapes(weight, A, B)
    _scaling(scaling)
    return weight - scaling * (B @ A)


def lora_param_count(d_out: int, d_in: int, r: int) -> LoraParamCount:
    r"""Trainable parameters :math:`r(d_\text{in} + d_\text{out})` vs :math:`d_\text{out} d_\text{in}`."""
    for name, value in (("d_out", d_out), ("d_in", d_in), ("r", r)):
        _positive_int(name, value)
    lora, full = r * (d_in + d_out), d_out * d_in
    return LoraParamCount(lora, full, lora / full)


def _row_norms(matrix: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.sum(matrix * matrix, dim=1))


def dora_magnitude(
    weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scaling: float
) -> torch.Tensor:
    r"""DoRA's magnitude :math:`\|W + s\,BA\|` per output feature (row norms), shape (d_out,)."""
    return _row_norms(lora_merge(weight, A, B, scaling))


def dora_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    magnitude: torch.Tensor,
    scaling: float,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""DoRA: :math:`\frac{m}{\operatorname{detach}(\|W + sBA\|)} (x W^T + s (x A^T) B^T) + b`."""
    x, weight = as_float_tensor("x", x), _matrix("weight", weight)
    A, B = as_float_tensor("A", A), as_float_tensor("B", B)
    magnitude = as_float_tensor("magnitude", magnitude)
    bias = None if bias is None else as_float_tensor("bias", bias)
    _check_lora_shapes(weight, A, B)
    _check_input(x, weight, bias)
    _scaling(scaling)
    if tuple(magnitude.shape) != (weight.shape[0],):
        raise ValueError(
            f"magnitude must have shape ({weight.shape[0]},) to match weight "
            f"{tuple(weight.shape)}, got {tuple(magnitude.shape)}"
        )
    norm = _row_norms(weight + scaling * (B @ A)).detach()
    y = (magnitude / norm) * (x @ weight.T + scaling * ((x @ A.T) @ B.T))
    return y if bias is None else y + bias
