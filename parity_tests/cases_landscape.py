"""Case rows for jaxmath.landscape: directions, surfaces, PCA and the Hessian, jaxmath == torch_ref ==
the upstream algorithm. Joined into the one table by cases.py.

The references:
- filter normalization: ``net_plotter.normalize_directions_for_weights`` of the original
  loss-landscape code, ported to torch tensors in torch's layout (it iterates over a weight's first
  axis), with our ``'jax'``-layout leaves transposed into it and back;
- surfaces: the original ``plot_surface.py`` way, one point at a time through a
  ``torch.nn.functional`` MLP built from the same numbers;
- the Hessian: the explicit Hessian of that MLP's loss from ``torch.autograd.functional.hessian``
  (float64), with ``numpy.linalg.eigh`` / its trace / its spectrum;
- PCA: ``sklearn.decomposition.PCA(svd_solver='full')``.

Estimators driven by random draws (directions, traces, densities) cannot match draw for draw across
frameworks (JAX and torch streams differ), so their rows compare as statistics: a KS test for the
directions' entries, "within 3 standard errors" for traces and moments.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
import scipy.stats
import sklearn.decomposition
import torch
import torch.nn.functional as F

from jaxmath import landscape as _jax_landscape  # noqa: F401  (makes jaxmath.landscape an attribute)
from parity_tests.harness import Case, ErrorInput, Framework, Reference, Sample, Tolerance, leaves
from parity_tests.inputs import class_indices, normal
from torch_ref import landscape as _torch_landscape  # noqa: F401

MLP_SIZES = ((3, 4, 2), (4, 5, 3))  # 26 and 43 parameters: explicit Hessians stay small
ACTIVATION = "tanh"  # smooth everywhere, so the Hessian is well defined at every point


# ------------------------------------------------------------------------------------------------
# Shared model and helpers
# ------------------------------------------------------------------------------------------------


def mlp_params(rng: np.random.Generator, sizes: tuple[int, ...], dtype: str) -> list[dict]:
    return [
        {
            "W": normal(rng, (fan_in, fan_out), dtype, scale=1.2 / np.sqrt(fan_in)),
            "b": normal(rng, (fan_out,), dtype, scale=0.3),
        }
        for fan_in, fan_out in itertools.pairwise(sizes)
    ]


def mlp_data(
    rng: np.random.Generator, sizes: tuple[int, ...], batch: int, dtype: str
) -> tuple[np.ndarray, np.ndarray]:
    return normal(rng, (batch, sizes[0]), dtype, scale=1.0), class_indices(rng, (batch,), sizes[-1])


def _content(*arrays: Any) -> tuple:
    """An exact key for the values of arrays (NumPy, JAX or torch): dtype, shape and bytes."""
    return tuple(
        (value.dtype.str, value.shape, value.tobytes())
        for value in (np.asarray(array) for array in arrays)
    )


#: jaxmath.landscape compiles its Hessian-vector program once per ``loss_fn`` object (a static
#: argument of the jitted product, compared by identity), so the samples of a row that share one
#: problem (the same params, x, y under other options) get one closure per (framework, data), and
#: its program is compiled once for them, as a user calling twice with one loss_fn would. The
#: closure is built exactly as before; only its identity is shared.
_LOSS_FUNCTIONS: dict[tuple, Callable[..., Any]] = {}


def loss_function(framework: Framework, x: Any, y: Any) -> Callable[[Any], Any]:
    """``params -> cross-entropy of the tanh MLP on (x, y)``, in the framework's own package (one
    closure per framework and values of (x, y))."""
    package = framework.package

    def loss(params: Any) -> Any:
        return package.cross_entropy_loss(package.mlp_forward(params, x, ACTIVATION)[0], y)

    if not _concrete(x, y):  # traced or differentiated data: a closure of its own
        return loss
    return _LOSS_FUNCTIONS.setdefault((framework.name, _content(x, y)), loss)


def _concrete(*arrays: Any) -> bool:
    """Whether the arrays hold values (not jax tracers, not torch tensors that track gradients)."""
    return not any(
        isinstance(array, jax.core.Tracer)
        or (isinstance(array, torch.Tensor) and array.requires_grad)
        for array in arrays
    )


def batch_loss_function(framework: Framework) -> Callable[[Any, Any], Any]:
    """``(params, (x, y)) -> the same loss on a batch`` (one function per framework)."""
    key = (framework.name, "batches")
    if key not in _LOSS_FUNCTIONS:
        package = framework.package
        _LOSS_FUNCTIONS[key] = lambda params, batch: package.cross_entropy_loss(
            package.mlp_forward(params, batch[0], ACTIVATION)[0], batch[1]
        )
    return _LOSS_FUNCTIONS[key]


def torch_mlp_loss(params: list, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same loss in plain torch.nn.functional (F.linear takes the weight as (out, in))."""
    hidden = x
    for index, layer in enumerate(params):
        hidden = F.linear(hidden, layer["W"].T, layer["b"])
        if index < len(params) - 1:
            hidden = torch.tanh(hidden)
    return F.cross_entropy(hidden, y)


def flatten(tree: Any) -> np.ndarray:
    """Leaves in harness.leaves order (dict keys sorted, as jax.flatten_util.ravel_pytree)."""
    return np.concatenate([np.asarray(leaf).reshape(-1) for leaf in leaves(tree)])


def unflatten(vector: np.ndarray, like: list[dict]) -> list[dict]:
    out, offset = [], 0
    for layer in like:
        rebuilt = {}
        for key in sorted(layer):
            size = int(np.prod(np.shape(layer[key]), dtype=int))
            rebuilt[key] = vector[offset : offset + size].reshape(np.shape(layer[key]))
            offset += size
        out.append(rebuilt)
    return out


def torch_tree(tree: Any, dtype: torch.dtype = torch.float64) -> Any:
    if isinstance(tree, list):
        return [torch_tree(item, dtype) for item in tree]
    if isinstance(tree, dict):
        return {key: torch_tree(value, dtype) for key, value in tree.items()}
    return torch.as_tensor(np.asarray(tree)).to(dtype)


