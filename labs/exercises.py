"""Checkers for the labs' exercises: run the student's function on random cases against jaxmath.

One checker per exercise (``check_softmax``, ``check_linear_backward``, ...; :data:`CHECKERS` lists
them). Each takes the student's function, calls it on a few fixed-seed random cases (edge cases
included: exact zeros for ReLU, logits of 1000 for softmax, tiny gradients for Adam's eps, p = q for
KL), compares every output with the jaxmath reference, and returns a :class:`CheckResult` whose
``str()`` is a message a student can act on:

- ``passed``, with the number of cases and the largest difference;
- ``not yet implemented`` when the function raises ``NotImplementedError`` (the notebook's stub);
- otherwise which case failed, which output, by how much and where, and a hint. The hint names the
  mistake when the student's output equals that of a known typical mistake on that case (the
  checker computes each mistake's output in NumPy: a transposed weight gradient, the ReLU mask
  ``x >= 0``, Adam without bias correction, layer instead of filter normalisation, an off-by-one
  rank, LoRA without ``alpha / r``, a log-density without its normalising constant, KL with its
  arguments swapped, ...); else a general hint for that exercise.

This module lives in ``labs/``, not ``jaxmath/``: every ``jaxmath`` module must have a ``torch_ref``
twin and parity rows, and checkers of student code are teaching tools, not library functions.
Inputs are float32 jax arrays (what ``jnp`` computes with by default); tolerances are float32's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Outputs = tuple[np.ndarray, ...]

#: |got - expected| <= ATOL + RTOL * |expected|, elementwise (float32 arithmetic on both sides).
RTOL, ATOL = 1e-4, 1e-5


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """What a checker found. ``str()`` (and the notebook's display) is :attr:`message`."""

    exercise: str  # the function's name, e.g. "relu_backward"
    status: str  # "passed" | "failed" | "not implemented"
    message: str  # the full text shown to the student
    hint: str | None = None  # the hint part of a failure, None when passed / not implemented
    mistake: str | None = None  # the recognised typical mistake's name, if any

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message


@dataclasses.dataclass(frozen=True)
class Case:
    """One call: ``function(*args, **kwargs)``; ``description`` says what is special about it."""

    description: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


Hint = str | Callable[[Case, Outputs, Outputs], str]


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: ``compute`` returns what that mistake returns (NumPy, float64)."""

    name: str
    hint: Hint  # a string, or hint(case, got, expected) -> string
    compute: Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Exercise:
    name: str
    signature: str  # shown in messages, e.g. "relu_backward(grad_output, x)"
    reference: Callable[..., Any]  # same signature as the student's function
    reference_name: str  # e.g. "jaxmath.backprop.relu_backward"
    cases: Callable[[], list[Case]]
    outputs: tuple[str, ...]  # names of the returned values, e.g. ("grad_x", "grad_W", "grad_b")
    mistakes: tuple[Mistake, ...]
    general_hint: str  # when no known mistake matches


# ------------------------------------------------------------------------------------------------
# The checking loop
# ------------------------------------------------------------------------------------------------


def _as_outputs(value: Any, names: Sequence[str]) -> Outputs:
    """A returned value as a tuple of float64 arrays, one per name; TypeError if it is not."""
    if value is None:
        raise TypeError("returned None: is a `return` statement missing?")
    if len(names) == 1:
        return (np.asarray(value, dtype=np.float64),)
    if not isinstance(value, tuple | list) or len(value) != len(names):
        got = f"a {type(value).__name__}" + (
            f" of {len(value)}" if isinstance(value, tuple | list) else ""
        )
        raise TypeError(f"returned {got}; expected a tuple of {len(names)}: ({', '.join(names)})")
    return tuple(np.asarray(item, dtype=np.float64) for item in value)


def _close(got: np.ndarray, expected: np.ndarray) -> bool:
    return got.shape == expected.shape and bool(
        np.all(np.isclose(got, expected, rtol=RTOL, atol=ATOL, equal_nan=True))
    )


def _where_worst(got: np.ndarray, expected: np.ndarray) -> tuple[float, str]:
    """The largest |got - expected| (inf where one is not finite) and a sentence locating it."""
    with np.errstate(invalid="ignore", over="ignore"):
        difference = np.abs(got - expected)
    difference = np.where(np.isnan(difference), np.inf, difference)
    flat = int(np.argmax(difference))
    index = np.unravel_index(flat, expected.shape) if expected.ndim else ()
    where = f" at index {tuple(int(i) for i in index)}" if expected.ndim else ""
    return float(difference.flat[flat]), (
        f"{where}: yours {got.flat[flat]:.6g}, expected {expected.flat[flat]:.6g}"
    )


def _describe_args(case: Case) -> str:
    shapes = []
    for value in case.args:
        array = np.asarray(value)
        shapes.append(str(tuple(array.shape)) if array.ndim else f"{float(array):g}")
    return ", ".join(shapes)


def _matching_mistake(
    exercise: Exercise, case: Case, position: int, got: np.ndarray, expected: np.ndarray
) -> Mistake | None:
    """The first known mistake whose output ``position`` equals the student's (and not the
    reference's) on this case."""
    arrays = [np.asarray(value, dtype=np.float64) for value in case.args]
    kwargs = {
        name: np.asarray(value, np.float64) if isinstance(value, np.ndarray) else value
        for name, value in case.kwargs.items()
    }
    for mistake in exercise.mistakes:
        try:
            with np.errstate(all="ignore"):
                wrong = _as_outputs(mistake.compute(*arrays, **kwargs), exercise.outputs)[position]
        except Exception:  # a mistake that cannot even run on this case cannot be the student's
            continue
        if _close(got, wrong) and not _close(expected, wrong):
            return mistake
    return None


def _hint_text(hint: Hint, case: Case, got: Outputs, expected: Outputs) -> str:
    return hint(case, got, expected) if callable(hint) else hint


def check(exercise: Exercise, function: Callable[..., Any]) -> CheckResult:
    """Run ``function`` on the exercise's cases; the first failing case is reported with a hint."""
    name = exercise.name
    if not callable(function):
        message = (
            f"{name}: expected a function {exercise.signature}, got {type(function).__name__}."
        )
        return CheckResult(name, "failed", message, hint=None)
    cases = exercise.cases()
    worst = 0.0
    for number, case in enumerate(cases, start=1):
        expected = _as_outputs(exercise.reference(*case.args, **case.kwargs), exercise.outputs)
        label = (
            f"case {number} of {len(cases)} ({case.description}; arguments {_describe_args(case)})"
        )
        try:
            returned = function(*case.args, **case.kwargs)
        except NotImplementedError:
            return CheckResult(
                name,
                "not implemented",
                f"{name}: not yet implemented: replace the `raise NotImplementedError` line with "
                "your code, then run this cell again.",
            )
        except Exception as error:
            hint = exercise.general_hint
            message = f"{name}: {label} raised {type(error).__name__}: {error}\nHint: {hint}"
            return CheckResult(name, "failed", message, hint=hint)
        try:
            got = _as_outputs(returned, exercise.outputs)
        except (TypeError, ValueError) as error:
            hint = f"return {', '.join(exercise.outputs)} as {exercise.signature} says."
            return CheckResult(name, "failed", f"{name}: {label} {error}\nHint: {hint}", hint=hint)
        for position, (output, mine, reference) in enumerate(
            zip(exercise.outputs, got, expected, strict=True)
        ):
            if _close(mine, reference):
                if mine.size:
                    worst = max(worst, float(np.max(np.abs(mine - reference))))
                continue
            mistake = _matching_mistake(exercise, case, position, mine, reference)
            hint = (
                _hint_text(mistake.hint, case, got, expected) if mistake else exercise.general_hint
            )
            what = output if len(exercise.outputs) > 1 else "the result"
            if mine.shape != reference.shape:
                problem = f"{what} has shape {mine.shape}, expected {reference.shape}"
            else:
                size, where = _where_worst(mine, reference)
                problem = f"{what} is off by up to {size:.3g}{where}"
            message = f"{name}: {label}: {problem}.\nHint: {hint}"
            return CheckResult(
                name, "failed", message, hint=hint, mistake=mistake.name if mistake else None
            )
    message = (
        f"{name}: passed: {len(cases)} cases ({'; '.join(case.description for case in cases)}) "
        f"agree with {exercise.reference_name} (largest difference {worst:.1e})."
    )
    return CheckResult(name, "passed", message)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _f32(*arrays: np.ndarray) -> tuple[Any, ...]:
    """Inputs as float32 jax arrays (what the student's jnp code computes with)."""
    import jax.numpy as jnp

    return tuple(jnp.asarray(np.asarray(a, np.float32)) for a in arrays)


# ------------------------------------------------------------------------------------------------
# 1.4.0: softmax
# ------------------------------------------------------------------------------------------------


def _softmax_cases() -> list[Case]:
    rng = _rng(140)
    return [
        Case("one vector", _f32(rng.normal(size=4))),
        Case("a batch of rows", _f32(3.0 * rng.normal(size=(3, 5)))),
        Case("logits near 1000", _f32(1000.0 + rng.normal(size=(2, 6)))),
    ]


def _softmax_reference(logits: Any) -> Any:
    from jaxmath import activations

    return activations.softmax(logits)


def _np_exp_normalised(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


SOFTMAX = Exercise(
    name="softmax",
    signature="softmax(logits) -> probabilities over the last axis",
    reference=_softmax_reference,
    reference_name="jaxmath.activations.softmax",
    cases=_softmax_cases,
    outputs=("probabilities",),
    mistakes=(
        Mistake(
            "no max subtraction",
            "overflow: exp(1000) is inf in float32 and inf / inf is nan. Subtract each row's max "
            "first: softmax(z) = softmax(z - max(z)), and then every exponent is <= 0.",
            lambda x: (
                np.exp(x.astype(np.float32))
                / np.sum(np.exp(x.astype(np.float32)), -1, keepdims=True)
            ),
        ),
        Mistake(
            "wrong axis",
            "each row must sum to 1: normalise over the last axis (axis=-1, keepdims=True); you "
            "normalised over the first axis (down the columns).",
            lambda x: _np_exp_normalised(x, 0),
        ),
        Mistake(
            "not normalised",
            "divide by the sum of the exponentials: the probabilities of a row must sum to 1.",
            lambda x: np.exp(x - np.max(x, axis=-1, keepdims=True)),
        ),
        Mistake(
            "log_softmax",
            "you returned log-probabilities (log_softmax); softmax is their exp.",
            lambda x: np.log(_np_exp_normalised(x, -1)),
        ),
    ),
    general_hint="softmax(z)_i = exp(z_i - m) / sum_j exp(z_j - m) with m = max_j z_j, over the "
    "last axis (jnp.max / jnp.sum with axis=-1, keepdims=True).",
)


def check_softmax(softmax: Callable[..., Any]) -> CheckResult:
    """Check ``softmax(logits)`` (last axis) against ``jaxmath.activations.softmax``."""
    return check(SOFTMAX, softmax)


# ------------------------------------------------------------------------------------------------
# 1.4.1: linear and ReLU backward
# ------------------------------------------------------------------------------------------------


def _linear_cases() -> list[Case]:
    rng = _rng(141)
    shapes = [(5, 3, 4, "N=5, in=3, out=4"), (1, 2, 6, "a single row"), (8, 4, 4, "square W")]
    return [
        Case(text, _f32(rng.normal(size=(n, o)), rng.normal(size=(n, i)), rng.normal(size=(i, o))))
        for n, i, o, text in shapes
    ]


def _linear_reference(grad_output: Any, x: Any, W: Any) -> Any:
    from jaxmath import backprop

    return backprop.linear_backward(grad_output, x, W)


LINEAR_BACKWARD = Exercise(
    name="linear_backward",
    signature="linear_backward(grad_output, x, W) -> (grad_x, grad_W, grad_b)",
    reference=_linear_reference,
    reference_name="jaxmath.backprop.linear_backward",
    cases=_linear_cases,
    outputs=("grad_x", "grad_W", "grad_b"),
    mistakes=(
        Mistake(
            "transposed weight gradient",
            "transposed weight gradient: dL/dW = x^T @ grad_output has W's shape (in, out); you "
            "returned its transpose (grad_output^T @ x, torch's (out, in) layout).",
            lambda g, x, W: (g @ W.T, g.T @ x, g.sum(0)),
        ),
        Mistake(
            "grad_x without transpose",
            "grad_x = grad_output @ W^T: (N, out) @ (out, in) gives (N, in), the shape of x.",
            lambda g, x, W: (g @ W, x.T @ g, g.sum(0)),
        ),
        Mistake(
            "bias gradient averaged",
            "the bias gradient sums grad_output over the batch (axis 0); you averaged it, N times "
            "too small (a mean loss's 1/N is already inside grad_output).",
            lambda g, x, W: (g @ W.T, x.T @ g, g.mean(0)),
        ),
        Mistake(
            "bias gradient not reduced",
            "b is shared by all N rows: sum grad_output over axis 0, giving shape (out,).",
            lambda g, x, W: (g @ W.T, x.T @ g, g),
        ),
        Mistake(
            "weight gradient averaged",
            "the weight gradient is x^T @ grad_output, without dividing by N (a mean loss's 1/N "
            "is already inside grad_output).",
            lambda g, x, W: (g @ W.T, x.T @ g / x.shape[0], g.sum(0)),
        ),
    ),
    general_hint="for z = x W + b: grad_x = grad_output @ W^T (N, in), grad_W = x^T @ grad_output "
    "(in, out), grad_b = grad_output summed over axis 0 (out,).",
)


def check_linear_backward(linear_backward: Callable[..., Any]) -> CheckResult:
    """Check ``linear_backward(grad_output, x, W) -> (grad_x, grad_W, grad_b)`` for z = x W + b."""
    return check(LINEAR_BACKWARD, linear_backward)


def _relu_cases() -> list[Case]:
    rng = _rng(1411)
    x = rng.normal(size=(4, 5))
    x[rng.random(size=x.shape) < 0.3] = 0.0
    edge = np.array([-1.0, 0.0, 0.0, 2.0, 0.0, 3.0])
    return [
        Case("random input with exact zeros", _f32(rng.normal(size=(4, 5)), x)),
        Case("x = [-1, 0, 0, 2, 0, 3], upstream gradient -1.5", _f32(np.full(6, -1.5), edge)),
        Case("a vector", _f32(rng.normal(size=7), rng.normal(size=7))),
    ]


def _relu_reference(grad_output: Any, x: Any) -> Any:
    from jaxmath import backprop

    return backprop.relu_backward(grad_output, x)


RELU_BACKWARD = Exercise(
    name="relu_backward",
    signature="relu_backward(grad_output, x) -> grad_x",
    reference=_relu_reference,
    reference_name="jaxmath.backprop.relu_backward",
    cases=_relu_cases,
    outputs=("grad_x",),
    mistakes=(
        Mistake(
            "mask includes 0",
            "at x = 0 the ReLU's derivative is taken as 0 (torch and jaxmath): use the mask x > 0, "
            "not x >= 0.",
            lambda g, x: np.where(x >= 0, g, 0.0),
        ),
        Mistake(
            "masked by grad_output",
            "mask with the layer's input x (where the forward pass was positive), not with the "
            "sign of grad_output.",
            lambda g, x: np.where(g > 0, g, 0.0),
        ),
        Mistake(
            "mask only",
            "multiply the upstream gradient by the mask (chain rule: grad_output * relu'(x)); you "
            "returned the 0/1 mask alone.",
            lambda g, x: (x > 0).astype(np.float64),
        ),
        Mistake(
            "relu instead of its derivative",
            "relu'(x) is 0 or 1, not relu(x): multiply grad_output by the mask [x > 0].",
            lambda g, x: g * np.maximum(x, 0.0),
        ),
    ),
    general_hint="grad_x = grad_output where x > 0, and 0 elsewhere (x = 0 included): "
    "jnp.where(x > 0, grad_output, 0.0).",
)


def check_relu_backward(relu_backward: Callable[..., Any]) -> CheckResult:
    """Check ``relu_backward(grad_output, x)`` (derivative 0 at x = 0, as torch)."""
    return check(RELU_BACKWARD, relu_backward)


# ------------------------------------------------------------------------------------------------
# 1.4.2: one Adam step
# ------------------------------------------------------------------------------------------------


def _adam_cases() -> list[Case]:
    rng = _rng(142)
    settings = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}
    cases = []
    param, grad = rng.normal(size=5), rng.normal(size=5)
    zeros = np.zeros(5)
    cases.append(Case("step 1 from zero moments", (*_f32(param, grad, zeros, zeros), 1), settings))
    param, grad = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    exp_avg, exp_avg_sq = 0.1 * rng.normal(size=(3, 4)), 0.01 * rng.random(size=(3, 4))
    cases.append(
        Case(
            "step 10, lr 0.1, betas (0.8, 0.99)",
            (*_f32(param, grad, exp_avg, exp_avg_sq), 10),
            {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-8},
        )
    )
    param, grad = rng.normal(size=6), rng.normal(size=6)
    exp_avg, exp_avg_sq = 0.1 * rng.normal(size=6), 0.01 * rng.random(size=6)
    cases.append(Case("step 1000", (*_f32(param, grad, exp_avg, exp_avg_sq), 1000), settings))
    param, grad = rng.normal(size=4), 1e-6 * rng.normal(size=4)
    cases.append(
        Case(
            "step 1, gradients of 1e-6 (eps matters)",
            (*_f32(param, grad, np.zeros(4), np.zeros(4)), 1),
            settings,
        )
    )
    return cases


def _adam_reference(
    param: Any,
    grad: Any,
    exp_avg: Any,
    exp_avg_sq: Any,
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> Any:
    import jax.numpy as jnp

    from jaxmath import optim

    optimizer = optim.Adam(lr=lr, betas=betas, eps=eps)
    state = optim.AdamState(jnp.asarray(step - 1, jnp.int32), exp_avg, exp_avg_sq, None)
    updates, state = optimizer.update(grad, state, param)
    return optim.apply_updates(param, updates), state.exp_avg, state.exp_avg_sq


def _adam_variant(
    first_correction: bool = True,
    second_correction: bool = True,
    eps_inside: bool = False,
    swapped_beta: bool = False,
    squared: bool = True,
    sign: float = -1.0,
    step_offset: int = 0,
) -> Callable[..., Any]:
    """Adam with one thing changed, in float64 NumPy (for recognising a student's mistake)."""

    def step_fn(p, g, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        beta1, beta2 = betas
        m = beta1 * g + (1 - beta1) * m if swapped_beta else beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * (g * g if squared else g)
        t = int(step) - step_offset
        m_hat = m / (1 - beta1**t) if first_correction else m
        v_hat = v / (1 - beta2**t) if second_correction else v
        denom = np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps
        return p + sign * lr * m_hat / denom, m, v

    return step_fn


def _step_ratio(case: Case, got: Outputs, expected: Outputs) -> str:
    """'N.Nx too small/large': the size of the student's parameter change over the reference's."""
    param = np.asarray(case.args[0], np.float64)
    mine, reference = np.abs(got[0] - param), np.abs(expected[0] - param)
    ratio = float(np.median(mine / np.where(reference > 0, reference, np.nan)))
    if not math.isfinite(ratio) or ratio == 0:
        return "your update has the wrong size"
    step = case.args[4]
    size = f"{ratio:.3g}x too large" if ratio > 1 else f"{1 / ratio:.3g}x too small"
    return f"your step-{step} update is {size}"


ADAM_STEP = Exercise(
    name="adam_step",
    signature="adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), "
    "eps=1e-8) -> (param, exp_avg, exp_avg_sq)",
    reference=_adam_reference,
    reference_name="jaxmath.optim.Adam (torch.optim.Adam)",
    cases=_adam_cases,
    outputs=("param", "exp_avg", "exp_avg_sq"),
    mistakes=(
        Mistake(
            "no bias correction",
            lambda case, got, expected: (
                f"bias correction missing: {_step_ratio(case, got, expected)}. m and v start at 0, "
                "so divide them by (1 - beta1^t) and (1 - beta2^t)."
            ),
            _adam_variant(first_correction=False, second_correction=False),
        ),
        Mistake(
            "no first-moment bias correction",
            lambda case, got, expected: (
                f"bias correction of the first moment missing: {_step_ratio(case, got, expected)}. "
                "Use m_hat = m / (1 - beta1^t)."
            ),
            _adam_variant(first_correction=False),
        ),
        Mistake(
            "no second-moment bias correction",
            lambda case, got, expected: (
                f"bias correction of the second moment missing: {_step_ratio(case, got, expected)}."
                " Use v_hat = v / (1 - beta2^t)."
            ),
            _adam_variant(second_correction=False),
        ),
        Mistake(
            "step counted from 0",
            "`step` is the number of the step being taken, t >= 1 (torch increments it before the "
            "update): the bias corrections use beta^step, not beta^(step - 1).",
            _adam_variant(step_offset=1),
        ),
        Mistake(
            "eps inside the square root",
            "eps goes outside the square root: sqrt(v_hat) + eps, not sqrt(v_hat + eps) (the two "
            "differ when gradients are tiny).",
            _adam_variant(eps_inside=True),
        ),
        Mistake(
            "betas swapped in the average",
            "the moving averages keep beta of the old value: m = beta1 * m + (1 - beta1) * g (and "
            "v likewise with beta2); you put beta on the new gradient.",
            _adam_variant(swapped_beta=True),
        ),
        Mistake(
            "v of g instead of g^2",
            "the second moment averages the squared gradient: v = beta2 * v + (1 - beta2) * g**2.",
            _adam_variant(squared=False),
        ),
        Mistake(
            "ascending",
            "step against the gradient: param - lr * m_hat / (sqrt(v_hat) + eps).",
            _adam_variant(sign=1.0),
        ),
    ),
    general_hint="m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2; param - lr * "
    "(m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps); return the new param, m and v.",
)


def check_adam_step(adam_step: Callable[..., Any]) -> CheckResult:
    """Check one Adam step (torch.optim.Adam's update, weight decay 0) against ``jaxmath.optim``."""
    return check(ADAM_STEP, adam_step)


# ------------------------------------------------------------------------------------------------
# 1.4.3: filter normalisation
# ------------------------------------------------------------------------------------------------


def _filter_cases() -> list[Case]:
    rng = _rng(143)
    shapes = [
        ((4, 3), "a dense W (in=4, out=3)"),
        ((6, 6), "a square W"),
        ((3, 3, 2, 4), "a conv kernel (3, 3, in=2, out=4)"),
    ]
    return [
        Case(
            text,
            _f32(rng.normal(size=shape), rng.normal(size=shape) * rng.uniform(0.1, 3.0, shape[-1])),
        )
        for shape, text in shapes
    ]


def _filter_reference(direction: Any, param: Any) -> Any:
    from jaxmath import landscape

    return landscape.normalize_direction(direction, param)


def _filter_norms(a: np.ndarray, axis: int) -> np.ndarray:
    others = tuple(i for i in range(a.ndim) if i != axis % a.ndim)
    return np.sqrt(np.sum(a * a, axis=others, keepdims=True))


FILTER_NORMALIZE = Exercise(
    name="filter_normalize",
    signature="filter_normalize(direction, param) -> direction rescaled filter by filter",
    reference=_filter_reference,
    reference_name="jaxmath.landscape.normalize_direction (normalization='filter')",
    cases=_filter_cases,
    outputs=("direction",),
    mistakes=(
        Mistake(
            "layer normalisation",
            "you normalised the whole layer (one norm for the whole array: 'layer' normalisation). "
            "Filter normalisation rescales each filter d_j, the slice at index j of the last "
            "(output) axis, to its parameter's norm ||theta_j||.",
            lambda d, p: d * np.linalg.norm(p) / np.linalg.norm(d),
        ),
        Mistake(
            "wrong axis",
            "wrong axis: in jax's layout a filter is the slice along the LAST (output) axis, a "
            "column W[:, j] of W (in, out); you normalised along the first axis (torch's (out, in) "
            "layout).",
            lambda d, p: d * _filter_norms(p, 0) / _filter_norms(d, 0),
        ),
        Mistake(
            "unit filters",
            "rescale each filter to its parameter's norm ||theta_j||, not to norm 1.",
            lambda d, p: d / _filter_norms(d, -1),
        ),
        Mistake(
            "ratio inverted",
            "the ratio is upside down: d_j * ||theta_j|| / ||d_j||.",
            lambda d, p: d * _filter_norms(d, -1) / _filter_norms(p, -1),
        ),
    ),
    general_hint="for each j (index of the last axis), with norms over all the other axes: "
    "d_j * ||theta_j|| / (||d_j|| + 1e-10); a norm over several axes is jnp.sqrt(jnp.sum(a * a, "
    "axis=tuple(range(a.ndim - 1)), keepdims=True)).",
)


def check_filter_normalize(filter_normalize: Callable[..., Any]) -> CheckResult:
    """Check ``filter_normalize(direction, param)`` (one array of >= 2 dims, output axis last)."""
    return check(FILTER_NORMALIZE, filter_normalize)


# ------------------------------------------------------------------------------------------------
# 1.4.4: rank-k approximation and the LoRA forward
# ------------------------------------------------------------------------------------------------


def _rank_cases() -> list[Case]:
    rng = _rng(144)
    shapes = [((6, 4), 2, "tall, k=2"), ((5, 8), 1, "wide, k=1"), ((7, 7), 3, "square, k=3")]
    return [Case(text, (*_f32(rng.normal(size=shape)), k)) for shape, k, text in shapes]


def _rank_reference(a: Any, k: int) -> Any:
    from jaxmath import lowrank

    return lowrank.low_rank_approx(a, k)


def _np_rank(a: np.ndarray, k: int, scale: bool = True, smallest: bool = False) -> np.ndarray:
    U, S, Vh = np.linalg.svd(a, full_matrices=False)
    k = max(0, min(int(k), len(S)))
    chosen = slice(len(S) - k, len(S)) if smallest else slice(0, k)
    return (U[:, chosen] * (S[chosen] if scale else 1.0)) @ Vh[chosen]


RANK_K_APPROX = Exercise(
    name="rank_k_approx",
    signature="rank_k_approx(a, k) -> the best rank-k approximation of a (same shape)",
    reference=_rank_reference,
    reference_name="jaxmath.lowrank.low_rank_approx",
    cases=_rank_cases,
    outputs=("approximation",),
    mistakes=(
        Mistake(
            "k + 1 components",
            "off by one: you kept k + 1 singular values; U[:, :k], S[:k] and Vh[:k] keep exactly k.",
            lambda a, k: _np_rank(a, int(k) + 1),
        ),
        Mistake(
            "k - 1 components",
            "off by one: you kept k - 1 singular values; U[:, :k], S[:k] and Vh[:k] keep exactly k.",
            lambda a, k: _np_rank(a, int(k) - 1),
        ),
        Mistake(
            "singular values dropped",
            "scale by the singular values: A_k = U_k diag(S_k) Vh_k (e.g. (U[:, :k] * S[:k]) @ "
            "Vh[:k]); you multiplied U_k by Vh_k directly.",
            lambda a, k: _np_rank(a, k, scale=False),
        ),
        Mistake(
            "smallest singular values",
            "keep the LARGEST k singular values: the SVD returns them in descending order, so the "
            "first k.",
            lambda a, k: _np_rank(a, k, smallest=True),
        ),
    ),
    general_hint="U, S, Vh = jnp.linalg.svd(a, full_matrices=False); return (U[:, :k] * S[:k]) @ "
    "Vh[:k] (Eckart-Young: the best rank-k approximation in the Frobenius and spectral norms).",
)


def check_rank_k_approx(rank_k_approx: Callable[..., Any]) -> CheckResult:
    """Check ``rank_k_approx(a, k)`` against ``jaxmath.lowrank.low_rank_approx``."""
    return check(RANK_K_APPROX, rank_k_approx)


def _lora_cases() -> list[Case]:
    rng = _rng(1441)

    def case(
        text: str, batch: tuple[int, ...], d_in: int, d_out: int, r: int, alpha: float
    ) -> Case:
        arrays = _f32(
            rng.normal(size=(*batch, d_in)),
            rng.normal(size=(d_out, d_in)) / math.sqrt(d_in),
            rng.normal(size=(r, d_in)) / math.sqrt(d_in),
            rng.normal(size=(d_out, r)),  # B != 0: PEFT starts it at 0, which would hide mistakes
        )
        return Case(text, (*arrays, alpha))

    return [
        case("d_in=6, d_out=4, r=2, alpha=16", (5,), 6, 4, 2, 16.0),
        case("d_in=d_out=8, r=4, alpha=8", (3,), 8, 8, 4, 8.0),
        case("a batch of shape (2, 3), r=1, alpha=2", (2, 3), 5, 7, 1, 2.0),
    ]


def _lora_reference(x: Any, weight: Any, A: Any, B: Any, alpha: float) -> Any:
    from jaxmath import lowrank

    return lowrank.lora_forward(x, weight, A, B, alpha / A.shape[0])


def _np_lora(scaling: Callable[[float, int], float], base: bool = True) -> Callable[..., Any]:
    def forward(x, weight, A, B, alpha):
        adapter = scaling(float(alpha), A.shape[0]) * ((x @ A.T) @ B.T)
        return adapter + (x @ weight.T if base else 0.0)

    return forward


LORA_FORWARD = Exercise(
    name="lora_forward",
    signature="lora_forward(x, weight, A, B, alpha) -> y; weight (out, in), A (r, in), B (out, r)",
    reference=_lora_reference,
    reference_name="jaxmath.lowrank.lora_forward (peft.tuners.lora.Linear)",
    cases=_lora_cases,
    outputs=("y",),
    mistakes=(
        Mistake(
            "no scaling",
            "missing the LoRA scaling alpha / r: y = x W^T + (alpha / r) (x A^T) B^T (PEFT's "
            "Linear.forward; r = A.shape[0]).",
            _np_lora(lambda alpha, r: 1.0),
        ),
        Mistake(
            "scaling alpha",
            "scale the adapter by alpha / r, not alpha: dividing by the rank keeps the update's "
            "size steady when you change r.",
            _np_lora(lambda alpha, r: alpha),
        ),
        Mistake(
            "scaling r / alpha",
            "the scaling is alpha / r; you used r / alpha.",
            _np_lora(lambda alpha, r: r / alpha),
        ),
        Mistake(
            "base path missing",
            "the frozen path x W^T is missing: LoRA ADDS (alpha / r) x A^T B^T to the base layer's "
            "output.",
            _np_lora(lambda alpha, r: alpha / r, base=False),
        ),
    ),
    general_hint="weight is (out, in), A (r, in), B (out, r): y = x @ weight.T + (alpha / r) * "
    "((x @ A.T) @ B.T), with r = A.shape[0] (never form weight + s B A: that costs d_out d_in).",
)


def check_lora_forward(lora_forward: Callable[..., Any]) -> CheckResult:
    """Check ``lora_forward(x, weight, A, B, alpha)`` (scaling alpha / r) against jaxmath/PEFT."""
    return check(LORA_FORWARD, lora_forward)


# ------------------------------------------------------------------------------------------------
# 1.4.5: a normal log-density and KL(p || q) between normals
# ------------------------------------------------------------------------------------------------

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_prob_cases() -> list[Case]:
    rng = _rng(145)
    return [
        Case("standard normal", _f32(rng.normal(size=6), 0.0, 1.0)),
        Case("loc 2, scale 0.5", _f32(2.0 + rng.normal(size=5), 2.0, 0.5)),
        Case(
            "per-column loc and scale, broadcast over rows",
            _f32(rng.normal(size=(3, 4)), rng.normal(size=4), rng.uniform(0.5, 3.0, size=4)),
        ),
    ]


def _log_prob_reference(x: Any, loc: Any, scale: Any) -> Any:
    from jaxmath import distributions

    return distributions.Normal(loc, scale).log_prob(x)


NORMAL_LOG_PROB = Exercise(
    name="normal_log_prob",
    signature="normal_log_prob(x, loc, scale) -> log N(x; loc, scale^2), broadcasting",
    reference=_log_prob_reference,
    reference_name="jaxmath.distributions.Normal.log_prob",
    cases=_log_prob_cases,
    outputs=("log_prob",),
    mistakes=(
        Mistake(
            "no normalising constant",
            f"missing the normalising constant -log(2 pi) / 2 = -{_HALF_LOG_2PI:.4f}: your values "
            f"are all {_HALF_LOG_2PI:.4f} too high.",
            lambda x, m, s: -0.5 * ((x - m) / s) ** 2 - np.log(s),
        ),
        Mistake(
            "no -log(scale)",
            "missing -log(scale): the density is exp(-z^2 / 2) / (scale sqrt(2 pi)), so its log "
            "has -log(scale).",
            lambda x, m, s: -0.5 * ((x - m) / s) ** 2 - _HALF_LOG_2PI,
        ),
        Mistake(
            "divided by scale, not variance",
            "z = (x - loc) / scale, squared: you divided the squared error by scale instead of "
            "scale^2 (the variance).",
            lambda x, m, s: -0.5 * (x - m) ** 2 / s - np.log(s) - _HALF_LOG_2PI,
        ),
        Mistake(
            "no 1/2 in the exponent",
            "the exponent is -z^2 / 2; you dropped the 1/2.",
            lambda x, m, s: -(((x - m) / s) ** 2) - np.log(s) - _HALF_LOG_2PI,
        ),
        Mistake(
            "density, not its log",
            "return the log of the density (log_prob), not the density itself.",
            lambda x, m, s: np.exp(-0.5 * ((x - m) / s) ** 2 - np.log(s) - _HALF_LOG_2PI),
        ),
    ),
    general_hint="log p(x) = -z^2 / 2 - log(scale) - log(2 pi) / 2 with z = (x - loc) / scale.",
)


def check_normal_log_prob(normal_log_prob: Callable[..., Any]) -> CheckResult:
    """Check ``normal_log_prob(x, loc, scale)`` against ``jaxmath.distributions.Normal.log_prob``."""
    return check(NORMAL_LOG_PROB, normal_log_prob)


def _kl_cases() -> list[Case]:
    rng = _rng(1451)
    return [
        Case("scalars: N(0, 1) vs N(1, 2^2)", _f32(0.0, 1.0, 1.0, 2.0)),
        Case(
            "vectors",
            _f32(
                rng.normal(size=5),
                rng.uniform(0.3, 2.0, 5),
                rng.normal(size=5),
                rng.uniform(0.3, 2.0, 5),
            ),
        ),
        Case("p = q (KL must be 0)", _f32([0.5, -1.0], [1.5, 0.7], [0.5, -1.0], [1.5, 0.7])),
    ]


def _kl_reference(loc_p: Any, scale_p: Any, loc_q: Any, scale_q: Any) -> Any:
    from jaxmath import distributions

    return distributions.kl_divergence(
        distributions.Normal(loc_p, scale_p), distributions.Normal(loc_q, scale_q)
    )


def _np_kl(mp: Any, sp: Any, mq: Any, sq: Any) -> Any:
    return np.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5


KL_NORMAL = Exercise(
    name="kl_normal",
    signature="kl_normal(loc_p, scale_p, loc_q, scale_q) -> KL(p || q), broadcasting",
    reference=_kl_reference,
    reference_name="jaxmath.distributions.kl_divergence(Normal, Normal)",
    cases=_kl_cases,
    outputs=("kl",),
    mistakes=(
        Mistake(
            "arguments swapped",
            "you computed KL(q || p): KL is not symmetric. KL(p || q) = E_p[log p - log q], the "
            "expectation over p (the first argument).",
            lambda mp, sp, mq, sq: _np_kl(mq, sq, mp, sp),
        ),
        Mistake(
            "no -1/2",
            "missing the -1/2: KL(p || p) must be 0, and yours is 0.5 there.",
            lambda mp, sp, mq, sq: _np_kl(mp, sp, mq, sq) + 0.5,
        ),
        Mistake(
            "scales instead of variances",
            "use variances in the ratio term: (scale_p^2 + (loc_p - loc_q)^2) / (2 scale_q^2).",
            lambda mp, sp, mq, sq: np.log(sq / sp) + (sp + (mp - mq) ** 2) / (2 * sq) - 0.5,
        ),
        Mistake(
            "log of the variance ratio",
            "the log term is log(scale_q / scale_p) (half the log of the variance ratio), not "
            "log(scale_q^2 / scale_p^2).",
            lambda mp, sp, mq, sq: _np_kl(mp, sp, mq, sq) + np.log(sq / sp),
        ),
        Mistake(
            "log ratio upside down",
            "the log term is log(scale_q / scale_p); yours is upside down.",
            lambda mp, sp, mq, sq: _np_kl(mp, sp, mq, sq) - 2 * np.log(sq / sp),
        ),
    ),
    general_hint="KL(N(mp, sp^2) || N(mq, sq^2)) = log(sq / sp) + (sp^2 + (mp - mq)^2) / (2 sq^2) "
    "- 1/2.",
)


def check_kl_normal(kl_normal: Callable[..., Any]) -> CheckResult:
    """Check ``kl_normal(loc_p, scale_p, loc_q, scale_q)`` = KL(p || q) between normals."""
    return check(KL_NORMAL, kl_normal)


#: Every exercise's checker by the function's name (the name the exercise cell defines).
CHECKERS: dict[str, Callable[[Callable[..., Any]], CheckResult]] = {
    "softmax": check_softmax,
    "linear_backward": check_linear_backward,
    "relu_backward": check_relu_backward,
    "adam_step": check_adam_step,
    "filter_normalize": check_filter_normalize,
    "rank_k_approx": check_rank_k_approx,
    "lora_forward": check_lora_forward,
    "normal_log_prob": check_normal_log_prob,
    "kl_normal": check_kl_normal,
}

#: The exercise descriptions by name (cases, reference, known mistakes).
EXERCISES: dict[str, Exercise] = {
    exercise.name: exercise
    for exercise in (
        SOFTMAX,
        LINEAR_BACKWARD,
        RELU_BACKWARD,
        ADAM_STEP,
        FILTER_NORMALIZE,
        RANK_K_APPROX,
        LORA_FORWARD,
        NORMAL_LOG_PROB,
        KL_NORMAL,
    )
}
