r"""Loss landscapes and the Hessian without forming it, on one device or many.

Two families of tools for looking at a trained network (Li et al. 2018; Ghorbani, Krishnan & Xiao
2019; Yao et al. 2020, PyHessian):

- **Landscapes.** :func:`random_direction` draws a filter-normalized Gaussian direction;
  :func:`interpolate_1d`, :func:`loss_along` and :func:`loss_surface_2d` evaluate the loss along a
  line or on a plane :math:`L(\theta + \alpha d_1 + \beta d_2)`; :func:`pca_directions` finds the plane
  an optimizer's trajectory spans. The grid is one ``jax.jit`` program: the grid points are mapped
  in chunks with ``lax.map`` (memory bounded whatever the grid size) and split over every device
  ``jax.devices()`` lists with ``jax.shard_map`` (one device: the same program on a one-device mesh);
  the loss's parts that do not depend on the point (the data's products with the parameters and
  directions, where they first meet) are computed once, outside the loop.
- **The Hessian.** :func:`hvp` (forward-over-reverse, :math:`Hv = \partial_\epsilon \nabla L(\theta +
  \epsilon v)`), :func:`hessian_eigs` (Lanczos or power iteration with deflation),
  :func:`hessian_trace` (Hutchinson, Hutch++), :func:`hessian_spectral_density` (stochastic Lanczos
  quadrature). Each takes ``loss_fn(params)`` (a closure over the data) or, with ``batches=``,
  ``loss_fn(params, batch)`` averaged over the batches weighted by batch size, and a ``mask`` pytree of
  booleans restricting the Hessian to some parameters (a layer): the operator is then
  :math:`H_{mm}`, the block of the masked entries, and every vector is zero off the mask.

**Layouts.** A *filter* is the set of weights feeding one output unit, i.e. one index on the weight's
output axis, the convention of the original code (``net_plotter.normalize_direction`` iterates over
torch's first axis). Which axis that is depends on how the weight is stored, so ``layout`` says it:

======================  =========================================  ==========================
``layout``              dense weight / conv kernel                 output (filter) axis
======================  =========================================  ==========================
``'jax'`` (default)     ``(in, out)`` as jaxmath.backprop, flax;   last axis (-1)
                        conv ``HWIO`` (lax.conv_general_dilated)
``'torch'``             ``(out, in)`` as ``nn.Linear``;            first axis (0)
                        conv ``OIHW`` as ``nn.Conv2d``
======================  =========================================  ==========================

So filter ``j`` of a ``'jax'`` dense weight is its column ``W[:, j]``, of an HWIO kernel
``K[..., j]`` (an H x W x I block); of a ``'torch'`` weight the row ``W[j]``, of an OIHW kernel
``K[j]``. The same network stored either way gets the same normalized direction.

Flattening: every vector here is ``jax.flatten_util.ravel_pytree``'s flat vector of the parameters
(leaves in ``jax.tree.leaves`` order, dict keys sorted); results come back as params-shaped pytrees.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import DropVar, Literal
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, PartitionSpec

from jaxmath._validation import check_option, check_scalar_in_range

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
#: Added to a filter's direction norm before dividing, as net_plotter.normalize_direction does.
NORM_EPS = 1e-10
#: Grid points per chunk by backend when chunk_size is None: on CPU one point (each point's
#: matmuls already use every core, and a vmapped chunk turns them into slower batched matmuls); on
#: accelerators a wide vmap fills the device.
DEFAULT_CHUNK_SIZES = {"cpu": 1, "gpu": 64, "tpu": 64}
#: Chunks evaluated side by side in each lax.map step, as independent copies of the loss (not a
#: vmap): XLA's CPU runtime runs independent operations concurrently, so while one point runs
#: its small serial operations (bias, ReLU, the loss on (N, 10)) the other's matmul fills the
#: other core. Measured on a 40 x 40 grid of the benchmark's MLP, 2 cores: 187 GFLOP/s with 2
#: streams vs 178 with 1 (a per-point jitted loop: 176; the 2048^3 matmul probe: 196); 4 streams:
#: 183; in the benchmark (41 x 41) 2-5% ahead of the per-point loop. On an accelerator the
#: chunk's vmap already fills the device: 1.
GRID_STREAMS = {"cpu": 2}
#: Whether the grids compute the point-independent parts of the loss once, outside the loop over
#: the points, including the products of the data with the parameters where the parameters first
#: meet the data (``x @ W`` of a first dense layer becomes ``x W + a x D1 + b x D2``, the three
#: products made once): see :class:`_HoistedLoss`. Equal to the direct evaluation up to rounding;
#: False evaluates ``loss_fn(params + a d1 + b d2)`` as written at every point. Memory: the kept
#: products, (number of directions + 1) arrays of the product's shape ((N, 256) three times for the
#: benchmark's first layer), whatever the grid size.
HOIST_PRODUCTS = True
_MESH_AXIS = "grid"

# ------------------------------------------------------------------------------------------------
# Result types
# ------------------------------------------------------------------------------------------------


class PCADirections(NamedTuple):
    """Result of :func:`pca_directions`."""

    directions: list[Any]  # n_components params-shaped pytrees, unit norm as flat vectors
    explained_variance_ratio: jax.Array  # (n_components,)
    projected: jax.Array  # (T, n_components): (theta_t - theta_final) . direction


class HessianEigs(NamedTuple):
    """Result of :func:`hessian_eigs`."""

    eigenvalues: jax.Array  # (k,), descending
    eigenvectors: Any  # params-shaped pytree, each leaf with a leading axis of size k
    n_matvecs: int  # Hessian-vector products used (each one a pass over all the batches)


class HessianTrace(NamedTuple):
    """Result of :func:`hessian_trace`."""

    estimate: jax.Array  # () the trace estimate
    standard_error: jax.Array  # () its standard error (NaN with fewer than 2 random probes)
    samples: jax.Array  # (n,) per-probe quadratic forms z^T H z (Hutch++: of the deflated part)
    n_matvecs: int  # Hessian-vector products used


class SpectralDensity(NamedTuple):
    """Result of :func:`hessian_spectral_density`."""

    grid: jax.Array  # (n_grid,) eigenvalue grid
    density: jax.Array  # (n_grid,) smoothed density on the grid, integrates to ~1
    nodes: jax.Array  # (n_runs, n_iter) Ritz values of each run's Lanczos (padding: weight 0)
    weights: jax.Array  # (n_runs, n_iter) quadrature weights, each row sums to 1


# ------------------------------------------------------------------------------------------------
# Validation helpers
# ------------------------------------------------------------------------------------------------


def _describe(tree: Any) -> str:
    """A framework-neutral picture of a pytree's structure: ``[{'W': *, 'b': *}]``."""
    if isinstance(tree, Mapping):
        return "{" + ", ".join(f"{key!r}: {_describe(tree[key])}" for key in sorted(tree)) + "}"
    if isinstance(tree, list):
        return "[" + ", ".join(_describe(item) for item in tree) + "]"
    if isinstance(tree, tuple):
        return "(" + ", ".join(_describe(item) for item in tree) + ")"
    return "*"


