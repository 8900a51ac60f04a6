"""Loss-surface grids and Hessian estimators: jaxmath vs per-point loops vs PyHessian's algorithms.

**Grid** (``landscape``): the loss of a 64-256-256-10 ReLU MLP
(84,490 parameters) on 2,000 samples (float32, cross-entropy) at every point of a 41 x 41 grid
``theta + a d1 + b d2``:

- ``jaxmath.loss_surface_2d``: one jitted program, ``lax.map`` over the points in chunks of
  ``default_chunk_size()`` (1 on CPU; two chunks per step on CPU, evaluated as independent copies
  that XLA's CPU runtime overlaps), ``shard_map`` over the devices; the loss's point-independent
  parts computed once before the loop (``landscape.HOIST_PRODUCTS``): the first layer's
  ``x (W + a D1 + b D2)`` becomes ``x W + a x D1 + b x D2`` with the three products made once;
- ``jax.jit per point``: a Python loop calling a jitted ``loss(theta + a d1 + b d2)`` per point
  (what one writes first in JAX), results stacked at the end;
- ``torch no_grad loop``: the original ``plot_surface.py`` way, a Python loop setting the weights and
  running the forward pass under ``torch.no_grad``.

Work: 2 N sum(n_in n_out) FLOPs per point (the matmuls; 568 GFLOP for the whole grid), against the
float32 matmul rate measured in the same run; the floor is that work at that rate. That is the work
of evaluating every point as written, which the two loops do; jaxmath, by taking the first layer's
products with the data out of the loop, performs 458 GFLOP of it (its quality ``gflop_performed``),
so its GFLOP/s and %matmul columns are effective rates (the direct evaluation's work over its
time) and can pass 100%; its rate on the FLOPs it performs is ``gflop_performed`` over its time.

Second opinion, robust to other load on the machine (``cpu_time=True``: the harness records each
timed grid's CPU time, user + system over every thread of its worker): the CPU ms per grid and the
grid's FLOPs per CPU-second as a fraction of the matmul probe's per-CPU-second rate (the
``%matmul/CPU`` column). On a shared machine wall time measures the scheduler: under a load
average of 15-20 on 2 cores a process with 4 busy threads (the per-point loop, whose asynchronous
dispatch overlaps two points) gets more of the CPUs than one with 3, and the wall-time ranking
followed the thread counts while the CPU-time rates were within 5% of each other.

Conditions: every contender runs its grid once in setup (compiling, warming thread pools and
allocators) and is then timed in 3 alternating rounds; the harness sets ``OMP_WAIT_POLICY=PASSIVE``
(see ``benchmarks/__init__.py``), which only torch's OpenMP pool reads; torch uses its default
thread count (one per core), and its allocator is warmed so that the loop's activations come
without page faults (see ``_torch_loop``: a fresh process's loop is ~30% slower). The matmul
probe (best of 10 2048^3 ``jnp.dot``) sits at this 2-core machine's peak (~190-214 GFLOP/s = 2
cores x 32 FLOP/cycle x ~3.1-3.3 GHz), so evaluating the 568 GFLOP as written cannot take under
~2.7-2.9 s, and 2x a torch loop at ~5.3 s needs the hoisting above.

What limits the vs-torch ratio (measured in-process, paired alternating rounds): 2x a 5.0-5.3 s
torch loop needs the 458 GFLOP jaxmath performs at 90-95% of the probe's rate, and about 85% of
a point's time is already the 2000x256x256 product with that point's weights (at the probe's
rate; YNNPACK repacks the new weights each point: 0.93x with fixed ones). The rest is
elementwise passes over (2000, 256) arrays (the first layer's ``relu(P0 + a P1 + b P2)``,
bias + ReLU), the N=10 product and the cross-entropy's small kernels (removing the
cross-entropy entirely: 0.96-0.97x). Tried without a gain beyond noise: points of a row sharing
``P0 + a P1`` (~0.99x, 40 paired rounds), XLA:CPU without YNNPACK fusions (0.95-1.0x on the
grid, but its dots are 16% slower alone), YNNPACK's elementwise fusion (1.03-1.06x, slower),
1 instead of 2 streams (0.94-1.06x with the machine's state). Fast-period ratio 1.90-1.96x;
in slow periods (memory contention) the JAX contenders lose 45-60%, the torch loop 25-35%. On
2026-12-02 04:30-04:40 UTC the state was the reverse (torch's loop 5.4-6.4 s, ours 2.69-2.94 s):
2.01-2.26x in five runs. A diagnostic of the same period (the grid's loop doing only the products
with each point's weights, on a fixed left operand) took 82-88% of the grid's time, so
what is left to shrink is the first layer's relu(P0 + a P1 + b P2) (three 2 MB reads per point,
~146 us of a ~1.6 ms point alone) and the small kernels after the product.

**Hessian** (``landscape_hessian``; ``python -m benchmarks landscape`` runs both benchmarks of this
module, ``python -m benchmarks landscape_hessian`` this one alone): the same model at equal
Hessian-vector-product budgets (20 matvecs); each eigen-solver also reports the relative residual
``||H v - lambda v|| / |lambda|`` of its top eigenpair (its quality column):

- ``jaxmath.hessian_eigs`` (k=5, Lanczos, 20 steps) vs PyHessian's ``hessian.eigenvalues``
  (power iteration with deflation, top_n=5, 4 iterations each), written here in torch as PyHessian
  does it: one ``loss.backward(create_graph=True)``, then ``torch.autograd.grad`` of the gradient
  per product;
- ``jaxmath.hessian_trace`` (Hutchinson, 20 probes) vs PyHessian's ``hessian.trace`` (20 probes).

Each contender runs in its own worker process (isolation="process"): JAX's and torch's thread pools
slow each other when interleaved in one process (see benchmarks/backprop.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from benchmarks._harness import Benchmark, Contender, Trial, block

SIZES = (64, 256, 256, 10)
SAMPLES = 2000
GRID = 41
HESSIAN_MATVECS = 20


def _grid_params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"sizes": (8, 16, 16, 4), "samples": 64, "grid": 5}
    return {"sizes": SIZES, "samples": SAMPLES, "grid": GRID}


def _flops_per_point(params: Mapping[str, Any]) -> float:
    return 2.0 * params["samples"] * sum(a * b for a, b in itertools.pairwise(params["sizes"]))


def _grid_work(params: Mapping[str, Any]) -> dict[str, float]:
    return {"flops": _flops_per_point(params) * params["grid"] ** 2, "bytes": 0.0}


def _hoisted_gflop(params: Mapping[str, Any]) -> float:
    """The matmul FLOPs jaxmath performs: the first layer's products x W, x D1, x D2 once, the
    other layers at every point."""
    sizes, samples = params["sizes"], params["samples"]
    first = 2.0 * samples * sizes[0] * sizes[1]
    return (3 * first + (_flops_per_point(params) - first) * params["grid"] ** 2) / 1e9


def _jax_problem(params: Mapping[str, Any]) -> tuple[Any, ...]:
    """Params, data, the loss closure and two filter-normalized directions, all float32."""
    import jax

    import jaxmath
    from jaxmath import landscape

    key_params, key_x, key_y, key_1, key_2 = jax.random.split(jax.random.PRNGKey(0), 5)
    sizes = params["sizes"]
    mlp = jaxmath.mlp_init(key_params, sizes)
    x = jax.random.normal(key_x, (params["samples"], sizes[0]))
    y = jax.random.randint(key_y, (params["samples"],), 0, sizes[-1])

    def loss(p: Any) -> Any:
        return jaxmath.cross_entropy_loss(jaxmath.mlp_forward(p, x)[0], y)

    d1 = landscape.random_direction(key_1, mlp)
    d2 = landscape.random_direction(key_2, mlp)
    return mlp, x, y, loss, d1, d2


def _coefficients(params: Mapping[str, Any]) -> Any:
    import numpy as np

    return np.linspace(-1.0, 1.0, params["grid"]).astype(np.float32)


def _jaxmath_grid(params: Mapping[str, Any]) -> Trial:
    from jaxmath import landscape

    mlp, _, _, loss, d1, d2 = _jax_problem(params)
    alphas = _coefficients(params)

    def run() -> Any:
        return landscape.loss_surface_2d(loss, mlp, d1, d2, alphas, alphas)

    block(run())  # compile and run once (untimed)
    quality = {"gflop_performed": _hoisted_gflop(params)} if landscape.HOIST_PRODUCTS else {}
    return Trial(run=run, quality=quality)


def _jit_per_point(params: Mapping[str, Any]) -> Trial:
    import jax
    import jax.numpy as jnp

    mlp, _, _, loss, d1, d2 = _jax_problem(params)
    alphas = [float(a) for a in _coefficients(params)]

    @jax.jit
    def point(a: Any, b: Any) -> Any:
        return loss(jax.tree.map(lambda p, u, v: p + a * u + b * v, mlp, d1, d2))

    point(0.0, 0.0).block_until_ready()

    def run() -> Any:
        return jnp.stack([point(a, b) for a in alphas for b in alphas]).reshape(len(alphas), -1)

    block(run())  # run once (untimed), as the others
    return Trial(run=run)


def _torch_problem(params: Mapping[str, Any]) -> tuple[Any, ...]:
    import numpy as np
    import torch

    mlp, x, y, _, d1, d2 = _jax_problem(params)

    def layers(tree: Any) -> list[tuple[Any, Any]]:
        return [
            (torch.from_numpy(np.array(layer["W"])), torch.from_numpy(np.array(layer["b"])))
            for layer in tree
        ]

    return (
        layers(mlp),
        layers(d1),
        layers(d2),
        torch.from_numpy(np.array(x)),
        torch.from_numpy(np.array(y)).long(),
    )


def _torch_loss(layers: list[tuple[Any, Any]], x: Any, y: Any) -> Any:
    import torch
    import torch.nn.functional as F

    hidden = x
    for index, (W, b) in enumerate(layers):
        hidden = torch.addmm(b, hidden, W)  # W stored (in, out), as jaxmath holds it
        if index < len(layers) - 1:
            hidden = torch.relu(hidden)
    return F.cross_entropy(hidden, y)


#: Bytes of a tensor allocated and freed before the torch loop is timed (see _torch_loop).
ALLOCATOR_WARMUP_BYTES = 16 << 20


def _torch_loop(params: Mapping[str, Any]) -> Trial:
    """The torch loop at its best: glibc's malloc serves blocks above its mmap threshold (128 KiB
    at start) with fresh mmap'd pages and raises the threshold to the size of an mmap'd block
    once it is freed. In a fresh process the loop's 2 MB activations then keep coming back from
    the kernel (~950 minor page faults per point, ~1 s of system time per 441 points, ~30% of
    the loop's time); any process that has freed a large block (a dataset, a checkpoint, a
    2048^3 matmul of JAX's, as this benchmark's own setup did by accident before) serves them
    from the heap without faults. So the setup frees a 16 MB tensor first: the comparison is
    with torch's faster state (the faults column shows it: ~0 per grid)."""
    import torch

    warmup = torch.empty(ALLOCATOR_WARMUP_BYTES, dtype=torch.uint8)
    del warmup  # freed: glibc's mmap threshold rises to 16 MB
    mlp, d1, d2, x, y = _torch_problem(params)
    alphas = [float(a) for a in _coefficients(params)]

    def run() -> Any:
        surface = torch.empty(len(alphas), len(alphas))
        with torch.no_grad():
            for i, a in enumerate(alphas):
                for j, b in enumerate(alphas):
                    moved = [
                        (W + a * U + b * V, c + a * u + b * v)
                        for (W, c), (U, u), (V, v) in zip(mlp, d1, d2, strict=True)
                    ]
                    surface[i, j] = _torch_loss(moved, x, y)
        return surface

    run()  # run once (untimed), as the others: torch's thread pool and allocator warmed up
    return Trial(run=run)


