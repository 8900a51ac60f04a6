"""The parity suite's machinery: case records, the tolerance table, framework adapters, comparisons.

Modelled on PyTorch's OpInfo (``torch/testing/_internal/opinfo/core.py``), in a few hundred lines: an
op is described once in ``cases.py`` (its name, its upstream references, a sample-input generator, edge
inputs, error inputs), and the generic tests in ``test_parity.py`` run over every row. Samples are
NumPy arrays, so jaxmath and torch_ref are fed exactly the same numbers.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import torch

import jaxmath
import torch_ref

DTYPES = ("float32", "float64")


class Tolerance(NamedTuple):
    rtol: float
    atol: float


#: One table: the tolerance for comparing two implementations, by kind of op and dtype.
#: Each kind looser than "elementwise" says why. The foundation's four kinds were set at 16:50 UTC
#: to ~4x the worst difference measured over the whole table (forward, edge and gradient comparisons
#: of every row, the property tests; parity_tests/measure_tolerances.py), the measurement beside each;
#: where 4x would have loosened an entry, it is kept and the margin is given.
TOLERANCES: Mapping[str, Mapping[str, Tolerance]] = {
    # One transcendental per element: XLA's and torch's exp/log/erf/lgamma differ by a few ulp.
    # Worst measured: float32 2.0e-6 relative (distributions.Gamma log_prob, lgamma) and 2.6e-6
    # absolute (Beta log_prob); the foundation's own rows 3.9e-7 (gelu_backward, tanh form).
    # float64 1.6e-13 relative (Beta log_prob), 1.0e-15 absolute (tanh_backward).
    "elementwise": {"float32": Tolerance(8e-6, 1e-5), "float64": Tolerance(6e-13, 4e-15)},
    # Sums over an axis: the two libraries add in different orders, errors grow with the length.
    # Worst measured: float32 1.5e-6 relative (MixtureSameFamily variance gradient), 6.3e-7 absolute;
    # float64 4.5e-11 relative and 3.7e-12 absolute (landscape.normalize_direction against
    # net_plotter: kept at 1e-10 and 1e-11, 2.2x and 2.7x the measurement).
    "reduction": {"float32": Tolerance(6e-6, 2.5e-6), "float64": Tolerance(1e-10, 1e-11)},
    # Matmul chains (MLPs, SVDs): rounding compounds through layers; float32 matmuls block
    # differently. Worst measured: float32 9.1e-5 relative (lowrank.stable_rank gradient at entries
    # of 1e-15: kept at 1e-4, 1.1x), 1.0e-6 absolute (lora_init, PiSSA residual); float64 3.8e-13
    # relative (stable_rank), 1.7e-15 absolute (randomized_svd).
    "matmul": {"float32": Tolerance(1e-4, 4e-6), "float64": Tolerance(1.5e-12, 7e-15)},
    # Central differences against an analytic gradient: truncation O(h^2) plus rounding
    # O(eps_mach / h) with h = eps_mach^(1/3) leave ~eps_mach^(2/3): 4e-11 in float64, 2.5e-5 in
    # float32, times the function's scale; a larger explicit eps adds h^2 f''' / 6. Worst measured:
    # float32 9.8e-4 relative, 2.9e-5 absolute (numerical_gradient rows, default and explicit eps);
    # float64 9.1e-7 relative (the explicit eps = 1e-3 sample: truncation, kept at 1e-6), 1.4e-9
    # absolute (numerical-gradient test, measured on part of the rows only: kept at 1e-8).
    "finite_difference": {"float32": Tolerance(4e-3, 1.2e-4), "float64": Tolerance(1e-6, 1e-8)},
    # (distributions) Special functions: float32 log-densities at extreme parameters where terms of
    # ~6e3 cancel to O(1) (lgamma(1e3) in Beta/Gamma, xlogy(1e4, 1e4) in Poisson; worst measured
    # 7.8e-4 absolute vs scipy, float32's rounding of the terms), and float64 gradients through
    # digamma, where JAX's and torch's trigamma differ by up to 2.2e-8 relative (Beta KL).
    "special_function": {"float32": Tolerance(1e-5, 2e-3), "float64": Tolerance(5e-8, 1e-9)},
    # Optimizer trajectories (cases_optim.py): params after 250 updates, each update a few ulp off
    # torch's (XLA fuses/reorders), compounded along the path. Worst measured vs torch.optim: float32
    # 4.1e-6 abs at |p| ~ 1.9 (NAdam defaults), 1.6e-6 abs at |p| ~ 0.3; float64 5.6e-13 relative.
    "optimizer": {"float32": Tolerance(1e-5, 2e-6), "float64": Tolerance(1e-10, 1e-12)},
    # (optim.Muon) Trajectories through torch's bfloat16 Newton-Schulz, whatever the params' dtype:
    # XLA and torch's CPU kernels sum the norm and matmuls in float32 in other orders, so now and
    # then an element rounds to the other bfloat16 neighbour (2^-8 relative), moving that step by
    # ~lr * 4e-3, and such flips accumulate over 250 steps. Worst measured vs torch.optim.Muon:
    # float32 4.9e-5 absolute (lr 1e-3, momentum 0; torch's own end point moves up to 7.4e-5 when
    # its float32 start moves by one ulp), float64 1.5e-5, at |p| <= 4: atol 5e-4, ~10x the worst.
    "bfloat16": {"float32": Tolerance(1e-4, 5e-4), "float64": Tolerance(1e-4, 5e-4)},
    # Iterative Hessian solvers (cases_landscape.py): Lanczos / power iteration stop at a residual
    # or relative-change tolerance (the default 1e-4 in some rows), so eigenvalues carry ~tol^2/gap
    # and eigenvectors 1 - |cos| ~ (tol/gap)^2, against eigh of the explicit float64 Hessian. Worst
    # measured: float32 7.9e-7 relative (power iteration), 1 - |cos| 4e-7; float64 5.7e-9 relative
    # (Lanczos at tol 1e-4), 1 - |cos| 2.9e-9.
    "iterative": {"float32": Tolerance(1e-5, 1e-6), "float64": Tolerance(1e-7, 1e-9)},
}

#: Tolerance for jaxmath/torch_ref gradients against numerical_gradient (always float64).
NUMERICAL_GRADIENT_TOLERANCE = TOLERANCES["finite_difference"]["float64"]


def tolerance(kind: str, dtype: str) -> Tolerance:
    return TOLERANCES[kind][dtype]


@dataclasses.dataclass(frozen=True)
class Sample:
    """One call: positional and keyword arguments as NumPy arrays / Python values."""

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    grad_argnums: tuple[int, ...] | None = None  # None: the case's default

    def __repr__(self) -> str:
        return f"Sample({self.description or 'no description'})"


@dataclasses.dataclass(frozen=True)
class ErrorInput:
    """A bad call, the exception both packages must raise, and a regex its message must match.

    ``upstream_rejects``: the upstream reference rejects the same input too (with its own exception),
    which the suite also checks, so we know we refuse only what the reference refuses. The
    reference's exception must be an ``upstream_exception`` (default: any Exception) whose message
    matches ``upstream_match`` (a regex; default "": any message), and must not be a harness mistake
    (an unexpected keyword or wrong arity in calling the reference). Give ``upstream_match`` where
    you can: it proves the reference refused for the same reason.
    """

    sample: Sample
    exception: type[Exception]
    match: str
    upstream_rejects: bool = False
    upstream_exception: type[Exception] | tuple[type[Exception], ...] = Exception
    upstream_match: str = ""


@dataclasses.dataclass(frozen=True)
class Reference:
    """An upstream implementation: ``framework`` is 'torch' (tensors in, autograd-able) or 'numpy'.

    ``kind``: the tolerance kind for this reference when it differs from the case's (a numerical
    gradient as the reference of a hand-written one is compared at "finite_difference").
    """

    name: str
    function: Callable[..., Any]
    framework: str = "torch"
    kind: str | None = None


@dataclasses.dataclass(frozen=True)
class Framework:
    """How the suite talks to one of the two packages."""

    name: str
    package: Any
    asarray: Callable[[Any], Any]
    to_numpy: Callable[[Any], Any]
    dtype: Callable[[str], Any]
    rng: Callable[[int], Any]  # seed -> a jax.random key / a torch.Generator


def _jax_asarray(value: Any) -> Any:
    return jnp.asarray(value) if isinstance(value, np.ndarray | np.generic) else value


def _torch_asarray(value: Any) -> Any:
    if not isinstance(value, np.ndarray | np.generic):
        return value
    if np.issubdtype(value.dtype, np.integer):
        return torch.from_numpy(np.asarray(value, dtype=np.int64))
    return torch.from_numpy(np.array(value))


def _torch_to_numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


JAX = Framework("jaxmath", jaxmath, _jax_asarray, np.asarray, np.dtype, jax.random.PRNGKey)
TORCH = Framework(
    "torch_ref",
    torch_ref,
    _torch_asarray,
    _torch_to_numpy,
    lambda name: getattr(torch, name),
    lambda seed: torch.Generator().manual_seed(seed),
)


def _is_array_leaf(value: Any) -> bool:
    return isinstance(value, np.ndarray | np.generic | jax.Array | torch.Tensor)


def map_tree(function: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``function`` to the array leaves of nested dicts/lists/tuples/NamedTuples."""
    if isinstance(tree, Mapping):
        return {key: map_tree(function, value) for key, value in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(map_tree(function, item) for item in tree))
    if isinstance(tree, list | tuple):
        return type(tree)(map_tree(function, item) for item in tree)
    return function(tree) if _is_array_leaf(tree) else tree


