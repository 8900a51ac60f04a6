"""Cross-entropy value and gradient at a language model's vocabulary.

logits (2048, 32000) float32 (262 MB) with integer targets, mean reduction; one iteration computes the
loss and its gradient with respect to the logits:

- ``jaxmath``: ``jax.jit(jax.value_and_grad(jaxmath.cross_entropy_loss))`` (its fused custom VJP: the
  forward keeps ``e = exp(x - max)`` as the residual, the backward reads ``e``, not the logits, with no
  second exponential; compiled, that is 4 passes over (N, C): max(x); e = exp(x - m) written and
  summed; grad = e * scale - onehot written. XLA's CPU reduce fusion does not fuse the exponential
  into the sum, so the formulation that recomputes exp in the backward materialised ``x - m``
  anyway and was slower (188-214 ms against optax's 131-164 in the previous measurement).
- ``jaxmath, donated``: the same jit with ``donate_argnums=0``.
- ``optax``: ``optax.softmax_cross_entropy_with_integer_labels(logits, target).mean()`` under the same
  ``jit(value_and_grad)``, undonated and donated.
- ``torch.nn.functional.cross_entropy``: eager forward, then ``.backward()`` (autograd), on CUDA when
  torch sees a GPU.

Donation. The gradient has the logits' shape and dtype, and in a training step the logits are dead once
the loss is taken, so donating them costs the user nothing and lets XLA write the gradient into their
buffer instead of a fresh 262 MB allocation. The gain: one (N, C) buffer fewer at the peak (on a GPU,
262 MB of memory back), and on a CPU none of the page faults of first touching fresh memory (about
60 ms for 262 MB on this machine; ``x * 2`` into a new array: 65 ms). It needs XLA to do the write in
place: if anything reads the logits outside the chain that leads to the gradient (a gather of the target
logit, say), XLA's CPU backend copies the donated buffer first, and donating then costs that copy
instead; the donated rows show which happened. jaxmath's forward takes the row max as
``max(max(x), x[target])`` (the same number, the target logit being one of the row's) so that every
later read of the logits depends on the gather: the compiled donated step has no copy of the logits
(optax's donated step and our previous formulation's each have one, read in their compiled HLO).
A donated array cannot be used again, so every timed call
gets fresh logits: ``donating_trial`` copies them (``jnp.copy``, waited on) in the trial's ``prepare``,
outside the timer, which also keeps the copy's page faults outside the timer, as a training step's
logits arrive already written by the output layer.

Floor: the fastest of 10 in-place ``exp`` passes over a donated copy of the logits (timed in this
run, same shapes): one read of each logit, one exponential, one write, which any exact cross-entropy
gradient needs at least (every class's probability is an exponential, and the gradient is written
once). 13.0 ms under ``chrt`` at 22:05 UTC; ``x + 1`` in place 7.0 ms, so on this CPU the exponential,
not memory, sets it. (Until 1 Dec 2026 the floor was a ``jax.nn.logsumexp`` pass plus a write at
stream bandwidth: 26.8 ms for the logsumexp alone, whose exponential inside YNNPACK's reduction is
slower than XLA's loop fusion, so the donated step, 27.9 ms in one run, read 114% of that "floor".)

Second opinion (``cpu_time=True``): every timed call also records its process's CPU time (user +
system, all threads; the total is exact, the user/system split is sampled at the scheduler tick)
and its minor page faults; the table shows their medians per call. On a machine shared with other
work, wall time measures the scheduler, CPU time the code, and the faults show where the undonated
rows' time goes. Both undonated rows compile to the same four passes (max; exp written into the
fresh output and summed; the gradient written in place over it, optax adding the one-hot term by a
scatter after it) and allocate exactly one logits-sized buffer, the output (XLA's buffer
assignment: no logits-sized temporary in either): 64,001 faults on every call of each (262 MB of
4 KB pages; the same in every position of the rotation), about half of their ~177 CPU ms in the
kernel. On 2 cores under ``chrt -f 10`` (1 Dec 2026, load 8-16 from other work): one process per
contender, alternated, jaxmath 92.1, 92.4 ms (182, 181 CPU ms) vs optax 91.0, 93.6 (180, 179); this
benchmark, jaxmath 92.7 ms (177.4 CPU ms) vs optax 89.4 (176.1) and 100.0 (183.3) vs 99.8 (181.0).
They share this page-fault floor: CPU time equal within 1-2% in every measurement (22:10 UTC:
94.2 ms, 184.9 CPU ms vs 93.8, 186.3); an earlier 1.07x wall-time reading (117.0 vs 108.9 ms) was
not reproduced. (With ``chrt``, the kernel's real-time throttling stops the process for up to 50 ms
once per second: the odd +40-50 ms sample with no extra CPU time.)

Huge pages (the second benchmark, ``losses_hugepages``): the same contenders with glibc's
``glibc.malloc.hugetlb=1`` tunable in their workers, so that malloc asks for transparent huge pages
(``madvise``) on its large mappings (this kernel's THP mode is ``madvise``; glibc maps every
allocation over 32 MB afresh and unmaps it when freed: ``MALLOC_MMAP_MAX_=0`` with a 4 GB trim
threshold still gave 64,001 faults): the fresh gradient then costs 637 faults instead and both
undonated rows drop to about half (jaxmath 48.7 ms, 96.7 CPU ms vs optax 49.1, 96.8; jaxmath
donated 36.1, optax donated 56.2, torch 80.5). Most of donation's gain on a CPU is the 4 KB
first-touch faults it avoids: with huge pages the donated row is 1.35x faster than optax's faster
row, not 2.5x. A process-wide allocator setting is the user's choice, not a library's: jaxmath sets
none.

Isolation: each contender runs in its own worker process (``isolation="process"``), alternating:
interleaved in one process, an allocation-heavy contender was measured slowing optax's cross-entropy
from 95 to 150 ms (the allocator's state and the cache carry over from one contender to the next).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

from benchmarks._harness import Benchmark, Contender, Trial, best_time_ms, block, donating_trial

FULL = {"batch": 2048, "classes": 32000}
QUICK = {"batch": 64, "classes": 1000}


def _inputs(params: Mapping[str, Any]) -> tuple[Any, Any]:
    """Standard-normal logits (batch, classes) float32 and uniform int32 targets, on JAX's device."""
    import jax
    import jax.numpy as jnp

    key_logits, key_target = jax.random.split(jax.random.PRNGKey(0))
    logits = jax.random.normal(key_logits, (params["batch"], params["classes"]), jnp.float32)
    target = jax.random.randint(key_target, (params["batch"],), 0, params["classes"])
    return logits, target


