r"""Low-rank structure: the SVD, best rank-k approximations, randomized SVD, and LoRA / PiSSA / DoRA.

The SVD :math:`A = U \operatorname{diag}(S) V^H` of an (m, n) matrix (p = min(m, n)) gives, by the
Eckart–Young–Mirsky theorem, the best rank-k approximation :math:`A_k = U_k \operatorname{diag}(S_k)
V_k^H` in every unitarily invariant norm, with errors :math:`\|A - A_k\|_F = (\sum_{i>k}
\sigma_i^2)^{1/2}` and :math:`\|A - A_k\|_2 = \sigma_{k+1}`. LoRA (Hu et al., 2021) freezes a weight
W (d_out, d_in) and trains a rank-r update :math:`\Delta W = s\,BA` with A (r, d_in), B (d_out, r)
and :math:`s = \alpha / r`; the functions here follow PEFT's ``LoraLayer`` (peft 0.21) exactly: its
initialisations (kaiming-uniform A and zero B, gaussian, PiSSA), its scaling (rsLoRA included), its
merge, and DoRA's magnitude and forward.

**Sign convention.** Singular vectors are unique only up to a sign per component (for distinct
singular values), and LAPACK, XLA and torch may return either sign. Every SVD here (:func:`svd`,
:func:`randomized_svd`, :func:`sketched_svd`, PiSSA's factors) applies scikit-learn's ``svd_flip``
rule with ``u_based_decision=True``: in each column of U the entry of largest absolute value (the
first one, on exact ties) is made positive, and the matching row of Vh is flipped with it. So
jaxmath, torch_ref, NumPy and torch give the same vectors, not just the same products. Vectors of
repeated singular values are not unique beyond the sign, and are not comparable across libraries.

Everything is a pure function of arrays: jit-able (sizes such as ``k`` and ``r`` are static Python
ints), random draws from an explicit ``jax.random`` key; torch_ref has the same functions on
tensors, taking a ``torch.Generator``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg

from jaxmath._validation import as_float_array, check_option, check_scalar_in_range

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

    U: jax.Array  # (m, p) left singular vectors as columns; (m, m) with full_matrices
    S: jax.Array  # (p,) singular values, descending, >= 0; p = min(m, n) (k for truncated SVDs)
    Vh: jax.Array  # (p, n) right singular vectors as rows; (n, n) with full_matrices


class LoraParams(NamedTuple):
    """A LoRA adapter for a frozen weight (d_out, d_in): ``weight + scaling * B @ A``."""

    A: jax.Array  # (r, d_in): PEFT's lora_A.weight
    B: jax.Array  # (d_out, r): PEFT's lora_B.weight
    scaling: float  # alpha / r, or alpha / sqrt(r) with rsLoRA
    base_weight: jax.Array | None  # (d_out, d_in) frozen weight: PiSSA's residual, else `weight`


class LoraParamCount(NamedTuple):
    """Trainable parameters of a rank-r adapter against the full (d_out, d_in) matrix."""

    lora: int  # r * (d_in + d_out)
    full: int  # d_out * d_in
    fraction: float  # lora / full


# ------------------------------------------------------------------------------------------------
# Validation (messages identical in torch_ref)
# ------------------------------------------------------------------------------------------------


def _matrix(name: str, a: Any) -> jax.Array:
    array = as_float_array(name, a)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {tuple(array.shape)}")
    return array


def _vector(name: str, s: Any) -> jax.Array:
    array = as_float_array(name, s)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of singular values, got shape {array.shape}")
    return array


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
    """``k`` in [1, min(m, n)] for a matrix of ``shape``."""
    _positive_int("k", k)
    limit = min(shape)
    if k > limit:
        raise ValueError(
            f"k must be <= min(m, n) = {limit} for a matrix of shape {tuple(shape)}, got {k}"
        )
    return k


def _rank_of_spectrum(k: Any, s: jax.Array) -> int:
    _positive_int("k", k)
    if k > s.shape[0]:
        raise ValueError(f"k must be <= min(m, n) = {s.shape[0]} (the length of s), got {k}")
    return k


def _check_lora_shapes(weight: jax.Array, A: jax.Array, B: jax.Array) -> None:
    d_out, d_in = weight.shape
    if A.ndim != 2 or A.shape[1] != d_in:
        raise ValueError(
            f"A must have shape (r, {d_in}) to match weight {tuple(weight.shape)}, got {tuple(A.shape)}"
        )
    if B.shape != (d_out, A.shape[0]):
        raise ValueError(
            f"B must have shape {(d_out, A.shape[0])} to match weight {tuple(weight.shape)} and "
            f"A {tuple(A.shape)}, got {tuple(B.shape)}"
        )


def _check_input(x: jax.Array, weight: jax.Array, bias: jax.Array | None) -> None:
    d_out, d_in = weight.shape
    if x.ndim < 1 or x.shape[-1] != d_in:
        raise ValueError(
            f"x must have shape (..., {d_in}) to match weight {tuple(weight.shape)}, got {tuple(x.shape)}"
        )
    if bias is not None and bias.shape != (d_out,):
        raise ValueError(
            f"bias must have shape ({d_out},) to match weight {tuple(weight.shape)}, got {tuple(bias.shape)}"
        )


def _scaling(scaling: Any) -> None:
    check_scalar_in_range("scaling", scaling)


# ------------------------------------------------------------------------------------------------
# The SVD and what the singular values say
# ------------------------------------------------------------------------------------------------


def _flip_signs(U: jax.Array, Vh: jax.Array) -> tuple[jax.Array, jax.Array]:
    """sklearn's ``svd_flip(U, Vh, u_based_decision=True)``: each column of U gets its largest-|.|
    entry positive; the matching row of Vh follows. Extra columns/rows (full_matrices) without a
    partner are fixed by their own largest entry."""
    p = min(U.shape[1], Vh.shape[0])
    columns = jnp.argmax(jnp.abs(U), axis=0)
    signs_u = jnp.sign(U[columns, jnp.arange(U.shape[1])])
    signs_u = jnp.where(signs_u == 0, 1, signs_u).astype(U.dtype)
    rows = jnp.argmax(jnp.abs(Vh), axis=1)
    signs_v = jnp.sign(Vh[jnp.arange(Vh.shape[0]), rows])
    signs_v = jnp.where(signs_v == 0, 1, signs_v).astype(Vh.dtype)
    signs_v = signs_v.at[:p].set(signs_u[:p])
    return U * signs_u, Vh * signs_v[:, None]


def svd(a: jax.Array, full_matrices: bool = False) -> SVDResult:
    r"""Singular value decomposition :math:`a = U \operatorname{diag}(S) V_h` with the module's sign rule.

    Args:
        a: (m, n) float matrix.
        full_matrices: False (default): U (m, p), Vh (p, n), p = min(m, n). True: U (m, m),
            Vh (n, n); the columns beyond p span the orthogonal complement, which is unique (up to
            the sign rule) only when its dimension is <= 1. Not differentiable with True (JAX).

    Returns:
        ``SVDResult(U, S, Vh)``, S descending. Reference: ``torch.linalg.svd`` / ``numpy.linalg.svd``
        followed by ``sklearn.utils.extmath.svd_flip(U, Vh, u_based_decision=True)``.
        Differentiable (for distinct singular values) with the usual SVD derivative formulas.
    """
    a = _matrix("a", a)
    if not isinstance(full_matrices, bool):
        raise TypeError(f"full_matrices must be a bool, got {full_matrices!r}")
    U, S, Vh = jnp.linalg.svd(a, full_matrices=full_matrices)
    U, Vh = _flip_signs(U, Vh)
    return SVDResult(U, S, Vh)


def low_rank_approx(a: jax.Array, k: int) -> jax.Array:
    r"""The best rank-k approximation :math:`A_k = U_k \operatorname{diag}(S_k) V_{h,k}`
    (Eckart–Young–Mirsky: optimal in the Frobenius and spectral norms). a: (m, n) -> (m, n);
    k: static int in [1, min(m, n)]."""
    a = _matrix("a", a)
    _rank(k, a.shape)
    U, S, Vh = jnp.linalg.svd(a, full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


def _scaled(s: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(max |s|, s / max |s|), the division made safe for s = 0 (scale 0, ratios 0): sums of squares
    of the ratios cannot overflow (float32's 1e20**2 would), and the result's gradient is exact
    since the expressions below are homogeneous in s."""
    # a constant for autodiff: the results are independent of it, and its own derivative path
    # would square it (overflow in float32 at 1e20)
    scale = jax.lax.stop_gradient(jnp.max(jnp.abs(s), initial=0.0))
    safe = jnp.where(scale > 0, scale, 1.0)
    return scale, s / safe