GRID_BENCHMARK = Benchmark(
    name="landscape",
    description=(
        "loss of a 64-256-256-10 ReLU MLP on 2,000 samples at 41 x 41 points theta + a d1 + b d2, "
        "float32"
    ),
    contenders=(
        Contender("jaxmath.loss_surface_2d", _jaxmath_grid, ours=True),
        Contender("jax.jit per point (Python loop)", _jit_per_point),
        Contender("torch no_grad loop (plot_surface.py)", _torch_loop),
    ),
    params=_grid_params,
    work=_grid_work,
    floor_ms=lambda params, limits: (
        _grid_work(params)["flops"] / (limits["matmul_gflop_per_s"] * 1e9) * 1e3
    ),
    floor_note="the grid's matmul FLOPs at the float32 matmul rate measured in this run",
    isolation="process",
    warmup=0,  # each setup already ran (and compiled) its contender once
    rounds=3,
    iterations_per_round=1,
    cpu_time=True,
)


# ------------------------------------------------------------------------------------------------
# Hessian estimators at equal matvecs
# ------------------------------------------------------------------------------------------------


def _hessian_params(quick: bool) -> dict[str, Any]:
    if quick:
        return {"sizes": (8, 16, 16, 4), "samples": 64, "grid": 2, "matvecs": 10}
    return {"sizes": SIZES, "samples": SAMPLES, "grid": 2, "matvecs": HESSIAN_MATVECS}


