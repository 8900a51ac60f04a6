"""``optax.inject_hyperparams`` over every optimizer of jaxmath.optim.

inject_hyperparams passes every numeric hyperparameter (defaults included) as a jnp array in the
params' dtype: concrete in ``init``, traced inside a jitted ``update``; tuples (betas) and bools stay
as given. The optimizers must take the same steps as with Python numbers, follow a hyperparameter
written into ``state.hyperparams`` between steps, validate concrete arrays as the numbers, and keep
the plain-number program as it was (no run-time guards when the value is known at trace time).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxmath import _lbfgs, optim

STEPS = 5

#: Options beyond the defaults, so that each optimizer's switches (momentum buffers, weight decay,
#: centering, amsgrad, decoupled decay) run with injected values too.
EXTRA_OPTIONS: dict[str, list[dict[str, Any]]] = {
    "SGD": [
        {"lr": 0.1, "momentum": 0.9, "dampening": 0.25, "weight_decay": 0.01},
        {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    ],
    "Adam": [{"weight_decay": 0.1, "amsgrad": True}, {"betas": (0.8, 0.99), "maximize": True}],
    "AdamW": [{"lr": 1e-2, "weight_decay": 0.1}],
    "RMSprop": [{"momentum": 0.9, "centered": True, "weight_decay": 0.1}],
    "Adagrad": [{"lr_decay": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5}],
    "Adadelta": [{"rho": 0.5, "weight_decay": 0.1}],
    "Adamax": [{"weight_decay": 0.1}],
    "NAdam": [{"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True}],
    "RAdam": [{"weight_decay": 0.1, "decoupled_weight_decay": True}],
    "ASGD": [{"lambd": 1e-2, "alpha": 0.5, "t0": 2.0, "weight_decay": 0.1}],
    "Rprop": [{"lr": 0.05}],
    "Adafactor": [{"weight_decay": 0.1, "d": 2.0, "beta2_decay": -0.5}],
    "Muon": [{"weight_decay": 0.0, "momentum": 0.5, "ns_steps": 3, "nesterov": False}],
}

#: Names of optim.__all__ that are not GradientTransformation factories, with the reason.
NOT_FACTORIES = {
    "LBFGS": "takes the loss function (minimize), see test_lbfgs_refuses_with_its_reason",
    "apply_updates": "applies updates; not an optimizer",
}


def is_state_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def factories() -> list[str]:
    """Every name of optim.__all__ that builds an optax GradientTransformation from its defaults;
    every other name must be a state NamedTuple or listed in NOT_FACTORIES."""
    found = []
    for name in optim.__all__:
        obj = getattr(optim, name)
        if is_state_class(obj) or name in NOT_FACTORIES:
            continue
        signature = inspect.signature(obj)
        required = [p for p in signature.parameters.values() if p.default is p.empty]
        assert not required, f"optim.{name} has required arguments {required}: give it options"
        assert isinstance(obj(), optax.GradientTransformation), (
            f"optim.{name} is neither a GradientTransformation factory nor a state: classify it"
        )
        found.append(name)
    return found


FACTORIES = factories()
CASES = [(name, {}) for name in FACTORIES] + [
    (name, options) for name in FACTORIES for options in EXTRA_OPTIONS.get(name, [])
]


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, options = case
    return name + ("" if not options else "-" + "-".join(f"{k}={v}" for k, v in options.items()))


def params_for(name: str) -> dict[str, jax.Array]:
    """A small float32 pytree (Muon takes 2-D params only)."""
    w = jnp.linspace(-1.0, 1.0, 12, dtype=jnp.float32).reshape(4, 3)
    if name == "Muon":
        return {"w": w, "v": jnp.linspace(0.5, -2.0, 15, dtype=jnp.float32).reshape(3, 5)}
    return {"w": w, "b": jnp.array([0.5, -2.0, 3.0], jnp.float32)}


def grads_at(params: Any, t: int) -> Any:
    return jax.tree.map(lambda x: jnp.sin(x * (t + 1.0)) + 0.1 * x, params)


def run(
    opt: optax.GradientTransformation,
    params: Any,
    steps: int = STEPS,
    between: Callable[[int, Any], Any] | None = None,
) -> list[Any]:
    """The updates of ``steps`` jitted steps on a fixed gradient sequence; ``between(t, state)``
    may return a new state before step t (to write a hyperparameter)."""
    state = opt.init(params)
    update = jax.jit(opt.update)
    updates = []
    for t in range(steps):
        if between is not None:
            state = between(t, state)
        u, state = update(grads_at(params, t), state, params)
        params = optax.apply_updates(params, u)
        updates.append(u)
    return updates


def assert_updates_close(actual: list[Any], expected: list[Any], rtol: float) -> None:
    for t, (a, e) in enumerate(zip(actual, expected, strict=True)):
        for path, leaf in jax.tree_util.tree_flatten_with_path(a)[0]:
            other = e
            for key in path:
                other = other[key.key]
            np.testing.assert_allclose(
                np.asarray(leaf),
                np.asarray(other),
                rtol=rtol,
                atol=rtol * float(np.max(np.abs(np.asarray(other)))),  # cancellations near 0
                err_msg=f"step {t + 1}, leaf {jax.tree_util.keystr(path)}",
            )


def rounded_to_float32(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The numbers inject_hyperparams passes for float32 params: each float hyperparameter (a
    default too; not a tuple or bool) rounded to float32."""
    bound = inspect.signature(getattr(optim, name)).bind(**options)
    bound.apply_defaults()
    return {
        key: float(np.float32(value)) if isinstance(value, float) else value
        for key, value in bound.arguments.items()
    }