def _check_like_params(name: str, tree: Any, params: Any) -> None:
    """Raise ValueError unless ``tree`` has the structure and leaf shapes of ``params``."""
    if jax.tree.structure(tree) != jax.tree.structure(params):
        raise ValueError(
            f"{name} must have the structure of params {_describe(params)}, got {_describe(tree)}"
        )
    for index, (leaf, param) in enumerate(
        zip(jax.tree.leaves(tree), jax.tree.leaves(params), strict=True)
    ):
        if tuple(np.shape(leaf)) != tuple(np.shape(param)):
            raise ValueError(
                f"{name} must have the shapes of params: leaf {index} has shape "
                f"{tuple(np.shape(leaf))}, params has {tuple(np.shape(param))}"
            )


def _check_ignore(ignore: Any) -> None:
    if ignore is not None and ignore != "biasbn":
        raise ValueError(f"ignore must be 'biasbn' or None, got {ignore!r}")


def _coefficients(name: str, values: Any, dtype: Any) -> np.ndarray:
    """``alphas`` / ``betas`` as a non-empty 1-D NumPy array (static: its length sets the grid)."""
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array.astype(dtype)


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _float_dtype(params: Any) -> Any:
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params must hold at least one array")
    dtype = jnp.result_type(*[jnp.asarray(leaf).dtype for leaf in leaves])
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"params must hold floating-point arrays, got dtype {dtype}")
    return dtype


def _as_params(params: Any) -> Any:
    return jax.tree.map(jnp.asarray, params)


# ------------------------------------------------------------------------------------------------
# Directions
# ------------------------------------------------------------------------------------------------


def _normalize_leaf(
    direction: jax.Array, param: jax.Array, normalization: str, ignore: str | None, layout: str
) -> jax.Array:
    direction = direction.astype(param.dtype)
    if param.ndim <= 1:  # biases, norm scales, scalars: net_plotter's "d.dim() <= 1" branch
        return jnp.zeros_like(param) if ignore == "biasbn" else param
    if normalization == "none":
        return direction
    if normalization == "layer":
        return direction * (jnp.linalg.norm(param) / (jnp.linalg.norm(direction) + NORM_EPS))
    output_axis = param.ndim - 1 if layout == "jax" else 0
    other_axes = tuple(axis for axis in range(param.ndim) if axis != output_axis)
    param_norms = jnp.sqrt(jnp.sum(param * param, axis=other_axes, keepdims=True))
    direction_norms = jnp.sqrt(jnp.sum(direction * direction, axis=other_axes, keepdims=True))
    return direction * (param_norms / (direction_norms + NORM_EPS))


def normalize_direction(
    direction: Any,
    params: Any,
    normalization: str = "filter",
    ignore: str | None = "biasbn",
    layout: str = "jax",
) -> Any:
    r"""Rescale ``direction`` to the scale of ``params``, leaf by leaf (Li et al. 2018, section 4).

    For a leaf of two or more dimensions, with :math:`d_j`, :math:`\theta_j` its ``j``-th filter
    (the slice at index ``j`` of the output axis that ``layout`` names, see the module docstring):

    - ``'filter'``: :math:`d_j \leftarrow d_j \, \|\theta_j\| / (\|d_j\| + 10^{-10})`
      (``net_plotter.normalize_direction(norm='filter')``);
    - ``'layer'``: :math:`d \leftarrow d \, \|\theta\| / (\|d\| + 10^{-10})` (upstream divides
      without the :math:`10^{-10}`; it is added so a zero direction stays zero instead of NaN);
    - ``'none'``: unchanged.

    Leaves of zero or one dimension (biases, norm scales), as
    ``net_plotter.normalize_directions_for_weights``: ``ignore='biasbn'`` zeroes them (the plane
    leaves them fixed); ``ignore=None`` replaces them by the parameter itself (upstream's "keep
    directions for weights/bias that are only 1 per node": moving by :math:`\alpha` scales them by
    :math:`1 + \alpha`).

    A filter of all-zero parameters gets a zero direction. Arrays of any float dtype; the result
    has the dtype of ``params``. Jit-compatible (the checks are on structure and shapes).

    Args:
        direction, params: pytrees of the same structure and leaf shapes.
        normalization: 'filter' (default), 'layer' or 'none'.
        ignore: 'biasbn' (default) or None.
        layout: 'jax' (default; output axis last) or 'torch' (output axis first).
    """
    check_option("normalization", normalization, NORMALIZATIONS)
    _check_ignore(ignore)
    check_option("layout", layout, LAYOUTS)
    _check_like_params("direction", direction, params)
    return jax.tree.map(
        lambda d, p: _normalize_leaf(jnp.asarray(d), jnp.asarray(p), normalization, ignore, layout),
        direction,
        params,
    )


def random_direction(
    key: jax.Array,
    params: Any,
    normalization: str = "filter",
    ignore: str | None = "biasbn",
    layout: str = "jax",
) -> Any:
    r"""A random direction in parameter space, normalized like ``params`` (Li et al. 2018).

    Draws :math:`d \sim \mathcal N(0, I)` with the shapes and dtype of ``params`` (one key per leaf,
    ``jax.random.split``) and returns :func:`normalize_direction` of it; with the defaults each
    filter of :math:`d` has the norm of the same filter of ``params`` and biases are fixed
    (``net_plotter.create_random_direction(dir_type='weights', ignore='biasbn', norm='filter')``).

    Args:
        key: a ``jax.random`` key (torch_ref: a ``torch.Generator``).
        params: the point the landscape is drawn around.
        normalization, ignore, layout: as in :func:`normalize_direction`.
    """
    check_option("normalization", normalization, NORMALIZATIONS)
    _check_ignore(ignore)
    check_option("layout", layout, LAYOUTS)
    leaves, treedef = jax.tree.flatten(_as_params(params))
    keys = jax.random.split(key, len(leaves))
    draws = [
        jax.random.normal(leaf_key, leaf.shape, leaf.dtype)
        for leaf_key, leaf in zip(keys, leaves, strict=True)
    ]
    return normalize_direction(
        jax.tree.unflatten(treedef, draws), params, normalization, ignore, layout
    )


# ------------------------------------------------------------------------------------------------
# Hoisting the data's products out of the grid loop
# ------------------------------------------------------------------------------------------------

#: Primitives that map an affine function of the grid point to an affine function, applied to the
#: base and to each direction's coefficient separately: structural ones and sums (any operands),
#: products and quotients by a point-independent operand, and the bilinear dot/conv with one
#: point-independent operand (the data), which is where the saving is.
_AFFINE_UNARY = frozenset(
    {
        "broadcast_in_dim",
        "reshape",
        "transpose",
        "squeeze",
        "expand_dims",
        "copy",
        "copy_p",
        "reduce_sum",
        "neg",
    }
)
_AFFINE_SUMS = frozenset({"add", "sub", "add_any"})
_AFFINE_BILINEAR = frozenset({"dot_general", "conv_general_dilated"})
_INLINED_CALLS = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr"}

# Kinds of values while the loss's jaxpr is split: "C" constant-like (from literals only, recomputed
# per point: XLA folds it), "K" known (independent of the point, computed once), "A" affine in the
# point (base + sum_k c_k coefficient_k, the parts computed once), "P" depends on the point otherwise.


def _bind(eqn: Any, args: Sequence[Any]) -> list[Any]:
    out = eqn.primitive.bind(*args, **eqn.primitive.get_bind_params(eqn.params))
    return list(out) if eqn.primitive.multiple_results else [out]


