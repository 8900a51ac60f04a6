"""One Adam / AdamW step on 10M float32 parameters: jaxmath vs optax vs torch.optim (foreach, fused).

One iteration is the optimizer step of a training loop on given gradients: ``update`` +
``apply_updates`` under one ``jax.jit`` with the params and the optimizer state donated (their
buffers are updated in place, as torch's in-place step does), for two layouts of the same 10M
parameters:

- ``[1 array]``: one (10M,) array.
- ``[100 arrays]``: a pytree of 100 arrays of mixed sizes (40 matrices of ~0.25M entries, 60 vectors
  of 1k-4k: a small transformer's mix), the case torch's fused kernel was written for.

Two benchmarks, so that "vs best peer" compares within a layout: ``optim`` (one array) and
``optim_pytree`` (100 arrays); ``python -m benchmarks optim`` runs both.

Contenders: ``jaxmath.optim.Adam`` and ``AdamW(weight_decay=1e-2)``; ``optax.adam`` and
``optax.adamw(weight_decay=1e-2)`` (the same rules, see tests/test_optim.py), donated, and optax.adam
undonated (a fresh output buffer every step); ``torch.optim.Adam(foreach=True)`` and
``torch.optim.Adam(fused=True)`` (torch's CPU fused kernel), stepping ``.grad``s already in place;
``jaxmath.optim.Adam [100 arrays, flat state]``: the same jaxmath Adam on the pytree raveled into one
vector, as a training loop that keeps its params flat would run it (``jax.flatten_util``), which is
what torch's fused kernel does by walking the tensor list in one kernel.

Floor: Adam must read p, g, m, v and write p, m, v: 7 x 4 bytes per parameter = 280 MB per step, at
the streaming bandwidth measured in this run (``x + 1`` in place, 8 bytes per element). GB/s and
%stream count those 280 MB.

Isolation: each contender runs in its own worker process (``isolation="process"``), alternating, so
torch's and JAX's thread pools and allocators never share a process (in one process, JAX's steps were
measured slower after torch's turns in the backprop benchmark).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from benchmarks._harness import Benchmark, Contender, Trial

FULL = {"parameters": 10_000_000, "leaves": 100}
QUICK = {"parameters": 20_000, "leaves": 10}
BYTES_PER_PARAMETER = 7 * 4  # read p, g, m, v; write p, m, v (float32)
LR, WEIGHT_DECAY = 1e-3, 1e-2


def leaf_shapes(parameters: int, leaves: int) -> list[tuple[int, ...]]:
    """``leaves`` shapes totalling ``parameters``: 40% matrices sharing ~99% of the entries, the
    rest vectors of 1% (biases, norm scales), sizes varied by a fixed generator."""
    import numpy as np

    rng = np.random.default_rng(0)
    matrices = max(1, (leaves * 2) // 5)
    vectors = leaves - matrices
    vector_sizes = rng.integers(1, 5, size=vectors) * max(1, parameters // (100 * max(vectors, 1)))
    remaining = parameters - int(vector_sizes.sum())
    weights = rng.uniform(0.5, 1.5, size=matrices)
    matrix_sizes = np.floor(weights / weights.sum() * remaining).astype(int)
    matrix_sizes[-1] += remaining - int(matrix_sizes.sum())
    shapes: list[tuple[int, ...]] = []
    for size in matrix_sizes:
        rows = 1 << max(0, int(np.log2(max(int(size), 1)) // 2))
        shapes.append((rows, int(size) // rows) if int(size) % rows == 0 else (int(size),))
    shapes += [(int(size),) for size in vector_sizes]
    order = rng.permutation(len(shapes))
    return [shapes[index] for index in order]


def _layout_shapes(params: Mapping[str, Any], layout: str) -> list[tuple[int, ...]]:
    if layout == "array":
        return [(params["parameters"],)]
    return leaf_shapes(params["parameters"], params["leaves"])


def _jax_tree(shapes: list[tuple[int, ...]], seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(seed), len(shapes))
    return {
        f"p{index:03d}": jax.random.normal(key, shape, jnp.float32) * 0.1
        for index, (key, shape) in enumerate(zip(keys, shapes, strict=True))
    }


def jax_step(opt_factory: Callable[[], Any], layout: str, donate: bool = True, flat: bool = False):
    """A contender: ``opt.update`` + ``apply_updates`` jitted, params and state donated."""

    def setup(params: Mapping[str, Any]) -> Trial:
        import jax
        import optax
        from jax.flatten_util import ravel_pytree

        shapes = _layout_shapes(params, layout)
        tree, grads = _jax_tree(shapes, 0), _jax_tree(shapes, 1)
        if flat:
            tree, grads = ravel_pytree(tree)[0], ravel_pytree(grads)[0]
        opt = opt_factory()
        state = opt.init(tree)

        def step(tree: Any, state: Any, grads: Any) -> tuple[Any, Any]:
            updates, state = opt.update(grads, state, tree)
            return optax.apply_updates(tree, updates), state

        jitted = jax.jit(step, donate_argnums=(0, 1) if donate else ())
        current = {"tree": tree, "state": state}

        def run() -> Any:
            current["tree"], current["state"] = jitted(current["tree"], current["state"], grads)
            return current["tree"]

        return Trial(run=run)

    return setup


def torch_step(layout: str, implementation: str):
    def setup(params: Mapping[str, Any]) -> Trial:
        import torch

        generator = torch.Generator().manual_seed(0)
        tensors = [
            (0.1 * torch.randn(shape, generator=generator)).requires_grad_(True)
            for shape in _layout_shapes(params, layout)
        ]
        for tensor in tensors:
            tensor.grad = torch.randn(tensor.shape, generator=generator)
        opt = torch.optim.Adam(tensors, lr=LR, **{implementation: True})

        def run() -> Any:
            opt.step()
            return tensors[0]

        return Trial(run=run)

    return setup


def _adam() -> Any:
    import jaxmath

    return jaxmath.optim.Adam(lr=LR)


def _adamw() -> Any:
    import jaxmath

    return jaxmath.optim.AdamW(lr=LR, weight_decay=WEIGHT_DECAY)


def _optax_adam() -> Any:
    import optax

    return optax.adam(LR)


def _optax_adamw() -> Any:
    import optax

    return optax.adamw(LR, weight_decay=WEIGHT_DECAY)


def _contenders(layout: str) -> tuple[Contender, ...]:
    label = "1 array" if layout == "array" else "100 arrays"
    rows = [
        Contender(f"jaxmath Adam [{label}]", jax_step(_adam, layout), ours=True),
        Contender(f"jaxmath AdamW [{label}]", jax_step(_adamw, layout), ours=True),
        Contender(f"optax.adam [{label}]", jax_step(_optax_adam, layout)),
        Contender(f"optax.adamw [{label}]", jax_step(_optax_adamw, layout)),
        Contender(f"torch Adam foreach [{label}]", torch_step(layout, "foreach")),
        Contender(f"torch Adam fused [{label}]", torch_step(layout, "fused")),
    ]
    if layout == "array":
        rows.insert(
            4,
            Contender(
                "optax.adam undonated [1 array]", jax_step(_optax_adam, "array", donate=False)
            ),
        )
    else:
        rows.append(
            Contender(
                "jaxmath Adam [100 arrays, flat state]",
                jax_step(_adam, "tree", flat=True),
                ours=True,
            )
        )
    return tuple(rows)


def _work(params: Mapping[str, Any]) -> dict[str, float]:
    return {"bytes": float(BYTES_PER_PARAMETER * params["parameters"]), "flops": 0.0}


def _benchmark(name: str, layout: str, description: str) -> Benchmark:
    return Benchmark(
        name=name,
        description=description,
        contenders=_contenders(layout),
        params=lambda quick: dict(QUICK if quick else FULL),
        work=_work,
        floor_ms=lambda params, limits: (
            _work(params)["bytes"] / (limits["stream_gb_per_s"] * 1e9) * 1e3
        ),
        floor_note="read p, g, m, v and write p, m, v (28 bytes per parameter) at the stream bandwidth",
        isolation="process",
        rounds=5,
        iterations_per_round=8,
    )


#: Two comparisons, so that "vs best peer" compares within a layout: ``python -m benchmarks optim``
#: runs both (the module's name), ``optim_pytree`` just the second.
BENCHMARKS = (
    _benchmark(
        "optim", "array", "one Adam/AdamW step (update + apply) on 10M float32 params, 1 array"
    ),
    _benchmark(
        "optim_pytree",
        "tree",
        "one Adam/AdamW step (update + apply) on 10M float32 params as 100 arrays of mixed sizes",
    ),
)