def _jaxmath_eigs(params: Mapping[str, Any]) -> Trial:
    import jax

    from jaxmath import landscape

    mlp, _, _, loss, _, _ = _jax_problem(params)
    key = jax.random.PRNGKey(1)

    def run() -> Any:
        # tol far below reach: exactly `matvecs` Lanczos steps, the budget the power method gets
        return landscape.hessian_eigs(key, loss, mlp, k=5, tol=1e-12, max_iter=params["matvecs"])

    result = run()
    top = jax.tree.map(lambda leaf: leaf[0], result.eigenvectors)
    value = float(result.eigenvalues[0])
    residual = jax.tree.map(lambda hv, v: hv - value * v, landscape.hvp(loss, mlp, top), top)
    norm = float(jax.numpy.sqrt(sum((leaf**2).sum() for leaf in jax.tree.leaves(residual))))
    return Trial(
        run=lambda: run().eigenvalues, quality={"top_relative_residual": norm / abs(value)}
    )


def _jaxmath_trace(params: Mapping[str, Any]) -> Trial:
    import jax

    from jaxmath import landscape

    mlp, _, _, loss, _, _ = _jax_problem(params)
    key = jax.random.PRNGKey(2)

    def run() -> Any:
        return landscape.hessian_trace(key, loss, mlp, n_samples=params["matvecs"]).estimate

    run()
    return Trial(run=run)