def test_discovery_finds_every_optimizer() -> None:
    expected = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam"}
    expected |= {"RAdam", "Rprop", "ASGD", "Adafactor", "Muon"}
    assert expected <= set(FACTORIES)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_injected_equals_plain(case: tuple[str, dict[str, Any]]) -> None:
    """Under jax.jit(update), inject_hyperparams(Opt)(**options) takes Opt(**options)'s steps: to
    a few float32 ulp given the float32 numbers inject passes, and to float32 rounding of the
    hyperparameters themselves against the Python numbers (RMSprop's alpha = 0.99 becomes
    0.99000001: 1 - alpha moves by 1e-6 relative)."""
    name, options = case
    factory = getattr(optim, name)
    params = params_for(name)
    injected = run(optax.inject_hyperparams(factory)(**options), params)
    assert_updates_close(injected, run(factory(**rounded_to_float32(name, options)), params), 1e-6)
    assert_updates_close(injected, run(factory(**options), params), 2e-5)


@pytest.mark.parametrize("name", FACTORIES)
def test_injected_update_compiles_once(name: str) -> None:
    """The hyperparameters are arguments of the compiled update (their values in the state), so
    writing a new value does not recompile; a Python side effect counts the traces."""
    traces = []
    opt = optax.inject_hyperparams(getattr(optim, name))()

    def counted(grads: Any, state: Any, params: Any) -> Any:
        traces.append(1)
        return opt.update(grads, state, params)

    params = params_for(name)
    state = opt.init(params)
    update = jax.jit(counted)
    for t in range(3):
        state.hyperparams["lr"] = jnp.asarray(1e-3 * (t + 1), jnp.float32)
        _, state = update(grads_at(params, t), state, params)
    assert len(traces) == 1


@pytest.mark.parametrize("name", FACTORIES)
def test_jitted_init_takes_the_same_steps(name: str) -> None:
    """Under jax.jit(init) every hyperparameter is traced there too: nothing can be decided from
    a value; the steps are the same as from the eager init."""
    opt = optax.inject_hyperparams(getattr(optim, name))()
    params = params_for(name)
    update = jax.jit(opt.update)
    eager, traced = opt.init(params), jax.jit(opt.init)(params)
    for t in range(3):
        expected, eager = update(grads_at(params, t), eager, params)
        actual, traced = update(grads_at(params, t), traced, params)
        assert_updates_close([actual], [expected], 1e-6)
    if name in ("SGD", "RMSprop"):  # an array momentum (0 here) has a buffer either way
        assert eager.inner_state.momentum_buffer is not None
        assert traced.inner_state.momentum_buffer is not None


def write(t_switch: int, key: str, value: Any) -> Callable[[int, Any], Any]:
    def between(t: int, state: Any) -> Any:
        if t == t_switch:
            state.hyperparams[key] = value
        return state

    return between


def switch_at(k: int, before: float, after: float) -> Callable[[jax.Array], jax.Array]:
    return lambda count: jnp.where(count < k, before, after)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "NAdam", "Adafactor", "Muon"])