def _affine_rule_applies(eqn: Any, kinds: Sequence[str]) -> bool:
    """Whether ``eqn`` keeps its output affine in the point, given its operands' kinds (a function
    of the kinds and the equation only, so both passes of :class:`_HoistedLoss` agree)."""
    name = eqn.primitive.name
    if "P" in kinds or "A" not in kinds or len(eqn.outvars) != 1:
        return False
    if name in _AFFINE_UNARY:
        return len(kinds) == 1
    if name == "convert_element_type":
        return len(kinds) == 1 and eqn.params["new_dtype"] == eqn.invars[0].aval.dtype
    if name in _AFFINE_SUMS:
        return len(kinds) == 2
    if name == "mul" or name in _AFFINE_BILINEAR:
        return len(kinds) == 2 and kinds.count("A") == 1
    if name == "div":
        return len(kinds) == 2 and kinds[0] == "A" and kinds[1] != "A"
    return False


def _affine_apply(eqn: Any, values: Sequence[tuple[str, Any]], count: int) -> tuple[Any, tuple]:
    """Base and coefficients of an affine equation's output (see _affine_rule_applies)."""
    name = eqn.primitive.name
    shape = eqn.outvars[0].aval.shape
    if name in _AFFINE_UNARY or name == "convert_element_type":
        base, coefficients = values[0][1]
        return _bind(eqn, [base])[0], tuple(_bind(eqn, [c])[0] for c in coefficients)
    if name in _AFFINE_SUMS:
        parts = [value if kind == "A" else (value, None) for kind, value in values]
        base = _bind(eqn, [parts[0][0], parts[1][0]])[0]
        coefficients = []
        for k in range(count):
            first, second = (part[1][k] if part[1] is not None else None for part in parts)
            if first is not None and second is not None:
                term = _bind(eqn, [first, second])[0]
            elif first is not None:
                term = first
            else:
                term = -second if name == "sub" else second
            coefficients.append(jnp.broadcast_to(term, shape))
        return base, tuple(coefficients)
    index = next(i for i, (kind, _) in enumerate(values) if kind == "A")
    base, coefficients = values[index][1]
    other = values[1 - index][1]

    def with_affine(part: Any) -> Any:
        return _bind(eqn, [part, other] if index == 0 else [other, part])[0]

    return with_affine(base), tuple(with_affine(c) for c in coefficients)


class _HoistedLoss:
    """``loss_fn(params + sum_k c_k directions[k])`` for a point ``c``, with every point-independent
    part computed once, outside the grid's loop.

    The loss's jaxpr is interpreted with each value classified as independent of the point, affine
    in it (``base + sum_k c_k coefficient_k``) or otherwise dependent. The parameters are affine;
    a product of an affine value with a point-independent one (the data: ``x @ W`` of a dense first
    layer, a first convolution) stays affine, its base and coefficients, ``x @ W_0`` and
    ``x @ D_k``, computed once. Each point then pays an elementwise ``base + sum_k c_k
    coefficient_k`` where the loss first becomes nonlinear in the parameters, instead of that
    product: on the benchmark's MLP 64-256-256-10 the first layer's 19% of the FLOPs. The
    arithmetic is the same up to rounding (distributivity: ``x (W + a D) = x W + a x D``).

    Construction (inside the grid's jit, before ``lax.map``) runs the first pass: it computes the
    point-independent values and records, in order, those the point-dependent equations read.
    :meth:`__call__` (the per-point body) runs the second pass over the same equations, reading
    them back instead of recomputing them. Calls (``jit``) inside the loss are inlined; other
    primitives with sub-programs (``scan``, ``cond``, custom derivatives) are evaluated per point.
    """

    def __init__(self, loss_fn: Callable, params: Any, directions: tuple[Any, ...]) -> None:
        leaves, treedef = jax.tree.flatten(params)
        self.count = len(directions)
        shapes = [jax.ShapeDtypeStruct(leaf.shape, leaf.dtype) for leaf in leaves]
        self.jaxpr, out_shape = jax.make_jaxpr(
            lambda *flat: loss_fn(jax.tree.unflatten(treedef, flat)), return_shape=True
        )(*shapes)
        self.out_tree = jax.tree.structure(out_shape)
        columns = [jax.tree.leaves(direction) for direction in directions]
        inputs = [
            ("A", (leaf, tuple(column[i] for column in columns))) for i, leaf in enumerate(leaves)
        ]
        self.tape: list[Any] = []
        outputs = self._run(self.jaxpr.jaxpr, self.jaxpr.consts, inputs, None)
        for kind, value in outputs:
            if kind in ("K", "A"):
                self.tape.append(value)

    def __call__(self, point: jax.Array) -> Any:
        tape = iter(self.tape)
        inputs = [("A", None)] * len(self.jaxpr.jaxpr.invars)
        outputs = self._run(
            self.jaxpr.jaxpr, [None] * len(self.jaxpr.consts), inputs, (point, tape)
        )
        values = [
            self._materialize(next(tape), point)
            if kind == "A"
            else next(tape)
            if kind == "K"
            else value
            for kind, value in outputs
        ]
        return jax.tree.unflatten(self.out_tree, values)

    def _materialize(self, affine: tuple[Any, tuple], point: jax.Array) -> Any:
        base, coefficients = affine
        return base + sum(point[k].astype(base.dtype) * c for k, c in enumerate(coefficients))

    def _run(
        self,
        jaxpr: Any,
        consts: Sequence[Any],
        inputs: Sequence[tuple[str, Any]],
        replay: tuple[jax.Array, Any] | None,
    ) -> list[tuple[str, Any]]:
        """One pass: ``replay`` None records (first pass), else (point, tape iterator) replays."""
        env: dict[Any, tuple[str, Any]] = {}
        fetched: dict[Any, Any] = {}  # replay: point-independent operands read back (and made)

        def read(atom: Any) -> tuple[str, Any]:
            if isinstance(atom, Literal):
                return ("C", atom.val)
            return env[atom]

        for var, value in zip(jaxpr.constvars, consts, strict=True):
            env[var] = ("K", value)
        env.update(zip(jaxpr.invars, inputs, strict=True))
        for eqn in jaxpr.eqns:
            values = [read(atom) for atom in eqn.invars]
            kinds = [kind for kind, _ in values]
            call = _INLINED_CALLS.get(eqn.primitive.name)
            if call is not None and call in eqn.params:
                closed = eqn.params[call]
                consts_in = closed.consts if replay is None else [None] * len(closed.consts)
                outputs = self._run(closed.jaxpr, consts_in, values, replay)
            elif all(kind == "C" for kind in kinds):
                outputs = [("C", out) for out in _bind(eqn, [value for _, value in values])]
            elif all(kind in ("C", "K") for kind in kinds):
                computed = (
                    _bind(eqn, [value for _, value in values])
                    if replay is None
                    else [None] * len(eqn.outvars)
                )
                outputs = [("K", out) for out in computed]
            elif _affine_rule_applies(eqn, kinds):
                outputs = [("A", None if replay else _affine_apply(eqn, values, self.count))]
            elif replay is None:
                for atom, (kind, value) in zip(eqn.invars, values, strict=True):
                    if kind in ("K", "A") and atom not in fetched:
                        fetched[atom] = True
                        self.tape.append(value)
                outputs = [("P", None)] * len(eqn.outvars)
            else:
                point, tape = replay
                args = []
                for atom, (kind, value) in zip(eqn.invars, values, strict=True):
                    if kind in ("K", "A"):
                        if atom not in fetched:
                            stored = next(tape)
                            fetched[atom] = (
                                self._materialize(stored, point) if kind == "A" else stored
                            )
                        value = fetched[atom]
                    args.append(value)
                outputs = [("P", out) for out in _bind(eqn, args)]
            for var, output in zip(eqn.outvars, outputs, strict=True):
                if not isinstance(var, DropVar):
                    env[var] = output
        return [read(atom) for atom in jaxpr.outvars]


