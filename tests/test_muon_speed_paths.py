"""Muon's Newton-Schulz keeps every matmul a bfloat16 dot (float32 accumulation) when XLA:CPU
compiles it: the form of the dots is what makes jaxmath's Muon step faster than torch.optim.Muon's
on CPU (benchmarks/optim.py, optim_muon; /work/notes/muon.md).

Written as ``x @ x.T``, the Gram matrix gives XLA a transposed bfloat16 operand, which XLA:CPU
widens to float32 before the dot (a copy of the whole update and the float32 GEMM: 4.5x slower for
128 x 78125 than the bfloat16 dot); ``lax.dot_general`` contracting both operands' long axis stays
bfloat16. These tests read the compiled HLO, so they hold on any machine (no timing)."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmath import optim

COEFFICIENTS = (3.4445, -4.775, 2.0315)
#: "%name = type[dims]{layout} opcode(...)" and "name: type[dims]" (a computation's parameters).
DEFINITION = re.compile(r"%?([\w.\-]+) = ([a-z0-9]+)\[")
PARAMETER = re.compile(r"([\w.\-]+): ([a-z0-9]+)\[")
DOT = re.compile(r"= ([a-z0-9]+)\[[\d,]*\]\S* dot\(%([\w.\-]+), %([\w.\-]+)\)")


def compiled_cpu_hlo(function, *args: jax.Array) -> str:
    """The optimised HLO of ``function`` compiled for the CPU (which every jax install has)."""
    cpu = jax.devices("cpu")[0]
    args = tuple(jax.device_put(arg, cpu) for arg in args)
    return jax.jit(function).lower(*args).compile().as_text()


def dot_operand_types(hlo: str) -> list[tuple[str, str, str]]:
    """(result type, lhs type, rhs type) of every dot in ``hlo``, operands looked up by name among
    the instructions and the computations' parameters."""
    types: dict[str, str] = {}
    for line in hlo.splitlines():
        if "->" in line and "(" in line.split("->")[0]:  # a computation's header
            types.update(PARAMETER.findall(line.split("->")[0]))
        match = DEFINITION.search(line)
        if match:
            types[match.group(1)] = match.group(2)
    dots = []
    for line in hlo.splitlines():
        match = DOT.search(line)
        if match:
            result, lhs, rhs = match.groups()
            dots.append((result, types[lhs], types[rhs]))
    return dots


@pytest.mark.parametrize("shape", [(48, 1000), (1000, 48), (40, 40)])
def test_every_newton_schulz_dot_takes_bfloat16_operands(shape: tuple[int, int]) -> None:
    update = jnp.asarray(np.random.default_rng(0).normal(size=shape), jnp.float32)
    hlo = compiled_cpu_hlo(lambda u: optim.newton_schulz(u, COEFFICIENTS, 5, 1e-7), update)
    dots = dot_operand_types(hlo)
    # per iteration: the Gram matrix, its square, and the update's product (XLA may fuse the
    # small square into another dot's computation, never drop a large one)
    assert len(dots) >= 2 * 5, hlo
    for result, lhs, rhs in dots:
        assert (lhs, rhs) == ("bf16", "bf16"), f"a dot widened its operands: {lhs} x {rhs}"
        assert result == "f32", f"a dot accumulates in {result}, torch's bf16 GEMM in f32"


def test_the_transposed_gram_form_is_what_the_test_catches() -> None:
    """The check above can fail: ``matmul(x, x.T)`` on bfloat16 compiles to a float32 dot."""
    x = jnp.ones((48, 1000), jnp.bfloat16)
    hlo = compiled_cpu_hlo(lambda v: jnp.matmul(v, v.T, preferred_element_type=jnp.float32), x)
    (dot,) = dot_operand_types(hlo)
    assert dot[1:] != ("bf16", "bf16")


def test_a_muon_step_keeps_its_dots_bfloat16() -> None:
    """The same inside a whole jitted Muon step on float32 params (momentum, nesterov, decay)."""
    params = {"w": jnp.asarray(np.random.default_rng(1).normal(size=(32, 700)), jnp.float32)}
    opt = optim.Muon()

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    hlo = compiled_cpu_hlo(step, params, opt.init(params), params)
    dots = dot_operand_types(hlo)
    assert len(dots) >= 2 * 5
    assert all((lhs, rhs) == ("bf16", "bf16") for _, lhs, rhs in dots), dots