def _norm(s: jax.Array) -> jax.Array:
    """sqrt(sum(s**2)) without overflow, with a zero (sub)gradient at s = 0 instead of NaN."""
    scale, ratios = _scaled(s)
    squares = jnp.sum(ratios**2)
    positive = squares > 0
    return scale * jnp.where(positive, jnp.sqrt(jnp.where(positive, squares, 1.0)), 0.0)


def eckart_young_error(s: jax.Array, k: int, norm: str = "fro") -> jax.Array:
    r"""The error of the best rank-k approximation, from the singular values alone:

    - ``norm='fro'``: :math:`\|A - A_k\|_F = \sqrt{\sum_{i > k} \sigma_i^2}`;
    - ``norm='spectral'``: :math:`\|A - A_k\|_2 = \sigma_{k+1}` (0 when k = p).

    Args:
        s: (p,) singular values in descending order (as :func:`svd` returns them).
        k: static int in [1, p].
        norm: 'fro' (default) or 'spectral'.

    Returns a 0-d array in s's dtype. Reference: ``numpy.linalg.norm(A - A_k, 'fro' | 2)``.
    """
    s = _vector("s", s)
    _rank_of_spectrum(k, s)
    check_option("norm", norm, NORMS)
    if norm == "spectral":
        return jnp.sum(s[k : k + 1])  # s[k], or 0 when k = p (a sum, so differentiable)
    return _norm(s[k:])