def test_writing_lr_between_steps_is_an_lr_schedule(name: str) -> None:
    """state.hyperparams['lr'] written before step 3 gives the steps of the plain optimizer whose
    lr schedule switches there (lr 0.125 then 0.0078125, exact in float32)."""
    factory = getattr(optim, name)
    params = params_for(name)
    injected = run(
        optax.inject_hyperparams(factory)(lr=0.125), params, between=write(2, "lr", 0.0078125)
    )
    schedule = switch_at(2, 0.125, 0.0078125)
    planned = run(factory(**rounded_to_float32(name, {"lr": schedule})), params)
    assert_updates_close(injected, planned, 1e-6)
    assert not np.allclose(injected[-1]["w"], run(factory(lr=0.125), params)[-1]["w"])


def test_writing_momentum_between_steps_is_torch_per_step_momentum() -> None:
    """SGD's momentum written 0.9 -> 0 (step 2) -> 0.5 (step 4): torch's `if momentum != 0` per
    step (the buffer kept through the momentum-free steps), as SGD with a momentum schedule."""
    params = params_for("SGD")

    def between(t: int, state: Any) -> Any:
        value = {1: 0.0, 3: 0.5}.get(t)
        if value is not None:
            state.hyperparams["momentum"] = value
        return state

    opt = optax.inject_hyperparams(optim.SGD)(lr=0.1, momentum=0.9, dampening=0.25)
    injected = run(opt, params, between=between)

    def schedule(count: jax.Array) -> jax.Array:
        return jnp.where(count < 1, 0.9, jnp.where(count < 3, 0.0, 0.5))

    planned = run(optim.SGD(lr=0.1, momentum=schedule, dampening=0.25), params)
    assert_updates_close(injected, planned, 1e-6)
    constant = run(optim.SGD(lr=0.1, momentum=0.9, dampening=0.25), params)
    assert not np.allclose(injected[-1]["w"], constant[-1]["w"])


@pytest.mark.parametrize(
    ("name", "key", "first", "second"),
    [
        ("Adam", "eps", 1e-8, 0.25),
        ("SGD", "weight_decay", 0.0, 0.5),
        ("AdamW", "weight_decay", 0.5, 0.0),
        ("RMSprop", "alpha", 0.5, 0.75),
    ],
)
def test_writing_another_hyperparameter_is_rebuilding(
    name: str, key: str, first: float, second: float
) -> None:
    """A hyperparameter written before step 3 = the plain optimizer rebuilt with the new value
    there, continuing from the same state."""
    factory = getattr(optim, name)
    params = params_for(name)
    injected = run(
        optax.inject_hyperparams(factory)(**{key: first}),
        params,
        between=write(2, key, second),
    )
    before = factory(**rounded_to_float32(name, {key: first}))
    after = factory(**rounded_to_float32(name, {key: second}))
    state, p, planned = before.init(params), params, []
    for t in range(STEPS):
        opt = before if t < 2 else after
        u, state = jax.jit(opt.update)(grads_at(p, t), state, p)
        p = optax.apply_updates(p, u)
        planned.append(u)
    assert_updates_close(injected, planned, 1e-6)
    unchanged = run(factory(**{key: first}), params)
    assert not np.allclose(injected[-1]["w"], unchanged[-1]["w"])


@pytest.mark.parametrize("name", ["SGD", "Adam", "NAdam", "AdamW", "Adafactor"])
def test_traced_zero_weight_decay_leaves_inf_params_as_torch(name: str) -> None:
    """torch skips the decay term when weight_decay == 0; a traced 0 must too (g + 0 * inf is
    nan): the injected update equals the plain one where a param is inf."""
    factory = getattr(optim, name)
    params = {"w": jnp.array([[1.0, jnp.inf], [-2.0, 0.5]], jnp.float32)}
    grads = {"w": jnp.array([[0.5, -1.0], [0.25, 2.0]], jnp.float32)}
    plain = factory(weight_decay=0.0)
    injected = optax.inject_hyperparams(factory)(weight_decay=0.0)
    expected, _ = jax.jit(plain.update)(grads, plain.init(params), params)
    actual, _ = jax.jit(injected.update)(grads, injected.init(params), params)
    assert not np.isnan(np.asarray(expected["w"])).any()
    assert not np.isnan(np.asarray(actual["w"])).any()
    # a few ulp: XLA fuses the guarded program differently
    np.testing.assert_allclose(np.asarray(actual["w"]), np.asarray(expected["w"]), rtol=1e-6)


# ---- validation ------------------------------------------------------------------------------

