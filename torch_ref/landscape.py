r"""Loss landscapes and the Hessian without forming it, in PyTorch: twin of jaxmath.landscape.

Same functions, parameters, defaults, messages and formulas (see jaxmath.landscape for the math and
the references). ``loss_fn`` takes a params pytree of tensors (nested dicts / lists / tuples, e.g.
torch_ref.backprop's list of ``{"W": (in, out), "b": (out,)}``) and returns a 0-d tensor; the
Hessian-vector product is ``torch.func.jvp`` of ``torch.func.grad`` (forward-over-reverse) on the
flat parameter vector. Randomness comes from a ``torch.Generator`` where jaxmath takes a key.

Layouts: ``layout='jax'`` (the default, as jaxmath) reads the output axis of a weight as its last
axis (dense ``(in, out)``, conv ``HWIO``); ``layout='torch'`` as its first (``nn.Linear``'s
``(out, in)``, ``nn.Conv2d``'s ``OIHW``), the axis ``net_plotter.normalize_direction`` iterates over.

Grids run point by point under ``torch.no_grad`` (``chunk_size`` 1, the CPU default) or in
``torch.func.vmap`` chunks of ``chunk_size`` points; there is no device sharding here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from torch_ref._tree import ravel_tree, tree_leaves, tree_map
from torch_ref._validation import check_option, check_scalar_in_range

__all__ = [
    "HessianEigs",
    "HessianTrace",
    "PCADirections",
    "SpectralDensity",
    "default_chunk_size",
    "hessian_eigs",
    "hessian_spectral_density",
    "hessian_trace",
    "hvp",
    "interpolate_1d",
    "loss_along",
    "loss_surface_2d",
    "normalize_direction",
    "pca_directions",
    "random_direction",
]

NORMALIZATIONS = ("filter", "layer", "none")
LAYOUTS = ("jax", "torch")
EIG_METHODS = ("lanczos", "power")
TRACE_METHODS = ("hutchinson", "hutch++")
NORM_EPS = 1e-10
DEFAULT_CHUNK_SIZES = {"cpu": 1, "gpu": 64, "tpu": 64}


class PCADirections(NamedTuple):
    """Result of :func:`pca_directions`."""

    directions: list[Any]  # n_components params-shaped pytrees
    explained_variance_ratio: torch.Tensor  # (n_components,)
    projected: torch.Tensor  # (T, n_components)


class HessianEigs(NamedTuple):
    """Result of :func:`hessian_eigs`."""

    eigenvalues: torch.Tensor  # (k,), descending
    eigenvectors: Any  # params-shaped pytree, leading axis k
    n_matvecs: int  # Hessian-vector products used (each one a pass over all the batches)


class HessianTrace(NamedTuple):
    """Result of :func:`hessian_trace`."""

    estimate: torch.Tensor  # ()
    standard_error: torch.Tensor  # ()
    samples: torch.Tensor  # (n,)
    n_matvecs: int  # Hessian-vector products used


class SpectralDensity(NamedTuple):
    """Result of :func:`hessian_spectral_density`."""

    grid: torch.Tensor  # (n_grid,)
    density: torch.Tensor  # (n_grid,)
    nodes: torch.Tensor  # (n_runs, n_iter)
    weights: torch.Tensor  # (n_runs, n_iter)


# ------------------------------------------------------------------------------------------------
# Validation helpers (the same messages as jaxmath.landscape)
# ------------------------------------------------------------------------------------------------


def _describe(tree: Any) -> str:
    if isinstance(tree, Mapping):
        return "{" + ", ".join(f"{key!r}: {_describe(tree[key])}" for key in sorted(tree)) + "}"
    if isinstance(tree, list):
        return "[" + ", ".join(_describe(item) for item in tree) + "]"
    if isinstance(tree, tuple):
        return "(" + ", ".join(_describe(item) for item in tree) + ")"
    return "*"


def _shape(leaf: Any) -> tuple[int, ...]:
    return tuple(leaf.shape) if hasattr(leaf, "shape") else tuple(np.shape(leaf))


def _check_like_params(name: str, tree: Any, params: Any) -> None:
    if _describe(tree) != _describe(params):
        raise ValueError(
            f"{name} must have the structure of params {_describe(params)}, got {_describe(tree)}"
        )
    for index, (leaf, param) in enumerate(zip(tree_leaves(tree), tree_leaves(params), strict=True)):
        if _shape(leaf) != _shape(param):
            raise ValueError(
                f"{name} must have the shapes of params: leaf {index} has shape "
                f"{_shape(leaf)}, params has {_shape(param)}"
            )


def _check_ignore(ignore: Any) -> None:
    if ignore is not None and ignore != "biasbn":
        raise ValueError(f"ignore must be 'biasbn' or None, got {ignore!r}")


def _coefficients(name: str, values: Any, dtype: torch.dtype) -> torch.Tensor:
    array = (
        values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    )
    if array.ndim != 1 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return torch.from_numpy(np.array(array, dtype=np.float64)).to(dtype)


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _as_params(params: Any) -> Any:
    return tree_map(
        lambda leaf: leaf if isinstance(leaf, torch.Tensor) else torch.as_tensor(np.asarray(leaf)),
        params,
    )


def _float_dtype(params: Any) -> torch.dtype:
    leaves = tree_leaves(_as_params(params))
    if not leaves:
        raise ValueError("params must hold at least one array")
    dtype = leaves[0].dtype
    for leaf in leaves[1:]:
        dtype = torch.promote_types(dtype, leaf.dtype)
    if not dtype.is_floating_point:
        raise TypeError(f"params must hold floating-point arrays, got dtype {_dtype_name(dtype)}")
    return dtype


# ------------------------------------------------------------------------------------------------
# Directions
# ------------------------------------------------------------------------------------------------


def _normalize_leaf(
    direction: torch.Tensor,
    param: torch.Tensor,
    normalization: str,
    ignore: str | None,
    layout: str,
) -> torch.Tensor:
    direction = direction.to(param.dtype)
    if param.ndim <= 1:
        return torch.zeros_like(param) if ignore == "biasbn" else param.clone()
    if normalization == "none":
        return direction
    if normalization == "layer":
        return direction * (torch.linalg.norm(param) / (torch.linalg.norm(direction) + NORM_EPS))
    output_axis = param.ndim - 1 if layout == "jax" else 0
    other_axes = tuple(axis for axis in range(param.ndim) if axis != output_axis)
    param_norms = torch.sqrt(torch.sum(param * param, dim=other_axes, keepdim=True))
    direction_norms = torch.sqrt(torch.sum(direction * direction, dim=other_axes, keepdim=True))
    return direction * (param_norms / (direction_norms + NORM_EPS))


def _zip_map(function: Callable[..., Any], tree: Any, *others: Any) -> Any:
    """``tree_map`` over several trees of one structure (leaves zipped in order)."""
    other_leaves = [iter(tree_leaves(other)) for other in others]

    def apply(leaf: Any) -> Any:
        return function(leaf, *(next(iterator) for iterator in other_leaves))

    # tree_map visits dict items in insertion order; tree_leaves sorts keys: rebuild sorted first.
    return tree_map(apply, _sorted(tree))


def _sorted(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {key: _sorted(tree[key]) for key in sorted(tree)}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(_sorted(item) for item in tree))
    if isinstance(tree, list | tuple):
        return type(tree)(_sorted(item) for item in tree)
    return tree


def normalize_direction(
    direction: Any,
    params: Any,
    normalization: str = "filter",
    ignore: str | None = "biasbn",
    layout: str = "jax",
) -> Any:
    r"""Rescale ``direction`` to the scale of ``params``, leaf by leaf (Li et al. 2018).

    ``'filter'``: :math:`d_j \leftarrow d_j \|\theta_j\| / (\|d_j\| + 10^{-10})` per filter ``j`` (the
    slice at index ``j`` of the output axis ``layout`` names); ``'layer'``: the whole leaf;
    ``'none'``: unchanged. Leaves of <= 1 dimension: zero with ``ignore='biasbn'``, else the
    parameter itself (net_plotter.normalize_directions_for_weights). See jaxmath.landscape.
    """
    check_option("normalization", normalization, NORMALIZATIONS)
    _check_ignore(ignore)
    check_option("layout", layout, LAYOUTS)
    _check_like_params("direction", direction, params)
    params = _as_params(params)
    return _zip_map(
        lambda d, p: _normalize_leaf(_as_params(d).to(p.device), p, normalization, ignore, layout),
        _as_params(direction),
        params,
    )


def random_direction(
    generator: torch.Generator,
    params: Any,
    normalization: str = "filter",
    ignore: str | None = "biasbn",
    layout: str = "jax",
) -> Any:
    r"""A Gaussian direction shaped like ``params``, normalized by :func:`normalize_direction`
    (net_plotter.create_random_direction). One draw per leaf from ``generator``, in leaf order."""
    check_option("normalization", normalization, NORMALIZATIONS)
    _check_ignore(ignore)
    check_option("layout", layout, LAYOUTS)
    params = _sorted(_as_params(params))
    draws = tree_map(
        lambda leaf: torch.randn(
            leaf.shape, generator=generator, dtype=leaf.dtype, device=generator.device
        ).to(leaf.device),
        params,
    )
    return normalize_direction(draws, params, normalization, ignore, layout)


# ------------------------------------------------------------------------------------------------
# Grids
# ------------------------------------------------------------------------------------------------


def default_chunk_size(backend: str | None = None) -> int:
    """Grid points per step when ``chunk_size=None``: 1 on CPU, 64 on GPU/TPU (default backend:
    'gpu' when CUDA is available, else 'cpu')."""
    if backend is None:
        backend = "gpu" if torch.cuda.is_available() else "cpu"
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {backend!r}")
    return DEFAULT_CHUNK_SIZES.get(backend, DEFAULT_CHUNK_SIZES["gpu"])


def _check_loss_fn(loss_fn: Any) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")


def _evaluate_points(
    loss_fn: Callable[[Any], torch.Tensor],
    params: Any,
    directions: Sequence[Any],
    points: torch.Tensor,
    chunk_size: int | None,
) -> torch.Tensor:
    """``loss_fn(params + sum_k points[i, k] directions[k])`` for every row i of ``points``."""
    chunk = (
        default_chunk_size()
        if chunk_size is None
        else _check_positive_int("chunk_size", chunk_size)
    )
    flat, unravel = ravel_tree(params)
    flat_directions = torch.stack([ravel_tree(direction)[0] for direction in directions])
    points = points.to(device=flat.device)

    def point_loss(point: torch.Tensor) -> torch.Tensor:
        return loss_fn(unravel(flat + point @ flat_directions))

    losses = []
    with torch.no_grad():
        for start in range(0, points.shape[0], chunk):
            block = points[start : start + chunk]
            if chunk == 1:
                losses.append(point_loss(block[0]).reshape(1))
            else:
                losses.append(torch.func.vmap(point_loss)(block))
    return torch.cat(losses)


def loss_surface_2d(
    loss_fn: Callable[[Any], torch.Tensor],
    params: Any,
    d1: Any,
    d2: Any,
    alphas: Any,
    betas: Any,
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""``surface[i, j] = loss_fn(params + alphas[i] d1 + betas[j] d2)``, shape (len(alphas),
    len(betas)); point by point under ``torch.no_grad`` (``chunk_size`` 1) or ``torch.func.vmap``
    over chunks of ``chunk_size`` points (``loss_fn`` must then be vmap-compatible)."""
    _check_loss_fn(loss_fn)
    dtype = _float_dtype(params)
    _check_like_params("d1", d1, params)
    _check_like_params("d2", d2, params)
    alphas = _coefficients("alphas", alphas, dtype)
    betas = _coefficients("betas", betas, dtype)
    grid = torch.stack(torch.meshgrid(alphas, betas, indexing="ij"), dim=-1).reshape(-1, 2)
    params = _as_params(params)
    losses = _evaluate_points(loss_fn, params, (_as_params(d1), _as_params(d2)), grid, chunk_size)
    return losses.reshape(len(alphas), len(betas))


