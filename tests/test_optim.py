"""jaxmath.optim and torch_ref.optim beyond the generic parity rows (parity_tests/cases_optim.py):
the rows' problems are not chaotic, optax's coinciding pairs, optax.chain and optax.multi_transform
against torch's param groups, jit without recompiling, dtypes kept, errors under jit."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import jaxmath
import torch_ref
from jaxmath import optim as jo
from parity_tests.cases_optim import (
    OPTIM_CASES,
    problem,
    problem_gradient,
    torch_optim_reference,
)
from parity_tests.harness import TORCH, leaves, rng_for, to_framework, tolerance
from torch_ref import optim as to

OPTIMIZERS = (
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "Rprop",
    "ASGD",
    "Adafactor",
    "Muon",
)
OPTIMIZER_CASES = [c for c in OPTIM_CASES if c.module == "optim" and c.name in OPTIMIZERS]


def run_jax(opt: Any, params: Any, a: Any, c: Any, steps: int) -> Any:
    params = jax.tree.map(jnp.asarray, params)
    state = opt.init(params)

    @jax.jit
    def step(params: Any, state: Any) -> Any:
        grads = jax.tree.map(problem_gradient, params, a, c)
        updates, state = opt.update(grads, state, params)
        return jo.apply_updates(params, updates), state

    for _ in range(steps):
        params, state = step(params, state)
    assert step._cache_size() == 1
    return params


def torch_trajectory(name: str, params: Any, a: Any, c: Any, steps: int, **hyper: Any) -> Any:
    tensors = lambda tree: jax.tree.map(lambda x: torch.tensor(np.asarray(x)), tree)  # noqa: E731
    result = torch_optim_reference(name)(tensors(params), tensors(a), tensors(c), steps, **hyper)
    return jax.tree.map(lambda t: t.numpy(), result["end"])


def assert_close(actual: Any, expected: Any, rtol: float, atol: float) -> None:
    for got, want in zip(leaves(actual), leaves(expected), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------------
# The parity problems are well conditioned
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=lambda case: case.name)
def test_row_problems_are_not_chaotic(case: Any) -> None:
    """Moving the start by 1e-14 (relative) moves torch.optim's own end point by far less than the
    float64 tolerance, so the rows compare implementations, not amplified rounding."""
    tol = tolerance(case.kind, "float64")
    reference = case.references[0].function
    for sample in case.sample_inputs(rng_for(case, "float64"), "float64"):
        (start, a, c), kwargs = to_framework(TORCH, sample)
        moved = torch_ref.optim.tree_map(lambda x: x * (1 + 1e-14), start)
        base = reference(start, a, c, **kwargs)["end"]
        shifted = reference(moved, a, c, **kwargs)["end"]
        for one, other in zip(leaves(base), leaves(shifted), strict=True):
            one, other = one.numpy(), other.numpy()
            spread = np.max(np.abs(one - other) / (tol.atol / tol.rtol + np.abs(one)))
            assert spread < tol.rtol / 10, f"{sample.description}: amplification {spread:.1e}"


# ------------------------------------------------------------------------------------------------
# optax: the pairs whose rules coincide, with the mapping that makes them coincide
# ------------------------------------------------------------------------------------------------

OPTAX_PAIRS = [
    (jo.SGD(lr=0.05), optax.sgd(0.05)),
    (jo.SGD(lr=0.05, momentum=0.9), optax.sgd(0.05, momentum=0.9)),
    (jo.SGD(lr=0.05, momentum=0.8, nesterov=True), optax.sgd(0.05, momentum=0.8, nesterov=True)),
    (jo.Adam(lr=0.02, betas=(0.8, 0.99), eps=1e-6), optax.adam(0.02, b1=0.8, b2=0.99, eps=1e-6)),
    # optax.adamw's default weight_decay is 1e-4 (torch: 1e-2): pass it explicitly.
    (jo.AdamW(lr=0.02), optax.adamw(0.02, weight_decay=1e-2)),
    (jo.AdamW(lr=0.02, weight_decay=0.1), optax.adamw(0.02, weight_decay=0.1)),
    # optax.rmsprop: decay = alpha, eps outside the root; with momentum only for a constant lr.
    (jo.RMSprop(lr=0.01), optax.rmsprop(0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False)),
    (
        jo.RMSprop(lr=0.01, alpha=0.9, centered=True, momentum=0.5),
        optax.rmsprop(0.01, decay=0.9, eps=1e-8, eps_in_sqrt=False, centered=True, momentum=0.5),
    ),
    # optax.adagrad: its accumulator starts at 0.1 and eps sits inside the root: eps = 0 on both.
    (
        jo.Adagrad(lr=0.1, initial_accumulator_value=0.1, eps=0.0),
        optax.adagrad(0.1, initial_accumulator_value=0.1, eps=0.0),
    ),
]


@pytest.mark.parametrize("pair", OPTAX_PAIRS, ids=[str(i) for i in range(len(OPTAX_PAIRS))])
def test_optax_pairs_coincide(pair: tuple[Any, Any]) -> None:
    params, a, c = problem(np.random.default_rng(1), "mlp", "float64")
    ours, theirs = (run_jax(opt, params, a, c, 200) for opt in pair)
    assert_close(ours, theirs, rtol=1e-11, atol=1e-12)


def test_optax_defaults_differ_where_documented() -> None:
    """optax.adamw() decays 100x less than torch's default, optax.adagrad() starts at 0.1 with eps
    inside the root: the ports need the explicit arguments above. (optax.rmsprop's eps inside the
    root differs only where v ~ eps, which these problems never reach.)"""
    params, a, c = problem(np.random.default_rng(2), "dict", "float64")
    for ours, theirs in (
        (jo.AdamW(lr=0.05), optax.adamw(0.05)),
        (jo.Adagrad(lr=0.1), optax.adagrad(0.1)),
    ):
        first, second = run_jax(ours, params, a, c, 100), run_jax(theirs, params, a, c, 100)
        gap = max(
            float(np.max(np.abs(x - y))) for x, y in zip(leaves(first), leaves(second), strict=True)
        )
        assert gap > 1e-4


# ------------------------------------------------------------------------------------------------
# Composition: optax.chain, optax.multi_transform (torch param groups), masks
# ------------------------------------------------------------------------------------------------


def test_chain_with_gradient_clipping_matches_torch_clip_grad_norm() -> None:
    """optax.chain(clip_by_global_norm(1), Adam) vs torch's clip_grad_norm_(1) + Adam.step().
    torch divides by (norm + 1e-6), optax by norm: 1e-6 relative per clipped step."""
    params, a, c = problem(np.random.default_rng(3), "dict", "float64")
    opt = optax.chain(optax.clip_by_global_norm(1.0), jaxmath.Adam(lr=0.05))
    ours = run_jax(opt, params, a, c, 100)
    tensors = {key: torch.tensor(value) for key, value in params.items()}
    torch_opt = torch.optim.Adam([tensors[key] for key in sorted(tensors)], lr=0.05)
    for _ in range(100):
        for key, tensor in tensors.items():
            tensor.grad = problem_gradient(
                tensor.detach(), torch.tensor(a[key]), torch.tensor(c[key])
            )
        torch.nn.utils.clip_grad_norm_(list(tensors.values()), 1.0)
        torch_opt.step()
    assert_close(ours, {key: t.detach().numpy() for key, t in tensors.items()}, 1e-5, 1e-6)


def test_multi_transform_matches_torch_param_groups() -> None:
    """Two torch param groups with different lr and weight decay (a head with 10x the lr, biases
    undecayed) == optax.multi_transform over jaxmath optimizers, with a weight_decay_mask."""
    params, a, c = problem(np.random.default_rng(4), "mlp", "float64")
    labels = [{"W": "body", "b": "body"}, {"W": "head", "b": "head"}]
    no_bias = [{"W": True, "b": False}, {"W": True, "b": False}]
    opt = optax.multi_transform(
        {
            "body": jo.AdamW(lr=0.01, weight_decay=0.1, weight_decay_mask=no_bias),
            "head": jo.AdamW(lr=0.1, weight_decay=0.0),
        },
        labels,
    )
    ours = run_jax(opt, params, a, c, 200)

    tensors = [{key: torch.tensor(v) for key, v in layer.items()} for layer in params]
    torch_opt = torch.optim.AdamW(
        [
            {"params": [tensors[0]["W"]], "weight_decay": 0.1},
            {"params": [tensors[0]["b"]], "weight_decay": 0.0},
            {"params": list(tensors[1].values()), "lr": 0.1, "weight_decay": 0.0},
        ],
        lr=0.01,
    )
    for _ in range(200):
        for layer, a_layer, c_layer in zip(tensors, a, c, strict=True):
            for key, tensor in layer.items():
                tensor.grad = problem_gradient(
                    tensor.detach(), torch.tensor(a_layer[key]), torch.tensor(c_layer[key])
                )
        torch_opt.step()
    expected = [{key: t.detach().numpy() for key, t in layer.items()} for layer in tensors]
    assert_close(ours, expected, 1e-10, 1e-12)


def test_weight_decay_mask_function_equals_optax_masked_decay() -> None:
    """A mask function skips the biases as optax.adamw(mask=...) does."""
    params, a, c = problem(np.random.default_rng(5), "mlp", "float64")

    def matrices(tree: Any) -> Any:
        return jax.tree.map(lambda x: x.ndim >= 2, tree)

    ours = run_jax(
        jo.AdamW(lr=0.02, weight_decay=0.3, weight_decay_mask=matrices), params, a, c, 150
    )
    theirs = run_jax(optax.adamw(0.02, weight_decay=0.3, mask=matrices), params, a, c, 150)
    assert_close(ours, theirs, 1e-11, 1e-12)
    undecayed = run_jax(jo.AdamW(lr=0.02, weight_decay=0.3), params, a, c, 150)
    assert np.max(np.abs(undecayed[0]["b"] - ours[0]["b"])) > 1e-3  # the mask did something


# ------------------------------------------------------------------------------------------------
# jit, dtypes, errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_jitted_update_with_a_schedule_compiles_once(name: str) -> None:
    schedule = jaxmath.lr_scheduler.CosineAnnealingLR(0.05, T_max=10)
    opt = getattr(jo, name)(lr=schedule)
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros((2, 2) if name == "Muon" else 2)}
    state = opt.init(params)
    update = jax.jit(opt.update)
    for step in range(5):
        grads = jax.tree.map(lambda x, step=step: x * 0.1 + step, params)
        updates, state = update(grads, state, params)
        params = jo.apply_updates(params, updates)
    assert update._cache_size() == 1
    assert int(state.count) == 5


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_params_keep_float32_state_and_updates(name: str) -> None:
    """x64 is on in the tests and a schedule returns float64: nothing may promote float32 params."""
    schedule = jaxmath.lr_scheduler.ExponentialLR(0.1, gamma=0.9)
    decay = {} if name == "Rprop" else {"weight_decay": 0.1}  # Rprop has no weight decay
    opt = getattr(jo, name)(lr=schedule, **decay)
    bias_shape = (2, 2) if name == "Muon" else (2,)  # Muon takes 2-D params only
    params = {"w": jnp.ones((3, 2), jnp.float32), "b": jnp.zeros(bias_shape, jnp.float32)}
    state = opt.init(params)
    updates, state = jax.jit(opt.update)(jax.tree.map(jnp.ones_like, params), state, params)
    for leaf in jax.tree.leaves((updates, state)):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == jnp.float32


def test_bad_grads_are_refused_at_trace_time_under_jit() -> None:
    opt = jo.Adam()
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"grads\['w'\] must have shape \(3, 2\)"):
        jax.jit(opt.update)({"w": jnp.ones((2, 3)), "b": jnp.zeros(2)}, state, params)


def test_weight_decay_without_params_is_refused() -> None:
    for package in (jo, to):
        opt = package.SGD(lr=0.1, weight_decay=0.1)
        params = {"w": np.ones(2)} if package is jo else {"w": torch.ones(2)}
        state = opt.init(params)
        with pytest.raises(ValueError, match="SGD needs params in update"):
            opt.update(params, state)


def test_top_level_names_are_the_optim_module_s() -> None:
    for package, module in ((jaxmath, jo), (torch_ref, to)):
        assert package.SGD is module.SGD
        assert package.Adam is module.Adam
        assert package.AdamW is module.AdamW


def test_torch_ref_works_on_lists_and_tuples_without_mutating_them() -> None:
    params = [torch.ones(3), (torch.zeros(2), torch.ones(1))]
    before = [t.clone() for t in to.tree_leaves(params)]
    opt = to.Adam(lr=0.1, amsgrad=True)
    state = opt.init(params)
    grads = to.tree_map(torch.ones_like, params)
    updates, state = opt.update(grads, state, params)
    new = to.apply_updates(params, updates)
    assert isinstance(new, list) and isinstance(new[1], tuple)
    for old, kept in zip(before, to.tree_leaves(params), strict=True):
        assert torch.equal(old, kept)
    for old, moved in zip(before, to.tree_leaves(new), strict=True):
        torch.testing.assert_close(moved, old - 0.1)  # Adam's first step is -lr * sign(g)


def test_adam_first_step_is_lr_times_sign_in_both_packages() -> None:
    """Bias correction makes step 1 exactly -lr * g / (|g| + eps'): a first-step check by hand."""
    grads = np.array([3.0, -0.5, 1e-3])
    for package, to_array in ((jo, jnp.asarray), (to, torch.tensor)):
        opt = package.Adam(lr=0.1, eps=0.0)
        state = opt.init(to_array(np.zeros(3)))
        updates, _ = opt.update(to_array(grads), state)
        np.testing.assert_allclose(np.asarray(updates), -0.1 * np.sign(grads), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# The README port: a two-group torch AdamW with a cosine schedule, in a few lines
# ------------------------------------------------------------------------------------------------


def test_readme_port_of_a_two_group_torch_optimizer() -> None:
    """The README's optimizer example: weights decayed, biases not, cosine lr,
    step for step equal to torch.optim.AdamW with two param groups and CosineAnnealingLR."""
    from jaxmath import lr_scheduler, optim

    params = jaxmath.mlp_init(jax.random.PRNGKey(0), (2, 16, 2), dtype="float64")
    x = jax.random.normal(jax.random.PRNGKey(1), (32, 2), jnp.float64)
    y = (x[:, 0] * x[:, 1] > 0).astype(jnp.int32)

    schedule = lr_scheduler.CosineAnnealingLR(lr=1e-2, T_max=40)
    opt = optim.AdamW(
        lr=schedule,
        weight_decay=0.1,
        weight_decay_mask=lambda p: jax.tree.map(lambda leaf: leaf.ndim == 2, p),
    )
    state = opt.init(params)

    @jax.jit
    def train_step(params: Any, state: Any) -> Any:
        loss, grads = jaxmath.mlp_loss_and_grad(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    torch_params = [{k: torch.tensor(np.asarray(v)) for k, v in layer.items()} for layer in params]
    decay = [layer["W"] for layer in torch_params]
    no_decay = [layer["b"] for layer in torch_params]
    torch_opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-2,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(torch_opt, T_max=40)
    x_torch, y_torch = torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y)).long()
    for _ in range(60):  # past T_max: the cosine climbs back, as torch's does
        params, state, _ = train_step(params, state)
        for tensor in decay + no_decay:
            tensor.requires_grad_(True)
        hidden = torch.relu(x_torch @ torch_params[0]["W"] + torch_params[0]["b"])
        logits = hidden @ torch_params[1]["W"] + torch_params[1]["b"]
        torch_opt.zero_grad()
        torch.nn.functional.cross_entropy(logits, y_torch).backward()
        torch_opt.step()
        scheduler.step()
    for ours, theirs in zip(params, torch_params, strict=True):
        for key in ("W", "b"):
            np.testing.assert_allclose(
                np.asarray(ours[key]), theirs[key].detach().numpy(), rtol=1e-9, atol=1e-12
            )


# ------------------------------------------------------------------------------------------------
# Adafactor and Muon (issue 19)
# ------------------------------------------------------------------------------------------------


def test_adafactor_state_is_factored_over_the_last_two_axes() -> None:
    params = {"k": jnp.ones((2, 3, 4)), "w": jnp.ones((3, 4)), "b": jnp.ones(4), "s": jnp.ones(())}
    for package, tree in ((jo, params), (to, jax.tree.map(lambda x: torch.ones(x.shape), params))):
        state = package.Adafactor().init(tree)
        shapes = lambda t: {k: tuple(v.shape) for k, v in t.items()}  # noqa: E731
        assert shapes(state.row_var) == {"k": (2, 3, 1), "w": (3, 1), "b": (0,), "s": (0,)}
        assert shapes(state.col_var) == {"k": (2, 1, 4), "w": (1, 4), "b": (0,), "s": (0,)}
        assert shapes(state.variance) == {"k": (0,), "w": (0,), "b": (4,), "s": ()}


def _adafactor_steps(opt: Any, params: Any, grads: Any, steps: int) -> Any:
    state = opt.init(params)
    for _ in range(steps):
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params


def test_adafactor_and_optax_adafactor_coincide_only_where_documented() -> None:
    """The docstring's mapping: with both axes >= 128 (optax factors) and lr <= 1/sqrt(t), optax's
    steps are torch's up to its eps and float32 decay rate; a (4, 3) matrix, which optax does
    not factor, takes another first step."""
    rng = np.random.default_rng(0)
    for shape, coincide in (((128, 130), True), ((4, 3), False)):
        params = {"w": rng.normal(size=shape), "b": rng.normal(size=shape[1])}
        grads = {"w": rng.normal(size=shape), "b": rng.normal(size=shape[1])}
        ours = _adafactor_steps(jo.Adafactor(lr=1e-2), params, grads, 3)
        theirs = _adafactor_steps(optax.adafactor(learning_rate=1e-2), params, grads, 3)
        tensors = {key: torch.tensor(value) for key, value in params.items()}
        reference = torch.optim.Adafactor(list(tensors.values()), lr=1e-2)
        for _ in range(3):
            for key, tensor in tensors.items():
                tensor.grad = torch.tensor(grads[key])
            reference.step()
        for key in params:
            np.testing.assert_allclose(ours[key], tensors[key].numpy(), rtol=1e-12, atol=1e-14)
        close = np.allclose(theirs["w"], ours["w"], rtol=1e-6, atol=0)
        assert close == coincide, f"{shape}: optax coincides: {close}"


def test_newton_schulz_is_torch_s_bfloat16_iteration() -> None:
    """The same matrix through jaxmath's and torch's Newton-Schulz: bfloat16 results, equal in all
    but a few elements (one bfloat16 ulp: float32 sums in other orders), singular values pushed
    into torch's ~[0.5, 1.5] band, tall matrices transposed and back."""
    coefficients, flips = (3.4445, -4.775, 2.0315), 0
    for shape in ((8, 5), (5, 8), (6, 6)):
        matrix = np.random.default_rng(1).normal(size=shape).astype(np.float32)
        ours = jo.newton_schulz(jnp.asarray(matrix), coefficients, 5, 1e-7)
        theirs = torch.optim._muon._zeropower_via_newtonschulz(
            torch.tensor(matrix), coefficients, 5, 1e-7
        )
        assert ours.dtype == jnp.bfloat16 and ours.shape == shape
        ours32 = np.asarray(ours.astype(jnp.float32))
        theirs32 = theirs.float().numpy()
        np.testing.assert_allclose(ours32, theirs32, rtol=2**-7, atol=1e-3)
        flips += int(np.sum(ours32 != theirs32))
        twin = to.newton_schulz(torch.tensor(matrix), coefficients, 5, 1e-7)
        assert torch.equal(twin, theirs)
        singular_values = np.linalg.svd(ours32, compute_uv=False)
        assert singular_values.min() > 0.5 and singular_values.max() < 1.5
    assert flips <= 0.1 * (8 * 5 * 2 + 36), f"{flips} elements differ from torch's bfloat16 result"


def test_torch_ref_muon_equals_torch_optim_muon_to_the_optimizer_tolerance() -> None:
    """torch_ref runs torch's bfloat16 kernels, so it needs none of jaxmath's looser tolerance."""
    case = next(c for c in OPTIM_CASES if c.name == "Muon")
    for dtype in ("float32", "float64"):
        tol = tolerance("optimizer", dtype)
        for sample in list(case.sample_inputs(rng_for(case, dtype), dtype))[:3]:
            (start, a, c), kwargs = to_framework(TORCH, sample)
            ours = case.invoke(TORCH, start, a, c, **kwargs)["end"]
            expected = case.references[0].function(start, a, c, **kwargs)["end"]
            assert_close(ours, expected, tol.rtol, tol.atol)


def test_muon_rows_are_not_chaotic_in_float32() -> None:
    """One float32 ulp on the start moves torch.optim.Muon's end point by well under the "bfloat16"
    tolerance (bfloat16 roundings flip, but the lrs keep their effect small)."""
    case = next(c for c in OPTIM_CASES if c.name == "Muon")
    tol = tolerance(case.kind, "float32")
    reference = case.references[0].function
    for sample in case.sample_inputs(rng_for(case, "float32"), "float32"):
        (start, a, c), kwargs = to_framework(TORCH, sample)
        moved = torch_ref.optim.tree_map(lambda x: x * (1 + 2**-23), start)
        base = reference(start, a, c, **kwargs)["end"]
        shifted = reference(moved, a, c, **kwargs)["end"]
        for one, other in zip(leaves(base), leaves(shifted), strict=True):
            assert float((one - other).abs().max()) < tol.atol / 3, sample.description


@pytest.mark.parametrize("package", [jo, to], ids=["jaxmath", "torch_ref"])
def test_muon_refuses_a_bias_at_init_and_runs_inside_multi_transform(package: Any) -> None:
    array = jnp.asarray if package is jo else torch.tensor
    params = {"W": array(np.ones((3, 2))), "b": array(np.ones(2))}
    with pytest.raises(ValueError, match=r"Muon only supports 2-D parameters, got params\['b'\]"):
        package.Muon().init(params)
    if package is jo:  # the documented way: Muon for matrices, AdamW for the rest
        opt = optax.multi_transform(
            {"muon": jo.Muon(), "adamw": jo.AdamW()}, {"W": "muon", "b": "adamw"}
        )
        updates, _ = opt.update(params, opt.init(params), params)
        assert updates["W"].shape == (3, 2) and updates["b"].shape == (2,)


@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_zero_and_huge_gradients_stay_finite_and_equal_torch(name: str) -> None:
    """Extremes: all-zero gradients (Adafactor's estimates clamp at eps1^2, Muon's norm at eps) and
    gradients of 1e30 (Adafactor's update is clipped by d, Muon's normalised): finite, as torch."""
    rng = np.random.default_rng(3)
    params = {"w": rng.normal(size=(4, 3)), "v": rng.normal(size=(3, 5))}
    for scale in (0.0, 1e30):
        grads = jax.tree.map(lambda p, scale=scale: scale * np.ones_like(p), params)
        opt = getattr(jo, name)(lr=0.01)
        state, ours = opt.init(params), params
        for _ in range(2):
            updates, state = opt.update(grads, state, ours)
            ours = jo.apply_updates(ours, updates)
        tensors = {key: torch.tensor(value) for key, value in params.items()}
        reference = getattr(torch.optim, name)(list(tensors.values()), lr=0.01)
        for _ in range(2):
            for key, tensor in tensors.items():
                tensor.grad = torch.tensor(grads[key])
            reference.step()
        for key in params:
            assert np.all(np.isfinite(np.asarray(ours[key])))
            np.testing.assert_allclose(np.asarray(ours[key]), tensors[key].numpy(), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# Momentum / beta1 schedules wherever torch's CyclicLR and OneCycleLR cycle them
# ------------------------------------------------------------------------------------------------


def torch_cycles_momentum_of(name: str) -> str | None:
    """What torch's CyclicLR / OneCycleLR write with ``cycle_momentum=True``: "betas" when the
    optimizer's defaults have betas (betas[0] replaced), else "momentum", else None (torch raises)."""
    matrix = [torch.zeros(2, 2, requires_grad=True)]
    defaults = getattr(torch.optim, name)(matrix).defaults
    if "betas" in defaults:
        return "betas"
    return "momentum" if "momentum" in defaults else None


CYCLED = [name for name in OPTIMIZERS if torch_cycles_momentum_of(name) is not None]


def with_momentum_schedule(name: str, momentum: Any, **hyper: Any) -> dict[str, Any]:
    """``momentum`` (a schedule) where torch's scheduler writes it: betas[0] or momentum."""
    if torch_cycles_momentum_of(name) == "betas":
        return {**hyper, "betas": (momentum, 0.999)}
    return {**hyper, "momentum": momentum}


def test_torch_cycles_the_momentum_of_exactly_these_optimizers() -> None:
    """The list the schedules below run over, read from torch 2.13 (not typed in): everything with
    momentum or betas in its defaults; the others have neither (torch's schedulers raise)."""
    assert CYCLED == ["SGD", "Adam", "AdamW", "RMSprop", "Adamax", "NAdam", "RAdam", "Muon"]
    parameter = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        torch.optim.lr_scheduler.OneCycleLR(torch.optim.Adagrad(parameter), 0.1, total_steps=5)


def run_torch_ref(opt: Any, params: Any, a: Any, c: Any, steps: int) -> Any:
    tensors = lambda tree: jax.tree.map(lambda x: torch.tensor(np.asarray(x)), tree)  # noqa: E731
    params, a, c = tensors(params), tensors(a), tensors(c)
    state = opt.init(params)
    for _ in range(steps):
        updates, state = opt.update(to.tree_map(problem_gradient, params, a, c), state, params)
        params = to.apply_updates(params, updates)
    return jax.tree.map(lambda t: t.numpy(), params)


@pytest.mark.parametrize("name", CYCLED)
@pytest.mark.parametrize("package", [jo, to], ids=["jaxmath", "torch_ref"])
def test_a_momentum_schedule_follows_torch_s_scheduler_step_for_step(name: str, package) -> None:
    """Each optimizer torch cycles, with OneCycleLR's momentum (0.95 -> 0.85 -> 0.95) and lr, equal
    to torch.optim stepped by torch's OneCycleLR after 60 steps (float64, the parity tolerance;
    jaxmath's Muon at its "bfloat16" one; jaxmath under one jit compile); the same run with the
    momentum frozen at its first value is far from it (the schedule is read at every step)."""
    schedules = jaxmath.lr_scheduler if package is jo else torch_ref.lr_scheduler
    peak = 2e-3 if name == "Muon" else 0.02  # Muon's steps have a fixed size: a small lr
    schedule = schedules.OneCycleLR(peak, total_steps=60, pct_start=0.4)
    layout = "matrices" if name == "Muon" else "dict"
    params, a, c = problem(np.random.default_rng(7), layout, "float64")
    expected = torch_trajectory(
        name,
        params,
        a,
        c,
        60,
        lr=peak,
        momentum_schedule=True,
        schedule=("OneCycleLR", {"total_steps": 60, "pct_start": 0.4}),
    )
    run = run_jax if package is jo else run_torch_ref
    kind = "bfloat16" if name == "Muon" and package is jo else "optimizer"

    def gap(ours: Any, kind: str) -> float:  # in units of the tolerance: <= 1 is assert_allclose's
        tol = tolerance(kind, "float64")
        return max(
            float(np.max(np.abs(np.asarray(x) - y) / (tol.atol + tol.rtol * np.abs(y))))
            for x, y in zip(leaves(ours), leaves(expected), strict=True)
        )

    opt = getattr(package, name)(**with_momentum_schedule(name, schedule.momentum, lr=schedule))
    assert gap(run(opt, params, a, c, 60), kind) <= 1
    frozen = lambda count: 0.95 + 0 * count  # noqa: E731 (the schedule's first value, kept)
    opt = getattr(package, name)(**with_momentum_schedule(name, frozen, lr=schedule))
    assert gap(run(opt, params, a, c, 60), "optimizer") > 1e3


@pytest.mark.parametrize("package", [jo, to], ids=["jaxmath", "torch_ref"])
def test_nadam_mu_product_accumulates_the_scheduled_mus_as_torch_s(package: Any) -> None:
    """torch's NAdam multiplies its float32 mu_product by mu_t = beta1_t (1 - 0.5 0.96^(t psi)),
    each with that step's beta1: the state after 40 steps equals torch.optim's, bit for bit."""
    schedule_module = jaxmath.lr_scheduler if package is jo else torch_ref.lr_scheduler
    schedule = schedule_module.CyclicLR(0.001, 0.01, step_size_up=7, mode="triangular2")
    opt = package.NAdam(lr=schedule, betas=(schedule.momentum, 0.99), momentum_decay=0.01)
    array = jnp.asarray if package is jo else torch.tensor
    params = array(np.linspace(-1.0, 2.0, 5))
    state = opt.init(params)
    tensor = torch.tensor(np.linspace(-1.0, 2.0, 5), requires_grad=True)
    torch_opt = torch.optim.NAdam([tensor], lr=0.001, betas=(0.9, 0.99), momentum_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CyclicLR(
        torch_opt, 0.001, 0.01, step_size_up=7, mode="triangular2"
    )
    for _ in range(40):
        updates, state = opt.update(params * 2.0, state, params)
        params = package.apply_updates(params, updates)
        tensor.grad = tensor.detach() * 2.0
        torch_opt.step()
        scheduler.step()
    expected = torch_opt.state[tensor]["mu_product"]
    assert expected.dtype == torch.float32
    assert np.asarray(state.mu_product).dtype == np.float32
    assert float(state.mu_product) == float(expected)
    assert float(expected) < 0.3  # the product of 40 mus, visibly away from 1


@pytest.mark.parametrize("package", [jo, to], ids=["jaxmath", "torch_ref"])
def test_rmsprop_momentum_schedule_at_zero_keeps_the_buffer_as_torch(package: Any) -> None:
    """A schedule at 0 on some steps: the plain step there and the buffer left as it was, as
    torch's per-step `if momentum > 0`. A schedule that starts at 0 and rises (torch: KeyError,
    no buffer was created at its first step) runs as torch does with its buffer created at the
    first step: torch.optim.RMSprop with the group's momentum set to the schedule's value before
    each step, and a zero buffer put into its state after the first step."""
    values = [0.0, 0.0, 0.5, 0.9, 0.0, 0.7, 0.0, 0.0, 0.3, 0.6]
    table = jnp.asarray(values) if package is jo else torch.tensor(values, dtype=torch.float64)
    schedule = lambda count: table[count]  # noqa: E731
    opt = package.RMSprop(lr=0.01, momentum=schedule, centered=True)
    array = jnp.asarray if package is jo else torch.tensor
    start = np.array([1.5, -2.0, 0.25])
    params = array(start)
    state = opt.init(params)
    assert state.momentum_buffer is not None
    tensor = torch.tensor(start, requires_grad=True)
    torch_opt = torch.optim.RMSprop([tensor], lr=0.01, centered=True)
    for value in values:
        torch_opt.param_groups[0]["momentum"] = value
        updates, state = opt.update(params**3, state, params)
        params = package.apply_updates(params, updates)
        tensor.grad = tensor.detach() ** 3
        torch_opt.step()
        torch_opt.state[tensor].setdefault("momentum_buffer", torch.zeros_like(tensor.detach()))
        np.testing.assert_allclose(np.asarray(params), tensor.detach().numpy(), rtol=1e-14)
        np.testing.assert_allclose(
            np.asarray(state.momentum_buffer),
            torch_opt.state[tensor]["momentum_buffer"].numpy(),
            rtol=1e-14,
        )
    with pytest.raises(KeyError, match="momentum_buffer"):  # torch's own behaviour, documented
        fresh = torch.tensor(start, requires_grad=True)
        torch_fresh = torch.optim.RMSprop([fresh], lr=0.01, momentum=0.0)
        for value in values[:3]:
            torch_fresh.param_groups[0]["momentum"] = value
            fresh.grad = torch.ones(3, dtype=torch.float64)
            torch_fresh.step()


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop"])
def test_a_constant_momentum_compiles_without_the_schedule_s_scalars(name: str) -> None:
    """A number stays a compile-time constant: the lowered update of a constant beta1 has none of
    the schedule's log1p (1 - beta1_t^t), a constant RMSprop momentum none of its per-step select;
    the scheduled forms have them (so this check can fail)."""
    schedule = jaxmath.lr_scheduler.OneCycleLR(0.1, total_steps=20)
    # RMSprop's branch and torch.lerp's two branches (NAdam: also beta1 times its 0.96 factor,
    # which a constant has too) are selects; 1 - beta1_t^t is a log1p
    marker = "select" if name in ("RMSprop", "NAdam") else "log_plus_one"
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    texts = []
    for hyper in (
        {"momentum": 0.9} if name == "RMSprop" else {"betas": (0.9, 0.999)},
        with_momentum_schedule(name, schedule),
    ):
        opt = getattr(jo, name)(lr=0.01, **hyper)
        state = opt.init(params)
        texts.append(jax.jit(opt.update).lower(params, state, params).as_text())
    constant, scheduled = (text.count(f"stablehlo.{marker}") for text in texts)
    assert constant == 0 < scheduled


@pytest.mark.parametrize("package", [jo, to], ids=["jaxmath", "torch_ref"])
def test_momentum_and_beta1_are_numbers_or_schedules(package: Any) -> None:
    message = r"must be a real number or a schedule \(a function of the step count\), got '0.9'"
    for name in ("Adam", "AdamW", "Adamax", "NAdam", "RAdam"):
        with pytest.raises(TypeError, match=r"betas\[0\] " + message):
            getattr(package, name)(betas=("0.9", 0.999))
        with pytest.raises(TypeError, match=r"betas\[1\] must be a real number, got"):
            getattr(package, name)(betas=(0.9, jaxmath.lr_scheduler.StepLR(0.9, 5)))
    for name in ("SGD", "RMSprop", "Muon"):
        with pytest.raises(TypeError, match="momentum " + message):
            getattr(package, name)(momentum="0.9")
        with pytest.raises(ValueError, match=r"momentum must be >= 0.0, got -0.5"):
            getattr(package, name)(momentum=-0.5)
