"""Distributions at scale: Normal and Categorical log_prob and sampling of 10M float32 values.

Four operations, one benchmark each (``BENCHMARKS``; ``python -m benchmarks distributions`` runs
all four, ``python -m benchmarks.distributions`` then prints each contender's speed-up over torch
from the JSON files):

- ``Normal.log_prob``: 10M float32 values, ``Normal(0, 1)`` (0-d parameters).
  jaxmath: ``jax.jit(lambda d, x: d.log_prob(x))`` with the distribution as a pytree argument;
  ``donated``: the same with ``x`` donated, so XLA writes the result into x's buffer (no fresh 40 MB,
  none of its page faults); torch.distributions.Normal (default ``validate_args``: its support check
  is one more pass over x); distrax.Normal under the same jit.
- ``Normal.sample``: 10M float32 draws. jaxmath with a threefry key under JAX's default
  (partitionable) counter layout and, in a worker that sets ``jax_threefry_partitionable=False``
  for itself, the other layout: either way jaxmath draws exactly ``jax.random.normal``'s numbers,
  but hashes with an unrolled Threefry-2x32 on CPU (JAX lowers its primitive on CPU as a rolled
  loop over the round groups: ~5x slower; see ``jaxmath.distributions._threefry2x32``). distrax
  calls ``jax.random.normal`` (threefry), so it is JAX's own speed on the same numbers.
  torch.distributions.Normal.sample (global generator).
- ``Categorical.log_prob``: 1000 classes, 10M int32 class indices: jaxmath's gather
  (``jnp.take`` of the normalised logits); torch.distributions.Categorical (int64 indices, as torch
  requires). distrax's log_prob is a one-hot product over the 1000 classes (10G multiply-adds per
  call, O(K) per value, ~800x slower measured at this size): not timed, it would take the whole budget.
- ``Categorical.sample``: 10M draws from 1000 classes: jaxmath's alias method (Walker's table of
  1000 thresholds and aliases built in ~4 ms, then one uniform and two gathers per draw; the
  inverse-CDF guide-table search it replaced took 827 ms to the alias method's 173 ms with the same
  uniforms), with both threefry layouts; torch.distributions.Categorical.sample
  (``torch.multinomial`` with replacement). distrax samples by Gumbel-max over all classes (a
  (10M, 1000) array of noise, 40 GB): not timed.

Isolation: each contender in its own worker process (40 MB arrays: interleaving them in one process
biased timings 1.5x on the issue's machine), alternating; one at a time runs.
Targets (issue 18): log_prob >= 5x torch; Normal sampling at least as fast as torch; Categorical
log_prob >= 1.8x and sampling >= 3x torch.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

from benchmarks._harness import Benchmark, Contender, Trial, donating_trial

FULL = {"values": 10_000_000, "classes": 1000}
QUICK = {"values": 10_000, "classes": 1000}


def _normal_values(params: Mapping[str, Any]) -> Any:
    import numpy as np

    return np.random.default_rng(0).standard_normal(params["values"], dtype=np.float32)


def _class_values(params: Mapping[str, Any]) -> Any:
    import numpy as np

    rng = np.random.default_rng(1)
    return rng.integers(0, params["classes"], size=params["values"]).astype(np.int32)


def _logits(params: Mapping[str, Any]) -> Any:
    import numpy as np

    return np.random.default_rng(2).standard_normal(params["classes"]).astype(np.float32)


# ---- jaxmath --------------------------------------------------------------------------------


def _jax_normal_log_prob(donate: bool) -> Callable[[Mapping[str, Any]], Any]:
    def setup(params: Mapping[str, Any]) -> Trial | Callable[[], Any]:
        import jax
        import jax.numpy as jnp

        from jaxmath import distributions

        dist = distributions.Normal(jnp.float32(0.0), jnp.float32(1.0))
        x = jnp.asarray(_normal_values(params))
        step = jax.jit(lambda d, x: d.log_prob(x), donate_argnums=(1,) if donate else ())
        if donate:
            return donating_trial(step, lambda: (dist, jnp.copy(x)))
        return lambda: step(dist, x)

    return setup


def _jax_normal_sample(impl: str, partitionable: bool = True) -> Callable[[Mapping[str, Any]], Any]:
    def setup(params: Mapping[str, Any]) -> Callable[[], Any]:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_threefry_partitionable", partitionable)  # this worker only

        from jaxmath import distributions

        dist = distributions.Normal(jnp.float32(0.0), jnp.float32(1.0))
        key = jax.random.key(0, impl=impl)
        n = params["values"]
        step = jax.jit(lambda d, key: d.sample(key, (n,)))
        return lambda: step(dist, key)

    return setup


def _jax_categorical_log_prob(params: Mapping[str, Any]) -> Callable[[], Any]:
    import jax
    import jax.numpy as jnp

    from jaxmath import distributions

    dist = distributions.Categorical(logits=jnp.asarray(_logits(params)))
    value = jnp.asarray(_class_values(params))
    step = jax.jit(lambda d, v: d.log_prob(v))
    return lambda: step(dist, value)


def _jax_categorical_sample(
    impl: str, partitionable: bool = True
) -> Callable[[Mapping[str, Any]], Any]:
    def setup(params: Mapping[str, Any]) -> Callable[[], Any]:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_threefry_partitionable", partitionable)  # this worker only

        from jaxmath import distributions

        dist = distributions.Categorical(logits=jnp.asarray(_logits(params)))
        key = jax.random.key(0, impl=impl)
        n = params["values"]
        step = jax.jit(lambda d, key: d.sample(key, (n,)))
        return lambda: step(dist, key)

    return setup


# ---- distrax --------------------------------------------------------------------------------


def _distrax_normal_log_prob(params: Mapping[str, Any]) -> Callable[[], Any]:
    import distrax
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(_normal_values(params))
    step = jax.jit(lambda x: distrax.Normal(0.0, 1.0).log_prob(x))
    return lambda: step(x)


def _distrax_normal_sample(params: Mapping[str, Any]) -> Callable[[], Any]:
    import distrax
    import jax

    n = params["values"]
    step = jax.jit(lambda key: distrax.Normal(0.0, 1.0).sample(seed=key, sample_shape=(n,)))
    key = jax.random.PRNGKey(0)
    return lambda: step(key)


# ---- torch.distributions ----------------------------------------------------------------------


def _torch_normal_log_prob(params: Mapping[str, Any]) -> Callable[[], Any]:
    import torch

    x = torch.from_numpy(_normal_values(params))
    dist = torch.distributions.Normal(torch.tensor(0.0), torch.tensor(1.0))
    return lambda: dist.log_prob(x)


def _torch_normal_sample(params: Mapping[str, Any]) -> Callable[[], Any]:
    import torch

    dist = torch.distributions.Normal(torch.tensor(0.0), torch.tensor(1.0))
    shape = torch.Size([params["values"]])
    return lambda: dist.sample(shape)


def _torch_categorical_log_prob(params: Mapping[str, Any]) -> Callable[[], Any]:
    import torch

    dist = torch.distributions.Categorical(logits=torch.from_numpy(_logits(params)))
    value = torch.from_numpy(_class_values(params)).long()
    return lambda: dist.log_prob(value)


def _torch_categorical_sample(params: Mapping[str, Any]) -> Callable[[], Any]:
    import torch

    dist = torch.distributions.Categorical(logits=torch.from_numpy(_logits(params)))
    shape = torch.Size([params["values"]])
    return lambda: dist.sample(shape)


def _work(params: Mapping[str, Any]) -> dict[str, float]:
    """Bytes of a one-pass elementwise op: 4 bytes read and 4 written per value."""
    return {"bytes": 8.0 * params["values"]}


def _write_only(params: Mapping[str, Any]) -> dict[str, float]:
    return {"bytes": 4.0 * params["values"]}


def _benchmark(
    operation: str, description: str, contenders: tuple[Contender, ...], rounds: int = 4
) -> Benchmark:
    return Benchmark(
        name="distributions_" + operation.lower().replace(".", "_"),
        description=description,
        contenders=contenders,
        params=lambda quick: dict(QUICK if quick else FULL),
        work=_work,
        isolation="process",
        warmup=2,
        rounds=rounds,
        iterations_per_round=3,
    )


#: One benchmark per operation, so "vs best peer" compares with that operation's peers;
#: ``python -m benchmarks distributions`` runs all four.
BENCHMARKS = (
    _benchmark(
        "Normal.log_prob",
        "Normal(0, 1).log_prob of 10M float32 values",
        (
            Contender("jaxmath", _jax_normal_log_prob(False), ours=True),
            Contender("jaxmath donated", _jax_normal_log_prob(True), ours=True),
            Contender("torch.distributions", _torch_normal_log_prob, note="validate_args default"),
            Contender("distrax", _distrax_normal_log_prob),
        ),
    ),
    _benchmark(
        "Normal.sample",
        "Normal(0, 1).sample of 10M float32 draws",
        (
            Contender(
                "jaxmath threefry",
                _jax_normal_sample("threefry2x32"),
                ours=True,
                work=_write_only,
            ),
            Contender(
                "jaxmath threefry non-partitionable",
                _jax_normal_sample("threefry2x32", partitionable=False),
                ours=True,
                work=_write_only,
            ),
            Contender("torch.distributions", _torch_normal_sample, work=_write_only),
            Contender("distrax", _distrax_normal_sample, work=_write_only),
        ),
    ),
    _benchmark(
        "Categorical.log_prob",
        "Categorical(1000 classes).log_prob of 10M class indices",
        (
            Contender("jaxmath", _jax_categorical_log_prob, ours=True),
            Contender("torch.distributions", _torch_categorical_log_prob),
        ),
    ),
    _benchmark(
        "Categorical.sample",
        "Categorical(1000 classes).sample of 10M draws",
        (
            Contender(
                "jaxmath threefry",
                _jax_categorical_sample("threefry2x32"),
                ours=True,
                work=_write_only,
            ),
            Contender(
                "jaxmath threefry non-partitionable",
                _jax_categorical_sample("threefry2x32", partitionable=False),
                ours=True,
                work=_write_only,
            ),
            Contender("torch.distributions", _torch_categorical_sample, work=_write_only),
        ),
        rounds=3,
    ),
)


def ratios_to_torch(result: Mapping[str, Any]) -> dict[str, float]:
    """torch's median / each contender's median in one benchmark's JSON (>1: faster than torch)."""
    medians = {
        row["contender"]: row["median_ms"] for row in result["rows"] if row["status"] == "ok"
    }
    torch_ms = medians.get("torch.distributions")
    return {name: torch_ms / median for name, median in medians.items()} if torch_ms else {}


def main(folder: str = "benchmarks/results") -> None:
    """Print every operation's speed-ups over torch from a finished run's JSON files."""
    for benchmark in BENCHMARKS:
        path = pathlib.Path(folder) / f"{benchmark.name}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        load = result["environment"].get("load_average_at_start")
        for name, ratio in ratios_to_torch(result).items():
            print(f"{benchmark.name:36} {name:36} {ratio:6.2f}x torch  (load {load})")


if __name__ == "__main__":
    import sys

    main(*sys.argv[1:2])