def _jaxmath_loss(logits: Any, target: Any) -> Any:
    import jaxmath

    return jaxmath.cross_entropy_loss(logits, target)


def _optax_loss(logits: Any, target: Any) -> Any:
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(logits, target).mean()


def _jax_setup(loss: Callable[[Any, Any], Any], donate: bool) -> Callable[[Mapping], Any]:
    """``setup`` for ``jit(value_and_grad(loss))``, the logits donated or not."""

    def setup(params: Mapping[str, Any]) -> Trial | Callable[[], Any]:
        import jax
        import jax.numpy as jnp

        logits, target = _inputs(params)
        step = jax.jit(jax.value_and_grad(loss), donate_argnums=(0,) if donate else ())
        if donate:
            return donating_trial(step, lambda: (jnp.copy(logits), target))
        return lambda: step(logits, target)

    return setup


def _torch_setup(params: Mapping[str, Any]) -> Trial:
    import numpy as np
    import torch
    import torch.nn.functional as F

    device = "cuda" if torch.cuda.is_available() else "cpu"
    logits, target = (torch.from_numpy(np.array(array)).to(device) for array in _inputs(params))
    logits.requires_grad_(True)
    target = target.long()

    def prepare() -> None:
        logits.grad = None  # as optimizer.zero_grad(): each backward allocates a fresh gradient

    def run() -> Any:
        loss = F.cross_entropy(logits, target)
        loss.backward()
        return loss

    return Trial(run=run, prepare=prepare)


def _params(quick: bool) -> dict[str, Any]:
    return dict(QUICK if quick else FULL)


def _work(params: Mapping[str, Any]) -> dict[str, float]:
    """Bytes of a two-pass implementation: the logits read twice (forward, backward), gradient written."""
    logits_bytes = 4.0 * params["batch"] * params["classes"]
    return {"bytes": 3 * logits_bytes}


def _floor_ms(params: Mapping[str, Any], limits: Mapping[str, float]) -> float:
    """Best of 10 in-place ``exp`` passes over the logits (a fresh donated copy each, made outside
    the timer): one read, one exponential and one write per element."""
    import jax
    import jax.numpy as jnp

    logits, _ = _inputs(params)
    exp_in_place = jax.jit(jnp.exp, donate_argnums=0)
    pending: list[Any] = []
    prepare = lambda: pending.append(block(jnp.copy(logits)))  # noqa: E731
    return best_time_ms(lambda: exp_in_place(pending.pop()), 10, prepare)


BENCHMARK = Benchmark(
    name="losses",
    description="cross-entropy value and gradient, logits (2048, 32000) float32, integer targets",
    contenders=(
        Contender("jaxmath", _jax_setup(_jaxmath_loss, False), ours=True),
        Contender("jaxmath, donated", _jax_setup(_jaxmath_loss, True), ours=True),
        Contender("optax", _jax_setup(_optax_loss, donate=False)),
        Contender("optax, donated", _jax_setup(_optax_loss, donate=True)),
        Contender(
            "torch.nn.functional.cross_entropy",
            _torch_setup,
            note="eager, autograd",
        ),
    ),
    params=_params,
    work=_work,
    floor_ms=_floor_ms,
    floor_note="a timed in-place exp over the logits: one read, one exponential, one write each",
    isolation="process",
    cpu_time=True,
)

# glibc >= 2.35 reads it at process start; other C libraries ignore it (the faults column tells)
HUGE_PAGES = "glibc.malloc.hugetlb=1"
_TUNABLES = ":".join(filter(None, (os.environ.get("GLIBC_TUNABLES"), HUGE_PAGES)))

BENCHMARKS = (
    dataclasses.replace(
        BENCHMARK,
        name="losses_hugepages",
        description=BENCHMARK.description + "; malloc asks for transparent huge pages",
        worker_environment={"GLIBC_TUNABLES": _TUNABLES},
    ),
)