def energy_ratio(s: jax.Array, k: int | None = None) -> jax.Array:
    r"""Cumulative explained energy :math:`\sum_{i \le k} \sigma_i^2 / \sum_i \sigma_i^2`.

    s: (p,) singular values; k: static int in [1, p] (a 0-d result), or None (default) for the whole
    curve (p,), k = 1..p. The fraction of :math:`\|A\|_F^2` a rank-k approximation keeps (PCA's
    cumulative ``explained_variance_ratio_`` for centred data). NaN for s = 0.
    """
    s = _vector("s", s)
    energy = _scaled(s)[1] ** 2  # s^2 / max(s)^2: the ratio is unchanged, overflow is not possible
    if k is None:
        return jnp.cumsum(energy) / jnp.sum(energy)
    _rank_of_spectrum(k, s)
    return jnp.sum(energy[:k]) / jnp.sum(energy)


def effective_rank(s: jax.Array) -> jax.Array:
    r"""Effective rank (Roy & Vetterli, 2007): :math:`\exp(H(p))`, :math:`p_i = \sigma_i / \|\sigma\|_1`,
    :math:`H(p) = -\sum_i p_i \log p_i` (with :math:`0 \log 0 = 0`).

    s: (p,) singular values (any order). Between 1 (rank one) and the rank (equal singular values).
    NaN for s = 0, as ``exp(scipy.stats.entropy(s))``, the reference.
    """
    s = _vector("s", s)
    ratios = s / jax.lax.stop_gradient(
        jnp.max(s)
    )  # no overflow in the sum below; NaN for s = 0 (0/0), as the reference
    p = ratios / jnp.sum(ratios)
    positive = p > 0
    terms = jnp.where(positive, p * jnp.log(jnp.where(positive, p, 1.0)), 0.0)
    return jnp.where(jnp.max(s) > 0, jnp.exp(-jnp.sum(terms)), jnp.nan)


