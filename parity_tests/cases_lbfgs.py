"""Case rows for jaxmath.optim.LBFGS (issue 19). Joined into the one table by cases.py.

Each sample names a smooth, non-chaotic problem, a start and the problem's data; jaxmath, torch_ref
and torch.optim.LBFGS itself (a closure over the same loss, ``step(closure)`` called ``steps`` times)
run ``steps`` consecutive steps from the same start, and the params after each step are compared,
together with torch's bookkeeping after the last one (``n_iter``, ``func_evals``, the number of
stored pairs), which must be equal exactly.

Problems (each written once on operators, with ``xp`` = jax.numpy or torch for the few functions):

- ``bowl``: f = sum_leaves sum (a d^2 / 2 + 0.025 d^4), d = p - c, a in [0.5, 2]: separable and
  convex, over a dict / list-of-dicts / tuple pytree;
- ``logistic``: mean log(1 + exp(-y (X w + b))) + 0.05 |w|^2 / 2 (xp.logaddexp), params {w, b};
- ``mlp``: mean squared error of a 3-4-1 tanh network on 12 points, params a list of {W, b}, few
  iterations (non-convex: kept short);
- ``huber``: sum sqrt(1 + (x - 0.3)^2) from (3, -2, 0.5) (a) or (2, -1.5, 1) (b), params {x}
  (pseudo-Huber: quadratic near 0.3, linear far away, so the line search's cubic fits land near the
  bracket's ends and its zoom runs);
- ``rosenbrock``: sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 from (-1.2, 1, -0.5, 0.8), few
  iterations (ill-conditioned: float32 drifts from torch past ~10 iterations).

The options cover line_search_fn None and 'strong_wolfe', history_size below the iteration count
(eviction), max_iter and max_eval limits (max_iter = 1 leaves the line search no evaluation to
spend: torch's fallback bracket), tolerance_grad met at the start (no iteration) and a large
tolerance_change (lack-of-progress stop), max_iter = 0 and lr = 0, and two or three consecutive
minimize calls against as many ``step`` calls. Line-search branches reached (traced on torch_ref): extrapolation, Armijo
failure and the gtd >= 0 bracket (float64), the zoom's replace-high, flip and 10 % safeguard moves,
cubic fits with x1 > x2. Two settings run in float64 only (``FLOAT64_ONLY``, reason there).

Worst differences measured (any pair of the three): float64 4e-14 relative; float32 7e-7 absolute
(|p| < 3), inside the "optimizer" tolerance, so no tolerance kind of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax.numpy as jnp
import numpy as np
import torch

import torch_ref
from parity_tests.cases_optim import _tree_of_shapes as tree_of_shapes
from parity_tests.harness import (
    Case,
    ErrorInput,
    Framework,
    Reference,
    Sample,
    Tolerance,
    assert_trees_close,
    leaves,
)
from parity_tests.inputs import normal, uniform

# ------------------------------------------------------------------------------------------------
# Problems: loss(xp, data) -> (params -> scalar); the same arithmetic on JAX arrays and tensors
# ------------------------------------------------------------------------------------------------


def bowl_loss(xp: Any, data: Any) -> Callable[[Any], Any]:
    def loss(params: Any) -> Any:
        total = 0.0
        for p, a, c in zip(leaves(params), leaves(data["a"]), leaves(data["c"]), strict=True):
            d = p - c
            total = total + (0.5 * a * d * d + 0.025 * (d * d) * (d * d)).sum()
        return total

    return loss


def logistic_loss(xp: Any, data: Any) -> Callable[[Any], Any]:
    def loss(params: Any) -> Any:
        margins = data["y"] * (data["X"] @ params["w"] + params["b"])
        penalty = 0.5 * 0.05 * (params["w"] * params["w"]).sum()
        return xp.logaddexp(xp.zeros_like(margins), -margins).mean() + penalty

    return loss


def mlp_loss(xp: Any, data: Any) -> Callable[[Any], Any]:
    def loss(params: Any) -> Any:
        hidden = xp.tanh(data["X"] @ params[0]["W"] + params[0]["b"])
        error = hidden @ params[1]["W"] + params[1]["b"] - data["y"]
        return (error * error).mean()

    return loss


def huber_loss(xp: Any, data: Any) -> Callable[[Any], Any]:
    def loss(params: Any) -> Any:
        d = params["x"] - data["c"]
        return xp.sqrt(1.0 + d * d).sum()

    return loss


def rosenbrock_loss(xp: Any, data: Any) -> Callable[[Any], Any]:
    def loss(params: Any) -> Any:
        x = params["x"]
        return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()

    return loss


LOSSES = {
    "bowl": bowl_loss,
    "logistic": logistic_loss,
    "mlp": mlp_loss,
    "huber": huber_loss,
    "rosenbrock": rosenbrock_loss,
}

BOWL_LAYOUTS: dict[str, Any] = {
    "dict": {"w": (4, 3), "b": (3,)},
    "list": [{"W": (3, 2), "b": (2,)}, {"W": (2, 2), "b": (2,)}],
    "tuple": ((5,), (2, 3)),
}


def make_problem(rng: np.random.Generator, name: str, dtype: str) -> tuple[str, Any, Any]:
    """(problem name, start params, data) for ``name`` ('bowl-dict', 'logistic', ...)."""
    if name.startswith("bowl"):
        layout = BOWL_LAYOUTS[name.split("-")[1]]
        data = {
            "a": tree_of_shapes(layout, lambda shape: uniform(rng, shape, dtype, 0.5, 2.0)),
            "c": tree_of_shapes(layout, lambda shape: normal(rng, shape, dtype, 1.0)),
        }
        start = tree_of_shapes(layout, lambda shape: normal(rng, shape, dtype, 2.0))
        return "bowl", start, data
    if name == "logistic":
        X = normal(rng, (20, 3), dtype, 1.0)
        y = np.where(rng.uniform(size=20) < 0.5, -1.0, 1.0).astype(dtype)
        start = {"w": normal(rng, (3,), dtype, 1.0), "b": normal(rng, (), dtype, 1.0)}
        return "logistic", start, {"X": X, "y": y}
    if name == "mlp":
        data = {"X": normal(rng, (12, 3), dtype, 1.0), "y": normal(rng, (12, 1), dtype, 0.5)}
        start = [
            {"W": normal(rng, (3, 4), dtype, 0.5), "b": normal(rng, (4,), dtype, 0.1)},
            {"W": normal(rng, (4, 1), dtype, 0.5), "b": normal(rng, (1,), dtype, 0.1)},
        ]
        return "mlp", start, data
    if name.startswith("huber"):
        first = [3.0, -2.0, 0.5] if name == "huber-a" else [2.0, -1.5, 1.0]
        start = {"x": np.array(first, dtype=dtype)}
        return "huber", start, {"c": np.full(3, 0.3, dtype=dtype)}
    start = {"x": np.array([-1.2, 1.0, -0.5, 0.8], dtype=dtype)}
    return "rosenbrock", start, {}


# ------------------------------------------------------------------------------------------------
# Running ``steps`` minimize calls / step(closure) calls
# ------------------------------------------------------------------------------------------------


def _bookkeeping(n_iter: Any, func_evals: Any, history: Any) -> dict[str, Any]:
    return {
        "n_iter": np.asarray(n_iter, np.int64),
        "func_evals": np.asarray(func_evals, np.int64),
        "stored pairs": np.asarray(history, np.int64),
    }


def lbfgs_call(
    framework: Framework, problem: str, start: Any, data: Any, steps: int = 1, **options: Any
) -> dict[str, Any]:
    """``steps`` consecutive ``minimize`` calls, the state of each passed to the next."""
    xp = jnp if framework.name == "jaxmath" else torch
    opt = framework.package.optim.LBFGS(**options)
    loss_fn = LOSSES[problem](xp, data)
    params, state = start, None
    result: dict[str, Any] = {}
    for step in range(1, steps + 1):
        params, state = opt.minimize(loss_fn, params, state)
        result[f"step {step}"] = params
    result.update(_bookkeeping(state.n_iter, state.func_evals, state.history_count))
    return result


def torch_lbfgs(
    problem: str, start: Any, data: Any, steps: int = 1, **options: Any
) -> dict[str, Any]:
    """torch.optim.LBFGS itself: its params are the leaves of ``start`` (jax.tree order)."""
    tensors = [leaf.clone().requires_grad_(True) for leaf in torch_ref.optim.tree_leaves(start)]
    opt = torch.optim.LBFGS(tensors, **options)
    loss_fn = LOSSES[problem](torch, data)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(torch_ref.optim.tree_unflatten(start, tensors))
        loss.backward()
        return loss

    result: dict[str, Any] = {}
    for step in range(1, steps + 1):
        opt.step(closure)
        snapshot = [tensor.detach().clone() for tensor in tensors]
        result[f"step {step}"] = torch_ref.optim.tree_unflatten(start, snapshot)
    state = opt.state[tensors[0]]
    history = len(state.get("old_dirs") or [])
    result.update(_bookkeeping(state["n_iter"], state["func_evals"], history))
    return result


def compare_lbfgs(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """The reference finite, the bookkeeping equal exactly, the params leafwise close."""
    for leaf in leaves(expected):
        assert np.all(np.isfinite(np.asarray(leaf))), f"{context}: the expected params diverged"
    for key in ("n_iter", "func_evals", "stored pairs"):
        assert int(actual[key]) == int(expected[key]), (
            f"{context}: {key} {int(actual[key])} != torch's {int(expected[key])}"
        )
    assert_trees_close(actual, expected, tol, context)


# ------------------------------------------------------------------------------------------------
# Samples and bad input
# ------------------------------------------------------------------------------------------------

#: (problem, options): every branch of the step and of the line search, on a few problems.
LBFGS_SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("bowl-dict", {}),
    ("bowl-list", {"line_search_fn": "strong_wolfe", "steps": 2}),
    ("bowl-tuple", {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 12}),
    ("bowl-dict", {"history_size": 2, "max_iter": 6, "lr": 0.5, "steps": 3}),
    ("bowl-list", {"line_search_fn": "strong_wolfe", "max_iter": 10, "max_eval": 7, "steps": 3}),
    ("bowl-tuple", {"line_search_fn": "strong_wolfe", "max_iter": 1, "steps": 2}),
    ("bowl-dict", {"max_iter": 5, "max_eval": 3, "steps": 2}),
    ("bowl-list", {"tolerance_grad": 1e3, "steps": 2}),
    ("bowl-tuple", {"tolerance_change": 1e-2, "line_search_fn": "strong_wolfe", "steps": 2}),
    ("logistic", {"line_search_fn": "strong_wolfe", "max_iter": 8, "steps": 2}),
    ("logistic", {"lr": 0.5, "max_iter": 4, "history_size": 2, "steps": 2}),
    ("huber-b", {"line_search_fn": "strong_wolfe", "max_iter": 5, "steps": 2}),
    ("huber-a", {"line_search_fn": "strong_wolfe", "lr": 100.0, "max_iter": 8}),
    (
        "bowl-dict",
        {"line_search_fn": "strong_wolfe", "lr": 0.05, "max_iter": 6, "steps": 2},
    ),  # float64 only
    ("mlp", {"line_search_fn": "strong_wolfe", "max_iter": 5, "steps": 2}),  # float64 only
    ("mlp", {"lr": 0.2, "max_iter": 6}),
    (
        "rosenbrock",
        {"line_search_fn": "strong_wolfe", "lr": 10.0, "max_iter": 6, "history_size": 2},
    ),
    ("rosenbrock", {"lr": 0.02, "max_iter": 8, "steps": 2}),
    ("bowl-dict", {"max_iter": 0, "steps": 2}),  # no iteration: one evaluation per call
    # t = 0: the extrapolation's cubic through two equal points is NaN, torch takes the midpoint
    ("bowl-list", {"lr": 0.0, "line_search_fn": "strong_wolfe", "max_iter": 3}),
]


#: Settings run in float64 only (their problems are still drawn in float32, so the later rows' data
#: stay the same). Their float32 runs are ill-conditioned, not wrong: from a step as short as
#: lr / |g|_1 = 5e-4 the line search's cubic fit through two nearly collinear points (d2^2 = d1^2 -
#: g1 g2 cancels) is decided by float32 rounding of the loss, so torch.optim's own float32 run
#: ends 0.26 (bowl, lr 0.05) and 1e-5 (mlp) away from its float64 run, and XLA's summation order
#: decides differently from torch's. On every other row torch's float32 and float64 runs agree to
#: 2e-6 or better.
FLOAT64_ONLY = (13, 14)


def lbfgs_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for index, (name, options) in enumerate(LBFGS_SETTINGS):
        description = f"{name} {options}" if options else f"{name} defaults"
        problem = make_problem(rng, name, dtype)
        if dtype == "float32" and index in FLOAT64_ONLY:
            continue
        yield Sample(problem, dict(options), description)


def _tiny() -> tuple[str, Any, Any]:
    return make_problem(np.random.default_rng(0), "bowl-dict", "float64")


def lbfgs_errors() -> Iterator[ErrorInput]:
    """Bad hyperparameters, refused at construction with the same message in both packages.
    torch.optim refuses lr < 0 at construction, and the others only when stepping (an unknown
    line_search_fn, a history of 0 pairs, no evaluation left for the line search)."""

    def rejected(
        description: str, match: str, upstream: type[Exception], upstream_match: str, **options
    ) -> ErrorInput:
        return ErrorInput(
            Sample(_tiny(), options, description),
            ValueError,
            match,
            upstream_rejects=True,
            upstream_exception=upstream,
            upstream_match=upstream_match,
        )

    yield rejected(
        "lr < 0", r"lr must be >= 0.0, got -1.0", ValueError, "Invalid learning rate", lr=-1.0
    )
    yield rejected(
        "unknown line_search_fn",
        r"line_search_fn must be None or 'strong_wolfe', got 'backtracking'",
        RuntimeError,
        "only 'strong_wolfe' is supported",
        line_search_fn="backtracking",
    )
    yield rejected(
        "history_size = 0",
        r"history_size must be >= 1, got 0",
        IndexError,
        "pop from empty list",
        history_size=0,
    )
    yield rejected(
        "max_eval = 0 with the line search",
        r"max_eval must be >= 1, got 0",
        UnboundLocalError,
        "bracket",
        max_eval=0,
        line_search_fn="strong_wolfe",
    )
    yield ErrorInput(
        Sample(_tiny(), {"max_iter": -1}, "max_iter < 0"),
        ValueError,
        r"max_iter must be >= 0, got -1",
    )
    yield ErrorInput(
        Sample(_tiny(), {"max_iter": 2.5}, "max_iter not an int"),
        TypeError,
        r"max_iter must be an int, got 2.5",
    )
    yield ErrorInput(
        Sample(_tiny(), {"tolerance_grad": "1e-7"}, "tolerance_grad a string"),
        TypeError,
        r"tolerance_grad must be a real number, got '1e-7'",
    )
    yield ErrorInput(
        Sample(_tiny(), {"tolerance_change": float("nan")}, "tolerance_change NaN"),
        ValueError,
        r"tolerance_change must not be NaN, got nan",
    )
    _, start, data = _tiny()
    mixed = {"w": start["w"], "b": start["b"].astype(np.float32)}
    yield ErrorInput(
        Sample(("bowl", mixed, data), {}, "params of two dtypes"),
        TypeError,
        r"params must be floating-point arrays of one dtype, got dtypes \['float32', 'float64'\]",
    )


LBFGS_CASES = [
    Case(
        "LBFGS",
        "optim",
        lbfgs_samples,
        references=(Reference("torch.optim.LBFGS", torch_lbfgs),),
        error_inputs=lbfgs_errors,
        grad_argnums=(),
        kind="optimizer",
        call=lbfgs_call,
        compare=compare_lbfgs,
        # minimize is itself one jax.jit (a while_loop) whose loss_fn is static; the rows build a new
        # loss closure per call, so an outer jit of the row would only re-trace it. tests/test_lbfgs
        # checks minimize under jax.jit and jax.vmap, and that it does not recompile between calls.
        jit=False,
    )
]
