"""One optimizer step on 10M float32 parameters, for every optimizer of jaxmath.optim: jaxmath vs
torch.optim (foreach, fused where torch has a fused kernel) vs optax (where optax has the same rule).

One iteration is the optimizer step of a training loop on given gradients: ``update`` +
``apply_updates`` under one ``jax.jit`` with the params and the optimizer state donated (their
buffers are updated in place, as torch's in-place step does); torch's ``opt.step()`` on ``.grad``s
already in place.

Benchmarks (one per optimizer, so that "vs best peer" compares implementations of one rule):

- ``optim``: Adam on one (10M,) array; ``optim_adamw``, ``optim_sgd``, ``optim_rmsprop``, ... one per
  gradient transformation in ``jaxmath.optim.__all__`` (the list is derived from ``__all__``: a new
  optimizer joins when it lands; ``LBFGS`` is not a gradient transformation and is left out). Muon
  only takes 2-D parameters: its layout is one (128, 78125) matrix (10M entries, thin so that the
  Newton-Schulz matmuls, 4 m^2 n + 2 m^3 flops per iteration for m x n, stay affordable on a CPU).
- ``optim_pytree``: Adam on a pytree of 100 arrays of mixed sizes (40 matrices of ~0.25M entries, 60
  vectors of 1k-4k: a small transformer's mix), the case torch's fused kernel was written for, plus
  ``jaxmath Adam [100 arrays, flat state]`` (the pytree raveled into one vector, as a training loop
  that keeps its params flat would run it).

Hyperparameters: each optimizer's torch defaults (the same in jaxmath), except SGD with momentum 0.9
(plain SGD is one axpy) and AdamW/Adam as torch's defaults; see ``OPTIONS``.

Contenders: ``jaxmath.optim.<Name>(**options)``; ``torch.optim.<Name>(foreach=True)`` (torch's
multi-tensor path; Muon has none: torch raises for foreach=True, so its row is the single-tensor
path); ``torch.optim.<Name>(fused=True)`` for the optimizers with a fused CPU kernel in torch 2.13
(``FUSED``: SGD, Adam, AdamW, Adagrad); optax where the rule is the same (``OPTAX``: sgd, adam,
adamw, rmsprop, adagrad, adadelta, adamax, radam; not nadam: optax's mu is constant; the notes there
say where eps sits when it differs, which changes no memory traffic); and optax.adam undonated (a
fresh output buffer every step) in ``optim``. All contenders step the same numbers: params
``0.1 * N(0, 1)`` and gradients ``N(0, 1)`` from numpy's generator (tests/test_optim_benchmark.py
checks that the contenders of one benchmark compute the same step).

Floor: an elementwise optimizer reads p, g and its S params-shaped state arrays and writes p and
them: (3 + 2 S) x 4 bytes per parameter (Adam: S = 2, 28 bytes; SGD with momentum: S = 1, 20 bytes),
at the streaming bandwidth measured in the run; Muon's floor is its Newton-Schulz flops at the
measured matmul rate. S is read from jaxmath's state (``jax.eval_shape``, nothing allocated).

CPU time: every timed step also records its process's CPU time (user + system, all threads), a
second opinion on a loaded machine (wall time waits for the other engineers' processes; a step's CPU
time mostly does not). The quality columns of the JAX rows are :func:`hlo_traffic`: the kernels XLA
compiled and the bytes they move per parameter (Adam: 40; torch's fused kernel makes one pass, 28).

Isolation: each contender runs in its own worker process (``isolation="process"``), alternating, so
torch's and JAX's thread pools and allocators never share a process (in one process, JAX's steps were
measured slower after torch's turns in the backprop benchmark). Workers of one benchmark start
together; one benchmark at a time keeps memory to a few workers of ~0.5 GB.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from benchmarks._harness import Benchmark, Contender, Trial

FULL = {"parameters": 10_000_000, "leaves": 100}
QUICK = {"parameters": 20_000, "leaves": 10}
#: Muon's (rows, columns) at each size: 2-D, the same 10M (20k quick) entries.
MATRIX = {False: (128, 78_125), True: (16, 1_250)}

#: The benchmarked configuration per optimizer (jaxmath's and torch's keyword arguments are the
#: same); an optimizer not listed runs with its defaults.
OPTIONS: dict[str, dict[str, Any]] = {
    "SGD": {"lr": 1e-3, "momentum": 0.9},
    "Adam": {"lr": 1e-3},
    "AdamW": {"lr": 1e-3, "weight_decay": 1e-2},
}
#: torch 2.13's optimizers with a fused CPU kernel (``fused=True``; tests check the signatures).
FUSED = ("SGD", "Adam", "AdamW", "Adagrad")
#: torch optimizers without a foreach path (torch raises for ``foreach=True``).
NO_FOREACH = ("Muon",)
#: Optimizers taking only 2-D parameters.
MATRIX_ONLY = ("Muon",)


@dataclasses.dataclass(frozen=True)
class OptaxPeer:
    """optax's version of a rule: ``make()`` builds it; ``note`` says how it maps onto torch's
    numbers; ``rtol``: how close its step is to torch's (tests/test_optim_benchmark.py)."""

    make: Callable[[], Any]
    note: str
    rtol: float = 1e-5


