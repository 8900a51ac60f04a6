"""LBFGS beyond the parity rows (parity_tests/cases_lbfgs.py): the state carried between minimize
calls field by field, compilation (one compile across calls, minimize under jit and vmap), convergence
to known minima, the line search's own fixed tolerance, and errors only the packages raise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxmath import _lbfgs as jax_lbfgs
from torch_ref import _lbfgs as torch_lbfgs

RNG = np.random.default_rng(0)
MATRIX = RNG.normal(size=(5, 5))
SPD = MATRIX @ MATRIX.T / 5 + 0.5 * np.eye(5)  # a well-conditioned positive definite matrix
TARGET = RNG.normal(size=5)


def quadratic_jax(params: dict) -> jax.Array:
    """0.5 x^T A x - b^T x over x = concat(u, v): minimum at A^{-1} b."""
    x = jnp.concatenate([params["u"], params["v"].reshape(-1)])
    return 0.5 * x @ (jnp.asarray(SPD) @ x) - jnp.asarray(TARGET) @ x


def quadratic_torch(params: dict) -> torch.Tensor:
    x = torch.cat([params["u"], params["v"].reshape(-1)])
    return 0.5 * x @ (torch.from_numpy(SPD) @ x) - torch.from_numpy(TARGET) @ x


def quartic_jax(params: dict) -> jax.Array:
    return quadratic_jax(params) + 0.05 * sum(jnp.sum(leaf**4) for leaf in params.values())


def quartic_torch(params: dict) -> torch.Tensor:
    return quadratic_torch(params) + 0.05 * sum((leaf**4).sum() for leaf in params.values())


def rosenbrock_jax(params: dict) -> jax.Array:
    x = params["x"]
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


START = {"u": np.array([2.0, -1.0, 0.5]), "v": np.array([[1.5], [-2.0]])}


def jax_start(dtype: str = "float64") -> dict:
    return {key: jnp.asarray(value, dtype) for key, value in START.items()}


def torch_start(dtype: str = "float64") -> dict:
    return {key: torch.tensor(value, dtype=getattr(torch, dtype)) for key, value in START.items()}


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_after_each_call_equals_torch_refs_field_by_field(line_search_fn: str | None) -> None:
    """Three calls with history_size=2 (so pairs are evicted): every state field equals torch_ref's
    (both written from torch's step), and the counters are cumulative."""
    options = {"history_size": 2, "max_iter": 4, "line_search_fn": line_search_fn, "lr": 0.8}
    ours, twin = jax_lbfgs.LBFGS(**options), torch_lbfgs.LBFGS(**options)
    params, state = jax_start(), None
    twin_params, twin_state = torch_start(), None
    n_iters = []
    for _ in range(3):
        params, state = ours.minimize(quartic_jax, params, state)
        twin_params, twin_state = twin.minimize(quartic_torch, twin_params, twin_state)
        n_iters.append(int(state.n_iter))
        for field in jax_lbfgs.LBFGSState._fields:
            np.testing.assert_allclose(
                np.asarray(getattr(state, field)),
                getattr(twin_state, field).numpy(),
                rtol=1e-12,
                atol=1e-14,
                err_msg=field,
            )
        for key in START:
            np.testing.assert_allclose(np.asarray(params[key]), twin_params[key].numpy(), 1e-12)
    assert int(state.history_count) == 2
    assert n_iters == sorted(n_iters) and n_iters[0] < n_iters[-1]


def test_a_fresh_state_restarts_from_steepest_descent() -> None:
    """state=None means a new torch optimizer: the first step is scaled by min(1, 1/|g|_1) again,
    so continuing and restarting from the same params give different iterates."""
    opt = jax_lbfgs.LBFGS(max_iter=3)
    params, state = opt.minimize(quartic_jax, jax_start())
    continued, _ = opt.minimize(quartic_jax, params, state)
    restarted, fresh = opt.minimize(quartic_jax, params)
    # counters restart: max_iter=3 gives max_eval = 3 * 5 // 4 = 3, spent after 2 iterations
    assert (int(fresh.n_iter), int(fresh.func_evals)) == (2, 3)
    assert not np.allclose(np.asarray(continued["u"]), np.asarray(restarted["u"]))


def test_minimize_compiles_once_across_calls() -> None:
    """The first call (state=None) and the later ones (a state passed back) hit one compiled step,
    as long as loss_fn is the same object and params keep their shapes and dtypes."""
    opt = jax_lbfgs.LBFGS(max_iter=3, line_search_fn="strong_wolfe", history_size=4)
    before = jax_lbfgs._minimize._cache_size()
    params, state = opt.minimize(quadratic_jax, jax_start())
    for _ in range(3):
        params, state = opt.minimize(quadratic_jax, params, state)
    other_start = jax.tree.map(lambda leaf: leaf * 0.5, jax_start())
    opt.minimize(quadratic_jax, other_start)
    assert jax_lbfgs._minimize._cache_size() == before + 1


def test_minimize_under_jit_and_vmap() -> None:
    """minimize inside an outer jax.jit equals the eager call; jax.vmap over a batch of starts
    (the while loops run to the longest member, the others frozen) equals the loop."""
    opt = jax_lbfgs.LBFGS(max_iter=5, line_search_fn="strong_wolfe")
    starts = [jax_start(), jax.tree.map(lambda leaf: -0.5 * leaf, jax_start())]
    eager = [opt.minimize(quartic_jax, start) for start in starts]

    jitted = jax.jit(lambda start: opt.minimize(quartic_jax, start))(starts[0])
    batched = jax.vmap(lambda start: opt.minimize(quartic_jax, start))(
        jax.tree.map(lambda *leaves: jnp.stack(leaves), *starts)
    )
    for key in START:
        np.testing.assert_allclose(jitted[0][key], eager[0][0][key], rtol=1e-12)
        for index in range(2):
            np.testing.assert_allclose(batched[0][key][index], eager[index][0][key], rtol=1e-12)
    np.testing.assert_array_equal(batched[1].func_evals, [e[1].func_evals for e in eager])


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_converges_to_the_known_minimum_of_a_quadratic(line_search_fn: str | None) -> None:
    """With the default tolerance_change the loss-change test |f - f_prev| < 1e-9 stops at an error
    of ~sqrt(1e-9) in x (torch's behaviour, measured 4e-6 here); with 1e-20 it runs to 1e-10."""
    loose = jax_lbfgs.LBFGS(line_search_fn=line_search_fn)
    tight = jax_lbfgs.LBFGS(
        line_search_fn=line_search_fn, tolerance_grad=1e-12, tolerance_change=1e-20
    )
    solution = np.linalg.solve(SPD, TARGET)
    for opt, tolerance in ((loose, 1e-4), (tight, 1e-10)):
        params, state = opt.minimize(quadratic_jax, jax_start())
        x = np.concatenate([np.asarray(params["u"]), np.asarray(params["v"]).reshape(-1)])
        np.testing.assert_allclose(x, solution, rtol=0, atol=tolerance)
        assert 5 <= int(state.n_iter) <= 20  # a 5-d quadratic: about 5 iterations, not 1


def test_converges_to_the_rosenbrock_minimum_in_float32_and_float64() -> None:
    for dtype, tolerance_change, atol in (("float32", 1e-9, 1e-3), ("float64", 1e-20, 1e-8)):
        opt = jax_lbfgs.LBFGS(
            line_search_fn="strong_wolfe", max_iter=200, tolerance_change=tolerance_change
        )
        params = {"x": jnp.asarray([-1.2, 1.0, -0.5, 0.8], dtype)}
        params, _ = opt.minimize(rosenbrock_jax, params)
        assert params["x"].dtype == jnp.dtype(dtype)
        np.testing.assert_allclose(params["x"], np.ones(4), rtol=0, atol=atol)


def test_the_line_search_tolerance_is_torchs_fixed_1e_9() -> None:
    """torch's step calls _strong_wolfe without tolerance_change, so the zoom stops on a bracket
    shorter than 1e-9 / max|d| whatever the optimizer's tolerance_change: from 1e-10 away from the
    minimum of f = |x - c|^2 / 2 with lr = 5 the first trial overshoots (Armijo fails), the bracket
    [0, 5] times max|d| = 1e-10 is already too short, and the step stays at t = 0. Same in all three."""
    centre = np.array([0.3, -0.2])
    start = centre + 1e-10
    options = {"lr": 5.0, "line_search_fn": "strong_wolfe", "tolerance_grad": 0.0}
    options["tolerance_change"] = 1e-30

    def loss_jax(params: dict) -> jax.Array:
        return 0.5 * jnp.sum((params["x"] - centre) ** 2)

    def loss_torch(params: dict) -> torch.Tensor:
        return 0.5 * ((params["x"] - torch.from_numpy(centre)) ** 2).sum()

    ours, state = jax_lbfgs.LBFGS(**options).minimize(loss_jax, {"x": jnp.asarray(start)})
    twin, twin_state = torch_lbfgs.LBFGS(**options).minimize(loss_torch, {"x": torch.tensor(start)})
    tensor = torch.tensor(start, requires_grad=True)
    reference = torch.optim.LBFGS([tensor], **options)

    def closure() -> torch.Tensor:
        reference.zero_grad()
        loss = loss_torch({"x": tensor})
        loss.backward()
        return loss

    reference.step(closure)
    torch_state = reference.state[tensor]
    assert (int(state.n_iter), int(state.func_evals)) == (1, 2)
    assert (int(twin_state.n_iter), int(twin_state.func_evals)) == (1, 2)
    assert (torch_state["n_iter"], torch_state["func_evals"]) == (1, 2)
    assert float(state.t) == float(twin_state.t) == float(torch_state["t"]) == 0.0
    np.testing.assert_array_equal(np.asarray(ours["x"]), start)
    np.testing.assert_array_equal(twin["x"].numpy(), start)
    np.testing.assert_array_equal(tensor.detach().numpy(), start)


def test_default_max_eval_is_torchs() -> None:
    for max_iter in (0, 1, 4, 20):
        expected = torch.optim.LBFGS([torch.zeros(1)], max_iter=max_iter).defaults["max_eval"]
        assert jax_lbfgs.LBFGS(max_iter=max_iter).max_eval == expected
        assert torch_lbfgs.LBFGS(max_iter=max_iter).max_eval == expected


def test_a_state_of_other_params_is_refused_by_both() -> None:
    ours, twin = jax_lbfgs.LBFGS(history_size=3), torch_lbfgs.LBFGS(history_size=3)
    _, state = ours.minimize(quadratic_jax, jax_start())
    _, twin_state = twin.minimize(quadratic_torch, torch_start())
    smaller = {"x": jnp.zeros(2)}
    with pytest.raises(ValueError, match=r"state must be the LBFGSState of params of these"):
        ours.minimize(lambda p: jnp.sum(p["x"] ** 2), smaller, state)
    with pytest.raises(ValueError, match=r"state must be the LBFGSState of params of these"):
        twin.minimize(lambda p: (p["x"] ** 2).sum(), {"x": torch.zeros(2)}, twin_state)


def test_bad_options_raise_the_same_message_in_both() -> None:
    bad = [
        {"lr": -0.5},
        {"max_iter": True},
        {"max_eval": 0},
        {"history_size": 0},
        {"history_size": 2.0},
        {"tolerance_grad": None},
        {"line_search_fn": "wolfe"},
    ]
    for options in bad:
        messages = []
        for module in (jax_lbfgs, torch_lbfgs):
            with pytest.raises((ValueError, TypeError)) as raised:
                module.LBFGS(**options)
            messages.append((type(raised.value), str(raised.value)))
        assert messages[0] == messages[1], options
        assert next(iter(options)) in messages[0][1], options
