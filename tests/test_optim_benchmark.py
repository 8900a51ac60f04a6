"""benchmarks/optim.py: it covers every optimizer of jaxmath.optim, picks torch's fused and foreach
paths as torch 2.13 offers them, and the contenders of each benchmark compute the same step at the
quick size (a benchmark of different computations would compare nothing). Nothing here is timed."""

from __future__ import annotations

import inspect

import numpy as np
import optax
import pytest
import torch

from benchmarks import optim as bench
from jaxmath import optim


def test_leaf_shapes_total_the_parameter_count_in_the_requested_number_of_arrays() -> None:
    shapes = bench.leaf_shapes(10_000_000, 100)
    assert len(shapes) == 100
    assert sum(int(np.prod(shape)) for shape in shapes) == 10_000_000
    assert {len(shape) for shape in shapes} == {1, 2}


def test_every_gradient_transformation_of_jaxmath_optim_has_a_benchmark() -> None:
    names = bench.gradient_transformations()
    expected = {
        name
        for name in optim.__all__
        if name[0].isupper()
        and not name.endswith("State")
        and isinstance(getattr(optim, name)(), optax.GradientTransformation)
    }
    assert set(names) == expected
    assert {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Rprop", "ASGD"} <= expected
    assert "LBFGS" not in names  # not a gradient transformation (it takes the loss function)
    assert bench.benchmarked_names() == names  # the cache handed to the workers
    benchmarks = {benchmark.name for benchmark in bench.BENCHMARKS}
    assert benchmarks == {
        "optim" if name == "Adam" else f"optim_{name.lower()}" for name in names
    } | {"optim_pytree"}


@pytest.mark.parametrize("name", bench.gradient_transformations())
def test_fused_and_foreach_rows_follow_torchs_signatures(name: str) -> None:
    parameters = inspect.signature(getattr(torch.optim, name)).parameters
    assert ("fused" in parameters) == (name in bench.FUSED)
    assert ("foreach" in parameters) == (name not in bench.NO_FOREACH)


def test_the_floor_counts_the_state_that_jaxmath_keeps() -> None:
    assert bench.state_arrays("SGD", (100,)) == 1  # momentum buffer
    assert bench.state_arrays("Adam", (100,)) == 2  # m, v
    work = bench.BENCHMARKS[0].work(bench.BENCHMARKS[0].params(False))
    assert work["bytes"] == 28 * 10_000_000  # Adam: read p, g, m, v; write p, m, v


def _displacement(contender: bench.Contender, params: dict, layout: str) -> np.ndarray:
    """p_3 - p_0 over the first leaf's first 64 entries, after three steps of the contender."""
    trial = contender.setup(params)
    for _ in range(3):
        trial.prepare()
        result = trial.run()
    if isinstance(result, dict):  # a pytree contender returns its params: take the first leaf
        result = result[sorted(result)[0]]
    value = result.detach().numpy() if hasattr(result, "detach") else np.asarray(result)
    start = bench.numpy_leaves(bench.layout_shapes(params, layout))[0][0]
    count = min(64, start.size)
    return value.reshape(-1)[:count] - start.reshape(-1)[:count]


@pytest.mark.parametrize("benchmark", bench.BENCHMARKS, ids=lambda b: b.name)
def test_the_contenders_of_a_benchmark_compute_the_same_step(benchmark: bench.Benchmark) -> None:
    params = benchmark.params(True)
    layout = "tree" if benchmark.name == "optim_pytree" else "array"
    if "shape" in params:
        layout = "matrix"
    steps = {c.name: _displacement(c, params, layout) for c in benchmark.contenders}
    reference = steps[benchmark.contenders[0].name]  # jaxmath's
    assert np.all(np.isfinite(reference)) and np.max(np.abs(reference)) > 0
    name = benchmark.contenders[0].name.split()[1]
    for contender in benchmark.contenders[1:]:
        if "adamw" in contender.name.lower() and name != "AdamW":
            continue  # the pytree benchmark's AdamW rows are compared with each other below
        peer = bench.OPTAX.get(name)
        rtol = peer.rtol if contender.name.startswith("optax") and peer else 1e-5
        np.testing.assert_allclose(
            steps[contender.name], reference, rtol=rtol, atol=1e-7, err_msg=contender.name
        )
    if benchmark.name == "optim_pytree":
        np.testing.assert_allclose(
            steps["optax.adamw [100 arrays]"], steps["jaxmath AdamW [100 arrays]"], rtol=1e-5
        )