BAD_VALUES = [
    ("SGD", "lr", -1.0),
    ("SGD", "momentum", -0.5),
    ("SGD", "weight_decay", -2.0),
    ("Adam", "eps", -1.0),
    ("RMSprop", "alpha", -1.0),
    ("Adadelta", "rho", 1.5),
    ("Adagrad", "lr_decay", -1.0),
    ("ASGD", "lambd", float("nan")),
    ("Adafactor", "d", 0.5),
    ("Adafactor", "beta2_decay", 0.5),
    ("NAdam", "momentum_decay", -1.0),
    ("Muon", "ns_steps", 100),
    ("Muon", "ns_steps", 5.0),
]


def raised(call: Callable[[], Any]) -> BaseException:
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    return info.value


@pytest.mark.parametrize(("name", "key", "value"), BAD_VALUES, ids=lambda v: str(v))
def test_a_concrete_bad_array_raises_as_the_number(name: str, key: str, value: float) -> None:
    factory = getattr(optim, name)
    expected = raised(lambda: factory(**{key: value}))
    for array in (jnp.asarray(value), np.asarray(value)):
        actual = raised(lambda array=array: factory(**{key: array}))
        assert type(actual) is type(expected)
        assert str(actual) == str(expected)
        assert key in str(actual)


@pytest.mark.parametrize("name", FACTORIES)
def test_bad_lr_arrays_raise_naming_lr(name: str) -> None:
    factory = getattr(optim, name)
    with pytest.raises(ValueError, match=r"lr must be >= 0.0, got -1.0"):
        factory(lr=jnp.array(-1.0))
    with pytest.raises(TypeError, match=r"lr must be a real number or a 0-d array.*\(3,\)"):
        factory(lr=jnp.ones(3))
    with pytest.raises(TypeError, match=r"lr must be .*dtype complex64"):
        factory(lr=jnp.array(1e-3 + 0j, jnp.complex64))
    with pytest.raises(TypeError, match=r"lr must be .*dtype bool"):
        factory(lr=np.array(True))
    with pytest.raises(TypeError, match=r"lr must be"):
        factory(lr="0.1")

    def traced(lr: jax.Array) -> Any:
        return factory(lr=lr)

    with pytest.raises(TypeError, match=r"lr must be a real number or a 0-d array.*\(3,\)"):
        jax.jit(traced)(jnp.ones(3))


def test_a_good_concrete_array_is_its_number() -> None:
    """A concrete array is used as the Python number it holds: the compiled update is the
    plain-number one, constant for constant. (Not SGD's or RMSprop's momentum: an array momentum,
    which inject_hyperparams may change between steps, gets a buffer and torch's per-step rule.)"""
    params = params_for("SGD")
    for factory, options in [
        (optim.SGD, {"lr": 0.5, "dampening": 0.875, "weight_decay": 0.25}),
        (optim.Adam, {"lr": 0.5, "eps": 0.125, "betas": (0.75, 0.875)}),
        (optim.RMSprop, {"alpha": 0.5, "eps": 0.25}),
    ]:
        arrays = {k: jnp.asarray(v) if isinstance(v, float) else v for k, v in options.items()}
        arrays = {
            k: tuple(jnp.asarray(x) for x in v) if isinstance(v, tuple) else v
            for k, v in arrays.items()
        }
        texts = []
        for opt in (factory(**options), factory(**arrays)):
            state = opt.init(params)
            texts.append(jax.jit(opt.update).lower(params, state, params).as_text())
        assert texts[0] == texts[1]


def test_momentum_raised_from_zero_after_init_takes_effect_under_jit() -> None:
    """inject's momentum is an array, which may be written later: SGD and RMSprop then carry a
    buffer even at momentum 0 (a plain momentum 0 has none), and momentum 0 -> 0.5 written before
    step 3 of a jitted update gives the steps of a momentum schedule switching there (before: no
    buffer, and under jit the written momentum was silently ignored)."""
    params = params_for("SGD")
    for factory in (optim.SGD, optim.RMSprop):
        assert factory(momentum=0.0).init(params).momentum_buffer is None
        opt = optax.inject_hyperparams(factory)(lr=0.125, momentum=0.0)
        assert opt.init(params).inner_state.momentum_buffer is not None
        injected = run(opt, params, between=write(2, "momentum", 0.5))
        name = factory.__name__
        schedule = switch_at(2, 0.0, 0.5)
        planned = run(
            factory(**rounded_to_float32(name, {"lr": 0.125, "momentum": schedule})), params
        )
        assert_updates_close(injected, planned, 1e-6)
        without = run(factory(lr=0.125), params)
        assert not np.allclose(injected[-1]["w"], without[-1]["w"])
        # a state made without a buffer, given a non-zero momentum, is refused
        plain_state = factory(lr=0.125, momentum=0.0).init(params)
        with pytest.raises(ValueError, match=r"no momentum buffer \(made with momentum 0\)"):
            factory(lr=0.125, momentum=jnp.asarray(0.5)).update(
                grads_at(params, 0), plain_state, params
            )