def _optax(name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        import optax

        return getattr(optax, name)(*args, **kwargs)

    return make


OPTAX: dict[str, OptaxPeer] = {
    "SGD": OptaxPeer(_optax("sgd", 1e-3, momentum=0.9), "same rule (dampening 0)"),
    "Adam": OptaxPeer(_optax("adam", 1e-3), "same rule"),
    "AdamW": OptaxPeer(_optax("adamw", 1e-3, weight_decay=1e-2), "same rule (wd given: 1e-4)"),
    "RMSprop": OptaxPeer(
        _optax("rmsprop", 1e-2, decay=0.99, eps=1e-8, eps_in_sqrt=False), "same rule"
    ),
    "Adagrad": OptaxPeer(
        _optax("adagrad", 1e-2, initial_accumulator_value=0.0, eps=1e-10),
        "eps inside the root (torch: outside)",
        rtol=1e-3,
    ),
    "Adadelta": OptaxPeer(_optax("adadelta", 1.0, rho=0.9, eps=1e-6), "same rule"),
    "Adamax": OptaxPeer(_optax("adamax", 2e-3, b1=0.9, b2=0.999, eps=1e-8), "same rule"),
    "RAdam": OptaxPeer(
        _optax("radam", 1e-3, b1=0.9, b2=0.999, eps=1e-8),
        "eps added to sqrt(v / (1 - b2^t)) (torch: to sqrt(v))",
        rtol=1e-3,
    ),
}


def gradient_transformations() -> tuple[str, ...]:
    """The names in ``jaxmath.optim.__all__`` whose default instance is an optax
    ``GradientTransformation`` (the optimizers; states, helpers and LBFGS are left out)."""
    import optax

    from jaxmath import optim

    names = []
    for name in optim.__all__:
        factory = getattr(optim, name)
        if not callable(factory) or isinstance(factory, type) or not name[0].isupper():
            continue
        try:
            instance = factory()
        except TypeError:  # needs arguments: not a plain optimizer factory
            continue
        if isinstance(instance, optax.GradientTransformation):
            names.append(name)
    return tuple(sorted(names, key=lambda n: (n != "Adam", n != "AdamW", n)))


#: The benchmarked names, computed once by the parent process and handed to its worker processes
#: through the environment (spawned workers inherit it), so that a torch worker does not import JAX
#: and jaxmath just to learn which benchmarks the module defines (~1.3 s of CPU per worker).
NAMES_VARIABLE = "JAXMATH_BENCHMARKED_OPTIMIZERS"


def benchmarked_names() -> tuple[str, ...]:
    """:func:`gradient_transformations`, cached in the environment for the worker processes."""
    cached = os.environ.get(NAMES_VARIABLE)
    if cached is not None:
        return tuple(name for name in cached.split(",") if name)
    names = gradient_transformations()
    os.environ[NAMES_VARIABLE] = ",".join(names)
    return names


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


def layout_shapes(params: Mapping[str, Any], layout: str) -> list[tuple[int, ...]]:
    """The leaf shapes of a layout: ``array`` (one vector), ``matrix`` (one 2-D array), ``tree``."""
    if layout == "array":
        return [(params["parameters"],)]
    if layout == "matrix":
        return [tuple(params["shape"])]
    return leaf_shapes(params["parameters"], params["leaves"])


def numpy_leaves(shapes: list[tuple[int, ...]]) -> tuple[list[Any], list[Any]]:
    """(params, grads) as float32 numpy arrays, the same for every contender: 0.1 N(0,1), N(0,1)."""
    import numpy as np

    rng = np.random.default_rng(0)
    params = [0.1 * rng.standard_normal(shape, np.float32) for shape in shapes]
    grads = [rng.standard_normal(shape, np.float32) for shape in shapes]
    return params, grads


def hlo_traffic(compiled_text: str, parameters: int) -> dict[str, float]:
    """What XLA compiled, read from ``compiled.as_text()``: the number of kernels (fusions and
    copies) in the entry computation and the bytes they move per parameter (each kernel reads its
    array operands once and writes its output once: XLA:CPU's loop fusions do), e.g. Adam's three
    loop fusions m' = f(m, g), v' = f(v, g), p' = f(p, m', v') move 12 + 12 + 16 = 40 bytes per
    parameter where one pass (torch's fused kernel) moves 28."""
    entry = compiled_text[compiled_text.index("\nENTRY") :]
    sizes = {"f32": 4, "f64": 8, "s32": 4, "u32": 4, "bf16": 2, "f16": 2, "pred": 1, "s64": 8}
    shapes: dict[str, int] = {}
    kernels, moved = 0, 0
    for line in entry.splitlines():
        match = re.match(r"\s*(?:ROOT )?(%[\w.\-]+) = (\w+)\[([\d,]*)\]\S* (\S+?)\((.*)", line)
        if match is None:
            continue
        name, dtype, dims, opcode, rest = match.groups()
        size = sizes.get(dtype, 4) * math.prod(int(d) for d in dims.split(",") if d)
        shapes[name] = size
        if opcode in ("fusion", "copy"):
            kernels += 1
            operands = re.findall(r"%[\w.\-]+", rest.split(")")[0])
            moved += size + sum(shapes.get(operand, 0) for operand in operands)
    return {"kernels": float(kernels), "bytes/param": moved / parameters}


def even_sizes(leaves: list[Any]) -> list[Any]:
    """The leaves with an odd number of entries cut by their last entry (raveled): the diagnostic
    row of ``optim_pytree`` (see :data:`ODD_SIZE_NOTE`)."""
    return [leaf.reshape(-1)[: leaf.size - 1] if leaf.size % 2 else leaf for leaf in leaves]


#: Why the pytree's per-leaf step is slower than one array of the same size on XLA:CPU.
ODD_SIZE_NOTE = (
    "diagnostic: the same 100 leaves with the odd-sized ones cut by one entry (at full size 22 "
    "leaves, 48% of the entries, are odd-sized). XLA:CPU splits a large loop fusion into 2 partitions; when "
    "they differ in length (odd size) and the fusion reads a runtime scalar (the lr, the bias "
    "corrections), LLVM leaves the loop unvectorised (checked in the dumped IR: no <8 x float>), "
    "and Adam's p' = f(p, m', v') with its sqrt and division becomes compute-bound (about 2.2x "
    "slower on an odd 10M array). optax.adam compiles to the same fusions and pays the same."
)


def jax_step(
    opt_factory: Callable[[], Any],
    layout: str,
    donate: bool = True,
    flat: bool = False,
    even: bool = False,
):
    """A contender: ``opt.update`` + ``apply_updates`` jitted, params and state donated; ``flat``:
    the pytree raveled into one vector; ``even``: odd-sized leaves cut by one entry
    (:func:`even_sizes`). Its quality columns are :func:`hlo_traffic` of the compiled step."""

    def setup(params: Mapping[str, Any]) -> Trial:
        import jax
        import jax.numpy as jnp
        import optax
        from jax.flatten_util import ravel_pytree

        param_leaves, grad_leaves = numpy_leaves(layout_shapes(params, layout))
        if even:
            param_leaves, grad_leaves = even_sizes(param_leaves), even_sizes(grad_leaves)
        if layout == "tree":
            tree = {f"p{i:03d}": jnp.asarray(leaf) for i, leaf in enumerate(param_leaves)}
            grads = {f"p{i:03d}": jnp.asarray(leaf) for i, leaf in enumerate(grad_leaves)}
        else:
            tree, grads = jnp.asarray(param_leaves[0]), jnp.asarray(grad_leaves[0])
        del param_leaves, grad_leaves
        if flat:
            tree, grads = ravel_pytree(tree)[0], ravel_pytree(grads)[0]
        opt = opt_factory()
        state = opt.init(tree)

        def step(tree: Any, state: Any, grads: Any) -> tuple[Any, Any]:
            updates, state = opt.update(grads, state, tree)
            return optax.apply_updates(tree, updates), state

        jitted = jax.jit(step, donate_argnums=(0, 1) if donate else ())
        # what XLA compiled (an AOT compilation of the same step; the timed calls go through jit)
        compiled_text = jitted.lower(tree, state, grads).compile().as_text()
        entries = sum(int(leaf.size) for leaf in jax.tree.leaves(grads))
        current = {"tree": tree, "state": state}

        def run() -> Any:
            current["tree"], current["state"] = jitted(current["tree"], current["state"], grads)
            return current["tree"]

        return Trial(run=run, quality=hlo_traffic(compiled_text, entries))

    return setup


def torch_step(name: str, layout: str, implementation: str):
    """A contender: ``torch.optim.<name>(**OPTIONS, <implementation>=True).step()``;
    implementation ``single`` leaves torch's default (the single-tensor path where foreach is
    unsupported)."""

    def setup(params: Mapping[str, Any]) -> Trial:
        import torch

        param_leaves, grad_leaves = numpy_leaves(layout_shapes(params, layout))
        tensors = [torch.from_numpy(leaf).requires_grad_(True) for leaf in param_leaves]
        for tensor, grad in zip(tensors, grad_leaves, strict=True):
            tensor.grad = torch.from_numpy(grad)
        flag = {} if implementation == "single" else {implementation: True}
        opt = getattr(torch.optim, name)(tensors, **OPTIONS.get(name, {}), **flag)

        def run() -> Any:
            opt.step()
            return tensors[0]

        return Trial(run=run)

    return setup


def _jaxmath(name: str) -> Callable[[], Any]:
    def make() -> Any:
        from jaxmath import optim

        return getattr(optim, name)(**OPTIONS.get(name, {}))

    return make


def state_arrays(name: str, shape: tuple[int, ...]) -> int:
    """S: how many params-shaped arrays jaxmath's state holds (by size; factored states count
    their fraction), from ``jax.eval_shape`` (nothing allocated)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    size = int(np.prod(shape))
    state = jax.eval_shape(_jaxmath(name)().init, jax.ShapeDtypeStruct(shape, jnp.float32))
    entries = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(state))
    return round(entries / size)


def _work(name: str, layout: str) -> Callable[[Mapping[str, Any]], dict[str, float]]:
    def work(params: Mapping[str, Any]) -> dict[str, float]:
        shape = tuple(params["shape"]) if layout == "matrix" else (params["parameters"],)
        states = state_arrays(name, shape)
        flops = 0.0
        if name == "Muon":  # ns_steps Newton-Schulz iterations on the (m, n) update, m <= n
            rows, columns = sorted(shape)
            flops = 5.0 * (4.0 * rows * rows * columns + 2.0 * rows**3)
        return {"bytes": 4.0 * (3 + 2 * states) * params["parameters"], "flops": flops}

    return work


def _floor_ms(work: Callable[[Mapping[str, Any]], dict[str, float]]):
    def floor(params: Mapping[str, Any], limits: Mapping[str, float]) -> float:
        amounts = work(params)
        stream = amounts["bytes"] / (limits["stream_gb_per_s"] * 1e9)
        matmul = amounts["flops"] / (limits["matmul_gflop_per_s"] * 1e9)
        return max(stream, matmul) * 1e3

    return floor


def _optimizer_benchmark(name: str) -> Benchmark:
    layout = "matrix" if name in MATRIX_ONLY else "array"
    label = "1 matrix" if layout == "matrix" else "1 array"
    rows = [Contender(f"jaxmath {name} [{label}]", jax_step(_jaxmath(name), layout), ours=True)]
    if name in OPTAX:
        peer = OPTAX[name]
        rows.append(
            Contender(
                f"optax.{name.lower()} [{label}]", jax_step(peer.make, layout), note=peer.note
            )
        )
    if name == "Adam":
        rows.append(
            Contender(
                "optax.adam undonated [1 array]", jax_step(OPTAX["Adam"].make, layout, donate=False)
            )
        )
    if name in NO_FOREACH:
        rows.append(
            Contender(
                f"torch {name} single-tensor [{label}]",
                torch_step(name, layout, "single"),
                note="torch has no foreach path for this optimizer",
            )
        )
    else:
        rows.append(
            Contender(f"torch {name} foreach [{label}]", torch_step(name, layout, "foreach"))
        )
    if name in FUSED:
        rows.append(Contender(f"torch {name} fused [{label}]", torch_step(name, layout, "fused")))
    work = _work(name, layout)

    def sizes(quick: bool) -> dict[str, Any]:
        size = dict(QUICK if quick else FULL)
        size.pop("leaves")
        if layout == "matrix":
            size["shape"] = MATRIX[quick]
            size["parameters"] = MATRIX[quick][0] * MATRIX[quick][1]
        return size

    matmul_bound = name == "Muon"
    return Benchmark(
        name="optim" if name == "Adam" else f"optim_{name.lower()}",
        description=f"one {name} step (update + apply) on 10M float32 params, {label}",
        contenders=tuple(rows),
        params=sizes,
        work=work,
        floor_ms=_floor_ms(work),
        floor_note=(
            "Newton-Schulz flops at the matmul rate"
            if matmul_bound
            else "read p, g, state and write p, state (4 bytes each) at the stream bandwidth"
        ),
        isolation="process",
        cpu_time=True,
        warmup=1 if matmul_bound else 2,
        rounds=2 if matmul_bound else 3,
        iterations_per_round=2 if matmul_bound else 5,
    )


def _pytree_benchmark() -> Benchmark:
    label = "100 arrays"
    work = _work("Adam", "array")
    return Benchmark(
        name="optim_pytree",
        description="one Adam/AdamW step (update + apply) on 10M float32 params as 100 arrays of "
        "mixed sizes",
        contenders=(
            Contender(f"jaxmath Adam [{label}]", jax_step(_jaxmath("Adam"), "tree"), ours=True),
            Contender(f"jaxmath AdamW [{label}]", jax_step(_jaxmath("AdamW"), "tree"), ours=True),
            Contender(f"optax.adam [{label}]", jax_step(OPTAX["Adam"].make, "tree")),
            Contender(f"optax.adamw [{label}]", jax_step(OPTAX["AdamW"].make, "tree")),
            Contender(f"torch Adam foreach [{label}]", torch_step("Adam", "tree", "foreach")),
            Contender(f"torch Adam fused [{label}]", torch_step("Adam", "tree", "fused")),
            Contender(
                f"jaxmath Adam [{label}, flat state]",
                jax_step(_jaxmath("Adam"), "tree", flat=True),
                ours=True,
            ),
            Contender(
                f"jaxmath Adam [{label}, odd sizes cut to even]",
                jax_step(_jaxmath("Adam"), "tree", even=True),
                ours=True,
                note=ODD_SIZE_NOTE,
            ),
        ),
        params=lambda quick: dict(QUICK if quick else FULL),
        work=work,
        floor_ms=_floor_ms(work),
        floor_note="read p, g, m, v and write p, m, v (28 bytes per parameter) at the stream "
        "bandwidth",
        isolation="process",
        cpu_time=True,
        rounds=3,
        iterations_per_round=6,
    )


#: One benchmark per optimizer (``optim`` is Adam), then the pytree: ``python -m benchmarks optim``
#: runs them all, ``python -m benchmarks optim_sgd`` one.
BENCHMARKS = (
    *(_optimizer_benchmark(name) for name in benchmarked_names()),
    _pytree_benchmark(),
)