def loss_along(
    loss_fn: Callable[[Any], torch.Tensor], params: Any, direction: Any, alphas: Any
) -> torch.Tensor:
    """``losses[i] = loss_fn(params + alphas[i] direction)``, shape (len(alphas),)."""
    _check_loss_fn(loss_fn)
    dtype = _float_dtype(params)
    _check_like_params("direction", direction, params)
    alphas = _coefficients("alphas", alphas, dtype)
    return _evaluate_points(
        loss_fn, _as_params(params), (_as_params(direction),), alphas[:, None], None
    )


def interpolate_1d(
    loss_fn: Callable[[Any], torch.Tensor], params_a: Any, params_b: Any, alphas: Any
) -> torch.Tensor:
    """``losses[i] = loss_fn((1 - alphas[i]) params_a + alphas[i] params_b)`` (Goodfellow et al.
    2015), as :func:`loss_along` from ``params_a`` along ``params_b - params_a``."""
    _check_loss_fn(loss_fn)
    _float_dtype(params_a)
    _check_like_params("params_b", params_b, params_a)
    params_a = _as_params(params_a)
    difference = _zip_map(lambda a, b: b.to(a.dtype) - a, params_a, _as_params(params_b))
    return loss_along(loss_fn, params_a, difference, alphas)


# ------------------------------------------------------------------------------------------------
# PCA of a trajectory
# ------------------------------------------------------------------------------------------------