def test_traced_weight_decay_needs_params() -> None:
    opt = optax.inject_hyperparams(optim.SGD)(lr=0.1)
    params = params_for("SGD")
    state = opt.init(params)
    with pytest.raises(ValueError, match="SGD needs params in update"):
        jax.jit(opt.update)(grads_at(params, 0), state)


# ---- the plain-number program ------------------------------------------------------------------


def update_text(opt: optax.GradientTransformation, params: Any) -> str:
    state = opt.init(params)
    return jax.jit(opt.update).lower(params, state, params).as_text()


@pytest.mark.parametrize(
    ("name", "options", "selects_per_leaf"),
    [
        ("SGD", {"momentum": 0.9}, 1),  # the first step's buffer = g (torch's buffer is None)
        ("SGD", {}, 0),
        ("Adam", {}, 0),
        ("AdamW", {}, 0),
        ("RMSprop", {"momentum": 0.9, "weight_decay": 0.1}, 0),
    ],
)
def test_plain_numbers_compile_without_run_time_guards(
    name: str, options: dict[str, Any], selects_per_leaf: int
) -> None:
    """With Python numbers every `if value != 0` is decided at trace time: no select beyond the
    optimizer's own, no momentum buffer for SGD's momentum 0. The injected (traced) program of the
    same optimizer does carry run-time guards, which shows the count sees them."""
    factory = getattr(optim, name)
    params = params_for(name)
    leaves = len(jax.tree.leaves(params))
    plain = update_text(factory(**options), params)
    assert plain.count("stablehlo.select") == selects_per_leaf * leaves
    if name == "SGD" and not options:
        state = optim.SGD().init(params)
        assert (state.momentum_buffer, state.momentum_started) == (None, None)
    # inject_hyperparams' own selects (its step counter), measured on optax's sgd
    overhead = update_text(optax.inject_hyperparams(optax.sgd)(learning_rate=0.1), params)
    injected = update_text(optax.inject_hyperparams(factory)(**options), params)
    guards = injected.count("stablehlo.select") - overhead.count("stablehlo.select")
    # a traced weight decay is a `where` per leaf (every case here injects one)
    assert guards >= plain.count("stablehlo.select") + leaves


# ---- L-BFGS --------------------------------------------------------------------------------------


def test_lbfgs_refuses_with_its_reason() -> None:
    """LBFGS is excluded: it takes the loss function (one torch step evaluates it many times) and
    its hyperparameters are static arguments of the compiled step. inject_hyperparams builds it
    (concrete arrays are accepted) but its update refuses, jitted or not, with that reason."""
    reason = _lbfgs.NOT_A_GRADIENT_TRANSFORMATION
    assert not isinstance(optim.LBFGS(), optax.GradientTransformation)
    params = {"x": jnp.array([-1.2, 1.0], jnp.float32)}
    opt = optax.inject_hyperparams(optim.LBFGS)(lr=1.0)
    state = opt.init(params)
    with pytest.raises(TypeError) as eager:
        opt.update(params, state, params)
    assert str(eager.value) == reason
    with pytest.raises(TypeError) as traced:
        jax.jit(opt.update)(params, state, params)
    assert reason in str(traced.value)
    assert "lr must be concrete, got a traced value" in str(traced.value)


def test_lbfgs_takes_concrete_arrays_as_numbers() -> None:
    assert repr(optim.LBFGS(lr=jnp.array(0.5), max_iter=np.array(7))) == repr(
        optim.LBFGS(lr=0.5, max_iter=7)
    )
    for key, value in [("lr", -1.0), ("max_iter", -1), ("history_size", 0), ("max_iter", 2.0)]:
        expected = raised(lambda key=key, value=value: optim.LBFGS(**{key: value}))
        actual = raised(lambda key=key, value=value: optim.LBFGS(**{key: jnp.asarray(value)}))
        assert (type(actual), str(actual)) == (type(expected), str(expected))
    with pytest.raises(TypeError, match=r"max_iter must be a real number or a 0-d array"):
        optim.LBFGS(max_iter=jnp.array([20]))
