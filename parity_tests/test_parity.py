"""Generic parity tests, run over every row of the case table (cases.CASES).

For each case and dtype: jaxmath == torch_ref == every upstream reference, on the sample inputs and on
the edge inputs; gradients (vector-Jacobian products with a random cotangent) jax.vjp == torch.autograd
through torch_ref == torch.autograd through the upstream reference; in float64, both against
numerical_gradient; bad input raises the same error in both packages; jit == eager, with no recompile
across calls of the same shapes.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

import jaxmath
from parity_tests.cases import CASES
from parity_tests.harness import (
    DTYPES,
    JAX,
    NUMERICAL_GRADIENT_TOLERANCE,
    TORCH,
    Case,
    Sample,
    assert_trees_close,
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
    return f"{case.module}.{case.name}"


def samples(case: Case, dtype: str) -> list[Sample]:
    return list(case.sample_inputs(rng_for(case, dtype), dtype))


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


def _array_leaves(tree: object) -> list[np.ndarray]:
    return [leaf for leaf in leaves(tree) if isinstance(leaf, np.ndarray)]


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


def upcast(sample: Sample) -> Sample:
    """The same sample with float32 arrays in float64."""

    def to_float64(value: object) -> object:
        if isinstance(value, np.ndarray | np.generic) and value.dtype == np.float32:
            return np.asarray(value, np.float64)
        return value

    return Sample(
        tuple(map_tree(to_float64, arg) for arg in sample.args),
        {key: map_tree(to_float64, value) for key, value in sample.kwargs.items()},
        sample.description,
        sample.grad_argnums,
    )


def check_gradients_agree(
    case: Case, sample: Sample, dtype: str, reference_in_float64: bool
) -> None:
    """jax.vjp == torch_ref's autograd == the torch references' autograd, with one cotangent.

    ``reference_in_float64``: at the edges, torch's own float32 backward can be the inaccurate one
    (torch.logsumexp's gradient at logits of 1e4 is off by 4e-4, because it uses exp(x - result)
    with result rounded to float32's ulp of 1e-3 there), so the references run on the float64 copy of
    the sample and must agree with ours at float32's tolerance.
    """
    tol = tolerance(case.kind, dtype)
    context = f"{case_id(case)} [{dtype}] {sample.description}"
    cotangent = jax_cotangent(case, sample)
    ours = jax_vjp(case, sample, cotangent)
    assert_trees_close(
        ours,
        torch_ref_vjp(case, sample, cotangent),
        tol,
        f"{context}: jax.vjp vs torch_ref autograd",
    )
    reference_sample = upcast(sample) if reference_in_float64 else sample
    reference_cotangent = cotangent.astype(np.float64) if reference_in_float64 else cotangent
    for reference in case.references:
        if reference.framework == "torch":
            expected = reference_vjp(reference, case, reference_sample, reference_cotangent)
            assert_trees_close(
                ours, expected, tol, f"{context}: jax.vjp vs autograd of {reference.name}"
            )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=case_id)
def test_gradients_match_twin_and_references(case: Case, dtype: str) -> None:
    for sample in samples(case, dtype):
        check_gradients_agree(case, sample, dtype, reference_in_float64=False)
    for sample in case.edge_inputs(dtype):
        check_gradients_agree(case, sample, dtype, reference_in_float64=dtype == "float32")


NUMERICAL_SAMPLES_PER_CASE = 8  # numerical_gradient compiles per sample; an even spread suffices


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=case_id)
def test_gradients_match_numerical_gradient(case: Case) -> None:
    """In float64, jax.vjp against jaxmath.numerical_gradient of <f(x), v>, on an even spread of
    the samples (all of them go through the torch comparisons above)."""
    sample_list = samples(case, "float64")
    stride = max(1, len(sample_list) // NUMERICAL_SAMPLES_PER_CASE)
    for sample in sample_list[::stride]:
        positions = case.grad_positions(sample)
        args, kwargs = to_framework(JAX, sample)
        cotangent = jax_cotangent(case, sample)

        def projected(
            differentiable: tuple,
            args=args,
            kwargs=kwargs,
            positions=positions,
            cotangent=cotangent,
        ):
            full = list(args)
            for position, value in zip(positions, differentiable, strict=True):
                full[position] = value
            return (case.invoke(JAX, *full, **kwargs) * cotangent).sum()

        numerical = jaxmath.numerical_gradient(
            projected, tuple(args[position] for position in positions)
        )
        analytic = jax_vjp(case, sample, cotangent)
        assert_trees_close(
            analytic,
            list(numerical),
            NUMERICAL_GRADIENT_TOLERANCE,
            f"{case_id(case)} {sample.description}: jax.vjp vs numerical_gradient",
        )


@pytest.mark.parametrize("case", WITH_ERRORS, ids=case_id)
def test_bad_input_raises_the_same_clear_error(case: Case) -> None:
    for error in case.error_inputs():
        for framework in (JAX, TORCH):
            with pytest.raises(error.exception, match=error.match):
                case(framework, error.sample)
        if error.upstream_rejects:
            for reference in case.references:
                if reference.framework == "torch":
                    args, kwargs = to_framework(TORCH, error.sample)
                    with pytest.raises(Exception):  # noqa: B017 (torch's own exception types vary)
                        reference.function(*args, **kwargs)


@pytest.mark.parametrize("case", JITTABLE, ids=case_id)
def test_jit_matches_eager_without_recompiling(case: Case) -> None:
    """Under jit: same numbers as eager, and a second call with new values of the same shapes hits
    the compile cache (the property optax's alias_test checks for optimizers)."""
    tol = tolerance(case.kind, "float32")
    by_options: dict[str, list[Sample]] = {}
    for sample in samples(case, "float32"):
        by_options.setdefault(
            repr(split_static(sample.kwargs)[1]) + repr([np.shape(a) for a in sample.args]), []
        ).append(sample)
    for group in list(by_options.values())[:6]:
        sample = group[0]
        array_kwargs, static = split_static(sample.kwargs)
        function = functools.partial(case.function(JAX), **static)
        jitted = jax.jit(function)
        args, kwargs = to_framework(JAX, Sample(sample.args, array_kwargs))
        eager = function(*args, **kwargs)
        assert_trees_close(
            to_numpy_tree(JAX, jitted(*args, **kwargs)),
            to_numpy_tree(JAX, eager),
            tol,
            f"{case_id(case)} {sample.description}: jit vs eager",
        )
        moved = jax.tree.map(lambda a: a * 0.5 if np.issubdtype(a.dtype, np.floating) else a, args)
        jitted(*moved, **kwargs)
        assert jitted._cache_size() == 1, (
            f"{case_id(case)}: recompiled for new values of the same shapes"
        )