def _pyhessian_setup(params: Mapping[str, Any]) -> tuple[list[Any], tuple[Any, ...]]:
    """PyHessian's single-batch set-up: one backward with create_graph=True, gradients kept."""
    import torch

    mlp, _, _, x, y = _torch_problem(params)
    weights = [tensor.clone().requires_grad_(True) for layer in mlp for tensor in layer]
    pairs = list(zip(weights[::2], weights[1::2], strict=True))
    loss = _torch_loss(pairs, x, y)
    gradients = torch.autograd.grad(loss, weights, create_graph=True)
    return weights, gradients


def _pyhessian_product(weights: list[Any], gradients: tuple[Any, ...], v: list[Any]) -> list[Any]:
    import torch

    return list(torch.autograd.grad(gradients, weights, grad_outputs=v, retain_graph=True))


def _pyhessian_eigs(params: Mapping[str, Any]) -> Trial:
    """PyHessian's hessian.eigenvalues(maxIter, tol=0, top_n=5): matvecs / 5 iterations each."""
    import torch

    weights, gradients = _pyhessian_setup(params)
    generator = torch.Generator().manual_seed(0)
    iterations = params["matvecs"] // 5

    def dot(a: list[Any], b: list[Any]) -> Any:
        return sum(torch.sum(p * q) for p, q in zip(a, b, strict=True))

    def normalized(v: list[Any]) -> list[Any]:
        norm = torch.sqrt(dot(v, v))
        return [p / (norm + 1e-6) for p in v]

    def run() -> tuple[list[float], list[list[Any]]]:
        values, vectors = [], []
        for _ in range(5):
            v = normalized([torch.randn(w.shape, generator=generator) for w in weights])
            value = None
            for _ in range(iterations):
                for other in vectors:  # orthnormal(v, eigenvectors)
                    coefficient = dot(v, other)
                    v = [p - coefficient * q for p, q in zip(v, other, strict=True)]
                v = normalized(v)
                product = _pyhessian_product(weights, gradients, v)
                value = float(dot(product, v))
                v = normalized(product)
            values.append(value)
            vectors.append(v)
        return values, vectors

    values, vectors = run()
    top = max(range(5), key=lambda index: values[index])
    product = _pyhessian_product(weights, gradients, vectors[top])
    residual = torch.sqrt(
        sum(
            torch.sum((p - values[top] * q) ** 2)
            for p, q in zip(product, vectors[top], strict=True)
        )
    )
    return Trial(
        run=lambda: run()[0],
        quality={"top_relative_residual": float(residual) / abs(values[top])},
    )


def _pyhessian_trace(params: Mapping[str, Any]) -> Trial:
    """PyHessian's hessian.trace(maxIter=matvecs, tol=0): Rademacher probes, v^T H v each."""
    import torch

    weights, gradients = _pyhessian_setup(params)
    generator = torch.Generator().manual_seed(0)

    def run() -> Any:
        quadratic_forms = []
        for _ in range(params["matvecs"]):
            v = [
                torch.randint(0, 2, w.shape, generator=generator).to(w.dtype) * 2 - 1
                for w in weights
            ]
            product = _pyhessian_product(weights, gradients, v)
            quadratic_forms.append(
                float(sum(torch.sum(p * q) for p, q in zip(product, v, strict=True)))
            )
        return sum(quadratic_forms) / len(quadratic_forms)

    run()
    return Trial(run=run)


HESSIAN_BENCHMARK = Benchmark(
    name="landscape_hessian",
    description=(
        "top-5 Hessian eigenvalues and the Hessian trace of the same MLP at equal budgets of 20 "
        "Hessian-vector products, float32"
    ),
    contenders=(
        Contender("jaxmath.hessian_eigs (Lanczos, k=5)", _jaxmath_eigs, ours=True),
        Contender("PyHessian eigenvalues (power, top_n=5)", _pyhessian_eigs),
        Contender("jaxmath.hessian_trace (Hutchinson)", _jaxmath_trace, ours=True),
        Contender("PyHessian trace (Hutchinson)", _pyhessian_trace),
    ),
    params=_hessian_params,
    isolation="process",
    warmup=1,
    rounds=3,
    iterations_per_round=2,
)

#: Both benchmarks of this module: ``python -m benchmarks landscape`` runs them in turn.
BENCHMARKS = (GRID_BENCHMARK, HESSIAN_BENCHMARK)