def pca_directions(trajectory: Sequence[Any], n_components: int = 2) -> PCADirections:
    r"""PCA directions of ``[theta_t - theta_final]`` (Li et al. 2018, section 7) by
    ``torch.linalg.svd`` of the centred matrix, signs as sklearn's ``svd_flip`` (largest-magnitude
    entry positive); the trajectory projected on them. See jaxmath.landscape.pca_directions."""
    if isinstance(trajectory, str | bytes | Mapping) or not isinstance(trajectory, Sequence):
        raise TypeError(
            f"trajectory must be a sequence of params pytrees, got {type(trajectory).__name__}"
        )
    if len(trajectory) < 2:
        raise ValueError(f"trajectory must hold at least 2 points, got {len(trajectory)}")
    _float_dtype(trajectory[0])
    for index, point in enumerate(trajectory[1:], start=1):
        _check_like_params(f"trajectory[{index}]", point, trajectory[0])
    n_components = _check_positive_int("n_components", n_components)
    flat = torch.stack([ravel_tree(_as_params(point))[0] for point in trajectory])
    limit = min(flat.shape[0] - 1, flat.shape[1])
    if n_components > limit:
        raise ValueError(
            f"n_components must be <= min(len(trajectory) - 1, number of parameters) = {limit}, "
            f"got {n_components}"
        )
    _, unravel = ravel_tree(_as_params(trajectory[0]))
    relative = flat - flat[-1]
    centred = relative - relative.mean(dim=0)
    _, singular_values, vt = torch.linalg.svd(centred, full_matrices=False)
    components = vt[:n_components]
    largest = torch.argmax(torch.abs(components), dim=1)
    signs = torch.sign(components[torch.arange(n_components), largest])
    components = components * signs[:, None]
    variances = singular_values**2
    return PCADirections(
        directions=[unravel(component) for component in components],
        explained_variance_ratio=variances[:n_components] / torch.sum(variances),
        projected=relative @ components.T,
    )


