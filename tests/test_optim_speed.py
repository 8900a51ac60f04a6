"""What benchmarks/optim.py reports about the compiled optimizer steps: kernels and bytes moved per
parameter read from XLA's compiled HLO, and the odd-size diagnostic row's leaves."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from benchmarks import optim as bench
from jaxmath import optim


def _compiled_step(opt: optax.GradientTransformation, size: int) -> str:
    params, grads = jnp.ones((size,), jnp.float32), jnp.full((size,), 0.1, jnp.float32)
    state = opt.init(params)

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    jitted = jax.jit(step, donate_argnums=(0, 1))
    return jitted.lower(params, state, grads).compile().as_text()


@pytest.mark.parametrize(
    ("opt", "expected"),
    [
        # m' = f(m, g): 12, v' = f(v, g): 12, p' = f(p, m', v'): 16 bytes per parameter
        (optim.Adam(1e-3), 40.0),
        (optax.adam(1e-3), 40.0),
        (optim.AdamW(1e-3), 40.0),
        # buf' = f(buf, g): 12, p' = f(p, buf'): 12
        (optim.SGD(1e-3, momentum=0.9), 24.0),
    ],
)
def test_hlo_traffic_counts_the_bytes_of_the_compiled_fusions(opt, expected) -> None:
    size = 4096
    traffic = bench.hlo_traffic(_compiled_step(opt, size), size)
    # the scalar kernels (step count, bias corrections) add a few bytes in all
    assert traffic["bytes/param"] == pytest.approx(expected, abs=64 / size)
    assert traffic["kernels"] >= expected // 16


def test_hlo_traffic_sees_a_copy_as_a_read_and_a_write() -> None:
    x = jnp.ones((1000,), jnp.float32)
    text = jax.jit(lambda a: (a * 2.0, a)).lower(x).compile().as_text()
    # one fusion (read a, write 2a) and, the input being returned from an undonated call, a copy
    # of it into the output buffer (read a, write it): 2 kernels, 16 bytes per entry
    assert " copy(" in text
    assert bench.hlo_traffic(text, 1000) == {"kernels": 2.0, "bytes/param": 16.0}


def test_even_sizes_cuts_only_the_odd_leaves_and_keeps_their_first_entries() -> None:
    leaves = [np.arange(7.0).reshape(7, 1), np.arange(6.0).reshape(2, 3), np.arange(1.0)]
    cut = bench.even_sizes(leaves)
    assert [leaf.shape for leaf in cut] == [(6,), (2, 3), (0,)]
    np.testing.assert_array_equal(cut[0], np.arange(6.0))
    assert cut[1] is leaves[1]


def test_the_pytree_benchmark_has_the_odd_size_diagnostic_row() -> None:
    (pytree,) = [b for b in bench.BENCHMARKS if b.name == "optim_pytree"]
    rows = {c.name: c for c in pytree.contenders}
    row = rows["jaxmath Adam [100 arrays, odd sizes cut to even]"]
    assert row.note == bench.ODD_SIZE_NOTE and row.ours
    shapes = bench.leaf_shapes(bench.FULL["parameters"], bench.FULL["leaves"])
    odd = [int(np.prod(shape)) for shape in shapes if int(np.prod(shape)) % 2]
    # as the note says: 22 odd-sized leaves holding 48% of the entries
    assert len(odd) == 22
    assert round(100 * sum(odd) / bench.FULL["parameters"]) == 48