#: explicit_hessian's results by the values of (params, x, y): the samples of a row that share a
#: problem under other options (k, tol, a mask, a split into batches) compute it once.
_EXPLICIT_HESSIANS: dict[tuple, np.ndarray] = {}


def explicit_hessian(params: list[dict], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """torch.autograd.functional.hessian of the torch.nn.functional loss, float64, flat order
    (computed once per values of (params, x, y); a copy is returned)."""
    key = (_content(*leaves(params), x, y), tuple(np.shape(leaf) for leaf in leaves(params)))
    if key not in _EXPLICIT_HESSIANS:
        _EXPLICIT_HESSIANS[key] = _explicit_hessian(params, x, y)
    return _EXPLICIT_HESSIANS[key].copy()


def _explicit_hessian(params: list[dict], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    like = params
    x64, y64 = torch.as_tensor(np.asarray(x, np.float64)), torch.as_tensor(np.asarray(y))
    flat = torch.as_tensor(flatten(params).astype(np.float64))

    def loss(vector: torch.Tensor) -> torch.Tensor:
        tree, offset = [], 0
        for layer in like:
            rebuilt = {}
            for key in sorted(layer):
                shape = np.shape(layer[key])
                size = int(np.prod(shape, dtype=int))
                rebuilt[key] = vector[offset : offset + size].reshape(shape)
                offset += size
            tree.append(rebuilt)
        return torch_mlp_loss(tree, x64, y64)

    return torch.autograd.functional.hessian(loss, flat).numpy()


def masked(hessian: np.ndarray, mask: Any) -> np.ndarray:
    if mask is None:
        return hessian
    keep = flatten(mask).astype(hessian.dtype)
    return hessian * keep[:, None] * keep[None, :]


def explicit_spectrum(
    params: list[dict], x: np.ndarray, y: np.ndarray, mask: Any = None
) -> np.ndarray:
    """Eigenvalues of the (masked block of the) Hessian, ascending."""
    hessian = explicit_hessian(params, x, y)
    if mask is None:
        return np.linalg.eigvalsh(hessian)
    keep = flatten(mask).astype(bool)
    return np.linalg.eigvalsh(hessian[np.ix_(keep, keep)])


def with_loss(
    method: str,
) -> Callable[..., Any]:
    """``call(framework, seed, params, x, y, split=None, **options)`` for the Hessian functions: the
    loss closes over (x, y), or with ``split`` the data come as two batches (sizes split, N - split)
    and ``loss_fn(params, batch)``; ``seed`` becomes the framework's key / generator."""

    def call(
        framework: Framework, seed: int, params: Any, x: Any, y: Any, split: Any = None, **options
    ) -> Any:
        function = getattr(framework.package.landscape, method)
        if split is None:
            return function(framework.rng(seed), loss_function(framework, x, y), params, **options)
        batches = [(x[:split], y[:split]), (x[split:], y[split:])]
        return function(
            framework.rng(seed), batch_loss_function(framework), params, batches=batches, **options
        )

    return call


# ------------------------------------------------------------------------------------------------
# normalize_direction: net_plotter's algorithm, both layouts
# ------------------------------------------------------------------------------------------------


def to_torch_layout(leaf: torch.Tensor) -> torch.Tensor:
    """(in, out) -> (out, in); HWIO -> OIHW."""
    if leaf.ndim == 2:
        return leaf.T
    if leaf.ndim == 4:
        return leaf.permute(3, 2, 0, 1)
    return leaf


def from_torch_layout(leaf: torch.Tensor) -> torch.Tensor:
    if leaf.ndim == 2:
        return leaf.T
    if leaf.ndim == 4:
        return leaf.permute(2, 3, 1, 0)
    return leaf


def net_plotter_normalize(
    direction: Any,
    params: Any,
    normalization: str = "filter",
    ignore: str | None = "biasbn",
    layout: str = "jax",
) -> Any:
    """``net_plotter.normalize_directions_for_weights`` (tomgoldstein/loss-landscape), rewritten
    without in-place ops: per leaf in torch's layout, ``d.dim() <= 1`` -> zero (biasbn) or w;
    'filter' -> each ``d[j] * w[j].norm() / (d[j].norm() + 1e-10)`` over the first axis; 'layer' ->
    ``d * w.norm() / d.norm()``."""

    def one(d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if d.dim() <= 1:
            return torch.zeros_like(w) if ignore == "biasbn" else w.clone()
        if normalization == "none":
            return d
        if layout == "jax":
            d, w = to_torch_layout(d), to_torch_layout(w)
        if normalization == "filter":
            result = torch.stack(
                [d_j * (w_j.norm() / (d_j.norm() + 1e-10)) for d_j, w_j in zip(d, w, strict=True)]
            )
        else:
            result = d * (w.norm() / d.norm())
        return from_torch_layout(result) if layout == "jax" else result

    if isinstance(direction, dict):
        return {
            key: net_plotter_normalize(direction[key], params[key], normalization, ignore, layout)
            for key in direction
        }
    if isinstance(direction, list):
        return [
            net_plotter_normalize(d, p, normalization, ignore, layout)
            for d, p in zip(direction, params, strict=True)
        ]
    return one(direction, params)


def conv_params(rng: np.random.Generator, dtype: str, layout: str) -> dict:
    """A conv kernel (3x3, 2 -> 4 channels), a dense weight and biases, stored in ``layout``."""
    kernel_hwio = normal(rng, (3, 3, 2, 4), dtype, 0.5)
    dense_io = normal(rng, (4, 3), dtype, 0.5)
    if layout == "torch":
        return {
            "conv": np.ascontiguousarray(kernel_hwio.transpose(3, 2, 0, 1)),
            "conv_bias": normal(rng, (4,), dtype, 0.1),
            "dense": np.ascontiguousarray(dense_io.T),
            "scale": normal(rng, (), dtype, 1.0),
        }
    return {
        "conv": kernel_hwio,
        "conv_bias": normal(rng, (4,), dtype, 0.1),
        "dense": dense_io,
        "scale": normal(rng, (), dtype, 1.0),
    }


def like(rng: np.random.Generator, tree: Any, dtype: str) -> Any:
    if isinstance(tree, dict):
        return {key: like(rng, value, dtype) for key, value in tree.items()}
    if isinstance(tree, list):
        return [like(rng, value, dtype) for value in tree]
    return normal(rng, np.shape(tree), dtype, 1.0)


def normalize_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    params = mlp_params(rng, (3, 5, 2), dtype)
    yield Sample((like(rng, params, dtype), params), {}, "MLP (in, out), defaults")
    for normalization, ignore in itertools.product(("filter", "layer", "none"), ("biasbn", None)):
        yield Sample(
            (like(rng, params, dtype), params),
            {"normalization": normalization, "ignore": ignore},
            f"MLP {normalization} ignore={ignore}",
        )
    for layout in ("jax", "torch"):
        conv = conv_params(rng, dtype, layout)
        for normalization in ("filter", "layer"):
            yield Sample(
                (like(rng, conv, dtype), conv),
                {"layout": layout, "normalization": normalization},
                f"conv + dense in {layout} layout, {normalization}",
            )


def normalize_edges(dtype: str) -> Iterator[Sample]:
    rng = np.random.default_rng(7)
    params = mlp_params(rng, (3, 4, 2), dtype)
    params[0]["W"][:, 1] = 0.0  # a dead unit: its filter has norm 0
    yield Sample((like(rng, params, dtype), params), {}, "a filter of all-zero weights")
    tiny = [{"W": np.full((2, 2), 1e-18, dtype), "b": np.zeros(2, dtype)}]
    yield Sample((like(rng, tiny, dtype), tiny), {"ignore": None}, "weights of 1e-18")


def direction_errors(function: str) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        params = [{"W": np.ones((3, 2)), "b": np.zeros(2)}]
        yield ErrorInput(
            Sample(([{"W": np.ones((3, 2))}], params), {}, "direction missing a leaf"),
            ValueError,
            r"direction must have the structure of params \[\{'W': \*, 'b': \*\}\], "
            r"got \[\{'W': \*\}\]",
        )
        yield ErrorInput(
            Sample(([{"W": np.ones((2, 3)), "b": np.zeros(2)}], params), {}, "transposed W"),
            ValueError,
            r"direction must have the shapes of params: leaf 0 has shape \(2, 3\), params has \(3, 2\)",
        )
        for option, value, allowed in (
            ("normalization", "weight", "'filter', 'layer', 'none'"),
            ("layout", "OIHW", "'jax', 'torch'"),
        ):
            yield ErrorInput(
                Sample((params, params), {option: value}, f"unknown {option}"),
                ValueError,
                rf"{option} must be one of {allowed}, got '{value}'",
            )
        yield ErrorInput(
            Sample((params, params), {"ignore": "bn"}, "unknown ignore"),
            ValueError,
            r"ignore must be 'biasbn' or None, got 'bn'",
        )

    return errors


# ------------------------------------------------------------------------------------------------
# random_direction: compared as distributions
# ------------------------------------------------------------------------------------------------


def call_random_direction(framework: Framework, seed: int, params: Any, **options: Any) -> Any:
    return framework.package.landscape.random_direction(framework.rng(seed), params, **options)


def torch_random_direction(
    seed: int,
    params: Any,
    normalization: str = "filter",
    ignore: Any = "biasbn",
    layout: str = "jax",
) -> Any:
    """net_plotter.create_random_direction: torch.randn per weight, then its normalization."""
    generator = torch.Generator().manual_seed(seed + 1)
    draws = torch_tree_map(
        lambda w: torch.randn(w.shape, generator=generator, dtype=w.dtype), params
    )
    return net_plotter_normalize(draws, params, normalization, ignore, layout)


def torch_tree_map(function: Callable[[Any], Any], tree: Any) -> Any:
    if isinstance(tree, dict):
        return {key: torch_tree_map(function, value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [torch_tree_map(function, value) for value in tree]
    return function(tree)


def sign_params(rng: np.random.Generator, shapes: dict, dtype: str) -> dict:
    """Entries +-1: every filter of n weights has norm sqrt(n) in either layout, so the normalized
    direction's entries are ~N(0, 1) and the three samplers can be compared as distributions."""
    return {
        name: rng.choice([-1.0, 1.0], size=shape).astype(dtype) for name, shape in shapes.items()
    }


def random_direction_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    shapes = {"W": (200, 300), "b": (300,), "conv": (3, 3, 16, 32)}
    yield Sample((0, sign_params(rng, shapes, dtype)), {}, "defaults")
    yield Sample(
        (1, sign_params(rng, shapes, dtype)), {"layout": "torch", "ignore": None}, "torch layout"
    )
    yield Sample((2, sign_params(rng, shapes, dtype)), {"normalization": "layer"}, "layer")


def compare_directions(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """Same structure, shapes and dtypes; 1-D leaves equal (zeros or the weights); each weight's
    norm equal (the params' norm: filter-wise norms sum to it); entries from one distribution (KS
    p > 1e-3, deterministic: every seed is fixed)."""
    for index, (ours, theirs) in enumerate(zip(leaves(actual), leaves(expected), strict=True)):
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, f"{context} leaf {index}"
        if ours.ndim <= 1:
            np.testing.assert_allclose(ours, theirs, rtol=tol.rtol, atol=tol.atol, err_msg=context)
            continue
        np.testing.assert_allclose(
            np.linalg.norm(ours.astype(np.float64)),
            np.linalg.norm(theirs.astype(np.float64)),
            rtol=max(tol.rtol, 1e-5),
            err_msg=f"{context} leaf {index}: norms",
        )
        result = scipy.stats.ks_2samp(ours.ravel(), theirs.ravel())
        assert result.pvalue > 1e-3, f"{context} leaf {index}: KS p = {result.pvalue:.2e}"


# ------------------------------------------------------------------------------------------------
# Surfaces and slices
# ------------------------------------------------------------------------------------------------


def surface_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for index, sizes in enumerate(MLP_SIZES):
        params = mlp_params(rng, sizes, dtype)
        x, y = mlp_data(rng, sizes, 9, dtype)
        d1, d2 = like(rng, params, dtype), like(rng, params, dtype)
        alphas = np.linspace(-1.0, 1.0, 5 + index).astype(dtype)
        betas = np.linspace(-0.5, 1.5, 4).astype(dtype)
        yield Sample((params, d1, d2, alphas, betas, x, y), {}, f"{sizes} defaults")
        for chunk in (2, 7):
            yield Sample(
                (params, d1, d2, alphas, betas, x, y),
                {"chunk_size": chunk},
                f"{sizes} chunk {chunk}",
            )
    params = mlp_params(rng, MLP_SIZES[0], dtype)
    x, y = mlp_data(rng, MLP_SIZES[0], 4, dtype)
    one = np.zeros(1, dtype)
    yield Sample(
        (params, like(rng, params, dtype), like(rng, params, dtype), one, one, x, y), {}, "1x1"
    )


def surface_edges(dtype: str) -> Iterator[Sample]:
    rng = np.random.default_rng(3)
    params = mlp_params(rng, MLP_SIZES[0], dtype)
    x, y = mlp_data(rng, MLP_SIZES[0], 6, dtype)
    far = np.array([-1e3, 0.0, 1e3], dtype)
    yield Sample(
        (params, like(rng, params, dtype), like(rng, params, dtype), far, far, x, y),
        {},
        "coefficients of 1e3 (logits of ~1e3: log-sum-exp must not overflow)",
    )


def call_surface(
    framework: Framework,
    params: Any,
    d1: Any,
    d2: Any,
    alphas: Any,
    betas: Any,
    x: Any,
    y: Any,
    **options: Any,
) -> Any:
    return framework.package.landscape.loss_surface_2d(
        loss_function(framework, x, y), params, d1, d2, alphas, betas, **options
    )


def plot_surface_loop(
    params: Any, d1: Any, d2: Any, alphas: Any, betas: Any, x: Any, y: Any, chunk_size: Any = None
) -> Any:
    """plot_surface.py's loop: set the weights to w + a d1 + b d2, evaluate, one point at a time."""
    surface = torch.empty(len(alphas), len(betas), dtype=x.dtype)
    with torch.no_grad():
        for i, alpha in enumerate(alphas):
            for j, beta in enumerate(betas):
                moved = [
                    {key: p[key] + alpha * a[key] + beta * b[key] for key in p}
                    for p, a, b in zip(params, d1, d2, strict=True)
                ]
                surface[i, j] = torch_mlp_loss(moved, x, y)
    return surface


def surface_errors() -> Iterator[ErrorInput]:
    rng = np.random.default_rng(0)
    params = mlp_params(rng, (3, 4, 2), "float64")
    x, y = mlp_data(rng, (3, 4, 2), 5, "float64")
    grid = np.linspace(-1, 1, 3)
    wrong = [params[0], {"W": np.zeros((4, 3)), "b": np.zeros(2)}]
    yield ErrorInput(
        Sample((params, wrong, params, grid, grid, x, y), {}, "d1 of other shapes"),
        ValueError,
        r"d1 must have the shapes of params: leaf 2 has shape \(4, 3\), params has \(4, 2\)",
    )
    yield ErrorInput(
        Sample((params, params, params[:1], grid, grid, x, y), {}, "d2 of another structure"),
        ValueError,
        r"d2 must have the structure of params",
    )
    yield ErrorInput(
        Sample((params, params, params, np.zeros(0), grid, x, y), {}, "empty alphas"),
        ValueError,
        r"alphas must be a non-empty 1-D array, got shape \(0,\)",
    )
    yield ErrorInput(
        Sample((params, params, params, grid, np.zeros((2, 2)), x, y), {}, "2-D betas"),
        ValueError,
        r"betas must be a non-empty 1-D array, got shape \(2, 2\)",
    )
    yield ErrorInput(
        Sample((params, params, params, grid, grid, x, y), {"chunk_size": 0}, "chunk_size 0"),
        ValueError,
        r"chunk_size must be >= 1, got 0",
    )


def along_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for sizes in MLP_SIZES:
        params = mlp_params(rng, sizes, dtype)
        x, y = mlp_data(rng, sizes, 8, dtype)
        alphas = np.linspace(-2.0, 2.0, 9).astype(dtype)
        yield Sample((params, like(rng, params, dtype), alphas, x, y), {}, f"{sizes}")


def call_along(
    framework: Framework, params: Any, direction: Any, alphas: Any, x: Any, y: Any
) -> Any:
    return framework.package.landscape.loss_along(
        loss_function(framework, x, y), params, direction, alphas
    )


def torch_along(params: Any, direction: Any, alphas: Any, x: Any, y: Any) -> Any:
    zero = [{key: torch.zeros_like(v) for key, v in layer.items()} for layer in params]
    return plot_surface_loop(params, direction, zero, alphas, alphas[:1], x, y)[:, 0]


def call_interpolate(
    framework: Framework, params_a: Any, params_b: Any, alphas: Any, x: Any, y: Any
) -> Any:
    return framework.package.landscape.interpolate_1d(
        loss_function(framework, x, y), params_a, params_b, alphas
    )


def torch_interpolate(params_a: Any, params_b: Any, alphas: Any, x: Any, y: Any) -> Any:
    """Goodfellow et al.'s (1 - a) theta_a + a theta_b, evaluated point by point."""
    losses = []
    with torch.no_grad():
        for alpha in alphas:
            mixed = [
                {key: (1 - alpha) * a[key] + alpha * b[key] for key in a}
                for a, b in zip(params_a, params_b, strict=True)
            ]
            losses.append(torch_mlp_loss(mixed, x, y))
    return torch.stack(losses)


def one_d_errors(direction_name: str) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        rng = np.random.default_rng(0)
        params = mlp_params(rng, (3, 4, 2), "float64")
        x, y = mlp_data(rng, (3, 4, 2), 5, "float64")
        yield ErrorInput(
            Sample((params, params[:1], np.linspace(0, 1, 3), x, y), {}, "structure"),
            ValueError,
            rf"{direction_name} must have the structure of params",
        )
        yield ErrorInput(
            Sample((params, params, np.zeros((0,)), x, y), {}, "empty alphas"),
            ValueError,
            r"alphas must be a non-empty 1-D array, got shape \(0,\)",
        )
        yield ErrorInput(
            Sample((params, params, np.float64(0.5), x, y), {}, "0-d alphas"),
            ValueError,
            r"alphas must be a non-empty 1-D array, got shape \(\)",
        )

    return errors


# ------------------------------------------------------------------------------------------------
# PCA directions
# ------------------------------------------------------------------------------------------------


def trajectory_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    """Trajectories drifting along a few directions at well separated rates, plus noise."""
    for steps, sizes, n_components in ((12, (3, 4, 2), None), (8, (4, 5, 3), 3), (6, (3, 4, 2), 1)):
        start = mlp_params(rng, sizes, dtype)
        drifts = [like(rng, start, "float64") for _ in range(3)]
        trajectory = []
        for t in range(steps):
            point = [
                {
                    key: (
                        layer[key]
                        + 1.0 * t * drifts[0][i][key]
                        + 0.3 * t**1.5 * drifts[1][i][key]
                        + 0.1 * np.sin(t) * drifts[2][i][key]
                        + 0.01 * rng.standard_normal(layer[key].shape)
                    ).astype(dtype)
                    for key in layer
                }
                for i, layer in enumerate(start)
            ]
            trajectory.append(point)
        kwargs = {} if n_components is None else {"n_components": n_components}
        yield Sample((trajectory,), kwargs, f"{steps} steps of {sizes}, {kwargs or 'defaults'}")


def sklearn_pca(trajectory: list, n_components: int = 2) -> Any:
    """sklearn.decomposition.PCA on [theta_t - theta_final], the original projection.py's matrix."""
    flat = np.stack([flatten(point) for point in trajectory])
    relative = flat - flat[-1]
    pca = sklearn.decomposition.PCA(n_components=n_components, svd_solver="full").fit(relative)
    components = pca.components_.astype(flat.dtype)
    return (
        [unflatten(component, trajectory[0]) for component in components],
        pca.explained_variance_ratio_.astype(flat.dtype),
        (relative @ components.T).astype(flat.dtype),
    )


def compare_pca(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """Directions and projections equal up to each component's sign; variance ratios equal."""
    directions, ratio, projected = actual
    expected_directions, expected_ratio, expected_projected = expected
    np.testing.assert_allclose(ratio, expected_ratio, rtol=tol.rtol, atol=tol.atol, err_msg=context)
    projected, expected_projected = np.asarray(projected), np.asarray(expected_projected)
    for k, (ours, theirs) in enumerate(zip(directions, expected_directions, strict=True)):
        ours, theirs = flatten(ours), flatten(theirs)
        sign = 1.0 if ours @ theirs >= 0 else -1.0
        np.testing.assert_allclose(
            sign * ours, theirs, rtol=tol.rtol, atol=tol.atol, err_msg=f"{context} direction {k}"
        )
        scale = np.abs(expected_projected[:, k]).max()
        np.testing.assert_allclose(
            sign * projected[:, k],
            expected_projected[:, k],
            rtol=tol.rtol,
            atol=tol.atol * max(scale, 1.0),
            err_msg=f"{context} projection {k}",
        )


def pca_errors() -> Iterator[ErrorInput]:
    point = [{"W": np.ones((2, 2)), "b": np.zeros(2)}]
    yield ErrorInput(
        Sample(([point, point, point],), {"n_components": 3}, "3 points, 3 components"),
        ValueError,
        r"n_components must be <= min\(len\(trajectory\) - 1, number of parameters\) = 2, got 3",
    )
    yield ErrorInput(
        Sample(([point],), {}, "one point"),
        ValueError,
        r"trajectory must hold at least 2 points, got 1",
    )
    yield ErrorInput(
        Sample(([point, [{"W": np.ones((2, 3)), "b": np.zeros(2)}]],), {}, "shapes change"),
        ValueError,
        r"trajectory\[1\] must have the shapes of params: leaf 0 has shape \(2, 3\)",
    )
    yield ErrorInput(
        Sample(([point, point],), {"n_components": 0}, "0 components"),
        ValueError,
        r"n_components must be >= 1, got 0",
    )


# ------------------------------------------------------------------------------------------------
# The Hessian
# ------------------------------------------------------------------------------------------------


def first_layer_mask(params: list[dict]) -> list[dict]:
    return [
        {key: np.full(np.shape(value), index == 0) for key, value in layer.items()}
        for index, layer in enumerate(params)
    ]


def hvp_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for sizes in MLP_SIZES:
        params = mlp_params(rng, sizes, dtype)
        x, y = mlp_data(rng, sizes, 10, dtype)
        v = like(rng, params, dtype)
        yield Sample((params, v, x, y), {}, f"{sizes} defaults")
        yield Sample((params, v, x, y), {"split": 4}, f"{sizes} two batches (4 + 6)")
        yield Sample(
            (params, v, x, y), {"mask": first_layer_mask(params)}, f"{sizes} first layer only"
        )


def call_hvp(
    framework: Framework, params: Any, v: Any, x: Any, y: Any, split: Any = None, **options: Any
) -> Any:
    function = framework.package.landscape.hvp
    if split is None:
        return function(loss_function(framework, x, y), params, v, **options)
    batches = [(x[:split], y[:split]), (x[split:], y[split:])]
    return function(batch_loss_function(framework), params, v, batches=batches, **options)


def explicit_hvp(params: Any, v: Any, x: Any, y: Any, split: Any = None, mask: Any = None) -> Any:
    """The explicit Hessian (torch.autograd.functional.hessian, float64) times v, in v's dtype."""
    hessian = masked(explicit_hessian(params, x, y), mask)
    product = hessian @ flatten(v).astype(np.float64)
    return unflatten(product.astype(np.asarray(x).dtype), params)


def hessian_errors(function: str) -> Callable[[], Iterator[ErrorInput]]:
    """Bad input shared by the Hessian rows (call(framework, seed, params, x, y, ...))."""

    def errors() -> Iterator[ErrorInput]:
        rng = np.random.default_rng(0)
        params = mlp_params(rng, (3, 4, 2), "float64")
        x, y = mlp_data(rng, (3, 4, 2), 5, "float64")
        yield ErrorInput(
            Sample((0, params, x, y), {"mask": [{"W": np.ones((3, 4), bool)}]}, "mask structure"),
            ValueError,
            r"mask must have the structure of params",
        )
        none = [{key: np.zeros(np.shape(v), bool) for key, v in layer.items()} for layer in params]
        yield ErrorInput(
            Sample((0, params, x, y), {"mask": none}, "all-False mask"),
            ValueError,
            r"mask must select at least one parameter, got an all-False mask",
        )
        floats = [{key: np.ones(np.shape(v)) for key, v in layer.items()} for layer in params]
        yield ErrorInput(
            Sample((0, params, x, y), {"mask": floats}, "float mask"),
            TypeError,
            r"mask must hold boolean arrays, got dtype float64",
        )
        if function == "hessian_eigs":
            yield ErrorInput(
                Sample((0, params, x, y), {"k": 27}, "k > number of parameters"),
                ValueError,
                r"k must be <= the number of parameters the Hessian acts on \(26\), got 27",
            )
            yield ErrorInput(
                Sample((0, params, x, y), {"k": 17, "mask": first_layer_mask(params)}, "k > mask"),
                ValueError,
                r"k must be <= the number of parameters the Hessian acts on \(16\), got 17",
            )
            yield ErrorInput(
                Sample((0, params, x, y), {"k": 0}, "k 0"), ValueError, r"k must be >= 1, got 0"
            )
            yield ErrorInput(
                Sample((0, params, x, y), {"method": "arnoldi"}, "unknown method"),
                ValueError,
                r"method must be one of 'lanczos', 'power', got 'arnoldi'",
            )
            yield ErrorInput(
                Sample((0, params, x, y), {"tol": 0.0}, "tol 0"),
                ValueError,
                r"tol must be > 0.0, got 0.0",
            )
        if function == "hessian_trace":
            yield ErrorInput(
                Sample((0, params, x, y), {"n_samples": 0}, "n_samples 0"),
                ValueError,
                r"n_samples must be >= 1, got 0",
            )
            yield ErrorInput(
                Sample((0, params, x, y), {"n_samples": 2, "method": "hutch++"}, "hutch++ 2"),
                ValueError,
                r"n_samples must be >= 3 for method='hutch\+\+', got 2",
            )
            yield ErrorInput(
                Sample((0, params, x, y), {"method": "exact"}, "unknown method"),
                ValueError,
                r"method must be one of 'hutchinson', 'hutch\+\+', got 'exact'",
            )
        if function == "hessian_spectral_density":
            yield ErrorInput(
                Sample((0, params, x, y), {"n_iter": 0}, "n_iter 0"),
                ValueError,
                r"n_iter must be >= 1, got 0",
            )
            yield ErrorInput(
                Sample((0, params, x, y), {"sigma": -0.1}, "sigma < 0"),
                ValueError,
                r"sigma must be > 0.0, got -0.1",
            )

    return errors


def hvp_errors() -> Iterator[ErrorInput]:
    rng = np.random.default_rng(0)
    params = mlp_params(rng, (3, 4, 2), "float64")
    x, y = mlp_data(rng, (3, 4, 2), 5, "float64")
    yield ErrorInput(
        Sample((params, params[:1], x, y), {}, "v of another structure"),
        ValueError,
        r"v must have the structure of params",
    )
    yield ErrorInput(
        Sample((params, params, x, y), {"batches": []}, "no batches"),
        ValueError,
        r"batches must hold at least one batch, got an empty sequence",
    )


def eigs_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    tol = 1e-4 if dtype == "float32" else 1e-8
    for index, sizes in enumerate(MLP_SIZES):
        params = mlp_params(rng, sizes, dtype)
        x, y = mlp_data(rng, sizes, 12, dtype)
        yield Sample((index, params, x, y), {}, f"{sizes} defaults")
        yield Sample((index, params, x, y), {"k": 5, "tol": tol}, f"{sizes} k=5 Lanczos")
        yield Sample(
            (index, params, x, y), {"k": 3, "tol": tol, "split": 5}, f"{sizes} k=3, two batches"
        )
        yield Sample(
            (index, params, x, y),
            {"k": 2, "tol": tol, "mask": first_layer_mask(params)},
            f"{sizes} k=2 first layer",
        )


def quadratic_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    """A = Q diag(spectrum) Q^T with eigenvalues of both signs, magnitudes at least 1.4x apart."""
    tol = 1e-6 if dtype == "float32" else 1e-12
    for size, spectrum, k in (
        (6, [9.0, -6.0, 3.5, 2.0, -1.0, 0.3], 2),
        (12, [20.0, 11.0, -7.0, 4.0, 2.5, 1.0, *np.linspace(-0.5, 0.5, 6)], 4),
    ):
        rotation, _ = np.linalg.qr(rng.standard_normal((size, size)))
        matrix = (rotation * np.asarray(spectrum)) @ rotation.T
        point = normal(rng, (size,), dtype, 1.0)
        yield Sample(
            (k, matrix.astype(dtype), point),
            {"tol": tol, "max_iter": 300},
            f"{size} x {size}, k={k}",
        )


def call_power(framework: Framework, k: int, matrix: Any, point: Any, **options: Any) -> Any:
    """hessian_eigs(method='power') on L(p) = p^T A p / 2, whose Hessian is A."""
    return framework.package.landscape.hessian_eigs(
        framework.rng(k),
        lambda p: 0.5 * (p * (matrix @ p)).sum(),
        point,
        k=k,
        method="power",
        **options,
    )


def numpy_power_eigs(k: int, matrix: Any, point: Any, **_: Any) -> Any:
    """numpy.linalg.eigh of A: the k eigenpairs of largest magnitude, in descending order."""
    values, vectors = np.linalg.eigh(matrix.astype(np.float64))
    order = sorted(np.argsort(np.abs(values))[::-1][:k], key=lambda index: -values[index])
    return (values[order].astype(matrix.dtype), vectors[:, order].T.astype(matrix.dtype), None)


def numpy_eigs(
    seed: int,
    params: Any,
    x: Any,
    y: Any,
    k: int = 1,
    split: Any = None,
    mask: Any = None,
    **_: Any,
) -> Any:
    """numpy.linalg.eigh of the explicit (masked) Hessian: the top k eigenpairs."""
    hessian = masked(explicit_hessian(params, x, y), mask)
    values, vectors = np.linalg.eigh(hessian)
    if mask is not None:  # the zero rows/columns off the mask add eigenvalues 0: keep the block's
        keep = flatten(mask).astype(bool)
        block_values = np.linalg.eigvalsh(hessian[np.ix_(keep, keep)])
        order = [int(np.argmin(np.abs(values - value))) for value in block_values[::-1][:k]]
    else:
        order = list(np.argsort(values)[::-1][:k])
    dtype = np.asarray(x).dtype
    return (values[order].astype(dtype), vectors[:, order].T.astype(dtype), None)


def compare_eigs(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """Eigenvalues to ``tol``; eigenvectors up to sign: 1 - |cos| <= tol."""
    values, vectors = np.asarray(actual[0]), _stacked_rows(actual[1])
    expected_values, expected_vectors = np.asarray(expected[0]), _stacked_rows(expected[1])
    np.testing.assert_allclose(
        values, expected_values, rtol=tol.rtol, atol=tol.atol, err_msg=f"{context}: eigenvalues"
    )
    for k, (ours, theirs) in enumerate(zip(vectors, expected_vectors, strict=True)):
        cosine = abs(ours @ theirs) / (np.linalg.norm(ours) * np.linalg.norm(theirs))
        assert 1.0 - cosine <= tol.rtol, f"{context}: eigenvector {k} has |cos| {cosine}"


def _stacked_rows(vectors: Any) -> np.ndarray:
    """(k, P) from either a (k, P) array or a pytree whose leaves have a leading axis k."""
    if isinstance(vectors, np.ndarray):
        return vectors.astype(np.float64)
    blocks = [np.asarray(leaf) for leaf in leaves(vectors)]
    return np.concatenate([block.reshape(block.shape[0], -1) for block in blocks], axis=1).astype(
        np.float64
    )


def trace_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for index, sizes in enumerate(MLP_SIZES):
        params = mlp_params(rng, sizes, dtype)
        x, y = mlp_data(rng, sizes, 12, dtype)
        yield Sample((index, params, x, y), {}, f"{sizes} defaults (100 Rademacher probes)")
        yield Sample(
            (index, params, x, y), {"n_samples": 30, "method": "hutch++"}, f"{sizes} Hutch++ 30"
        )
        yield Sample((index, params, x, y), {"n_samples": 40, "split": 5}, f"{sizes} two batches")
        yield Sample(
            (index, params, x, y),
            {"n_samples": 40, "mask": first_layer_mask(params), "chunk_size": 8},
            f"{sizes} first layer, chunks of 8",
        )


def exact_trace(
    seed: int, params: Any, x: Any, y: Any, split: Any = None, mask: Any = None, **_: Any
) -> Any:
    """The explicit Hessian's trace, with standard error 0."""
    value = np.trace(masked(explicit_hessian(params, x, y), mask))
    dtype = np.asarray(x).dtype
    return (np.asarray(value, dtype), np.asarray(0.0, dtype), None, None)


def compare_traces(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """The two estimates agree within 3 combined standard errors (an exact value has error 0)."""
    estimate, error = float(actual[0]), float(actual[1])
    expected_estimate, expected_error = float(expected[0]), float(expected[1])
    bound = 3.0 * np.hypot(error, expected_error) + tol.atol + tol.rtol * abs(expected_estimate)
    assert abs(estimate - expected_estimate) <= bound, (
        f"{context}: {estimate} vs {expected_estimate}, 3 standard errors = {bound}"
    )
    assert np.isfinite(error) and error > 0.0, f"{context}: standard error {error}"


def density_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for index, sizes in enumerate(MLP_SIZES):
        params = mlp_params(rng, sizes, dtype)
        x, y = mlp_data(rng, sizes, 12, dtype)
        yield Sample((index, params, x, y), {}, f"{sizes} defaults")
        yield Sample(
            (index, params, x, y), {"n_iter": 10, "n_runs": 30}, f"{sizes} 30 runs of 10 steps"
        )
        yield Sample(
            (index, params, x, y),
            {"n_iter": 8, "n_runs": 20, "mask": first_layer_mask(params), "split": 5},
            f"{sizes} first layer, two batches",
        )


def explicit_density(
    seed: int, params: Any, x: Any, y: Any, split: Any = None, mask: Any = None, **_: Any
) -> Any:
    """The explicit spectrum as a quadrature rule: every eigenvalue with weight 1/P."""
    values = explicit_spectrum(params, x, y, mask)
    dtype = np.asarray(x).dtype
    weights = np.full((1, values.size), 1.0 / values.size)
    return (None, None, values[None].astype(dtype), weights.astype(dtype))


def compare_densities(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """The density integrates to 1; the first two moments of the quadrature rules agree within 3
    combined standard errors (moment p of a run: sum_i w_i theta_i^p = v^T H^p v / P)."""
    for result in (actual, expected):
        if result[0] is not None:
            grid, density = np.asarray(result[0], np.float64), np.asarray(result[1], np.float64)
            assert abs(np.trapezoid(density, grid) - 1.0) < 1e-3, f"{context}: not normalised"
    for power in (1, 2):
        ours, our_error = _moment(actual, power)
        theirs, their_error = _moment(expected, power)
        bound = 3.0 * np.hypot(our_error, their_error) + 1e-6 + tol.rtol * abs(theirs)
        assert abs(ours - theirs) <= bound, (
            f"{context}: moment {power}: {ours} vs {theirs} (bound {bound})"
        )


def _moment(result: Any, power: int) -> tuple[float, float]:
    """The runs' mean moment and its standard error. The exact spectrum (no grid) has error 0. With
    10 or more runs the error is the runs' spread; with fewer, the bound for a Rademacher probe,
    Var(z^T A z / P) = 2 sum_{i != j} A_ij^2 / P^2 <= 2 m_2p / P with A = H^p, m_2p the (2p)-th
    moment, and P >= the number of nodes a run used."""
    nodes, weights = np.asarray(result[2], np.float64), np.asarray(result[3], np.float64)
    moments = np.sum(weights * nodes**power, axis=1)
    if result[0] is None:
        return float(moments.mean()), 0.0
    runs = moments.size
    if runs >= 10:
        return float(moments.mean()), float(moments.std(ddof=1) / np.sqrt(runs))
    used = int(np.max(np.sum(weights > 0, axis=1)))
    higher = float(np.mean(np.sum(weights * nodes ** (2 * power), axis=1)))
    return float(moments.mean()), float(np.sqrt(2.0 * higher / used / runs))


def chunk_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    yield Sample((), {}, "the default backend")
    for backend in ("cpu", "gpu", "tpu"):
        yield Sample((backend,), {}, backend)


# ------------------------------------------------------------------------------------------------
# The rows
# ------------------------------------------------------------------------------------------------

_NUMERICAL = "the inputs include Python callables built in call, so jit/vmap/gradients do not apply"

LANDSCAPE_CASES: list[Case] = [
    Case(
        "normalize_direction",
        "landscape",
        normalize_samples,
        references=(
            Reference("net_plotter.normalize_directions_for_weights", net_plotter_normalize),
        ),
        edge_inputs=normalize_edges,
        error_inputs=direction_errors("normalize_direction"),
        grad_argnums=(),
        kind="reduction",
    ),
    Case(
        "random_direction",
        "landscape",
        random_direction_samples,
        references=(Reference("net_plotter.create_random_direction", torch_random_direction),),
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample((0, [{"W": np.ones((2, 2))}]), {"normalization": "dfilter"}, "dfilter"),
                    ValueError,
                    r"normalization must be one of 'filter', 'layer', 'none', got 'dfilter'",
                ),
                ErrorInput(
                    Sample((0, [{"W": np.ones((2, 2))}]), {"ignore": "bias"}, "ignore"),
                    ValueError,
                    r"ignore must be 'biasbn' or None, got 'bias'",
                ),
            ]
        ),
        grad_argnums=(),
        kind="reduction",
        call=call_random_direction,
        compare=compare_directions,
        jit=False,
    ),
    Case(
        "loss_surface_2d",
        "landscape",
        surface_samples,
        references=(Reference("plot_surface.py loop (torch.nn.functional)", plot_surface_loop),),
        edge_inputs=surface_edges,
        error_inputs=surface_errors,
        grad_argnums=(),
        kind="matmul",
        call=call_surface,
        jit=False,
    ),
    Case(
        "loss_along",
        "landscape",
        along_samples,
        references=(Reference("plot_surface.py loop, 1-D", torch_along),),
        error_inputs=one_d_errors("direction"),
        grad_argnums=(),
        kind="matmul",
        call=call_along,
        jit=False,
    ),
    Case(
        "interpolate_1d",
        "landscape",
        along_samples,
        references=(Reference("(1 - a) theta_a + a theta_b, point by point", torch_interpolate),),
        error_inputs=one_d_errors("params_b"),
        grad_argnums=(),
        kind="matmul",
        call=call_interpolate,
        jit=False,
    ),
    Case(
        "pca_directions",
        "landscape",
        trajectory_samples,
        references=(Reference("sklearn.decomposition.PCA", sklearn_pca, "numpy"),),
        error_inputs=pca_errors,
        grad_argnums=(),
        kind="matmul",
        compare=compare_pca,
        jit=False,
    ),
    Case(
        "hvp",
        "landscape",
        hvp_samples,
        references=(Reference("torch.autograd.functional.hessian @ v", explicit_hvp, "numpy"),),
        error_inputs=hvp_errors,
        grad_argnums=(),
        kind="matmul",
        call=call_hvp,
        jit=False,
    ),
    Case(
        "hessian_eigs",
        "landscape",
        eigs_samples,
        references=(Reference("numpy.linalg.eigh of the explicit Hessian", numpy_eigs, "numpy"),),
        error_inputs=hessian_errors("hessian_eigs"),
        grad_argnums=(),
        kind="iterative",
        call=with_loss("hessian_eigs"),
        compare=compare_eigs,
        jit=False,
    ),
    Case(
        "hessian_eigs",
        "landscape",
        quadratic_samples,
        references=(Reference("numpy.linalg.eigh of A", numpy_power_eigs, "numpy"),),
        grad_argnums=(),
        kind="iterative",
        call=call_power,
        compare=compare_eigs,
        jit=False,
        variant="power",
        opt_outs={
            "defaults": "this variant exists to run method='power' on a known spectrum; the "
            "main hessian_eigs row calls the defaults"
        },
    ),
    Case(
        "hessian_trace",
        "landscape",
        trace_samples,
        references=(Reference("trace of the explicit Hessian", exact_trace, "numpy"),),
        error_inputs=hessian_errors("hessian_trace"),
        grad_argnums=(),
        kind="iterative",
        call=with_loss("hessian_trace"),
        compare=compare_traces,
        jit=False,
    ),
    Case(
        "hessian_spectral_density",
        "landscape",
        density_samples,
        references=(Reference("eigvalsh of the explicit Hessian", explicit_density, "numpy"),),
        error_inputs=hessian_errors("hessian_spectral_density"),
        grad_argnums=(),
        kind="iterative",
        call=with_loss("hessian_spectral_density"),
        compare=compare_densities,
        jit=False,
    ),
    Case(
        "default_chunk_size",
        "landscape",
        chunk_samples,
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample((3,), {}, "int backend"), TypeError, r"backend must be a string, got 3"
                )
            ]
        ),
        grad_argnums=(),
        jit=False,
    ),
]
