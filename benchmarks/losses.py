"""Cross-entropy forward + backward at a language model's vocabulary.

logits (2048, 32000) float32 with integer targets, mean reduction, value and gradient:

- ``jaxmath``: ``jax.jit(jax.value_and_grad(jaxmath.cross_entropy_loss))`` (its fused custom VJP).
- ``jaxmath, donated``: the same with ``donate_argnums=0``: the gradient takes the logits' buffer.
  What a user gains: the 262 MB gradient no longer goes into a fresh allocation, whose page faults
  cost about as much as the whole computation on this CPU; in a training step the logits are dead
  after the loss anyway, so donating them is free. Each timed call needs fresh logits: they are copied
  outside the timer (``Trial.prepare``).
- ``optax``: ``optax.softmax_cross_entropy_with_integer_labels(...).mean()`` under the same jit, with
  and without donation.
- ``torch``: ``torch.nn.functional.cross_entropy`` then ``.backward()`` (eager, autograd).

Floor: one log-sum-exp pass over the logits (timed now, on the same shapes) plus writing the
gradient at the streaming bandwidth measured in the same run. Each contender runs in its own worker
process (isolation="process"): interleaved in one process, allocation-heavy contenders were measured
slowing optax's cross-entropy from 95 to 150 ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks._harness import Benchmark, Contender, Trial, _median_ms, block


def _inputs(params: Mapping[str, Any]) -> tuple[Any, Any]:
    import jax
    import jax.numpy as jnp

    key_logits, key_target = jax.random.split(jax.random.PRNGKey(0))
    shape = (params["batch"], params["classes"])
    logits = jax.random.normal(key_logits, shape, jnp.float32)
    target = jax.random.randint(key_target, shape[:1], 0, params["classes"])
    return logits, target


def _jax_trial(loss: Any, params: Mapping[str, Any], donate: bool) -> Trial:
    import jax
    import jax.numpy as jnp

    logits, target = _inputs(params)
    step = jax.jit(jax.value_and_grad(loss), donate_argnums=(0,) if donate else ())
    if not donate:
        return Trial(run=lambda: step(logits, target))
    state: dict[str, Any] = {}

    def prepare() -> None:
        state["logits"] = block(jnp.copy(logits))

    return Trial(run=lambda: step(state.pop("logits"), target), prepare=prepare)


def _jaxmath_loss(logits: Any, target: Any) -> Any:
    import jaxmath

    return jaxmath.cross_entropy_loss(logits, target)


def _optax_loss(logits: Any, target: Any) -> Any:
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(logits, target).mean()


def _torch_trial(params: Mapping[str, Any]) -> Trial:
    import numpy as np
    import torch
    import torch.nn.functional as F

    logits, target = (torch.from_numpy(np.array(array)) for array in _inputs(params))
    logits = logits.clone().requires_grad_(True)
    target = target.long()

    def prepare() -> None:
        logits.grad = None

    def run() -> Any:
        loss = F.cross_entropy(logits, target)
        loss.backward()
        return loss

    return Trial(run=run, prepare=prepare)


def _params(quick: bool) -> dict[str, Any]:
    return {"batch": 64, "classes": 1000} if quick else {"batch": 2048, "classes": 32000}


def _work(params: Mapping[str, Any]) -> dict[str, float]:
    logits_bytes = 4.0 * params["batch"] * params["classes"]
    return {"bytes": 3 * logits_bytes, "flops": 0.0}  # read twice (forward, backward), write once


def _floor_ms(params: Mapping[str, Any], limits: Mapping[str, float]) -> float:
    import jax

    logits, _ = _inputs(params)
    logsumexp = jax.jit(lambda x: jax.nn.logsumexp(x, axis=1))
    block(logsumexp(logits))
    one_pass_ms = _median_ms(lambda: logsumexp(logits), 5)
    write_ms = 4.0 * logits.size / (limits["stream_gb_per_s"] * 1e9) * 1e3
    return one_pass_ms + write_ms


BENCHMARK = Benchmark(
    name="losses",
    description="cross-entropy value and gradient, logits (2048, 32000) float32, integer targets",
    contenders=(
        Contender("jaxmath", lambda p: _jax_trial(_jaxmath_loss, p, donate=False), ours=True),
        Contender(
            "jaxmath, donated", lambda p: _jax_trial(_jaxmath_loss, p, donate=True), ours=True
        ),
        Contender("optax", lambda p: _jax_trial(_optax_loss, p, donate=False)),
        Contender("optax, donated", lambda p: _jax_trial(_optax_loss, p, donate=True)),
        Contender("torch.nn.functional.cross_entropy", _torch_trial, note="eager autograd"),
    ),
    params=_params,
    work=_work,
    floor_ms=_floor_ms,
    isolation="process",
)
