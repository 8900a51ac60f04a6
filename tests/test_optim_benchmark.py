"""benchmarks/optim.py's contenders at the quick size: each sets up and runs, and the ones that
compute the same Adam step agree (a benchmark of different computations would compare nothing).
Nothing here is timed."""

from __future__ import annotations

import numpy as np

from benchmarks import optim as bench


def test_leaf_shapes_total_the_parameter_count_in_the_requested_number_of_arrays() -> None:
    shapes = bench.leaf_shapes(10_000_000, 100)
    assert len(shapes) == 100
    assert sum(int(np.prod(shape)) for shape in shapes) == 10_000_000
    assert {len(shape) for shape in shapes} == {1, 2}


def test_every_contender_runs_and_the_same_rules_agree() -> None:
    params = bench.BENCHMARKS[0].params(True)
    first_leaf: dict[str, np.ndarray] = {}
    for contender in [c for benchmark in bench.BENCHMARKS for c in benchmark.contenders]:
        trial = contender.setup(params)
        for _ in range(3):
            trial.prepare()
            result = trial.run()
        if isinstance(result, dict):  # a pytree contender returns its params: take one leaf
            result = result[sorted(result)[0]]
        value = result.detach().numpy() if hasattr(result, "detach") else np.asarray(result)
        assert np.all(np.isfinite(value)), contender.name
        first_leaf[contender.name] = value.reshape(-1)[:5]
    # Three Adam steps on the same one-array problem: jaxmath, optax and torch fused agree.
    reference = first_leaf["optax.adam [1 array]"]
    for name in ("jaxmath Adam [1 array]", "optax.adam undonated [1 array]"):
        np.testing.assert_allclose(first_leaf[name], reference, rtol=1e-6)
    np.testing.assert_allclose(
        first_leaf["jaxmath AdamW [1 array]"], first_leaf["optax.adamw [1 array]"], rtol=1e-6
    )