def stable_rank(a: jax.Array) -> jax.Array:
    r"""Stable (numerical) rank :math:`\|A\|_F^2 / \|A\|_2^2 = \sum_i \sigma_i^2 / \sigma_1^2`.

    a: (m, n). A continuous lower bound of the rank, insensitive to tiny singular values.
    NaN for a = 0. Reference: ``numpy.linalg.norm(a, 'fro')**2 / numpy.linalg.norm(a, 2)**2``.
    """
    a = _matrix("a", a)
    s = jnp.linalg.svd(a, compute_uv=False)
    return jnp.sum((s / s[0]) ** 2)


# ------------------------------------------------------------------------------------------------
# Randomized SVD (Halko, Martinsson & Tropp, 2011)
# ------------------------------------------------------------------------------------------------


def _orthonormal_rows(P: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(M, Z) with P = M Z, M (l, l), the rows of Z (l, n) orthonormal up to rounding times
    cond(P)^2: SVQB (Stathopoulos & Wu, 2002), Cholesky-QR's cousin through the small Gram matrix's
    eigendecomposition, P P^T + shift I = V diag(w) V^T, Z = diag(w)^{-1/2} V^T P, M = V diag(w)^{1/2}.

    shift = sqrt(n) eps tr(P P^T) + tiny: the typical rounding error of the Gram matrix (Higham's
    probabilistic bound), so that rank-deficient or zero P still factor; P = M Z and the row space
    hold whatever the shift. (Fukaya et al.'s worst-case shift, 11 (l n + l(l+1)) eps ||P||^2, is
    ~10% of ||P||^2 in float32 at n = 4096: it damps the small directions so much that rounding
    loses them over the power iterations, 1% error measured at n_iter = 7.)

    Measured on CPU (l = 42, n = 4096): 0.7 ms, where the Cholesky factor's triangular solve took
    8 ms, XLA's Householder QR of the (n, l) transpose ~580 ms and its SVD of P ~690 ms (CPU time).
    """
    n = P.shape[1]
    gram = P @ P.T
    info = jnp.finfo(P.dtype)
    shift = math.sqrt(n) * info.eps * jnp.trace(gram) + info.tiny
    w, V = jnp.linalg.eigh(gram)
    w = jnp.maximum(w, 0.0) + shift
    root = jnp.sqrt(w)
    return V * root, (V / root).T @ P


def _orthonormal_rows3(P: jax.Array) -> tuple[jax.Array, jax.Array]:
    """P = M Z with Z's rows orthonormal to rounding: three SVQB passes (as shifted CholeskyQR3,
    Fukaya et al. 2020, repeats Cholesky-QR: the first pass conditions, the next two orthonormalise)."""
    M1, Z = _orthonormal_rows(P)
    M2, Z = _orthonormal_rows(Z)
    M3, Z = _orthonormal_rows(Z)
    return M1 @ M2 @ M3, Z


def sketched_svd(
    a: jax.Array, test_matrix: jax.Array, k: int | None = None, n_iter: int = 4
) -> SVDResult:
    r"""The deterministic core of :func:`randomized_svd`, given its test matrix Ω.

    Halko, Martinsson & Tropp (2011), Algorithms 4.4 (randomized subspace iteration) and 5.1:

    .. math:: Y = A\Omega,\ \text{then } n_\text{iter} \text{ times } Y = A (A^T Q),\qquad
              Q = \operatorname{orth}(Y),\quad B = Q^T A = \tilde U S V_h,\quad U = Q \tilde U,

    normalising after every product with A or :math:`A^T` through the small Gram matrix (SVQB, a
    shifted Cholesky-QR with an eigendecomposition in place of the Cholesky factor; sklearn uses LU
    and torch.svd_lowrank Householder QR; see ``_orthonormal_rows``); the last basis Q and the
    factorisation B = M Z come from three such passes (orthonormal to rounding), so the only dense
    SVD is of the (l, l) matrix M.
    Products are written ``Q^T A`` rather than ``A^T Q`` (the same numbers transposed): XLA on CPU
    can run the latter several times slower (a transposed operand of 64 MB).

    Args:
        a: (m, n) matrix.
        test_matrix: Ω (n, l), usually standard normal; l = k + oversampling, k <= l <= min(m, n).
        k: static int, the rank returned, in [1, l].
        n_iter: static int >= 0, power (subspace) iterations; each sharpens the spectrum's decay
            by :math:`\sigma_i^2`.

    Returns ``SVDResult`` with U (m, k), S (k,), Vh (k, n), signs fixed by the module's rule.
    When ``a`` has exactly rank < k (or is 0), S is right but the vectors of the zero singular
    values are not orthonormal (near 0): the shifted Gram matrix leaves directions without energy
    unnormalised, where a Householder QR would complete the basis (at ~100x the cost on CPU).
    Reference: ``sklearn.utils.extmath.randomized_svd`` fed the same Ω
    (``power_iteration_normalizer='QR'``; equal in exact arithmetic: every normaliser spans the
    same subspace).
    """
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
    omega = omega.astype(a.dtype)
    Y = a @ omega  # (m, l)
    for _ in range(n_iter):
        Qt = _orthonormal_rows(Y.T)[1]  # (l, m): Q^T with Q = orth(Y)
        P = _orthonormal_rows(Qt @ a)[1]  # (l, n): orth rows of Q^T A
        Y = a @ P.T  # (m, l)
    Qt = _orthonormal_rows3(Y.T)[1]  # (l, m): the final basis, orthonormal to rounding
    M, Z = _orthonormal_rows3(Qt @ a)  # B = Q^T A = M Z
    U_small, S, Vh_small = jnp.linalg.svd(M)  # (l, l): B = U_small S (Vh_small Z)
    U, Vh = _flip_signs((Qt.T @ U_small)[:, :k], (Vh_small @ Z)[:k])
    return SVDResult(U, S[:k], Vh)


def randomized_svd(
    key: jax.Array, a: jax.Array, k: int, n_oversamples: int = 10, n_iter: int = 4
) -> SVDResult:
    r"""Rank-k randomized SVD (Halko, Martinsson & Tropp, 2011): :func:`sketched_svd` with a standard
    normal test matrix Ω (n, l), l = min(k + n_oversamples, m, n), drawn from ``key``.

    Args:
        key: a ``jax.random`` key (torch_ref: a ``torch.Generator``).
        a: (m, n) matrix.
        k: static int in [1, min(m, n)].
        n_oversamples: static int >= 0 (default 10, as sklearn).
        n_iter: static int >= 0 power iterations (default 4: sklearn uses 4 when k >= 10% of
            min(m, n), else 7; torch.svd_lowrank 2).

    Expected error (Halko et al., Thm 10.6 / 9.2): close to :math:`\sqrt{\sum_{i>k}\sigma_i^2}`, the
    optimum, the faster the spectrum decays beyond k and the more iterations. Random streams differ
    between frameworks: jaxmath and torch_ref agree in distribution, and exactly when fed the same Ω
    through :func:`sketched_svd`. Reference: ``sklearn.utils.extmath.randomized_svd``,
    ``torch.svd_lowrank``.
    """
    a = _matrix("a", a)
    _rank(k, a.shape)
    _nonnegative_int("n_oversamples", n_oversamples)
    _nonnegative_int("n_iter", n_iter)
    columns = min(k + n_oversamples, *a.shape)
    omega = jax.random.normal(key, (a.shape[1], columns), a.dtype)
    return sketched_svd(a, omega, k, n_iter)


# ------------------------------------------------------------------------------------------------
# LoRA, PiSSA, DoRA (as PEFT's LoraLayer)
# ------------------------------------------------------------------------------------------------


def lora_init(
    key: jax.Array,
    d_out: int,
    d_in: int,
    r: int,
    alpha: float,
    init: str = "kaiming",
    weight: jax.Array | None = None,
    use_rslora: bool = False,
    dtype: str | None = None,
) -> LoraParams:
    r"""A rank-r LoRA adapter for a (d_out, d_in) weight, initialised as PEFT's ``LoraLayer``.

    Scaling :math:`s = \alpha / r`, or :math:`\alpha / \sqrt r` with ``use_rslora`` (Kalajdzievski,
    2023). Inits (PEFT's ``init_lora_weights``):

    - ``'kaiming'`` (PEFT's default, ``True``): A ~ ``kaiming_uniform_(a=sqrt(5))`` =
      :math:`\mathcal U(-1/\sqrt{d_\text{in}}, 1/\sqrt{d_\text{in}})`, B = 0: the update is exactly
      zero at init.
    - ``'gaussian'``: A ~ :math:`\mathcal N(0, 1/r^2)`, B = 0.
    - ``'pissa'`` (Meng et al., 2024; PEFT's ``pissa_init``): from the SVD of ``weight`` (sign rule
      of this module), :math:`S_r \leftarrow S_{:r}/s`, :math:`A = \sqrt{S_r} V_{h,:r}`,
      :math:`B = U_{:r}\sqrt{S_r}`, and the frozen base becomes the residual
      :math:`W - s\,BA = W - U_r S_{:r} V_{h,r}`: base + adapter reproduce W at init. PEFT casts the
      weight to float32 for the SVD; here it runs in the weight's dtype. Deterministic (key unused).

    Args:
        key: ``jax.random`` key (torch_ref: ``torch.Generator``).
        d_out, d_in: the weight's shape (out_features, in_features), as torch's ``nn.Linear.weight``.
        r: rank >= 1 (<= min(d_out, d_in) for PiSSA).
        alpha: ``lora_alpha`` > 0.
        init: 'kaiming' (default), 'gaussian' or 'pissa'.
        weight: the frozen (d_out, d_in) weight; required for PiSSA.
        use_rslora: scaling alpha / sqrt(r) (default False).
        dtype: 'float32' or 'float64' for A and B (default: weight's dtype, else float32).

    Returns ``LoraParams(A (r, d_in), B (d_out, r), scaling, base_weight)``: base_weight is PiSSA's
    residual, else ``weight`` (None without one).
    """
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
        if weight.shape != (d_out, d_in):
            raise ValueError(
                f"weight must have shape (d_out, d_in) = {(d_out, d_in)}, got {tuple(weight.shape)}"
            )
    dtype = dtype or (str(weight.dtype) if weight is not None else "float32")
    scaling = alpha / math.sqrt(r) if use_rslora else alpha / r
    if init == "pissa":
        if weight is None:
            raise ValueError("weight is required for init='pissa', got None")
        if r > min(d_out, d_in):
            raise ValueError(
                f"r must be <= min(d_out, d_in) = {min(d_out, d_in)} for PiSSA, got {r}"
            )
        U, S, Vh = svd(weight.astype(dtype))
        root = jnp.sqrt(S[:r] / scaling)
        A = root[:, None] * Vh[:r]
        B = U[:, :r] * root
        return LoraParams(A, B, scaling, weight.astype(dtype) - scaling * (B @ A))
    if init == "kaiming":
        bound = 1.0 / math.sqrt(d_in)
        A = jax.random.uniform(key, (r, d_in), dtype, minval=-bound, maxval=bound)
    else:
        A = jax.random.normal(key, (r, d_in), dtype) / r
    return LoraParams(A, jnp.zeros((d_out, r), dtype), scaling, weight)


def lora_forward(
    x: jax.Array,
    weight: jax.Array,
    A: jax.Array,
    B: jax.Array,
    scaling: float,
    bias: jax.Array | None = None,
) -> jax.Array:
    r""":math:`y = x W^T + s\,(x A^T) B^T + b`, without forming :math:`W + sBA` (PEFT's ``Linear.forward``
    without dropout): O(N r (d_in + d_out)) extra work instead of O(d_out d_in).

    Shapes: x (..., d_in), weight (d_out, d_in), A (r, d_in), B (d_out, r), bias (d_out,) or None
    -> (..., d_out). ``scaling``: a real number (traced values are not checked).
    Reference: ``peft.tuners.lora.Linear`` on a ``torch.nn.Linear``; ``x @ lora_merge(...).T``.
    """
    x, weight = as_float_array("x", x), _matrix("weight", weight)
    A, B = as_float_array("A", A), as_float_array("B", B)
    bias = None if bias is None else as_float_array("bias", bias)
    _check_lora_shapes(weight, A, B)
    _check_input(x, weight, bias)
    _scaling(scaling)
    y = x @ weight.T + scaling * ((x @ A.T) @ B.T)
    return y if bias is None else y + bias


def lora_merge(weight: jax.Array, A: jax.Array, B: jax.Array, scaling: float) -> jax.Array:
    r""":math:`W + s\,BA` (PEFT's ``merge``): the adapted layer as one (d_out, d_in) matrix."""
    weight, A, B = _matrix("weight", weight), as_float_array("A", A), as_float_array("B", B)
    _check_lora_shapes(weight, A, B)
    _scaling(scaling)
    return weight + scaling * (B @ A)


def lora_unmerge(weight: jax.Array, A: jax.Array, B: jax.Array, scaling: float) -> jax.Array:
    r""":math:`W' - s\,BA` (PEFT's ``unmerge``): the base weight back from a merged one."""
    weight, A, B = _matrix("weight", weight), as_float_array("A", A), as_float_array("B", B)
    _check_lora_shapes(weight, A, B)
    _scaling(scaling)
    return weight - scaling * (B @ A)


def lora_param_count(d_out: int, d_in: int, r: int) -> LoraParamCount:
    r"""Trainable parameters of a rank-r adapter, :math:`r(d_\text{in} + d_\text{out})`, against the
    :math:`d_\text{out} d_\text{in}` of full fine-tuning, and their ratio (e.g. 768x768, r = 8:
    12,288 of 589,824 = 2.08%). Python ints in, Python numbers out (no bias, as PEFT's default)."""
    for name, value in (("d_out", d_out), ("d_in", d_in), ("r", r)):
        _positive_int(name, value)
    lora, full = r * (d_in + d_out), d_out * d_in
    return LoraParamCount(lora, full, lora / full)


def _row_norms(matrix: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(matrix * matrix, axis=1))


def dora_magnitude(weight: jax.Array, A: jax.Array, B: jax.Array, scaling: float) -> jax.Array:
    r"""DoRA's magnitude vector (Liu et al., 2024; PEFT's ``DoraLinearLayer.get_weight_norm``):
    :math:`m = \|W + s\,BA\|` per output feature, the L2 norm of each row of the (d_out, d_in)
    weight (the paper's "column-wise" norm of its (d_in, d_out) layout; ``torch.linalg.norm(...,
    dim=1)`` in PEFT). Shape (d_out,). At init B = 0, so m = the row norms of W."""
    merged = lora_merge(weight, A, B, scaling)
    return _row_norms(merged)


def dora_forward(
    x: jax.Array,
    weight: jax.Array,
    A: jax.Array,
    B: jax.Array,
    magnitude: jax.Array,
    scaling: float,
    bias: jax.Array | None = None,
) -> jax.Array:
    r"""DoRA's forward (PEFT's ``DoraLinearLayer.forward`` without dropout):

    .. math:: y = \frac{m}{\operatorname{sg}(\|W + sBA\|)} \odot \big(x W^T + s\,(x A^T) B^T\big) + b,

    the norm per output feature (rows of W) and detached from the gradient (sg = stop_gradient), as
    the paper's section 4.3 and PEFT do: gradients reach m, A, B and W only through the numerator.

    Shapes: x (..., d_in), weight (d_out, d_in), A (r, d_in), B (d_out, r), magnitude (d_out,),
    bias (d_out,) or None -> (..., d_out).
    """
    x, weight = as_float_array("x", x), _matrix("weight", weight)
    A, B = as_float_array("A", A), as_float_array("B", B)
    magnitude = as_float_array("magnitude", magnitude)
    bias = None if bias is None else as_float_array("bias", bias)
    _check_lora_shapes(weight, A, B)
    _check_input(x, weight, bias)
    _scaling(scaling)
    if magnitude.shape != (weight.shape[0],):
        raise ValueError(
            f"magnitude must have shape ({weight.shape[0]},) to match weight "
            f"{tuple(weight.shape)}, got {tuple(magnitude.shape)}"
        )
    norm = jax.lax.stop_gradient(_row_norms(weight + scaling * (B @ A)))
    y = (magnitude / norm) * (x @ weight.T + scaling * ((x @ A.T) @ B.T))
    return y if bias is None else y + bias