def leaves(tree: Any) -> list[Any]:
    """Leaves in a fixed order (dict keys sorted, like JAX) for comparing two trees."""
    if isinstance(tree, Mapping):
        return [leaf for key in sorted(tree) for leaf in leaves(tree[key])]
    if isinstance(tree, list | tuple):
        return [leaf for item in tree for leaf in leaves(item)]
    return [tree]


def to_framework(framework: Framework, sample: Sample) -> tuple[tuple[Any, ...], dict[str, Any]]:
    args = tuple(map_tree(framework.asarray, arg) for arg in sample.args)
    kwargs = {key: map_tree(framework.asarray, value) for key, value in sample.kwargs.items()}
    return args, kwargs


def to_numpy_tree(framework: Framework, tree: Any) -> Any:
    return map_tree(framework.to_numpy, tree)


def assert_trees_close(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """Leafwise ``|actual - expected| <= atol + rtol |expected|``, NaN equal to NaN, inf to inf."""
    actual_leaves, expected_leaves = leaves(actual), leaves(expected)
    assert len(actual_leaves) == len(expected_leaves), f"{context}: tree structures differ"
    for index, (got, want) in enumerate(zip(actual_leaves, expected_leaves, strict=True)):
        got, want = np.asarray(got), np.asarray(want)
        assert got.shape == want.shape, f"{context} leaf {index}: shape {got.shape} != {want.shape}"
        if got.dtype == bool or want.dtype == bool:
            np.testing.assert_array_equal(got, want, err_msg=f"{context} leaf {index}")
            continue
        np.testing.assert_allclose(
            got.astype(np.float64),
            want.astype(np.float64),
            rtol=tol.rtol,
            atol=tol.atol,
            equal_nan=True,
            err_msg=f"{context} leaf {index}",
        )


def no_samples(*_: Any) -> Iterator[Sample]:
    return iter(())


def no_errors() -> Iterator[ErrorInput]:
    return iter(())


#: Generic requirements a row may opt out of, with a reason (``Case.opt_outs``).
OPT_OUT_KEYS = ("defaults", "vmap", "numerical_gradient")


@dataclasses.dataclass(frozen=True)
class Case:
    """One public function, described once.

    name: the attribute of jaxmath and torch_ref (and the module ``module`` of both).
    sample_inputs: ``(rng, dtype) -> samples``; ``rng`` is a seeded ``np.random.Generator``.
    references: upstream implementations fed the same samples (``torch.nn.functional``, scipy, ...).
    edge_inputs: ``(dtype) -> samples`` at the extremes (1e4 logits, p in {0, 1}); compared with
        the references, forward and gradient, NaN where the reference gives NaN.
    error_inputs: ``() -> ErrorInput``s, each raised identically by both packages.
    grad_argnums: positional arguments to differentiate (empty: not differentiable).
    kind: key into ``TOLERANCES``.
    call: ``(framework, *args, **kwargs)``; default calls the function by name.
    compare: ``(actual, expected, tol, context)``; default :func:`assert_trees_close`.
    jit: whether the jit tests apply (False for functions taking Python callables or dtypes). When
        True, every sample (both dtypes) runs jitted and eagerly through ``call``/the function, and
        vmap over a batch axis is compared with a loop (see ``opt_outs``).
    variant: names a second row of the same function (e.g. a gradient with respect to another
        argument); the test id becomes ``module.name[variant]``. Default "" (the main row).
    opt_outs: ``{generic test: reason}`` for the generic requirements a row cannot meet; each key must
        be one of ``OPT_OUT_KEYS`` and each reason a non-empty sentence (checked). Default: none.

    Requirements every row meets unless it opts out (the README's "The parity suite" lists them):

    - ``"defaults"``: at least one sample per dtype with empty ``kwargs``, so the function runs with
      every option at its default and is compared with the references' defaults (a default changed
      in both twins at once is caught). Opt out when the function has required keyword options.
    - ``"vmap"`` (rows with ``jit=True``): ``jax.vmap`` over a new leading batch axis of every array
      leaf of the arguments (batch of 2: the sample, and its float arrays times 0.5; integer arrays
      repeated) equals the loop over the two. Opt out for functions whose arguments cannot take a
      batch axis (a row returning Python floats, shape-dependent options).
    - ``"numerical_gradient"`` (rows with ``grad_argnums``): in float64, on every sample, jax.vjp ==
      ``jaxmath.numerical_gradient`` of <f(x), v>, and torch_ref's autograd ==
      ``torch_ref.numerical_gradient`` of the same (torch_ref's side runs f under
      ``torch.func.vmap``). Opt out e.g. for piecewise functions sampled on their kinks.
    """

    name: str
    module: str
    sample_inputs: Callable[[np.random.Generator, str], Iterator[Sample]]
    references: tuple[Reference, ...] = ()
    edge_inputs: Callable[[str], Iterator[Sample]] = no_samples
    error_inputs: Callable[[], Iterator[ErrorInput]] = no_errors
    grad_argnums: tuple[int, ...] = (0,)
    kind: str = "elementwise"
    call: Callable[..., Any] | None = None
    compare: Callable[[Any, Any, Tolerance, str], None] = assert_trees_close
    jit: bool = True
    variant: str = ""
    opt_outs: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def opts_out(self, requirement: str) -> bool:
        """Whether this row opts out of the generic ``requirement`` (a key of ``OPT_OUT_KEYS``)."""
        assert requirement in OPT_OUT_KEYS, requirement
        return requirement in self.opt_outs

    def function(self, framework: Framework) -> Callable[..., Any]:
        """The public function itself, ``<package>.<module>.<name>``."""
        return getattr(getattr(framework.package, self.module), self.name)

    def invoke(self, framework: Framework, *args: Any, **kwargs: Any) -> Any:
        """Call through ``call`` if the case has one, else the function itself."""
        if self.call is not None:
            return self.call(framework, *args, **kwargs)
        return self.function(framework)(*args, **kwargs)

    def __call__(self, framework: Framework, sample: Sample) -> Any:
        args, kwargs = to_framework(framework, sample)
        return self.invoke(framework, *args, **kwargs)

    def grad_positions(self, sample: Sample) -> tuple[int, ...]:
        return self.grad_argnums if sample.grad_argnums is None else sample.grad_argnums

    @property
    def id(self) -> str:
        """``module.name``, or ``module.name[variant]`` for a second row of one function."""
        suffix = f"[{self.variant}]" if self.variant else ""
        return f"{self.module}.{self.name}{suffix}"

    def __repr__(self) -> str:
        return f"Case({self.id})"


def rng_for(case: Case, dtype: str) -> np.random.Generator:
    """A generator seeded by the case and dtype, so every run and worker sees the same samples."""
    seed = sum(ord(character) for character in f"{case.id}/{dtype}")
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------------------------
# Calling a case with gradients, in each framework
# ----------------------------------------------------------------------------------------------


def cotangent_for(output: Any, seed: int = 0) -> Any:
    """A fixed random cotangent, so a vector-Jacobian product tests every output, not their sum.

    ``output`` is anything with a shape and dtype (an array, or ``jax.eval_shape``'s result), or a
    pytree of them (a NamedTuple, a dict of parameters): the cotangent then has its structure, each
    leaf drawn in ``leaves`` order (dict keys sorted, as JAX and torch_vjp flatten them).
    """
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda leaf: rng.uniform(0.5, 1.5, size=leaf.shape).astype(leaf.dtype), output
    )


