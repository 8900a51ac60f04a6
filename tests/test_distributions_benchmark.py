"""benchmarks/distributions.py: every contender sets up and runs at the quick size, and contenders of
one benchmark compute the same thing (a benchmark of different computations would compare
nothing): jaxmath's Normal draws are distrax's (jax.random.normal's) numbers exactly, log_probs agree
with torch's, Categorical draws stay in range. Nothing here is timed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import distributions as bench
from benchmarks._harness import Contender, Trial

QUICK = dict(bench.QUICK)


def _contenders() -> list[tuple[str, Contender]]:
    return [
        (benchmark.name, contender)
        for benchmark in bench.BENCHMARKS
        for contender in benchmark.contenders
    ]


@pytest.mark.parametrize(
    ("benchmark", "contender"), _contenders(), ids=[f"{b}-{c.name}" for b, c in _contenders()]
)
def test_every_contender_sets_up_and_runs_at_the_quick_size(
    benchmark: str, contender: Contender
) -> None:
    import jax

    partitionable = jax.config.jax_threefry_partitionable
    try:
        prepared = contender.setup(QUICK)
        if isinstance(prepared, Trial):
            prepared.prepare()
            out = prepared.run()
        else:
            out = prepared()
        out = out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        assert out.shape == (QUICK["values"],) and np.isfinite(out.astype(np.float64)).all()
        if benchmark.endswith("categorical_sample"):
            assert out.min() >= 0 and out.max() < QUICK["classes"]
    finally:  # the non-partitionable workers set the flag for their own process
        jax.config.update("jax_threefry_partitionable", partitionable)


def _run(benchmark: str, name: str) -> np.ndarray:
    (bench_,) = [b for b in bench.BENCHMARKS if b.name == benchmark]
    (contender,) = [c for c in bench_.contenders if c.name == name]
    out = contender.setup(QUICK)()
    return out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out)


def test_jaxmath_normal_draws_are_jax_random_normals_numbers() -> None:
    import jax

    with jax.enable_x64(False):  # the benchmark's float32 (conftest turns x64 on for the suite)
        ours = _run("distributions_normal_sample", "jaxmath threefry")
        theirs = _run("distributions_normal_sample", "distrax")
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("operation", ["normal_log_prob", "categorical_log_prob"])
def test_log_prob_contenders_agree_with_torch(operation: str) -> None:
    name = f"distributions_{operation}"
    np.testing.assert_allclose(
        _run(name, "jaxmath"), _run(name, "torch.distributions"), rtol=1e-5, atol=1e-5
    )