# ------------------------------------------------------------------------------------------------
# The Hessian as an operator on flat vectors
# ------------------------------------------------------------------------------------------------


def _flat_mask(mask: Any, params: Any, flat: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return torch.ones_like(flat)
    _check_like_params("mask", mask, params)
    leaves = [
        leaf.detach().cpu().numpy() if isinstance(leaf, torch.Tensor) else np.asarray(leaf)
        for leaf in tree_leaves(mask)
    ]
    for leaf in leaves:
        if leaf.dtype != np.bool_:
            raise TypeError(f"mask must hold boolean arrays, got dtype {leaf.dtype}")
    values = np.concatenate([leaf.reshape(-1) for leaf in leaves])
    if not values.any():
        raise ValueError("mask must select at least one parameter, got an all-False mask")
    return torch.from_numpy(values).to(dtype=flat.dtype, device=flat.device)


def _batch_size(batch: Any) -> int:
    leaves = tree_leaves(batch)
    if not leaves or len(_shape(leaves[0])) == 0:
        raise ValueError("each batch must hold arrays whose leading axis is the batch size")
    return int(_shape(leaves[0])[0])


def _check_batches(batches: Sequence[Any] | None) -> tuple[list[Any], list[float]]:
    if batches is None:
        return [None], [1.0]
    if isinstance(batches, str | bytes | Mapping) or not isinstance(batches, Sequence):
        raise TypeError(f"batches must be a sequence of batches, got {type(batches).__name__}")
    if len(batches) == 0:
        raise ValueError("batches must hold at least one batch, got an empty sequence")
    sizes = [_batch_size(batch) for batch in batches]
    total = sum(sizes)
    return list(batches), [size / total for size in sizes]


class _Operator:
    """The (masked, batch-averaged) Hessian on flat vectors, counting its matvecs."""

    def __init__(
        self,
        loss_fn: Callable[..., torch.Tensor],
        params: Any,
        batches: Sequence[Any] | None,
        mask: Any,
        chunk_size: int | None,
    ) -> None:
        _check_loss_fn(loss_fn)
        self.dtype = _float_dtype(params)
        self.params = _as_params(params)
        self.loss_fn = loss_fn
        self.flat_params, self.unravel = ravel_tree(self.params)
        self.flat_params = self.flat_params.detach()
        self.size = self.flat_params.shape[0]
        self.mask = _flat_mask(mask, params, self.flat_params)
        self.dimension = int(self.mask.sum().item())
        self.batches, self.batch_weights = _check_batches(batches)
        self.chunk = (
            default_chunk_size()
            if chunk_size is None
            else _check_positive_int("chunk_size", chunk_size)
        )
        self.n_matvecs = 0

    def _hvp(self, batch: Any, vector: torch.Tensor) -> torch.Tensor:
        if batch is None:
            loss = lambda flat: self.loss_fn(self.unravel(flat))  # noqa: E731
        else:
            loss = lambda flat: self.loss_fn(self.unravel(flat), batch)  # noqa: E731
        vector = vector * self.mask
        product = torch.func.jvp(torch.func.grad(loss), (self.flat_params,), (vector,))[1]
        return product * self.mask

    def rows(self, rows: torch.Tensor, mode: str) -> torch.Tensor:
        """Per row: 'hvp' -> H v (R, P); 'quadratic' -> v . H v (R,); weighted over batches."""
        total = None
        for batch, weight in zip(self.batches, self.batch_weights, strict=True):

            def one(vector: torch.Tensor, batch: Any = batch) -> torch.Tensor:
                product = self._hvp(batch, vector)
                return product if mode == "hvp" else torch.dot(vector * self.mask, product)

            parts = []
            for start in range(0, rows.shape[0], self.chunk):
                block = rows[start : start + self.chunk]
                if self.chunk == 1:
                    parts.append(one(block[0])[None])
                else:
                    parts.append(torch.func.vmap(one)(block))
            part = torch.cat(parts) * weight
            total = part if total is None else total + part
        self.n_matvecs += rows.shape[0]
        return total.detach()

    def matvec(self, vector: torch.Tensor) -> torch.Tensor:
        return self.rows(vector[None], "hvp")[0]

    def random_vector(self, generator: torch.Generator) -> torch.Tensor:
        draw = torch.randn(self.size, generator=generator, dtype=self.dtype)
        return draw.to(self.flat_params.device) * self.mask

    def rademacher(self, generator: torch.Generator, count: int) -> torch.Tensor:
        signs = torch.randint(0, 2, (count, self.size), generator=generator) * 2 - 1
        return signs.to(dtype=self.dtype, device=self.flat_params.device) * self.mask


def hvp(
    loss_fn: Callable[..., torch.Tensor],
    params: Any,
    v: Any,
    batches: Sequence[Any] | None = None,
    mask: Any = None,
) -> Any:
    r"""The Hessian-vector product :math:`Hv`: ``torch.func.jvp`` of ``torch.func.grad``
    (forward-over-reverse), batch-size-weighted over ``batches``, restricted by ``mask``; shaped like
    ``params``. See jaxmath.landscape.hvp."""
    operator = _Operator(loss_fn, params, batches, mask, None)
    _check_like_params("v", v, params)
    flat_v = ravel_tree(_zip_map(lambda x, p: x.to(p.dtype), _as_params(v), operator.params))[0]
    return operator.unravel(operator.matvec(flat_v))


# ------------------------------------------------------------------------------------------------
# Lanczos and power iteration
# ------------------------------------------------------------------------------------------------


def _lanczos(
    operator: _Operator,
    start: torch.Tensor,
    steps: int,
    converged: Callable[[list, list, float], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Lanczos with full reorthogonalisation (twice); see jaxmath.landscape._lanczos."""
    basis = [start / torch.linalg.norm(start)]
    alphas: list[float] = []
    betas: list[float] = []
    eps = float(torch.finfo(operator.dtype).eps)
    scale = 0.0
    while True:
        product = operator.matvec(basis[-1])
        alpha = float(torch.dot(basis[-1], product))
        alphas.append(alpha)
        product = product - alpha * basis[-1]
        if len(basis) > 1:
            product = product - betas[-1] * basis[-2]
        stacked = torch.stack(basis)
        for _ in range(2):
            product = product - stacked.T @ (stacked @ product)
        beta = float(torch.linalg.norm(product))
        scale = max(scale, abs(alpha) + beta + (betas[-1] if betas else 0.0))
        done = len(alphas) >= steps or len(alphas) >= operator.dimension
        breakdown = beta <= 10 * eps * max(scale, 1e-30) * math.sqrt(operator.dimension)
        if done or breakdown or (converged is not None and converged(alphas, betas, beta)):
            return np.asarray(alphas), np.asarray(betas), stacked
        betas.append(beta)
        basis.append(product / beta)


def _tridiagonal_eigh(alphas: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    return np.linalg.eigh(matrix)


def _fix_sign(vectors: torch.Tensor) -> torch.Tensor:
    largest = torch.argmax(torch.abs(vectors), dim=1)
    signs = torch.sign(vectors[torch.arange(vectors.shape[0]), largest])
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]


def _eigs_lanczos(
    operator: _Operator, generator: torch.Generator, k: int, tol: float, max_iter: int
) -> tuple[np.ndarray, torch.Tensor]:
    def converged(alphas: list, betas: list, beta_next: float) -> bool:
        if len(alphas) < k:
            return False
        values, vectors = _tridiagonal_eigh(np.asarray(alphas), np.asarray(betas))
        top = np.argsort(values)[::-1][:k]
        residuals = np.abs(beta_next * vectors[-1, top])
        return bool(np.all(residuals <= tol * np.maximum(np.abs(values[top]), 1e-30)))

    steps = max(max_iter, k)
    alphas, betas, basis = _lanczos(operator, operator.random_vector(generator), steps, converged)
    values, vectors = _tridiagonal_eigh(alphas, betas)
    top = np.argsort(values)[::-1][:k].copy()
    coefficients = torch.from_numpy(vectors[:, top].T.copy()).to(basis.dtype)
    return values[top], coefficients.to(basis.device) @ basis


def _eigs_power(
    operator: _Operator, generator: torch.Generator, k: int, tol: float, max_iter: int
) -> tuple[np.ndarray, torch.Tensor]:
    """PyHessian's power iteration with deflation (see jaxmath.landscape._eigs_power)."""
    found: list[torch.Tensor] = []
    values: list[float] = []
    for _ in range(k):
        vector = operator.random_vector(generator)
        vector = vector / torch.linalg.norm(vector)
        value = None
        for _ in range(max_iter):
            for other in found:
                vector = vector - torch.dot(other, vector) * other
            vector = vector / torch.linalg.norm(vector)
            product = operator.matvec(vector)
            estimate = float(torch.dot(vector, product))
            vector = product / torch.linalg.norm(product)
            if value is not None and abs(value - estimate) / (abs(value) + 1e-6) < tol:
                value = estimate
                break
            value = estimate
        values.append(value)
        found.append(vector)
    return np.asarray(values), torch.stack(found)


def _stack_unravel(operator: _Operator, vectors: torch.Tensor) -> Any:
    """Rows of ``vectors`` as one pytree whose leaves have a leading axis (like jax.vmap)."""
    pieces = [tree_leaves(operator.unravel(vector)) for vector in vectors]
    stacked = iter(torch.stack(list(leaves)) for leaves in zip(*pieces, strict=True))
    return tree_map(lambda _: next(stacked), _sorted(operator.params))


def hessian_eigs(
    generator: torch.Generator,
    loss_fn: Callable[..., torch.Tensor],
    params: Any,
    k: int = 1,
    tol: float = 1e-4,
    max_iter: int = 100,
    method: str = "lanczos",
    batches: Sequence[Any] | None = None,
    mask: Any = None,
) -> HessianEigs:
    """Top-``k`` Hessian eigenpairs by Lanczos (default) or PyHessian's power iteration with
    deflation; see jaxmath.landscape.hessian_eigs."""
    check_option("method", method, EIG_METHODS)
    check_scalar_in_range("tol", tol, 0.0, low_inclusive=False)
    _check_positive_int("max_iter", max_iter)
    operator = _Operator(loss_fn, params, batches, mask, None)
    k = _check_positive_int("k", k)
    if k > operator.dimension:
        raise ValueError(
            f"k must be <= the number of parameters the Hessian acts on ({operator.dimension}), "
            f"got {k}"
        )
    solve = _eigs_lanczos if method == "lanczos" else _eigs_power
    values, vectors = solve(operator, generator, k, tol, max_iter)
    order = np.argsort(values)[::-1].copy()
    vectors = _fix_sign(vectors[torch.from_numpy(order)])
    return HessianEigs(
        eigenvalues=torch.tensor(values[order], dtype=operator.dtype),
        eigenvectors=_stack_unravel(operator, vectors),
        n_matvecs=operator.n_matvecs,
    )


# ------------------------------------------------------------------------------------------------
# Trace
# ------------------------------------------------------------------------------------------------


def _mean_and_error(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    count = samples.shape[0]
    mean = torch.mean(samples)
    if count < 2:
        return mean, torch.tensor(math.nan, dtype=samples.dtype)
    return mean, torch.std(samples, correction=1) / math.sqrt(count)


def hessian_trace(
    generator: torch.Generator,
    loss_fn: Callable[..., torch.Tensor],
    params: Any,
    n_samples: int = 100,
    method: str = "hutchinson",
    batches: Sequence[Any] | None = None,
    mask: Any = None,
    chunk_size: int | None = None,
) -> HessianTrace:
    """Hutchinson or Hutch++ trace estimate with its standard error, from ``n_samples`` matvecs;
    see jaxmath.landscape.hessian_trace."""
    check_option("method", method, TRACE_METHODS)
    n_samples = _check_positive_int("n_samples", n_samples)
    if method == "hutch++" and n_samples < 3:
        raise ValueError(f"n_samples must be >= 3 for method='hutch++', got {n_samples}")
    operator = _Operator(loss_fn, params, batches, mask, chunk_size)
    if method == "hutchinson":
        samples = operator.rows(operator.rademacher(generator, n_samples), "quadratic")
        estimate, error = _mean_and_error(samples)
        return HessianTrace(estimate, error, samples, operator.n_matvecs)
    sketch_count = n_samples // 3
    residual_count = n_samples - 2 * sketch_count
    sketch = operator.rows(operator.rademacher(generator, sketch_count), "hvp")
    basis, _ = torch.linalg.qr(sketch.T)
    exact_part = torch.trace(basis.T @ operator.rows(basis.T.contiguous(), "hvp").T)
    probes = operator.rademacher(generator, residual_count)
    probes = probes - (probes @ basis) @ basis.T
    samples = operator.rows(probes, "quadratic")
    residual, error = _mean_and_error(samples)
    return HessianTrace(exact_part + residual, error, samples, operator.n_matvecs)


# ------------------------------------------------------------------------------------------------
# Spectral density
# ------------------------------------------------------------------------------------------------


def _smoothed_density(
    nodes: np.ndarray, weights: np.ndarray, n_grid: int, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    used = nodes[weights > 0]
    low, high = float(used.min()), float(used.max())
    width = high - low if high > low else max(abs(high), 1.0)
    bandwidth = sigma * width
    grid = np.linspace(low - 6 * bandwidth, high + 6 * bandwidth, n_grid)
    kernels = np.exp(-0.5 * ((grid[:, None] - nodes.reshape(-1)[None, :]) / bandwidth) ** 2)
    kernels /= bandwidth * math.sqrt(2 * math.pi)
    density = kernels @ weights.reshape(-1) / nodes.shape[0]
    return grid, density


def hessian_spectral_density(
    generator: torch.Generator,
    loss_fn: Callable[..., torch.Tensor],
    params: Any,
    n_iter: int = 80,
    n_runs: int = 1,
    n_grid: int = 1000,
    sigma: float = 0.01,
    batches: Sequence[Any] | None = None,
    mask: Any = None,
) -> SpectralDensity:
    """Stochastic Lanczos quadrature (Ghorbani et al. 2019; PyHessian's ``hessian.density`` with
    ``eigh`` on the symmetric tridiagonal); see jaxmath.landscape.hessian_spectral_density."""
    n_iter = _check_positive_int("n_iter", n_iter)
    n_runs = _check_positive_int("n_runs", n_runs)
    n_grid = _check_positive_int("n_grid", n_grid, minimum=2)
    check_scalar_in_range("sigma", sigma, 0.0, low_inclusive=False)
    operator = _Operator(loss_fn, params, batches, mask, None)
    nodes = np.zeros((n_runs, n_iter))
    weights = np.zeros((n_runs, n_iter))
    for run in range(n_runs):
        start = operator.rademacher(generator, 1)[0]
        alphas, betas, _ = _lanczos(operator, start, n_iter)
        values, vectors = _tridiagonal_eigh(alphas, betas)
        nodes[run, : len(values)] = values
        weights[run, : len(values)] = vectors[0] ** 2
    grid, density = _smoothed_density(nodes, weights, n_grid, sigma)
    dtype = operator.dtype
    return SpectralDensity(
        grid=torch.from_numpy(grid).to(dtype),
        density=torch.from_numpy(density).to(dtype),
        nodes=torch.from_numpy(nodes).to(dtype),
        weights=torch.from_numpy(weights).to(dtype),
    )