# ------------------------------------------------------------------------------------------------
# Grids: one jitted program, chunked lax.map inside shard_map over every device
# ------------------------------------------------------------------------------------------------


def default_chunk_size(backend: str | None = None) -> int:
    """Grid points per ``lax.map`` step when ``chunk_size=None``: 1 on CPU, 64 on GPU/TPU.

    On CPU each point's matmuls already use every core and a vmapped chunk turns them into slower
    batched matmuls (measured in benchmarks/landscape.py); on an accelerator one point cannot fill
    the device, so a wide vmap wins. ``backend``: 'cpu', 'gpu', 'tpu' (default: JAX's default).
    """
    backend = jax.default_backend() if backend is None else backend
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {backend!r}")
    return DEFAULT_CHUNK_SIZES.get(backend, DEFAULT_CHUNK_SIZES["gpu"])


def _mesh() -> Mesh:
    """A one-axis mesh over every device JAX sees (all hosts' devices under jax.distributed)."""
    return Mesh(np.asarray(jax.devices()), (_MESH_AXIS,))


def _pad_rows(array: np.ndarray, multiple: int) -> np.ndarray:
    rows = array.shape[0]
    padded = -(-rows // multiple) * multiple
    if padded == rows:
        return array
    filler = np.repeat(array[-1:], padded - rows, axis=0)  # valid points, discarded afterwards
    return np.concatenate([array, filler], axis=0)


@functools.partial(jax.jit, static_argnames=("loss_fn", "chunk_size", "streams", "hoist"))
def _grid_losses(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    directions: tuple[Any, ...],
    coefficients: jax.Array,
    chunk_size: int,
    streams: int = 1,
    hoist: bool = False,
) -> jax.Array:
    """``loss_fn(params + sum_k c[r, s, k] directions[k])`` for every row r and column s.

    ``coefficients``: (R, S, K), R a multiple of the device count; rows are split over the mesh,
    each device maps its R/n * S points with ``lax.map``, each step evaluating ``streams``
    independent chunks of ``chunk_size`` points (a chunk of one point: the loss itself, otherwise
    a vmap). The points are padded with copies of the last one to a whole number of steps, and the
    padding's losses dropped. ``hoist``: the loss's point-independent parts (with the data's
    products with the parameters) are computed once per device, before the loop
    (:class:`_HoistedLoss`), when every direction has the parameters' dtypes.
    """
    rows_per_device = coefficients.shape[0] // len(jax.devices())
    dtypes = [leaf.dtype for leaf in jax.tree.leaves(params)]
    hoist = hoist and all(
        [leaf.dtype for leaf in jax.tree.leaves(direction)] == dtypes for direction in directions
    )
    hoist = hoist and all(dtype == coefficients.dtype for dtype in dtypes)

    def direct_loss(point: jax.Array) -> jax.Array:
        moved = jax.tree.map(
            lambda p, *ds: p + sum(c * d for c, d in zip(point, ds, strict=True)),
            params,
            *directions,
        )
        return loss_fn(moved)

    def chunk_losses(point_loss: Callable, chunk: jax.Array) -> jax.Array:
        if chunk.shape[0] == 1:
            return point_loss(chunk[0])[None]
        return jax.vmap(point_loss)(chunk)

    def local(block: jax.Array) -> jax.Array:
        point_loss = _HoistedLoss(loss_fn, params, directions) if hoist else direct_loss

        def step(group: jax.Array) -> jax.Array:  # (streams, chunk, K): independent, no vmap
            return jnp.stack(
                [chunk_losses(point_loss, group[stream]) for stream in range(group.shape[0])]
            )

        points = block.reshape(-1, block.shape[-1])
        count = points.shape[0]
        chunk = min(chunk_size, count)
        lanes = max(1, min(streams, count // chunk))
        per_step = lanes * chunk
        padding = -count % per_step
        if padding:
            points = jnp.concatenate([points, jnp.repeat(points[-1:], padding, axis=0)])
        groups = points.reshape(-1, lanes, chunk, points.shape[-1])
        losses = jax.lax.map(step, groups).reshape(-1)[:count]
        return losses.reshape(rows_per_device, block.shape[1])

    return jax.shard_map(
        local,
        mesh=_mesh(),
        in_specs=PartitionSpec(_MESH_AXIS),
        out_specs=PartitionSpec(_MESH_AXIS),
        check_vma=False,
    )(coefficients)


def _evaluate_grid(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    directions: tuple[Any, ...],
    coefficients: np.ndarray,
    chunk_size: int | None,
) -> jax.Array:
    chunk = (
        default_chunk_size()
        if chunk_size is None
        else _check_positive_int("chunk_size", chunk_size)
    )
    rows = coefficients.shape[0]
    padded = _pad_rows(coefficients, len(jax.devices()))
    streams = GRID_STREAMS.get(jax.default_backend(), 1)
    losses = _grid_losses(loss_fn, params, directions, padded, chunk, streams, HOIST_PRODUCTS)
    return losses if padded.shape[0] == rows else losses[:rows]


def _check_loss_fn(loss_fn: Any) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")


def loss_surface_2d(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    d1: Any,
    d2: Any,
    alphas: Any,
    betas: Any,
    chunk_size: int | None = None,
) -> jax.Array:
    r"""The loss on a plane: ``surface[i, j] = loss_fn(params + alphas[i] d1 + betas[j] d2)``.

    Shape (len(alphas), len(betas)), in the dtype ``loss_fn`` returns (Li et al. 2018, section 5;
    ``plot_surface.py`` of the original code loops over the points one by one).

    One ``jax.jit`` program evaluates the grid: ``lax.map`` over the points in chunks of
    ``chunk_size`` (each chunk a ``vmap``), so memory is bounded by a few chunks' activations
    whatever the grid size. On CPU each ``lax.map`` step evaluates two chunks as independent copies
    of the loss (:data:`GRID_STREAMS`), which XLA's CPU runtime runs concurrently: one point's small
    serial operations then overlap the other's matmuls (2-5% faster than one chunk per step, and
    than a Python loop over a jitted per-point loss, on the benchmark's grid). What does not depend
    on the point is computed once, before the loop (:data:`HOIST_PRODUCTS`): where the parameters
    first meet the data in a product, ``x (W + a D_1 + b D_2) = x W + a (x D_1) + b (x D_2)`` with
    the three products made once, so each point pays an elementwise sum instead of that matmul
    (the first layer of an MLP, a first convolution; 14-20% of the grid's time for the benchmark's
    MLP 64-256-256-10). This is exact arithmetic reordered: results agree with the direct
    evaluation to rounding (float32: ~2e-7 relative; float64: ~4e-16). The rows (alphas)
    are split over every device ``jax.devices()`` lists with ``jax.shard_map`` on a one-axis mesh;
    with ``len(alphas)`` a multiple of the device count the result stays sharded by rows across the
    devices (``result.sharding``), otherwise the padding rows are dropped and XLA gathers the
    result. Under ``jax.distributed`` the mesh spans every host's devices: call the function from
    every process with the same arguments (see the README, "On several GPUs and several hosts"). The
    values do not depend on the device count.

    The compiled program is cached on ``loss_fn`` (compared by identity), so calling again with the
    same ``loss_fn`` and shapes does not recompile.

    Args:
        loss_fn: ``params -> scalar``, jit-compatible (a closure over the data).
        params: the centre of the plane, a pytree of float arrays.
        d1, d2: directions with the structure and shapes of ``params`` (e.g. from
            :func:`random_direction` or :func:`pca_directions`).
        alphas, betas: non-empty 1-D arrays of coefficients (NumPy or Python; their lengths fix the
            compiled shapes).
        chunk_size: points per chunk (default: :func:`default_chunk_size`, 1 on CPU, 64 on
            GPU/TPU); a ``lax.map`` step evaluates ``GRID_STREAMS[backend]`` chunks (CPU: 2).
    """
    _check_loss_fn(loss_fn)
    dtype = _float_dtype(params)
    _check_like_params("d1", d1, params)
    _check_like_params("d2", d2, params)
    alphas = _coefficients("alphas", alphas, dtype)
    betas = _coefficients("betas", betas, dtype)
    grid = np.stack(np.meshgrid(alphas, betas, indexing="ij"), axis=-1)  # (A, B, 2)
    return _evaluate_grid(
        loss_fn, _as_params(params), (_as_params(d1), _as_params(d2)), grid, chunk_size
    )


def loss_along(
    loss_fn: Callable[[Any], jax.Array], params: Any, direction: Any, alphas: Any
) -> jax.Array:
    r"""``losses[i] = loss_fn(params + alphas[i] direction)``, shape (len(alphas),).

    The 1-D slice of Li et al. (2018), section 4, computed like :func:`loss_surface_2d` (chunked,
    split over the devices).
    """
    _check_loss_fn(loss_fn)
    dtype = _float_dtype(params)
    _check_like_params("direction", direction, params)
    alphas = _coefficients("alphas", alphas, dtype)
    grid = alphas.reshape(-1, 1, 1)
    losses = _evaluate_grid(loss_fn, _as_params(params), (_as_params(direction),), grid, None)
    return losses[:, 0]


def interpolate_1d(
    loss_fn: Callable[[Any], jax.Array], params_a: Any, params_b: Any, alphas: Any
) -> jax.Array:
    r"""Linear interpolation (Goodfellow, Vinyals & Saxe 2015):
    ``losses[i] = loss_fn((1 - alphas[i]) params_a + alphas[i] params_b)``.

    ``alphas`` 0 and 1 give the two end points; values outside [0, 1] extrapolate. Computed as
    :func:`loss_along` from ``params_a`` along ``params_b - params_a``; shape (len(alphas),).
    """
    _check_loss_fn(loss_fn)
    _float_dtype(params_a)
    _check_like_params("params_b", params_b, params_a)
    params_a = _as_params(params_a)
    difference = jax.tree.map(lambda a, b: jnp.asarray(b, a.dtype) - a, params_a, params_b)
    return loss_along(loss_fn, params_a, difference, alphas)


# ------------------------------------------------------------------------------------------------
# PCA of a trajectory
# ------------------------------------------------------------------------------------------------


def pca_directions(trajectory: Sequence[Any], n_components: int = 2) -> PCADirections:
    r"""Directions from an optimizer's trajectory (Li et al. 2018, section 7).

    With :math:`\theta_0, \dots, \theta_{T-1}` the trajectory (the last is the solution), the rows
    :math:`x_t = \theta_t - \theta_{T-1}` (flattened) are analysed by PCA: centred, then the top right
    singular vectors of the centred matrix are the directions, as ``sklearn.decomposition.PCA``
    computes them (``svd_solver='full'``; each component's sign fixed, as sklearn's ``svd_flip``
    with ``u_based_decision=False``, so that its largest-magnitude entry is positive). The
    trajectory is returned projected on them, :math:`x_t \cdot u_k`, so the solution sits at the
    origin of the plane, as the original ``projection.py`` draws it.

    The computation is JAX's SVD (no scikit-learn at run time); the parity suite compares it with
    sklearn's PCA.

    Args:
        trajectory: T >= 2 params pytrees of one structure and shapes, in order.
        n_components: 1 <= n_components <= min(T - 1, number of parameters): T centred points span
            at most T - 1 dimensions.

    Returns:
        :class:`PCADirections`: ``directions`` (n_components params-shaped pytrees, each of unit norm
        as a flat vector), ``explained_variance_ratio`` (n_components,) and ``projected``
        (T, n_components).
    """
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
    flat = jnp.stack([ravel_pytree(_as_params(point))[0] for point in trajectory])
    limit = min(flat.shape[0] - 1, flat.shape[1])
    if n_components > limit:
        raise ValueError(
            f"n_components must be <= min(len(trajectory) - 1, number of parameters) = {limit}, "
            f"got {n_components}"
        )
    _, unravel = ravel_pytree(_as_params(trajectory[0]))
    relative = flat - flat[-1]
    centred = relative - relative.mean(axis=0)
    _, singular_values, vt = jnp.linalg.svd(centred, full_matrices=False)
    components = vt[:n_components]
    largest = jnp.argmax(jnp.abs(components), axis=1)
    signs = jnp.sign(components[jnp.arange(n_components), largest])
    components = components * signs[:, None]
    variances = singular_values**2
    ratio = variances[:n_components] / jnp.sum(variances)
    return PCADirections(
        directions=[unravel(component) for component in components],
        explained_variance_ratio=ratio,
        projected=relative @ components.T,
    )


# ------------------------------------------------------------------------------------------------
# The Hessian as an operator on flat vectors
# ------------------------------------------------------------------------------------------------


def _flat_loss(loss_fn: Callable[..., jax.Array], params: Any, batch: Any) -> Callable:
    _, unravel = ravel_pytree(params)
    if batch is None:
        return lambda flat: loss_fn(unravel(flat))
    return lambda flat: loss_fn(unravel(flat), batch)


def _flat_hvp(
    loss_fn: Callable[..., jax.Array], params: Any, batch: Any, vector: jax.Array
) -> jax.Array:
    """Forward-over-reverse: the JVP of the gradient, :math:`Hv` without forming :math:`H`."""
    flat = ravel_pytree(params)[0]
    return jax.jvp(jax.grad(_flat_loss(loss_fn, params, batch)), (flat,), (vector,))[1]


_ROW_MODES = ("hvp", "quadratic", "rademacher")


@functools.partial(jax.jit, static_argnames=("loss_fn", "mode", "chunk_size"))
def _hessian_rows(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    batch: Any,
    mask: jax.Array,
    rows: jax.Array,
    mode: str,
    chunk_size: int,
) -> jax.Array:
    """Per row of ``rows`` (R, ...), R a multiple of the device count, split over the devices:

    - 'hvp': the row is a vector v; returns (masked) H v, shape (R, P);
    - 'quadratic': returns v . H v, shape (R,);
    - 'rademacher': the row is a PRNG key; z = masked Rademacher draw; returns z . H z, shape (R,).
    """
    dtype = mask.dtype

    def one(row: jax.Array) -> jax.Array:
        draw = jax.random.rademacher(row, mask.shape, dtype) if mode == "rademacher" else row
        vector = draw * mask
        product = _flat_hvp(loss_fn, params, batch, vector) * mask
        return product if mode == "hvp" else jnp.vdot(vector, product)

    def local(block: jax.Array) -> jax.Array:
        return jax.lax.map(one, block, batch_size=min(chunk_size, block.shape[0]))

    return jax.shard_map(
        local,
        mesh=_mesh(),
        in_specs=PartitionSpec(_MESH_AXIS),
        out_specs=PartitionSpec(_MESH_AXIS),
        check_vma=False,
    )(rows)


class _Operator:
    """The (masked, batch-averaged) Hessian on flat vectors, counting its matvecs."""

    def __init__(
        self,
        loss_fn: Callable[..., jax.Array],
        params: Any,
        batches: Sequence[Any] | None,
        mask: Any,
        chunk_size: int | None,
    ) -> None:
        _check_loss_fn(loss_fn)
        self.dtype = _float_dtype(params)
        self.params = _as_params(params)
        self.loss_fn = loss_fn
        self.flat_params, self.unravel = ravel_pytree(self.params)
        self.size = self.flat_params.shape[0]
        self.mask = _flat_mask(mask, params, self.dtype)
        self.dimension = int(np.asarray(self.mask).sum())
        self.batches, self.batch_weights = _check_batches(batches)
        self.chunk = (
            default_chunk_size()
            if chunk_size is None
            else _check_positive_int("chunk_size", chunk_size)
        )
        self.n_matvecs = 0

    def rows(self, rows: jax.Array, mode: str) -> jax.Array:
        """Sum over batches of the weighted per-row results, rows split over the devices."""
        count = rows.shape[0]
        padded = _pad_rows_jax(rows, len(jax.devices()))
        total = None
        for batch, weight in zip(self.batches, self.batch_weights, strict=True):
            part = _hessian_rows(
                self.loss_fn, self.params, batch, self.mask, padded, mode, self.chunk
            )
            total = part * weight if total is None else total + part * weight
        self.n_matvecs += count
        return total if padded.shape[0] == count else total[:count]

    def matvec(self, vector: jax.Array) -> jax.Array:
        return self.rows(vector[None], "hvp")[0]

    def random_vector(self, key: jax.Array) -> jax.Array:
        return jax.random.normal(key, (self.size,), self.dtype) * self.mask

    def rademacher(self, key: jax.Array, count: int) -> jax.Array:
        return jax.random.rademacher(key, (count, self.size), self.dtype) * self.mask


def _pad_rows_jax(rows: jax.Array, multiple: int) -> jax.Array:
    count = rows.shape[0]
    padded = -(-count // multiple) * multiple
    if padded == count:
        return rows
    return jnp.concatenate([rows, jnp.repeat(rows[-1:], padded - count, axis=0)])


def _flat_mask(mask: Any, params: Any, dtype: Any) -> jax.Array:
    if mask is None:
        return jnp.ones(ravel_pytree(_as_params(params))[0].shape, dtype)
    _check_like_params("mask", mask, params)
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(mask)]
    for leaf in leaves:
        if leaf.dtype != np.bool_:
            raise TypeError(f"mask must hold boolean arrays, got dtype {leaf.dtype}")
    flat = np.concatenate([leaf.reshape(-1) for leaf in leaves])
    if not flat.any():
        raise ValueError("mask must select at least one parameter, got an all-False mask")
    return jnp.asarray(flat, dtype)


def _batch_size(batch: Any) -> int:
    leaves = jax.tree.leaves(batch)
    if not leaves or np.ndim(leaves[0]) == 0:
        raise ValueError("each batch must hold arrays whose leading axis is the batch size")
    return int(np.shape(leaves[0])[0])


def _check_batches(batches: Sequence[Any] | None) -> tuple[list[Any], list[float]]:
    """([None], [1.0]) without batches; else the batches and their weights n_b / sum(n)."""
    if batches is None:
        return [None], [1.0]
    if isinstance(batches, str | bytes | Mapping) or not isinstance(batches, Sequence):
        raise TypeError(f"batches must be a sequence of batches, got {type(batches).__name__}")
    if len(batches) == 0:
        raise ValueError("batches must hold at least one batch, got an empty sequence")
    sizes = [_batch_size(batch) for batch in batches]
    total = sum(sizes)
    batches = [jax.tree.map(jnp.asarray, batch) for batch in batches]
    return batches, [size / total for size in sizes]


def hvp(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    v: Any,
    batches: Sequence[Any] | None = None,
    mask: Any = None,
) -> Any:
    r"""The Hessian-vector product :math:`H v`, :math:`H = \nabla^2_\theta L(\theta)`, never forming
    :math:`H`: forward-over-reverse, :math:`Hv = \frac{d}{d\epsilon} \nabla L(\theta + \epsilon
    v)|_{\epsilon=0}` (``jax.jvp`` of ``jax.grad``; Pearlmutter 1994), one gradient's cost (~2-3x a
    forward pass).

    With ``batches`` (a sequence of batches, ``loss_fn(params, batch)``), :math:`L = \sum_b
    (n_b / N) L_b` with :math:`n_b` the leading-axis size of the batch's first leaf, as PyHessian's
    ``dataloader_hv_product`` weights per-batch products. With ``mask`` (a pytree of booleans shaped
    like ``params``): :math:`(H_{mm} v_m)` on the masked entries, zero elsewhere.

    Args:
        loss_fn: ``params -> scalar`` (or ``(params, batch) -> scalar`` with ``batches``), twice
            differentiable and jit-compatible.
        params, v: pytrees of the same structure and shapes.

    Returns:
        :math:`Hv`, shaped like ``params``.
    """
    operator = _Operator(loss_fn, params, batches, mask, None)
    _check_like_params("v", v, params)
    flat_v = ravel_pytree(jax.tree.map(lambda x, p: jnp.asarray(x, p.dtype), v, operator.params))[0]
    return operator.unravel(operator.matvec(flat_v))


# ------------------------------------------------------------------------------------------------
# Lanczos and power iteration
# ------------------------------------------------------------------------------------------------


@jax.jit
def _lanczos_step(
    basis: jax.Array, product: jax.Array, step: jax.Array, beta_previous: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One Lanczos step's arithmetic on a preallocated basis (rows > ``step`` are zero), so every
    step runs one compiled program whatever its index: alpha, then the new direction orthogonalised
    against the whole basis twice ("twice is enough"). Returns (alpha, w)."""
    current = basis[step]
    alpha = jnp.vdot(current, product)
    product = (
        product - alpha * current - beta_previous * basis[jnp.maximum(step - 1, 0)] * (step > 0)
    )
    for _ in range(2):
        product = product - basis.T @ (basis @ product)
    return alpha, product


_set_row = jax.jit(lambda basis, index, row: basis.at[index].set(row), donate_argnums=0)
_get_row = jax.jit(lambda basis, index: basis[index])  # a traced index: one compile for all rows


def _lanczos(
    operator: _Operator,
    start: jax.Array,
    steps: int,
    converged: Callable[[list, list, float], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, jax.Array]:
    r"""Lanczos with full reorthogonalisation from ``start``.

    Builds the tridiagonal :math:`T = V^\top H V` column by column; stops after ``steps`` steps (at
    most the operator's dimension), on breakdown (:math:`\beta` at round-off of :math:`\|H\|`: an
    invariant subspace is found and its Ritz values are exact), or when
    ``converged(alphas, betas, beta_next)`` says so. Returns (alphas (m,), betas (m-1,), V (m, P)).
    """
    steps = min(steps, operator.dimension)
    basis = jnp.zeros((steps, operator.size), operator.dtype)
    basis = _set_row(basis, 0, start / jnp.linalg.norm(start))
    alphas: list[float] = []
    betas: list[float] = []
    eps = float(jnp.finfo(operator.dtype).eps)
    scale = 0.0
    for step in range(steps):
        product = operator.matvec(_get_row(basis, step))
        beta_previous = betas[-1] if betas else 0.0
        alpha, product = _lanczos_step(
            basis, product, step, jnp.asarray(beta_previous, operator.dtype)
        )
        alphas.append(float(alpha))
        beta = float(jnp.linalg.norm(product))
        scale = max(scale, abs(alphas[-1]) + beta + beta_previous)
        breakdown = beta <= 10 * eps * max(scale, 1e-30) * math.sqrt(operator.dimension)
        last = step == steps - 1
        if last or breakdown or (converged is not None and converged(alphas, betas, beta)):
            return np.asarray(alphas), np.asarray(betas), basis[: step + 1]
        betas.append(beta)
        basis = _set_row(basis, step + 1, product / beta)
    raise AssertionError("unreachable")  # the loop returns at its last step


def _tridiagonal_eigh(alphas: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    return np.linalg.eigh(matrix)


def _fix_sign(vectors: jax.Array) -> jax.Array:
    """Each row's largest-magnitude entry positive (eigenvectors are defined up to sign)."""
    largest = jnp.argmax(jnp.abs(vectors), axis=1)
    signs = jnp.sign(vectors[jnp.arange(vectors.shape[0]), largest])
    return vectors * jnp.where(signs == 0, 1, signs)[:, None]


def _eigs_lanczos(
    operator: _Operator, key: jax.Array, k: int, tol: float, max_iter: int
) -> tuple[np.ndarray, jax.Array]:
    def converged(alphas: list, betas: list, beta_next: float) -> bool:
        if len(alphas) < k:
            return False
        values, vectors = _tridiagonal_eigh(np.asarray(alphas), np.asarray(betas))
        top = np.argsort(values)[::-1][:k]
        residuals = np.abs(beta_next * vectors[-1, top])
        return bool(np.all(residuals <= tol * np.maximum(np.abs(values[top]), 1e-30)))

    steps = max(max_iter, k)
    alphas, betas, basis = _lanczos(operator, operator.random_vector(key), steps, converged)
    values, vectors = _tridiagonal_eigh(alphas, betas)
    top = np.argsort(values)[::-1][:k]
    ritz = jnp.asarray(vectors[:, top].T, operator.dtype) @ basis
    return values[top], ritz


def _eigs_power(
    operator: _Operator, key: jax.Array, k: int, tol: float, max_iter: int
) -> tuple[np.ndarray, jax.Array]:
    """PyHessian's ``hessian.eigenvalues``: power iteration, deflated by orthogonalising against the
    eigenvectors found, stopping when the Rayleigh quotient changes by less than ``tol`` relative."""
    found: list[jax.Array] = []
    values: list[float] = []
    for key_k in jax.random.split(key, k):
        vector = operator.random_vector(key_k)
        vector = vector / jnp.linalg.norm(vector)
        value = None
        for _ in range(max_iter):
            for other in found:
                vector = vector - jnp.vdot(other, vector) * other
            vector = vector / jnp.linalg.norm(vector)
            product = operator.matvec(vector)
            estimate = float(jnp.vdot(vector, product))
            vector = product / jnp.linalg.norm(product)
            if value is not None and abs(value - estimate) / (abs(value) + 1e-6) < tol:
                value = estimate
                break
            value = estimate
        values.append(value)
        found.append(vector)
    return np.asarray(values), jnp.stack(found)


def _check_common(tol: Any, max_iter: Any) -> None:
    check_scalar_in_range("tol", tol, 0.0, low_inclusive=False)
    _check_positive_int("max_iter", max_iter)


def hessian_eigs(
    key: jax.Array,
    loss_fn: Callable[..., jax.Array],
    params: Any,
    k: int = 1,
    tol: float = 1e-4,
    max_iter: int = 100,
    method: str = "lanczos",
    batches: Sequence[Any] | None = None,
    mask: Any = None,
) -> HessianEigs:
    r"""The top-``k`` eigenvalues and eigenvectors of the Hessian, from Hessian-vector products only.

    - ``'lanczos'`` (default): Lanczos with full reorthogonalisation from a Gaussian start (Golub &
      Van Loan, section 10.1), stopping when each of the top-``k`` Ritz pairs has residual
      :math:`\|H y - \theta y\| = |\beta_{m} s_{m,i}| \le \mathrm{tol}\, |\theta_i|` or after
      ``max_iter`` steps (one matvec each); "top" means the largest eigenvalues (most positive:
      the sharpest directions). With as many steps as parameters the result is exact.
    - ``'power'``: PyHessian's ``hessian.eigenvalues(maxIter, tol, top_n)``: power iteration with
      deflation, each eigenvalue until the Rayleigh quotient changes by less than ``tol`` relative,
      at most ``max_iter`` matvecs each. It finds the largest eigenvalues *in magnitude*, which are
      the largest ones when the Hessian's positive part dominates (the usual case near a minimum);
      it needs many more matvecs than Lanczos for the same accuracy.

    Eigenvectors are unit vectors (flat), signed so that their largest-magnitude entry is positive.

    Args:
        key: ``jax.random`` key for the start vector(s).
        loss_fn, params, batches, mask: as in :func:`hvp`.
        k: 1 <= k <= number of (masked) parameters.
        tol: relative tolerance (> 0).
        max_iter: Lanczos steps, or power iterations per eigenvalue.
        method: 'lanczos' or 'power'.

    Returns:
        :class:`HessianEigs` (eigenvalues (k,) descending; eigenvectors pytree with leading axis k;
        n_matvecs).
    """
    check_option("method", method, EIG_METHODS)
    _check_common(tol, max_iter)
    operator = _Operator(loss_fn, params, batches, mask, None)
    k = _check_positive_int("k", k)
    if k > operator.dimension:
        raise ValueError(
            f"k must be <= the number of parameters the Hessian acts on ({operator.dimension}), "
            f"got {k}"
        )
    solve = _eigs_lanczos if method == "lanczos" else _eigs_power
    values, vectors = solve(operator, key, k, tol, max_iter)
    order = np.argsort(values)[::-1]
    vectors = _fix_sign(vectors[order])
    return HessianEigs(
        eigenvalues=jnp.asarray(values[order], operator.dtype),
        eigenvectors=jax.vmap(operator.unravel)(vectors),
        n_matvecs=operator.n_matvecs,
    )


# ------------------------------------------------------------------------------------------------
# Trace
# ------------------------------------------------------------------------------------------------


def _mean_and_error(samples: jax.Array) -> tuple[jax.Array, jax.Array]:
    count = samples.shape[0]
    mean = jnp.mean(samples)
    if count < 2:
        return mean, jnp.asarray(jnp.nan, samples.dtype)
    return mean, jnp.std(samples, ddof=1) / math.sqrt(count)


def hessian_trace(
    key: jax.Array,
    loss_fn: Callable[..., jax.Array],
    params: Any,
    n_samples: int = 100,
    method: str = "hutchinson",
    batches: Sequence[Any] | None = None,
    mask: Any = None,
    chunk_size: int | None = None,
) -> HessianTrace:
    r"""The trace of the Hessian from ``n_samples`` Hessian-vector products, with a standard error.

    - ``'hutchinson'`` (Hutchinson 1990; PyHessian's ``hessian.trace``): with Rademacher probes
      :math:`z_i \in \{\pm 1\}^P`, :math:`\widehat{\mathrm{tr}} = \frac1n \sum_i z_i^\top H z_i`,
      standard error :math:`s / \sqrt n` (:math:`s` the sample standard deviation). PyHessian stops
      early on a relative change below ``tol``; here the count is fixed, so the error is known.
    - ``'hutch++'`` (Meyer, Musco, Musco & Woodruff 2021, Algorithm 1) with the same budget of
      :math:`m` = ``n_samples`` matvecs: :math:`s = \lfloor m/3 \rfloor` probes :math:`S`,
      :math:`Q = \mathrm{qr}(HS)`, then :math:`\mathrm{tr}(Q^\top H Q)` exactly (``s`` matvecs) plus
      Hutchinson on the deflated :math:`(I - QQ^\top) H (I - QQ^\top)` with the remaining
      :math:`m - 2s` probes. The standard error is that of the Hutchinson part given :math:`Q` (the
      rest is exact). On a Hessian whose trace sits in a few large eigenvalues (the usual shape of
      a network's Hessian) its error falls as :math:`1/m` instead of :math:`1/\sqrt m`.

    The probes are split over every device (``samples`` is sharded like :func:`loss_surface_2d`'s
    rows when their count is a multiple of the device count), mapped in chunks of ``chunk_size``.

    Args:
        key: ``jax.random`` key.
        loss_fn, params, batches, mask: as in :func:`hvp`.
        n_samples: matvecs, >= 1 (Hutch++: >= 3).
        method: 'hutchinson' or 'hutch++'.
        chunk_size: probes per ``lax.map`` step (default :func:`default_chunk_size`).

    Returns:
        :class:`HessianTrace` (estimate, standard_error (NaN with one random probe), samples,
        n_matvecs).
    """
    check_option("method", method, TRACE_METHODS)
    n_samples = _check_positive_int("n_samples", n_samples)
    if method == "hutch++" and n_samples < 3:
        raise ValueError(f"n_samples must be >= 3 for method='hutch++', got {n_samples}")
    operator = _Operator(loss_fn, params, batches, mask, chunk_size)
    if method == "hutchinson":
        samples = operator.rows(jax.random.split(key, n_samples), "rademacher")
        estimate, error = _mean_and_error(samples)
        return HessianTrace(estimate, error, samples, operator.n_matvecs)
    sketch_count = n_samples // 3
    residual_count = n_samples - 2 * sketch_count
    key_sketch, key_residual = jax.random.split(key)
    sketch = operator.rows(operator.rademacher(key_sketch, sketch_count), "hvp")  # (s, P) = (HS)^T
    basis, _ = jnp.linalg.qr(sketch.T)  # (P, s)
    exact_part = jnp.trace(basis.T @ operator.rows(basis.T, "hvp").T)
    probes = operator.rademacher(key_residual, residual_count)
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
    """Gaussian-smoothed mixture of the quadrature rules on a grid that holds all its mass."""
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
    key: jax.Array,
    loss_fn: Callable[..., jax.Array],
    params: Any,
    n_iter: int = 80,
    n_runs: int = 1,
    n_grid: int = 1000,
    sigma: float = 0.01,
    batches: Sequence[Any] | None = None,
    mask: Any = None,
) -> SpectralDensity:
    r"""The Hessian's eigenvalue density by stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao
    2019; Lin, Saad & Yang 2016; PyHessian's ``hessian.density``).

    Each run: a normalised Rademacher vector :math:`v`, ``n_iter`` Lanczos steps with full
    reorthogonalisation, :math:`T = U \Theta U^\top`; nodes :math:`\theta_i`, weights
    :math:`\tau_i = U_{0i}^2` (summing to 1). :math:`\sum_i \tau_i f(\theta_i)` is the Gauss quadrature
    of :math:`v^\top f(H) v`, exact for polynomials of degree < 2 ``n_iter``, whose expectation is
    :math:`\frac1P \mathrm{tr} f(H)`: the moments :math:`\sum_i \tau_i \theta_i^p` estimate
    :math:`\frac1P \sum_j \lambda_j^p`. The density averages the runs' rules smoothed by a Gaussian of
    standard deviation ``sigma`` times the spectrum's width,
    :math:`\rho(t) = \frac{1}{n_\text{runs}} \sum_{r,i} \tau_{ri}\, \mathcal N(t; \theta_{ri},
    \sigma^2)`, on ``n_grid`` points spanning the nodes plus 6 standard deviations (so it
    integrates to 1 up to the trapezoid rule's error). PyHessian calls ``torch.linalg.eig`` on
    :math:`T` and keeps complex parts; :math:`T` is symmetric, so ``eigh`` is used here.

    Args:
        key: ``jax.random`` key.
        loss_fn, params, batches, mask: as in :func:`hvp`.
        n_iter: Lanczos steps per run (capped at the number of parameters; fewer on breakdown, the
            unused slots with weight 0).
        n_runs: independent runs averaged.
        n_grid: grid points (>= 2).
        sigma: kernel width relative to the spectrum's width (> 0).

    Returns:
        :class:`SpectralDensity` (grid, density, nodes (n_runs, n_iter), weights (n_runs, n_iter)).
    """
    n_iter = _check_positive_int("n_iter", n_iter)
    n_runs = _check_positive_int("n_runs", n_runs)
    n_grid = _check_positive_int("n_grid", n_grid, minimum=2)
    check_scalar_in_range("sigma", sigma, 0.0, low_inclusive=False)
    operator = _Operator(loss_fn, params, batches, mask, None)
    nodes = np.zeros((n_runs, n_iter))
    weights = np.zeros((n_runs, n_iter))
    for run, run_key in enumerate(jax.random.split(key, n_runs)):
        start = operator.rademacher(run_key, 1)[0]
        alphas, betas, _ = _lanczos(operator, start, n_iter)
        values, vectors = _tridiagonal_eigh(alphas, betas)
        nodes[run, : len(values)] = values
        weights[run, : len(values)] = vectors[0] ** 2
    grid, density = _smoothed_density(nodes, weights, n_grid, sigma)
    dtype = operator.dtype
    return SpectralDensity(
        grid=jnp.asarray(grid, dtype),
        density=jnp.asarray(density, dtype),
        nodes=jnp.asarray(nodes, dtype),
        weights=jnp.asarray(weights, dtype),
    )
