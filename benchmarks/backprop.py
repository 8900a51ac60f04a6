"""MLP training-step gradients: hand-written backward vs jax.grad vs torch autograd.

A 784-512-512-10 ReLU MLP, batch 256, float32, cross-entropy; one iteration computes the loss and all
parameter gradients:

- ``jaxmath.mlp_loss_and_grad``: the hand-written backward, under ``jax.jit``.
- ``jax.grad``: ``jax.jit(jax.value_and_grad(...))`` of the same forward and loss.
- ``torch autograd``: ``torch.nn.functional`` forward, ``.backward()`` (eager).

Work: forward 2·B·Σ(n_in·n_out) FLOPs, backward twice that (input and weight gradients) less the
first layer's input gradient, which no contender computes (x needs none), reported against the
float32 matmul rate measured in the same run.

Each contender runs in its own worker process (isolation="process"): interleaved in one process,
JAX's steps measured here took 9 ms after torch's turns instead of 4.8 ms alone (bimodal 5 / 9.6 ms),
the two runtimes' thread pools disturbing each other even with OMP_WAIT_POLICY=PASSIVE.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from benchmarks._harness import Benchmark, Contender, Trial

SIZES = (784, 512, 512, 10)


def _inputs(params: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    import jax

    from jaxmath import backprop

    sizes = params["sizes"]
    key_params, key_x, key_y = jax.random.split(jax.random.PRNGKey(0), 3)
    mlp = backprop.mlp_init(key_params, sizes)
    x = jax.random.normal(key_x, (params["batch"], sizes[0]))
    y = jax.random.randint(key_y, (params["batch"],), 0, sizes[-1])
    return mlp, x, y


def _manual(params: Mapping[str, Any]) -> Trial:
    import jax

    from jaxmath import backprop

    mlp, x, y = _inputs(params)
    step = jax.jit(backprop.mlp_loss_and_grad)
    return Trial(run=lambda: step(mlp, x, y))


def _jax_grad(params: Mapping[str, Any]) -> Trial:
    import jax

    import jaxmath

    mlp, x, y = _inputs(params)

    def loss(mlp: Any, x: Any, y: Any) -> Any:
        return jaxmath.cross_entropy_loss(jaxmath.mlp_forward(mlp, x)[0], y)

    step = jax.jit(jax.value_and_grad(loss))
    return Trial(run=lambda: step(mlp, x, y))


def _torch(params: Mapping[str, Any]) -> Trial:
    import torch.nn.functional as F

    from torch_ref import backprop as torch_backprop

    mlp, x, y = (torch_backprop.convert_params(tree) for tree in _inputs(params))
    weights = [
        (layer["W"].T.contiguous().requires_grad_(True), layer["b"].clone().requires_grad_(True))
        for layer in mlp
    ]
    y = y.long()

    def prepare() -> None:
        for W, b in weights:
            W.grad = b.grad = None

    def run() -> Any:
        hidden = x
        for index, (W, b) in enumerate(weights):
            hidden = F.linear(hidden, W, b)
            if index < len(weights) - 1:
                hidden = F.relu(hidden)
        loss = F.cross_entropy(hidden, y)
        loss.backward()
        return loss

    return Trial(run=run, prepare=prepare)


def _params(quick: bool) -> dict[str, Any]:
    return {"sizes": (20, 16, 16, 4) if quick else SIZES, "batch": 8 if quick else 256}


def _work(params: Mapping[str, Any]) -> dict[str, float]:
    sizes = params["sizes"]
    forward = 2.0 * params["batch"] * sum(a * b for a, b in itertools.pairwise(sizes))
    unused_input_gradient = 2.0 * params["batch"] * sizes[0] * sizes[1]
    return {"flops": 3.0 * forward - unused_input_gradient, "bytes": 0.0}


BENCHMARK = Benchmark(
    name="backprop",
    description="loss + all gradients of a 784-512-512-10 ReLU MLP, batch 256, float32",
    contenders=(
        Contender("jaxmath.mlp_loss_and_grad (manual)", _manual, ours=True),
        Contender("jax.value_and_grad", _jax_grad),
        Contender("torch autograd (eager)", _torch),
    ),
    params=_params,
    work=_work,
    floor_ms=lambda params, limits: (
        _work(params)["flops"] / (limits["matmul_gflop_per_s"] * 1e9) * 1e3
    ),
    isolation="process",
    rounds=7,
    iterations_per_round=20,
)
