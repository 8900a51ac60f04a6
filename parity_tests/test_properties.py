"""Hypothesis property tests: sampled shapes (batch of one included) and values up to 1e4, against
torch.nn.functional, plus the invariants each function must keep."""

from __future__ import annotations

import functools

import jax
import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jaxmath
from parity_tests.harness import DTYPES, assert_trees_close, tolerance

PROPERTY_SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)


def arrays(dtype: str, shape: st.SearchStrategy, magnitude: float) -> st.SearchStrategy:
    elements = st.floats(
        -magnitude, magnitude, allow_nan=False, width=32 if dtype == "float32" else 64
    )
    return hnp.arrays(np.dtype(dtype), shape, elements=elements)


@st.composite
def logits_and_axis(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6))
    magnitude = draw(st.sampled_from([1.0, 30.0, 1e4]))
    x = draw(arrays(dtype, st.just(shape), magnitude))
    return x, draw(st.integers(-len(shape), len(shape) - 1))


@PROPERTY_SETTINGS
@given(logits_and_axis())
def test_softmax_family_matches_torch_and_keeps_invariants(example: tuple[np.ndarray, int]) -> None:
    x, axis = example
    tol = tolerance("reduction", str(x.dtype))
    t = torch.from_numpy(x)
    for ours, reference in (
        (jaxmath.softmax, torch.softmax(t, dim=axis)),
        (jaxmath.log_softmax, torch.log_softmax(t, dim=axis)),
        (jaxmath.logsumexp, torch.logsumexp(t, dim=axis)),
    ):
        got = np.asarray(jax.jit(functools.partial(ours, axis=axis))(x))
        assert np.all(np.isfinite(got))
        assert_trees_close(got, reference.numpy(), tol, f"{ours.__name__} {x.shape} axis {axis}")
    probabilities = np.asarray(jaxmath.softmax(x, axis=axis), np.float64)
    np.testing.assert_allclose(probabilities.sum(axis=axis), 1.0, rtol=1e-5)
    assert np.all(np.asarray(jaxmath.log_softmax(x, axis=axis)) <= 0)
    assert np.all(np.asarray(jaxmath.logsumexp(x, axis=axis)) >= x.max(axis=axis) - tol.atol)


@st.composite
def classification_batch(draw: st.DrawFn) -> dict:
    dtype = draw(st.sampled_from(DTYPES))
    batch, classes = draw(st.integers(1, 8)), draw(st.integers(1, 6))
    logits = draw(arrays(dtype, st.just((batch, classes)), draw(st.sampled_from([3.0, 1e4]))))
    target = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
    ignored = np.array(draw(st.lists(st.booleans(), min_size=batch, max_size=batch)))
    target = np.where(ignored & (np.arange(batch) > 0), -100, target)  # keep one counted target
    use_weight = draw(st.booleans())
    weight = draw(arrays(dtype, st.just((classes,)), 2.0)) ** 2 + 0.1 if use_weight else None
    return {
        "logits": logits,
        "target": target,
        "weight": weight,
        "reduction": draw(st.sampled_from(["mean", "sum", "none"])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.1, 1.0])),
    }


@PROPERTY_SETTINGS
@given(classification_batch())
def test_cross_entropy_matches_torch(example: dict) -> None:
    logits, target, weight = example["logits"], example["target"], example["weight"]
    options = {key: example[key] for key in ("reduction", "label_smoothing")}
    function = jax.jit(functools.partial(jaxmath.cross_entropy_loss, **options))
    got = np.asarray(function(logits, target, weight=weight))
    expected = F.cross_entropy(
        torch.from_numpy(logits),
        torch.from_numpy(target),
        weight=None if weight is None else torch.from_numpy(weight),
        **options,
    ).numpy()
    assert np.all(np.isfinite(got))
    assert_trees_close(got, expected, tolerance("reduction", str(logits.dtype)), f"{example}")


@st.composite
def binary_batch(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
    logits = draw(arrays(dtype, st.just(shape), draw(st.sampled_from([3.0, 1e4]))))
    target = draw(arrays(dtype, st.just(shape), 1.0)) ** 2
    pos_weight = draw(st.one_of(st.none(), arrays(dtype, st.just(shape[-1:]), 3.0).map(np.abs)))
    return logits, target, pos_weight


@PROPERTY_SETTINGS
@given(binary_batch())
def test_bce_with_logits_matches_torch(example: tuple) -> None:
    logits, target, pos_weight = example
    got = np.asarray(
        jax.jit(jaxmath.binary_cross_entropy_with_logits)(logits, target, pos_weight=pos_weight)
    )
    expected = F.binary_cross_entropy_with_logits(
        torch.from_numpy(logits),
        torch.from_numpy(target),
        pos_weight=None if pos_weight is None else torch.from_numpy(pos_weight),
    ).numpy()
    assert np.isfinite(got)
    assert_trees_close(got, expected, tolerance("reduction", str(logits.dtype)), f"{example}")
