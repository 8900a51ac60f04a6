"""The exercise checkers (labs/exercises.py): each passes a correct solution, answers "not yet
implemented" for the notebook's stub, and catches typical mistakes, written here as a student would
write them (jnp code, independent of the checker's own NumPy versions), with the hint that names
the mistake."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import pytest

from labs import exercises

# ------------------------------------------------------------------------------------------------
# Correct solutions, and the mistakes each checker must recognise: (function, words in the hint)
# ------------------------------------------------------------------------------------------------


def softmax(z: Any) -> Any:
    e = jnp.exp(z - jnp.max(z, axis=-1, keepdims=True))
    return e / jnp.sum(e, axis=-1, keepdims=True)


def linear_backward(g: Any, x: Any, W: Any) -> tuple:
    return g @ W.T, x.T @ g, jnp.sum(g, axis=0)


def relu_backward(g: Any, x: Any) -> Any:
    return jnp.where(x > 0, g, 0.0)


def adam_step(p, g, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, *, flaw=None):
    beta1, beta2 = betas
    m = beta1 * g + (1 - beta1) * m if flaw == "swap" else beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    m_hat = m if flaw in ("no_correction", "no_first") else m / (1 - beta1**step)
    v_hat = v if flaw == "no_correction" else v / (1 - beta2**step)
    denom = jnp.sqrt(v_hat + eps) if flaw == "eps_inside" else jnp.sqrt(v_hat) + eps
    return p - lr * m_hat / denom, m, v


def _norms(a: Any, axes: tuple[int, ...]) -> Any:
    return jnp.sqrt(jnp.sum(a * a, axis=axes, keepdims=True))


def filter_normalize(d: Any, p: Any) -> Any:
    axes = tuple(range(d.ndim - 1))  # every axis but the last (output) one
    return d * _norms(p, axes) / (_norms(d, axes) + 1e-10)


def rank_k_approx(a: Any, k: int) -> Any:
    U, S, Vh = jnp.linalg.svd(a, full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


def lora_forward(x: Any, weight: Any, A: Any, B: Any, alpha: float) -> Any:
    return x @ weight.T + (alpha / A.shape[0]) * ((x @ A.T) @ B.T)


def normal_log_prob(x: Any, loc: Any, scale: Any) -> Any:
    return -0.5 * ((x - loc) / scale) ** 2 - jnp.log(scale) - 0.5 * math.log(2 * math.pi)


def kl_normal(mp: Any, sp: Any, mq: Any, sq: Any) -> Any:
    return jnp.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5


CORRECT: dict[str, Callable[..., Any]] = {
    "softmax": softmax,
    "linear_backward": linear_backward,
    "relu_backward": relu_backward,
    "adam_step": adam_step,
    "filter_normalize": filter_normalize,
    "rank_k_approx": rank_k_approx,
    "lora_forward": lora_forward,
    "normal_log_prob": normal_log_prob,
    "kl_normal": kl_normal,
}


def _adam(flaw: str) -> Callable[..., Any]:
    def step(p, g, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        return adam_step(p, g, m, v, step, lr, betas, eps, flaw=flaw)

    return step


MISTAKES: list[tuple[str, Callable[..., Any], tuple[str, ...]]] = [
    ("softmax", lambda z: jnp.exp(z) / jnp.sum(jnp.exp(z), axis=-1, keepdims=True), ("max",)),
    (
        "softmax",
        lambda z: jnp.exp(z - z.max()) / jnp.sum(jnp.exp(z - z.max()), axis=0, keepdims=True),
        ("last axis",),
    ),
    ("softmax", lambda z: jnp.exp(z - jnp.max(z, axis=-1, keepdims=True)), ("sum",)),
    ("linear_backward", lambda g, x, W: (g @ W.T, g.T @ x, g.sum(0)), ("transposed weight",)),
    ("linear_backward", lambda g, x, W: (g @ W.T, x.T @ g, g.mean(0)), ("averaged", "sums")),
    ("linear_backward", lambda g, x, W: (g @ W.T, x.T @ g, g), ("sum grad_output over axis 0",)),
    ("relu_backward", lambda g, x: jnp.where(x >= 0, g, 0.0), ("x > 0", "x >= 0")),
    ("relu_backward", lambda g, x: jnp.where(g > 0, g, 0.0), ("input x",)),
    ("relu_backward", lambda g, x: (x > 0).astype(jnp.float32), ("mask alone",)),
    ("adam_step", _adam("no_first"), ("bias correction", "step-1 update is 10x too small")),
    ("adam_step", _adam("no_correction"), ("bias correction missing", "3.16x too large")),
    ("adam_step", _adam("eps_inside"), ("eps goes outside",)),
    ("adam_step", _adam("swap"), ("beta of the old value",)),
    (
        "filter_normalize",
        lambda d, p: d * jnp.linalg.norm(p) / jnp.linalg.norm(d),
        ("whole layer",),
    ),
    (
        "filter_normalize",
        lambda d, p: d * _norms(p, tuple(range(1, p.ndim))) / _norms(d, tuple(range(1, d.ndim))),
        ("wrong axis", "LAST (output) axis"),
    ),
    (
        "filter_normalize",
        lambda d, p: d / _norms(d, tuple(range(d.ndim - 1))),
        ("not to norm 1",),
    ),
    ("rank_k_approx", lambda a, k: rank_k_approx(a, k + 1), ("off by one", "k + 1")),
    ("rank_k_approx", lambda a, k: rank_k_approx(a, k - 1), ("off by one", "k - 1")),
    (
        "rank_k_approx",
        lambda a, k: (lambda U, S, Vh: U[:, :k] @ Vh[:k])(*jnp.linalg.svd(a, full_matrices=False)),
        ("singular values",),
    ),
    ("lora_forward", lambda x, W, A, B, alpha: x @ W.T + (x @ A.T) @ B.T, ("alpha / r",)),
    ("lora_forward", lambda x, W, A, B, alpha: x @ W.T + alpha * (x @ A.T) @ B.T, ("not alpha",)),
    (
        "lora_forward",
        lambda x, W, A, B, alpha: (alpha / A.shape[0]) * (x @ A.T) @ B.T,
        ("frozen path",),
    ),
    (
        "normal_log_prob",
        lambda x, m, s: -0.5 * ((x - m) / s) ** 2 - jnp.log(s),
        ("normalising constant", "0.9189"),
    ),
    (
        "normal_log_prob",
        lambda x, m, s: -0.5 * ((x - m) / s) ** 2 - 0.5 * math.log(2 * math.pi),
        ("-log(scale)",),
    ),
    (
        "normal_log_prob",
        lambda x, m, s: -0.5 * (x - m) ** 2 / s - jnp.log(s) - 0.5 * math.log(2 * math.pi),
        ("variance",),
    ),
    (
        "kl_normal",
        lambda mp, sp, mq, sq: kl_normal(mq, sq, mp, sp),
        ("KL(q || p)", "not symmetric"),
    ),
    ("kl_normal", lambda mp, sp, mq, sq: kl_normal(mp, sp, mq, sq) + 0.5, ("-1/2",)),
]


@pytest.mark.parametrize("name", list(exercises.CHECKERS))
def test_a_correct_solution_passes(name: str) -> None:
    result = exercises.CHECKERS[name](CORRECT[name])
    assert result.passed, result.message
    assert result.status == "passed" and str(result).startswith(f"{name}: passed")
    assert result.hint is None


@pytest.mark.parametrize("name", list(exercises.CHECKERS))
def test_a_stub_is_not_yet_implemented(name: str) -> None:
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("exercise: write it")

    result = exercises.CHECKERS[name](stub)
    assert result.status == "not implemented" and not result.passed
    assert "not yet implemented" in str(result)


@pytest.mark.parametrize(
    ("name", "mistake", "words"),
    MISTAKES,
    ids=[f"{name}-{index}" for index, (name, _, _) in enumerate(MISTAKES)],
)
def test_a_typical_mistake_gets_its_hint(
    name: str, mistake: Callable[..., Any], words: tuple[str, ...]
) -> None:
    result = exercises.CHECKERS[name](mistake)
    assert result.status == "failed", result.message
    assert result.mistake is not None, result.message
    for word in words:
        assert word in result.hint, result.message
    assert "case " in result.message and "Hint: " in result.message


def test_a_failure_says_which_case_which_output_and_by_how_much() -> None:
    result = exercises.check_linear_backward(lambda g, x, W: (g @ W.T, x.T @ g, g.mean(0)))
    assert "case 1 of 3" in result.message and "grad_b is off by up to" in result.message
    assert "at index (" in result.message and "yours" in result.message


def test_an_unknown_mistake_gets_the_general_hint() -> None:
    result = exercises.check_relu_backward(lambda g, x: 2.0 * g)
    assert result.status == "failed" and result.mistake is None
    assert result.hint == exercises.RELU_BACKWARD.general_hint


def test_an_exception_other_than_not_implemented_is_reported_not_raised() -> None:
    result = exercises.check_linear_backward(lambda g, x, W: (g @ W, x.T @ g, g.sum(0)))
    assert result.status == "failed" and "raised TypeError" in result.message


def test_a_wrong_return_value_is_explained() -> None:
    missing = exercises.check_softmax(lambda z: None)
    assert "returned None" in missing.message and "return" in missing.hint
    wrong_count = exercises.check_linear_backward(lambda g, x, W: (g @ W.T, x.T @ g))
    assert "expected a tuple of 3: (grad_x, grad_W, grad_b)" in wrong_count.message
    not_a_function = exercises.check_kl_normal(3.0)
    assert not_a_function.status == "failed" and "expected a function" in str(not_a_function)


def test_the_exercises_and_checkers_are_the_same_set() -> None:
    assert set(exercises.EXERCISES) == set(exercises.CHECKERS) == set(CORRECT)


LAB_SOLUTIONS = [
    ("labs.lab_1_4_0_activations", "softmax"),
    ("labs.lab_1_4_1_backprop", "linear_backward"),
    ("labs.lab_1_4_1_backprop", "relu_backward"),
    ("labs.lab_1_4_3_landscape", "filter_normalize"),
    ("labs.lab_1_4_4_lowrank", "rank_k_approx"),
    ("labs.lab_1_4_4_lowrank", "lora_forward"),
    ("labs.lab_1_4_5_distributions", "normal_log_prob"),
    ("labs.lab_1_4_5_distributions", "kl_normal"),
]


@pytest.mark.parametrize(("module", "name"), LAB_SOLUTIONS)
def test_the_solution_in_each_lab_passes_its_check(module: str, name: str) -> None:
    """The function a lab's exercise cell defines (the solution notebook's) passes its checker."""
    import importlib

    solution = getattr(importlib.import_module(module), name)
    result = exercises.CHECKERS[name](solution)
    assert result.passed, result.message
