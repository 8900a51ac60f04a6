"""Generic parity tests, run over every row of the case table (cases.CASES).

For each case and dtype:

- forward: jaxmath == torch_ref == every upstream reference, and torch_ref == every reference
  directly, on the sample inputs and on the edge inputs; output dtypes equal;
- gradients (vector-Jacobian products with a random cotangent): jax.vjp == torch.autograd through
  torch_ref == torch.autograd through each torch reference, torch_ref == the references directly,
  gradient dtypes equal to the differentiated inputs' dtypes;
- in float64, on every sample: jax.vjp == jaxmath.numerical_gradient and torch_ref's autograd ==
  torch_ref.numerical_gradient;
- bad input raises the same clear error in both packages (and the upstream rejects it where it says);
- jit == eager on every sample in both dtypes, with no recompile across calls of the same shapes;
- vmap over a batch axis == the loop over the batch;
- every row calls the function with all options at their defaults at least once.

Rows opt out of a requirement only with a reason (``Case.opt_outs``); see harness.Case.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np
import pytest

import jaxmath
import torch_ref
from parity_tests.cases import CASES
from parity_tests.harness import (
    DTYPES,
    JAX,
    NUMERICAL_GRADIENT_TOLERANCE,
    OPT_OUT_KEYS,
    TORCH,
    Case,
    Sample,
    assert_trees_close,
    compiled_call,
    jax_cotangent,
    jax_output,
    jax_vjp,
    leaves,
    map_tree,
    reference_output,
    reference_vjp,
    rng_for,
    split_static,
    to_framework,
    to_numpy_tree,
    tolerance,
    torch_ref_vjp,
)

DIFFERENTIABLE = [case for case in CASES if case.grad_argnums]
WITH_ERRORS = [case for case in CASES if any(True for _ in case.error_inputs())]
JITTABLE = [case for case in CASES if case.jit]


def case_id(case: Case) -> str:
    return case.id


def samples(case: Case, dtype: str) -> list[Sample]:
    return list(case.sample_inputs(rng_for(case, dtype), dtype))


def _array_leaves(tree: object) -> list[np.ndarray]:
    return [leaf for leaf in leaves(tree) if isinstance(leaf, np.ndarray)]


def check_forward(case: Case, sample: Sample, dtype: str) -> None:
    tol = tolerance(case.kind, dtype)
    context = f"{case_id(case)} [{dtype}] {sample.description}"
    ours = to_numpy_tree(JAX, jax_output(case, sample))
    twin = to_numpy_tree(TORCH, case(TORCH, sample))
    case.compare(ours, twin, tol, f"{context}: jaxmath vs torch_ref")
    for ours_leaf, twin_leaf in zip(_array_leaves(ours), _array_leaves(twin), strict=True):
        assert ours_leaf.dtype == twin_leaf.dtype, (
            f"{context}: dtype {ours_leaf.dtype} != {twin_leaf.dtype}"
        )
    for reference in case.references:
        expected = reference_output(reference, sample)
        reference_tol = tolerance(reference.kind or case.kind, dtype)
        case.compare(ours, expected, reference_tol, f"{context}: jaxmath vs {reference.name}")
        case.compare(twin, expected, reference_tol, f"{context}: torch_ref vs {reference.name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_forward_matches_twin_and_references(case: Case, dtype: str) -> None:
    sample_list = samples(case, dtype)
    assert sample_list, f"{case_id(case)} has no samples"
    for sample in sample_list:
        check_forward(case, sample, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "case", [c for c in CASES if any(True for _ in c.edge_inputs("float32"))], ids=case_id
)
def test_edge_inputs_match_references(case: Case, dtype: str) -> None:
    """Extremes (1e4 logits, p in {0, 1}, all targets ignored): equal to torch, NaN only where it is."""
    for sample in case.edge_inputs(dtype):
        check_forward(case, sample, dtype)


def _to_float64(value: object) -> object:
    if isinstance(value, np.ndarray | np.generic) and value.dtype == np.float32:
        return np.asarray(value, np.float64)
    return value


def upcast(sample: Sample) -> Sample:
    """The same sample with float32 arrays in float64."""
    return Sample(
        tuple(map_tree(_to_float64, arg) for arg in sample.args),
        {key: map_tree(_to_float64, value) for key, value in sample.kwargs.items()},
        sample.description,
        sample.grad_argnums,
    )


def _differentiated_dtypes(case: Case, sample: Sample) -> list[np.dtype]:
    return [
        np.asarray(leaf).dtype
        for position in case.grad_positions(sample)
        for leaf in leaves(sample.args[position])
    ]


def check_gradients_agree(
    case: Case, sample: Sample, dtype: str, reference_in_float64: bool
) -> None:
    """jax.vjp == torch_ref's autograd == the torch references' autograd, with one cotangent, and
    each gradient in the dtype of the argument it belongs to.

    ``reference_in_float64``: at the edges, torch's own float32 backward can be the inaccurate one
    (torch.logsumexp's gradient at logits of 1e4 is off by 4e-4, because it uses exp(x - result)
    with result rounded to float32's ulp of 1e-3 there), so the references run on the float64 copy of
    the sample and must agree with ours at float32's tolerance.
    """
    tol = tolerance(case.kind, dtype)
    context = f"{case_id(case)} [{dtype}] {sample.description}"
    cotangent = jax_cotangent(case, sample)
    ours = jax_vjp(case, sample, cotangent)
    twin = torch_ref_vjp(case, sample, cotangent)
    assert_trees_close(ours, twin, tol, f"{context}: jax.vjp vs torch_ref autograd")
    expected_dtypes = _differentiated_dtypes(case, sample)
    for name, gradients in (("jax.vjp", ours), ("torch_ref autograd", twin)):
        got = [gradient.dtype for gradient in gradients]
        assert got == expected_dtypes, f"{context}: {name} gradient dtypes {got}"
    reference_sample = upcast(sample) if reference_in_float64 else sample
    reference_cotangent = map_tree(_to_float64, cotangent) if reference_in_float64 else cotangent
    for reference in case.references:
        if reference.framework == "torch":
            expected = reference_vjp(reference, case, reference_sample, reference_cotangent)
            assert_trees_close(
                ours, expected, tol, f"{context}: jax.vjp vs autograd of {reference.name}"
            )
            assert_trees_close(
                twin, expected, tol, f"{context}: torch_ref vs autograd of {reference.name}"
            )
            if not reference_in_float64:
                got = [gradient.dtype for gradient in expected]
                assert got == expected_dtypes, f"{context}: {reference.name} dtypes {got}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=case_id)
def test_gradients_match_twin_and_references(case: Case, dtype: str) -> None:
    for sample in samples(case, dtype):
        check_gradients_agree(case, sample, dtype, reference_in_float64=False)
    for sample in case.edge_inputs(dtype):
        check_gradients_agree(case, sample, dtype, reference_in_float64=dtype == "float32")


def _projected(framework: Any, case: Case, sample: Sample, cotangent: Any) -> tuple[Any, Any]:
    """(<f(x), v> as a function of the differentiated arguments, their values) in ``framework``."""
    positions = case.grad_positions(sample)
    args, kwargs = to_framework(framework, sample)
    cotangent_leaves = [framework.asarray(np.asarray(leaf)) for leaf in leaves(cotangent)]

    def projected(differentiable: tuple) -> Any:
        full = list(args)
        for position, value in zip(positions, differentiable, strict=True):
            full[position] = value
        outputs = leaves(case.invoke(framework, *full, **kwargs))
        return sum(
            (output * leaf).sum() for output, leaf in zip(outputs, cotangent_leaves, strict=True)
        )

    return projected, tuple(args[position] for position in positions)


@pytest.mark.parametrize("framework", [JAX, TORCH], ids=lambda framework: framework.name)
@pytest.mark.parametrize(
    "case", [c for c in DIFFERENTIABLE if not c.opts_out("numerical_gradient")], ids=case_id
)
def test_gradients_match_numerical_gradient(case: Case, framework: Any) -> None:
    """In float64, on every sample: each package's gradient (jax.vjp; torch.autograd through
    torch_ref) against its own numerical_gradient of <f(x), v>."""
    for sample in samples(case, "float64"):
        cotangent = jax_cotangent(case, sample)
        projected, point = _projected(framework, case, sample, cotangent)
        if framework is JAX:
            analytic = jax_vjp(case, sample, cotangent)
            numerical = jaxmath.numerical_gradient(projected, point)
        else:
            analytic = torch_ref_vjp(case, sample, cotangent)
            numerical = torch_ref.numerical_gradient(projected, point)
        assert_trees_close(
            analytic,
            to_numpy_tree(framework, leaves(numerical)),
            NUMERICAL_GRADIENT_TOLERANCE,
            f"{case_id(case)} {sample.description}: {framework.name} gradient vs numerical",
        )


#: Exceptions a harness mistake raises when calling a reference (wrong keyword, wrong arity): an
#: "upstream rejects" that raised one of these proves nothing about the input.
HARNESS_MISTAKES = ("unexpected keyword argument", "positional argument", "takes from")


@pytest.mark.parametrize("case", WITH_ERRORS, ids=case_id)
def test_bad_input_raises_the_same_clear_error(case: Case) -> None:
    for error in case.error_inputs():
        for framework in (JAX, TORCH):
            with pytest.raises(error.exception, match=error.match):
                case(framework, error.sample)
        if not error.upstream_rejects:
            continue
        torch_references = [r for r in case.references if r.framework == "torch"]
        assert torch_references, f"{case_id(case)}: upstream_rejects without a torch reference"
        for reference in torch_references:
            args, kwargs = to_framework(TORCH, error.sample)
            with pytest.raises(
                error.upstream_exception, match=error.upstream_match or None
            ) as raised:
                reference.function(*args, **kwargs)
            message = str(raised.value)
            assert not any(mistake in message for mistake in HARNESS_MISTAKES), (
                f"{case_id(case)} {error.sample.description}: the reference was called wrongly "
                f"({message}), not rejected"
            )


def _groups(case: Case, dtype: str) -> list[list[Sample]]:
    """Samples grouped by their static options and argument shapes (one compiled function each)."""
    by_options: dict[str, list[Sample]] = {}
    for sample in samples(case, dtype):
        key = repr(sorted(split_static(sample.kwargs)[1].items())) + repr(
            [jax.tree.map(np.shape, arg) for arg in sample.args]
        )
        by_options.setdefault(key, []).append(sample)
    return list(by_options.values())


def _halved(tree: Any) -> Any:
    """Float arrays times 0.5 (new values, same shapes and dtypes); everything else as it is."""

    def halve(value: Any) -> Any:
        if isinstance(value, np.ndarray | np.generic) and np.issubdtype(value.dtype, np.floating):
            return (value * 0.5).astype(value.dtype)
        return value

    return map_tree(halve, tree)


def _counting_traces(function: Any, traces: list[None]) -> Any:
    """``function``, appending to ``traces`` each time jax traces it (never on a cached call): a
    count of compilations that does not depend on jax's C++ dispatch cache, whose per-function
    entry count read 0 after calls in one fresh-clone run (the cache is shared by every jit in
    the process)."""

    def traced(*args: Any, **kwargs: Any) -> Any:
        traces.append(None)
        return function(*args, **kwargs)

    return traced


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", JITTABLE, ids=case_id)
def test_jit_matches_eager_without_recompiling(case: Case, dtype: str) -> None:
    """Every sample, under jit: same numbers as eager, and a second call with new values of the same
    shapes hits the compile cache (the property optax's alias_test checks for optimizers)."""
    tol = tolerance(case.kind, dtype)
    for group in _groups(case, dtype):
        array_kwargs, static = split_static(group[0].kwargs)
        function = functools.partial(case.invoke, JAX, **static)
        del array_kwargs
        traces: list[None] = []
        jitted = jax.jit(_counting_traces(function, traces))
        for sample in [*group, *(Sample(_halved(s.args), s.kwargs) for s in group[:1])]:
            args, kwargs = to_framework(JAX, Sample(sample.args, split_static(sample.kwargs)[0]))
            assert_trees_close(
                to_numpy_tree(JAX, jitted(*args, **kwargs)),
                to_numpy_tree(JAX, function(*args, **kwargs)),
                tol,
                f"{case_id(case)} [{dtype}] {sample.description}: jit vs eager",
            )
        assert len(traces) == 1, (
            f"{case_id(case)} [{dtype}] {group[0].description}: traced {len(traces)} times for "
            f"new values of the same shapes (once expected)"
        )


def _batch_axis_tree(tree: Any) -> Any:
    """in_axes for jax.vmap: 0 for every array leaf, None for Python values."""
    if isinstance(tree, dict):
        return {key: _batch_axis_tree(value) for key, value in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(_batch_axis_tree(item) for item in tree))
    if isinstance(tree, list | tuple):
        return type(tree)(_batch_axis_tree(item) for item in tree)
    return 0 if isinstance(tree, np.ndarray | np.generic) else None


def _stacked(first: Any, second: Any) -> Any:
    if isinstance(first, dict):
        return {key: _stacked(first[key], second[key]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(_stacked(a, b) for a, b in zip(first, second, strict=True)))
    if isinstance(first, list | tuple):
        return type(first)(_stacked(a, b) for a, b in zip(first, second, strict=True))
    if isinstance(first, np.ndarray | np.generic):
        return np.stack([first, second])
    return first


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in JITTABLE if not c.opts_out("vmap")], ids=case_id)
def test_vmap_over_a_batch_axis_matches_the_loop(case: Case, dtype: str) -> None:
    """jax.vmap over a new leading axis of every array argument == calling once per batch element.

    The batch of two is the sample and the sample with its float arrays halved (integer arrays such
    as class indices repeated); one sample per group of static options and shapes."""
    tol = tolerance(case.kind, dtype)
    for group in _groups(case, dtype):
        sample = group[0]
        array_kwargs, static = split_static(sample.kwargs)
        function = functools.partial(case.invoke, JAX, **static)
        batch = [(sample.args, array_kwargs), (_halved(sample.args), _halved(array_kwargs))]
        looped = []
        for args, kwargs in batch:
            args, kwargs = to_framework(JAX, Sample(args, kwargs))
            looped.append(
                to_numpy_tree(JAX, compiled_call(case, static, args, kwargs)(*args, **kwargs))
            )
        stacked_args = _stacked(batch[0][0], batch[1][0])
        stacked_kwargs = _stacked(batch[0][1], batch[1][1])
        in_axes = (_batch_axis_tree(stacked_args), _batch_axis_tree(stacked_kwargs))

        def call(args: tuple, kwargs: dict, function=function) -> Any:
            return function(*args, **kwargs)

        args, kwargs = to_framework(JAX, Sample(stacked_args, stacked_kwargs))
        vmapped = jax.jit(jax.vmap(call, in_axes=in_axes))(args, kwargs)
        assert_trees_close(
            to_numpy_tree(JAX, vmapped),
            _stacked(looped[0], looped[1]),
            tol,
            f"{case_id(case)} [{dtype}] {sample.description}: vmap vs loop",
        )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_each_row_calls_the_function_with_its_defaults(case: Case) -> None:
    """At least one sample per dtype passes no keyword option, so the function's defaults meet the
    references' defaults (a default changed in both twins at once fails the forward test)."""
    for key, reason in case.opt_outs.items():
        assert key in OPT_OUT_KEYS, f"{case_id(case)}: unknown opt-out {key!r}"
        assert isinstance(reason, str) and len(reason.split()) >= 3, (
            f"{case_id(case)}: opting out of {key!r} needs a reason, got {reason!r}"
        )
    if case.opts_out("defaults"):
        return
    for dtype in DTYPES:
        assert any(not sample.kwargs for sample in samples(case, dtype)), (
            f"{case_id(case)} [{dtype}]: no sample calls the function with its defaults "
            f"(empty kwargs); add one or opt out with Case(opt_outs={{'defaults': reason}})"
        )