def jax_cotangent(case: Case, sample: Sample) -> Any:
    """The cotangent for jaxmath's output on ``sample``, from its shape alone (nothing compiled;
    for jitted rows through the row's shared jit object, whose trace the forward test made)."""
    args, kwargs = to_framework(JAX, sample)
    arrays, static = split_static(kwargs)
    if case.jit:
        return cotangent_for(compiled_call(case, static, args, arrays).eval_shape(*args, **arrays))
    return cotangent_for(
        jax.eval_shape(functools.partial(case.invoke, JAX, **static), *args, **arrays)
    )


def split_static(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword arguments that are arrays are traced under jit; options and Python numbers are static."""
    arrays = {key: value for key, value in kwargs.items() if _is_array_leaf(value)}
    static = {key: value for key, value in kwargs.items() if key not in arrays}
    return arrays, static


# ----------------------------------------------------------------------------------------------
# Compiled calls shared by the tests of a row (in one process)
# ----------------------------------------------------------------------------------------------

#: How many compiled calls a process keeps (least recently used dropped first). conftest.py orders
#: a row's tests one after the other (under worksteal mostly on one worker), so a row's forward,
#: jit, vmap, gradient and numerical-gradient tests find the programs its earlier tests compiled;
#: when a call of another row comes, the previous row's are all dropped (their executables freed),
#: so a worker holds one row's programs at a time.
COMPILED_CALLS_KEPT = 256

_compiled: collections.OrderedDict[tuple[Any, ...], tuple[dict[str, Any], Any]] = (
    collections.OrderedDict()
)


def _leaf_signature(value: Any) -> tuple[Any, ...]:
    dtype = getattr(value, "dtype", None)
    return (
        type(value).__name__,
        tuple(getattr(value, "shape", ())),
        str(dtype) if dtype is not None else None,
        bool(getattr(value, "weak_type", False)),
    )


def _signature(tree: Any) -> str:
    """The abstract signature jit dispatches on: tree structure, each leaf's type, shape, dtype."""
    flat, structure = jax.tree.flatten(tree)
    return repr((str(structure), [_leaf_signature(leaf) for leaf in flat]))


def _same_static(cached: Mapping[str, Any], static: Mapping[str, Any]) -> bool:
    """Whether two static-option dicts hold the same values (identical or equal, same types)."""
    if cached.keys() != static.keys():
        return False
    for name, value in static.items():
        other = cached[name]
        if other is value:
            continue
        try:
            if type(other) is not type(value) or not bool(other == value):
                return False
        except Exception:  # values that cannot be compared are not the same
            return False
    return True


def _shared(key: tuple[Any, ...], static: Mapping[str, Any], make: Callable[[], Any]) -> Any:
    """The entry kept under ``key`` for these static options, made by ``make()`` when missing."""
    full_key = (*key, repr(sorted(static.items())))
    if _compiled and next(reversed(_compiled))[2] != key[2]:  # key[2]: the row's case id
        _compiled.clear()
    entry = _compiled.get(full_key)
    if entry is not None and _same_static(entry[0], static):
        _compiled.move_to_end(full_key)
        return entry[1]
    value = make()
    _compiled[full_key] = (dict(static), value)
    while len(_compiled) > COMPILED_CALLS_KEPT:
        _compiled.popitem(last=False)
    return value


def compiled_call(
    case: Case, static: Mapping[str, Any], args: tuple[Any, ...], arrays: Mapping[str, Any]
) -> Any:
    """``jax.jit(functools.partial(case.invoke, JAX, **static))``, one per (row, static options,
    argument signature) in this process, for calls as ``compiled_call(...)(*args, **arrays)``.

    The forward test and the vmap test's loop of a row both call jaxmath's function jitted on the
    same samples; sharing the jit object, they trace, lower and compile the program once instead of
    twice (the jit test jits on its own: it counts its own traces). What each test computes and
    compares is unchanged: every call still runs the compiled program on its own inputs (a
    compiled call is cached, never a result).
    """
    return _shared(
        ("jit", id(case), case.id, _signature((args, dict(arrays)))),
        static,
        lambda: jax.jit(functools.partial(case.invoke, JAX, **static)),
    )


def jax_output(case: Case, sample: Sample) -> Any:
    """jaxmath's result for ``sample``, through one ``jax.jit`` when the case allows it.

    Compiling the whole call once is ~4x faster than JAX's eager op-by-op compilation; eager
    execution is compared with jit in test_jit_matches_eager_without_recompiling. The jitted call
    is :func:`compiled_call`'s, shared with the row's jit and vmap tests.
    """
    args, kwargs = to_framework(JAX, sample)
    arrays, static = split_static(kwargs)
    if case.jit:
        return compiled_call(case, static, args, arrays)(*args, **arrays)
    return case.invoke(JAX, *args, **arrays, **static)


def jax_vjp(case: Case, sample: Sample, cotangent: np.ndarray) -> list[np.ndarray]:
    """The vector-Jacobian product of jaxmath's call with respect to the case's grad positions.

    For jitted rows, one compiled program per (row, positions, static options, signature), kept in
    the process like :func:`compiled_call`'s (the float64 gradient test and the numerical-gradient
    test compute the same products); every argument is an input of the program, so samples of
    the same shapes share it. Unjitted rows run jax.vjp op by op.
    """
    positions = case.grad_positions(sample)
    args, kwargs = to_framework(JAX, sample)
    arrays, static = split_static(kwargs)

    def pullback(all_args: tuple[Any, ...], cotangent: Any, array_kwargs: dict) -> Any:
        def partial_call(*values: Any) -> Any:
            full = list(all_args)
            for position, value in zip(positions, values, strict=True):
                full[position] = value
            return case.invoke(JAX, *full, **array_kwargs, **static)

        differentiable = tuple(all_args[position] for position in positions)
        return jax.vjp(partial_call, *differentiable)[1](cotangent)

    inputs = (tuple(args), jax.tree.map(jnp.asarray, cotangent), arrays)
    if case.jit:

        def compile_pullback() -> Any:
            traced = jax.jit(pullback).trace(*inputs)
            if _equations(traced.jaxpr.jaxpr) <= EAGER_VJP_ABOVE:
                return traced.lower().compile()
            return None  # a program too large to compile quickly: op by op (see EAGER_VJP_ABOVE)

        key = ("vjp", id(case), case.id, tuple(positions), _signature(inputs))
        compiled = _shared(key, static, compile_pullback)
        gradients = pullback(*inputs) if compiled is None else compiled(*inputs)
    else:
        gradients = pullback(*inputs)
    return [np.asarray(gradient) for gradient in leaves(gradients)]


#: jax_vjp runs a row's vector-Jacobian product as one compiled program, unless its jaxpr holds
#: more equations than this (nested jaxprs counted): XLA's compile time grows faster than the
#: program, and the few such programs run op by op (each op compiled once per shape and reused)
#: instead. Measured: distributions.fit_beta's pullback (10 unrolled Newton steps through
#: digamma/polygamma, 1318 equations) took 68-78 s of CPU to compile and 1.3 s to run eagerly
#: (float64, x of (50, 3)); the next largest row, fit_gamma, has 365. The gradient compared is
#: jax.vjp's either way; jit == eager is the jit test's business (on the forward).
EAGER_VJP_ABOVE = 1000


def _equations(jaxpr: Any) -> int:
    """The number of equations of a jaxpr, those of the jaxprs nested in its equations included."""
    total = 0
    for equation in jaxpr.eqns:
        total += 1
        for value in equation.params.values():
            for item in value if isinstance(value, list | tuple) else (value,):
                inner = getattr(item, "jaxpr", item)
                if hasattr(inner, "eqns"):
                    total += _equations(inner)
    return total


def torch_vjp(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    positions: tuple[int, ...],
    cotangent: Any,
) -> list[np.ndarray]:
    """torch.autograd's vector-Jacobian product; an argument may be a pytree of tensors, whose
    gradients come back as its leaves in ``leaves`` order (as the JAX side is compared), and so may
    the output (``cotangent`` then has its structure)."""
    args = list(args)
    for position in positions:
        args[position] = map_tree(
            lambda tensor: tensor.clone().requires_grad_(True), args[position]
        )
    inputs = [leaf for position in positions for leaf in leaves(args[position])]
    with torch.enable_grad():
        outputs = leaves(function(*args, **kwargs))
    cotangents = [torch.from_numpy(np.array(leaf)) for leaf in leaves(cotangent)]
    assert len(outputs) == len(cotangents), "output and cotangent structures differ"
    gradients = torch.autograd.grad(outputs, inputs, cotangents, allow_unused=True)
    return [
        np.zeros(tuple(tensor.shape), _torch_to_numpy(tensor).dtype)
        if gradient is None
        else _torch_to_numpy(gradient)
        for tensor, gradient in zip(inputs, gradients, strict=True)
    ]


def torch_ref_vjp(case: Case, sample: Sample, cotangent: np.ndarray) -> list[np.ndarray]:
    args, kwargs = to_framework(TORCH, sample)
    return torch_vjp(
        functools.partial(case.invoke, TORCH), args, kwargs, case.grad_positions(sample), cotangent
    )


def reference_vjp(
    reference: Reference, case: Case, sample: Sample, cotangent: np.ndarray
) -> list[np.ndarray]:
    args, kwargs = to_framework(TORCH, sample)
    return torch_vjp(reference.function, args, kwargs, case.grad_positions(sample), cotangent)


def reference_output(reference: Reference, sample: Sample) -> Any:
    if reference.framework == "numpy":
        return reference.function(*sample.args, **sample.kwargs)
    args, kwargs = to_framework(TORCH, sample)
    return to_numpy_tree(TORCH, reference.function(*args, **kwargs))
