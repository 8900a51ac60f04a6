"""The parity case table: every public jaxmath function, described once (see harness.Case).

A new function adds a row here (and, for a new concept, a block of rows); the generic tests in
test_parity.py pick it up. Sample generators return NumPy arrays in the requested dtype; integer
class indices stay integer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.special
import torch
import torch.nn.functional as F

from parity_tests.cases_backprop import BACKPROP_CASES
from parity_tests.cases_distributions import DISTRIBUTIONS_CASES
from parity_tests.cases_landscape import LANDSCAPE_CASES
from parity_tests.cases_lbfgs import LBFGS_CASES
from parity_tests.cases_lowrank import LOWRANK_CASES
from parity_tests.cases_optim import OPTIM_CASES
from parity_tests.harness import (
    Case,
    ErrorInput,
    Framework,
    Reference,
    Sample,
    Tolerance,
    no_errors,
)
from parity_tests.inputs import class_indices, extremes, normal, probabilities, uniform

ACTIVATION_SHAPES = ((), (1,), (7,), (3, 4), (2, 3, 5))
REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------------


def elementwise_samples(
    **kwargs_options: Any,
) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    """Samples over ACTIVATION_SHAPES (batch of one included), for each keyword setting given."""
    settings = [{}] + [  # {}: every option at its default
        dict(zip(kwargs_options, values, strict=True))
        for values in zip(*kwargs_options.values(), strict=True)
    ]

    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        for kwargs in settings:
            for shape in ACTIVATION_SHAPES:
                yield Sample((normal(rng, shape, dtype),), kwargs, f"shape {shape} {kwargs}")

    return samples


def elementwise_edges(**kwargs: Any) -> Callable[[str], Iterator[Sample]]:
    def edges(dtype: str) -> Iterator[Sample]:
        yield Sample((extremes(dtype),), kwargs, f"extremes {kwargs}")

    return edges


def relu_edges(dtype: str) -> Iterator[Sample]:
    yield from elementwise_edges()(dtype)
    # torch.relu passes NaN through (value NaN, gradient 1: threshold_backward's 'result <= 0'
    # is false); relu was where(x > 0, x, 0), which turned a NaN into 0 and hid it
    yield Sample((np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype),), {}, "NaN, +-inf, +-0")


def float_input_errors(**kwargs: Any) -> Callable[[], Iterator[ErrorInput]]:
    """Integer input to a float-only function: TypeError naming x and the dtype."""

    def errors() -> Iterator[ErrorInput]:
        yield ErrorInput(
            Sample((np.arange(3),), kwargs, "integer x"),
            TypeError,
            r"x must be a floating-point array, got dtype int",
        )

    return errors


def axis_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    yield Sample((normal(rng, (3, 4), dtype, scale=3.0),), {}, "shape (3, 4), default axis")
    for shape, axis in (
        ((1,), -1),
        ((7,), 0),
        ((3, 4), -1),
        ((3, 4), 0),
        ((2, 3, 5), 1),
        ((1, 6), -1),
    ):
        yield Sample(
            (normal(rng, shape, dtype, scale=3.0),), {"axis": axis}, f"shape {shape} axis {axis}"
        )


def axis_edges(dtype: str) -> Iterator[Sample]:
    big = np.array([[1e4, -1e4, 0.0], [1e4, 1e4 - 1.0, 1e4 - 2.0], [-1e4, -1e4, -1e4]], dtype)
    yield Sample((big,), {"axis": -1}, "logits of magnitude 1e4")
    yield Sample((big,), {"axis": 0}, "logits of magnitude 1e4, axis 0")
    masked = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]], dtype)
    yield Sample((masked,), {"axis": -1}, "-inf entries (masking)")
    # torch's softmax kernels subtract the max as it is: a row holding +inf is NaN throughout (was
    # [nan, 0, 0] here); logsumexp is +inf there
    overflowed = np.array([[np.inf, 0.0, 1.0], [0.0, 1.0, 2.0]], dtype)
    yield Sample((overflowed,), {"axis": -1}, "a +inf entry")


def axis_errors() -> Iterator[ErrorInput]:
    x = np.zeros((2, 3))
    yield ErrorInput(
        Sample((x,), {"axis": 2}, "axis out of range"),
        ValueError,
        r"axis must be in \[-2, 1\] for a 2-d input, got 2",
    )
    yield ErrorInput(
        Sample((x,), {"axis": 1.0}, "float axis"), TypeError, r"axis must be an int, got 1.0"
    )
    yield ErrorInput(
        Sample((np.arange(3),), {}, "integer x"),
        TypeError,
        r"x must be a floating-point array, got dtype int",
    )


def _scipy_on_float64(function: Callable[..., Any]) -> Callable[..., Any]:
    """scipy computes in float64: compare at the input's dtype after rounding its result."""

    def reference(x: Any, **kwargs: Any) -> Any:
        return function(x.astype(np.float64), **kwargs).astype(x.dtype)

    return reference


def _nan_across_plus_inf(function: Callable[..., Any]) -> Callable[..., Any]:
    """scipy's log_softmax gives [nan, -inf, -inf] for [inf, 0, 1]; torch's (NaN throughout) is
    the one we follow (the module docstring says so): NaN across a slice that holds +inf."""

    def reference(x: Any, axis: int = -1) -> Any:
        result = function(x, axis=axis)
        return np.where(np.any(np.isposinf(x), axis=axis, keepdims=True), np.nan, result)

    return reference


def torch_logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Any:
    """torch.logsumexp with jaxmath's names; ``axis=None`` as every dimension (torch has no None)."""
    dim = tuple(range(max(x.ndim, 1))) if axis is None else axis
    return torch.logsumexp(x, dim=dim, keepdim=keepdims)


def reduction_semantics_samples(
    with_axis_tuples: bool,
) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    """What torch users pass: 0-d input (axis 0 or -1), zero-size input, and (logsumexp) tuples of
    axes, ``axis=None`` and ``keepdims``."""

    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        yield Sample((normal(rng, (), dtype),), {}, "0-d x, default axis")
        yield Sample((normal(rng, (), dtype),), {"axis": 0}, "0-d x, axis 0")
        for shape, axis in (((5, 0, 0), -1), ((0, 3), 0), ((0, 3), 1), ((3, 0), 1), ((2, 0), 0)):
            yield Sample(
                (np.zeros(shape, dtype),), {"axis": axis}, f"zero-size {shape} axis {axis}"
            )
        if not with_axis_tuples:
            return
        x = normal(rng, (2, 3, 4), dtype, scale=3.0)
        for axis in ((0, 2), (2, 0), (-1, 1), (0, 1, 2), None, [1, 2]):
            for keepdims in (False, True):
                yield Sample(
                    (x,), {"axis": axis, "keepdims": keepdims}, f"(2, 3, 4) axis {axis} {keepdims}"
                )
        yield Sample((normal(rng, (), dtype),), {"axis": None}, "0-d x, axis None")
        yield Sample((normal(rng, (), dtype),), {"axis": -1, "keepdims": True}, "0-d keepdims")
        yield Sample((np.zeros((0, 3), dtype),), {"axis": None}, "zero-size, axis None")
        yield Sample((np.zeros((4, 0), dtype),), {"axis": (0, 1), "keepdims": True}, "(4, 0) all")

    return samples


def reduction_semantics_errors() -> Iterator[ErrorInput]:
    x = np.zeros((2, 3))
    yield ErrorInput(
        Sample((x,), {"axis": (0, 0)}, "repeated axis"),
        ValueError,
        r"axis must not repeat a dimension, got \(0, 0\)",
        upstream_rejects=True,
        upstream_match="appears multiple times",
    )
    yield ErrorInput(
        Sample((x,), {"axis": (0, 2)}, "axis in the tuple out of range"),
        ValueError,
        r"axis must be in \[-2, 1\] for a 2-d input, got 2",
        upstream_rejects=True,
        upstream_match="out of range",
    )
    yield ErrorInput(
        Sample((x,), {"axis": ()}, "empty tuple"),
        ValueError,
        r"axis must name at least one dimension, got \(\)",
        upstream_rejects=True,
    )
    yield ErrorInput(
        Sample((x,), {"keepdims": 1}, "keepdims not a bool"),
        TypeError,
        r"keepdims must be a bool, got 1",
    )
    yield ErrorInput(
        Sample((np.zeros(()),), {"axis": 1}, "axis 1 of a 0-d x"),
        ValueError,
        r"axis must be in \[-1, 0\] for a 0-d input, got 1",
        upstream_rejects=True,
        upstream_match="out of range",
    )


ACTIVATION_CASES = [
    Case(
        "sigmoid",
        "activations",
        elementwise_samples(),
        references=(
            Reference("torch.sigmoid", torch.sigmoid),
            Reference("scipy.special.expit", _scipy_on_float64(scipy.special.expit), "numpy"),
        ),
        edge_inputs=elementwise_edges(),
        error_inputs=float_input_errors(),
    ),
    Case(
        "relu",
        "activations",
        elementwise_samples(),
        references=(Reference("torch.nn.functional.relu", F.relu),),
        edge_inputs=relu_edges,
        error_inputs=float_input_errors(),
    ),
    Case(
        "leaky_relu",
        "activations",
        elementwise_samples(negative_slope=(0.01, 0.2)),
        references=(Reference("torch.nn.functional.leaky_relu", F.leaky_relu),),
        edge_inputs=elementwise_edges(negative_slope=0.1),
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample((np.zeros(3),), {"negative_slope": "0.1"}, "string slope"),
                    TypeError,
                    r"negative_slope must be a real number, got '0.1'",
                ),
                ErrorInput(
                    Sample((np.arange(3),), {}, "integer x"),
                    TypeError,
                    r"x must be a floating-point array, got dtype int",
                ),
            ]
        ),
    ),
    Case(
        "tanh",
        "activations",
        elementwise_samples(),
        references=(Reference("torch.tanh", torch.tanh), Reference("numpy.tanh", np.tanh, "numpy")),
        edge_inputs=elementwise_edges(),
        error_inputs=float_input_errors(),
    ),
    Case(
        "silu",
        "activations",
        elementwise_samples(),
        references=(Reference("torch.nn.functional.silu", F.silu),),
        edge_inputs=elementwise_edges(),
        error_inputs=float_input_errors(),
    ),
    Case(
        "softplus",
        "activations",
        elementwise_samples(beta=(1.0, 2.0, 0.5), threshold=(20.0, 5.0, 20.0)),
        references=(Reference("torch.nn.functional.softplus", F.softplus),),
        edge_inputs=lambda dtype: iter(
            [
                Sample((extremes(dtype),), {}, "extremes, defaults"),
                Sample(
                    (extremes(dtype),), {"beta": 3.0, "threshold": 1.0}, "extremes, low threshold"
                ),
            ]
        ),
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample((np.zeros(3),), {"beta": 0.0}, "beta 0"),
                    ValueError,
                    r"beta must be > 0.0, got 0.0",
                ),
                ErrorInput(
                    Sample((np.zeros(3),), {"beta": -1.0}, "beta < 0"),
                    ValueError,
                    r"beta must be > 0.0, got -1.0",
                ),
                ErrorInput(
                    Sample((np.zeros(3),), {"threshold": float("nan")}, "NaN threshold"),
                    ValueError,
                    r"threshold must not be NaN",
                ),
                ErrorInput(
                    Sample((np.arange(3),), {}, "integer x"),
                    TypeError,
                    r"x must be a floating-point array, got dtype int",
                ),
            ]
        ),
    ),
    Case(
        "gelu",
        "activations",
        elementwise_samples(approximate=("none", "tanh")),
        references=(Reference("torch.nn.functional.gelu", F.gelu),),
        edge_inputs=lambda dtype: iter(
            [
                Sample((extremes(dtype),), {"approximate": "none"}, "extremes, exact"),
                Sample((extremes(dtype),), {"approximate": "tanh"}, "extremes, tanh"),
            ]
        ),
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample((np.zeros(3),), {"approximate": "fast"}, "unknown approximate"),
                    ValueError,
                    r"approximate must be one of 'none', 'tanh', got 'fast'",
                    upstream_rejects=True,
                ),
                ErrorInput(
                    Sample(
                        (np.zeros(3),), {"approximate": True}, "bool approximate (jax.nn style)"
                    ),
                    ValueError,
                    r"approximate must be one of 'none', 'tanh', got True",
                ),
            ]
        ),
    ),
    Case(
        "softmax",
        "activations",
        axis_samples,
        references=(
            Reference("torch.softmax", lambda x, axis=-1: torch.softmax(x, dim=axis)),
            Reference(
                "scipy.special.softmax",
                _scipy_on_float64(lambda x, axis=-1: scipy.special.softmax(x, axis=axis)),
                "numpy",
            ),
        ),
        edge_inputs=axis_edges,
        error_inputs=axis_errors,
    ),
    Case(
        "log_softmax",
        "activations",
        axis_samples,
        references=(
            Reference("torch.log_softmax", lambda x, axis=-1: torch.log_softmax(x, dim=axis)),
            Reference(
                "scipy.special.log_softmax",
                _scipy_on_float64(_nan_across_plus_inf(scipy.special.log_softmax)),
                "numpy",
            ),
        ),
        edge_inputs=axis_edges,
        error_inputs=axis_errors,
        kind="reduction",
    ),
    Case(
        "logsumexp",
        "activations",
        axis_samples,
        references=(
            Reference("torch.logsumexp", lambda x, axis=-1: torch.logsumexp(x, dim=axis)),
            Reference(
                "scipy.special.logsumexp",
                _scipy_on_float64(lambda x, axis=-1: scipy.special.logsumexp(x, axis=axis)),
                "numpy",
            ),
        ),
        edge_inputs=lambda dtype: iter(
            [
                *axis_edges(dtype),
                Sample(
                    (np.array([[-np.inf, -np.inf], [np.inf, 0.0]], dtype),),
                    {},
                    "all -inf row, +inf entry",
                ),
            ]
        ),
        error_inputs=axis_errors,
        kind="reduction",
    ),
    *(
        Case(
            name,
            "activations",
            reduction_semantics_samples(with_axis_tuples=name == "logsumexp"),
            references=(reference,),
            error_inputs=reduction_semantics_errors if name == "logsumexp" else no_errors,
            kind="reduction",
            variant="torch semantics: 0-d, zero-size, axis tuples",
        )
        for name, reference in (
            ("softmax", Reference("torch.softmax", lambda x, axis=-1: torch.softmax(x, dim=axis))),
            (
                "log_softmax",
                Reference("torch.log_softmax", lambda x, axis=-1: torch.log_softmax(x, dim=axis)),
            ),
            ("logsumexp", Reference("torch.logsumexp", torch_logsumexp)),
        )
    ),
]


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------


def regression_samples(
    extra: tuple[dict[str, Any], ...] = ({},),
) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    """Every shape with every reduction, weighted and unweighted in turn, cycling through ``extra``."""

    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        shape = (3, 4)
        yield Sample((normal(rng, shape, dtype), normal(rng, shape, dtype)), {}, "defaults")
        combinations = [
            (shape, reduction)
            for shape in ((1,), (5,), (3, 4), (2, 3, 2))
            for reduction in REDUCTIONS
        ]
        for index, (shape, reduction) in enumerate(combinations):
            kwargs = {"reduction": reduction, **extra[index % len(extra)]}
            if index % 2:
                kwargs["weight"] = uniform(rng, shape, dtype, 0.0, 2.0)
            prediction, target = normal(rng, shape, dtype), normal(rng, shape, dtype)
            yield Sample(
                (prediction, target), kwargs, f"shape {shape} {sorted(kwargs)} {reduction}"
            )

    return samples


def regression_edges(dtype: str) -> Iterator[Sample]:
    prediction = np.array([0.0, 1.0, -1.0, 1e4, -1e-7, 2.0], dtype)
    target = np.array([0.0, 0.0, 0.0, -1e4, 1e-7, 1.0], dtype)
    yield Sample((prediction, target), {}, "exact hits, huge and tiny errors")
    yield Sample(
        (prediction, target), {"weight": np.zeros(6, dtype), "reduction": "sum"}, "weight 0"
    )
    # huber: torch's gradient at an infinite error is +-delta (was NaN: 0 * inf from the quadratic
    # branch that where() does not pick); mse: +-inf
    infinite = np.array([np.inf, -np.inf, 3.0], dtype)
    yield Sample((infinite, np.zeros(3, dtype)), {"reduction": "none"}, "infinite errors")


def regression_errors(name: str) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        x = np.zeros(3)
        yield ErrorInput(
            Sample((x, np.zeros((3, 1))), {}, "target (3, 1) vs input (3,)"),
            ValueError,
            r"target must have the same shape as input \(3,\), got \(3, 1\)",
        )
        yield ErrorInput(
            Sample((np.arange(3), x), {}, "integer input"),
            TypeError,
            r"input must be a floating-point array, got dtype int",
        )
        yield ErrorInput(
            Sample((x, x), {"reduction": "avg"}, "unknown reduction"),
            ValueError,
            r"reduction must be one of 'mean', 'sum', 'none', got 'avg'",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((x, x), {"weight": np.ones(2)}, "weight shape"),
            ValueError,
            r"weight must have the same shape as input \(3,\), got \(2,\)",
            upstream_rejects=True,
        )
        if name == "huber_loss":
            yield ErrorInput(
                Sample((x, x), {"delta": 0.0}, "delta 0"),
                ValueError,
                r"delta must be > 0.0, got 0.0",
                upstream_rejects=True,
            )
            yield ErrorInput(
                Sample((x, x), {"delta": -1.0}, "delta < 0"),
                ValueError,
                r"delta must be > 0.0, got -1.0",
                upstream_rejects=True,
            )

    return errors


def classification_samples(
    log_probs_input: bool,
) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    """Class-index targets: every shape with every reduction, weighted, with an ignored target and
    (cross-entropy) label smoothing in turn; per shape also a plain call and a custom ignore_index."""

    def inputs(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> Any:
        logits = normal(rng, shape, dtype)
        if not log_probs_input:
            return logits
        axis = 0 if len(shape) == 1 else 1
        return scipy.special.log_softmax(logits.astype(np.float64), axis=axis).astype(dtype)

    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        for shape in ((1, 4), (6, 5), (3, 4, 2, 2), (5,)):
            num_classes = shape[0] if len(shape) == 1 else shape[1]
            target_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
            scores = inputs(rng, shape, dtype)
            target = class_indices(rng, target_shape, num_classes)
            yield Sample((scores, target), {}, f"{shape} defaults")
            for index, reduction in enumerate(REDUCTIONS):
                kwargs: dict[str, Any] = {
                    "reduction": reduction,
                    "weight": uniform(rng, (num_classes,), dtype, 0.1, 2.0),
                }
                if not log_probs_input and index != 1:
                    kwargs["label_smoothing"] = 0.1 * (index + 1)
                partly_ignored = target.copy()
                if target.size > 1:
                    partly_ignored.flat[0] = -100
                yield Sample(
                    (scores, partly_ignored),
                    kwargs,
                    f"{shape} {sorted(kwargs)} {reduction}, one target ignored",
                )
            if target.size > 1:
                partly_ignored = target.copy()
                partly_ignored.flat[-1] = -100
                # unweighted: the mean divides by the counted targets only (a mean over all targets
                # would pass every weighted sample above, whose denominators are weights)
                yield Sample((scores, partly_ignored), {}, f"{shape} unweighted, one ignored, mean")
                if not log_probs_input:
                    yield Sample(
                        (scores, partly_ignored),
                        {"label_smoothing": 0.2},
                        f"{shape} unweighted, one ignored, smoothed mean",
                    )
                custom = target.copy()
                custom.flat[-1] = 1
                yield Sample(
                    (scores, custom),
                    {"ignore_index": 1, "reduction": "sum"},
                    f"{shape} ignore_index=1",
                )

    return samples


def probability_target_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for shape in ((6, 5), (1, 3), (2, 4, 3), (4,)):
        axis = 0 if len(shape) == 1 else 1
        for index, reduction in enumerate(REDUCTIONS):
            logits, target = normal(rng, shape, dtype), probabilities(rng, shape, dtype, axis)
            kwargs: dict[str, Any] = {"reduction": reduction, "label_smoothing": 0.2 * (index % 2)}
            if index != 2:
                kwargs["weight"] = uniform(rng, (shape[axis],), dtype, 0.1, 2.0)
            yield Sample(
                (logits, target),
                kwargs,
                f"{shape} probabilities {sorted(kwargs)} {reduction}",
                grad_argnums=(0, 1),
            )


def cross_entropy_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    yield from classification_samples(log_probs_input=False)(rng, dtype)
    yield from probability_target_samples(rng, dtype)


def classification_edges(log_probs_input: bool) -> Callable[[str], Iterator[Sample]]:
    def edges(dtype: str) -> Iterator[Sample]:
        logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]], dtype)
        if log_probs_input:
            logits = scipy.special.log_softmax(logits.astype(np.float64), axis=1).astype(dtype)
        target = np.array([1, 2, 2])
        all_ignored = np.array([-100, -100, -100])
        # padding (ignore_index) in a row whose class 0 is masked to -inf: the ignored target must
        # add 0, not 0 * inf = NaN (it read class 0 as a stand-in, and NaN came out)
        masked = np.array([[0.0, 1.0, 2.0], [-np.inf, 1.0, 2.0], [-np.inf, 0.0, -np.inf]], dtype)
        if log_probs_input:
            masked = scipy.special.log_softmax(masked.astype(np.float64), axis=1).astype(dtype)
        padded = np.array([2, -100, 1])
        for reduction in REDUCTIONS:
            yield Sample((logits, target), {"reduction": reduction}, f"logits 1e4, {reduction}")
            yield Sample(
                (logits, all_ignored), {"reduction": reduction}, f"all targets ignored, {reduction}"
            )
            yield Sample(
                (masked, padded),
                {"reduction": reduction, "weight": np.array([1.0, 2.0, 0.5], dtype)},
                f"ignored target in a row with class 0 at -inf, {reduction}",
            )
        weight = np.array([0.0, 1.0, 2.0], dtype)
        yield Sample((logits, np.array([0, 1, 0])), {"weight": weight}, "some targets of weight 0")
        yield Sample(
            (logits, np.array([0, 0, 0])), {"weight": weight}, "all targets of weight 0 (0/0)"
        )
        if log_probs_input:
            return
        for smoothing in (0.0, 1.0):
            yield Sample(
                (logits, target),
                {"label_smoothing": smoothing, "weight": weight},
                f"label_smoothing {smoothing}, 1e4 logits",
            )
            probs = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], dtype)
            yield Sample(
                (logits, probs),
                {"label_smoothing": smoothing},
                f"probability targets, label_smoothing {smoothing}, 1e4 logits",
            )

    return edges


def classification_errors(
    scores_name: str, probability_targets: bool
) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        scores, target = np.zeros((4, 3)), np.array([0, 1, 2, 1])
        yield ErrorInput(
            Sample((scores, np.array([0, 1, 7, 1])), {}, "class index out of range"),
            ValueError,
            r"target must hold class indices in \[0, 3\) or ignore_index=-100, got 7",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((scores, np.array([0, -1, 2, 1])), {}, "negative class index"),
            ValueError,
            r"target must hold class indices in \[0, 3\) or ignore_index=-100, got -1",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((scores, target), {"weight": np.ones(4)}, "weight length != C"),
            ValueError,
            r"weight must have shape \(C,\) = \(3,\) for 3 classes, got \(4,\)",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((scores, target[:3]), {}, "target batch != input batch"),
            ValueError,
            rf"target of class indices must have shape \(4,\) for {scores_name} of shape \(4, 3\), got \(3,\)",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((scores, target.astype(np.float64)), {}, "float target of index shape"),
            TypeError,
            r"target must be an integer array of class indices, got dtype float",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((np.zeros((4, 3), np.int32), target), {}, "integer scores"),
            TypeError,
            rf"{scores_name} must be a floating-point array, got dtype int",
        )
        yield ErrorInput(
            Sample((np.zeros(()), np.array(0)), {}, "0-d scores"),
            ValueError,
            rf"{scores_name} must have shape \(C,\), \(N, C\) or \(N, C, d1, ...\), got shape \(\)",
        )
        yield ErrorInput(
            Sample((scores, target), {"reduction": "avg"}, "unknown reduction"),
            ValueError,
            r"reduction must be one of 'mean', 'sum', 'none', got 'avg'",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((scores, target), {"ignore_index": 1.5}, "float ignore_index"),
            TypeError,
            r"ignore_index must be an int, got 1.5",
        )
        if not probability_targets:
            return
        probs = np.full((4, 3), 1 / 3)
        yield ErrorInput(
            Sample((scores, probs), {"ignore_index": 0}, "ignore_index with probabilities"),
            ValueError,
            r"ignore_index is not supported with class-probability targets, got ignore_index=0",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((scores, np.zeros((4, 3), np.int64)), {}, "integer probability target"),
            TypeError,
            r"target with class probabilities \(same shape as logits\) must be floating point, got dtype int64",
            upstream_rejects=True,
        )
        for smoothing in (1.5, -0.1):
            yield ErrorInput(
                Sample(
                    (scores, target), {"label_smoothing": smoothing}, f"label_smoothing {smoothing}"
                ),
                ValueError,
                rf"label_smoothing must be (<= 1.0|>= 0.0), got {smoothing}",
                upstream_rejects=smoothing > 1,
            )

    return errors


def binary_samples(logits_input: bool) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    """Every shape with every reduction; soft or hard targets, a weight over the last axis and
    (logits) a pos_weight, in turn."""

    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        scores = (
            normal(rng, (4, 3), dtype) if logits_input else uniform(rng, (4, 3), dtype, 0.02, 0.98)
        )
        soft_target = uniform(rng, (4, 3), dtype, 0.0, 1.0)
        yield Sample((scores, soft_target), {}, "(4, 3) soft target, defaults", grad_argnums=(0, 1))
        combinations = [
            (shape, reduction)
            for shape in ((1,), (5,), (4, 3), (2, 3, 2))
            for reduction in REDUCTIONS
        ]
        for index, (shape, reduction) in enumerate(combinations):
            scores = (
                normal(rng, shape, dtype)
                if logits_input
                else uniform(rng, shape, dtype, 0.02, 0.98)
            )
            soft = index % 2 == 0
            target = (
                uniform(rng, shape, dtype, 0.0, 1.0)
                if soft
                else rng.integers(0, 2, size=shape).astype(dtype)
            )
            kwargs: dict[str, Any] = {"reduction": reduction}
            if index % 3 != 0:
                kwargs["weight"] = uniform(rng, shape[-1:], dtype, 0.1, 2.0)
            if logits_input and index % 4 != 3:
                kwargs["pos_weight"] = uniform(rng, shape[-1:], dtype, 0.5, 3.0)
            description = (
                f"{shape} {'soft' if soft else 'hard'} target {sorted(kwargs)} {reduction}"
            )
            yield Sample(
                (scores, target), kwargs, description, grad_argnums=(0, 1) if soft else None
            )

    return samples


def probability_edges(dtype: str) -> Iterator[Sample]:
    probs = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-30, 1.0 - 1e-7], dtype)
    target = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0], dtype)
    for reduction in REDUCTIONS:
        yield Sample((probs, target), {"reduction": reduction}, f"p exactly 0 and 1, {reduction}")
    yield Sample((probs, target), {"weight": np.array(0.0, dtype)}, "weight 0")


def logit_edges(dtype: str) -> Iterator[Sample]:
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 100.0], [-100.0, 20.0, -20.0]], dtype)
    target = np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.5], [1.0, 0.0, 1.0]], dtype)
    for reduction in REDUCTIONS:
        yield Sample((logits, target), {"reduction": reduction}, f"logits 1e4, {reduction}")
    yield Sample((logits, target), {"pos_weight": np.array([0.0, 1.0, 2.0], dtype)}, "pos_weight 0")
    yield Sample((logits, target), {"weight": np.zeros(3, dtype), "reduction": "sum"}, "weight 0")


def binary_errors(scores_name: str) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        x = np.full(3, 0.5)
        yield ErrorInput(
            Sample((x, np.zeros((3, 1))), {}, "target shape"),
            ValueError,
            rf"target must have the same shape as {scores_name} \(3,\), got \(3, 1\)",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((np.arange(3), x), {}, "integer scores"),
            TypeError,
            rf"{scores_name} must be a floating-point array, got dtype int",
        )
        yield ErrorInput(
            Sample((x, x), {"weight": np.ones(2)}, "weight not broadcastable"),
            ValueError,
            r"weight of shape \(2,\) does not broadcast to \(3,\)",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((x, x), {"reduction": "elementwise"}, "unknown reduction"),
            ValueError,
            r"reduction must be one of 'mean', 'sum', 'none', got 'elementwise'",
            upstream_rejects=True,
        )
        if scores_name == "probs":
            yield ErrorInput(
                Sample((np.array([0.5, 1.5]), np.ones(2)), {}, "probability > 1"),
                ValueError,
                r"probs must lie in \[0, 1\], got 1.5",
                upstream_rejects=True,
            )
            yield ErrorInput(
                Sample((np.array([-0.1, 0.5]), np.ones(2)), {}, "probability < 0"),
                ValueError,
                r"probs must lie in \[0, 1\], got -0.1",
                upstream_rejects=True,
            )
        else:
            yield ErrorInput(
                Sample((x, x), {"pos_weight": np.ones(2)}, "pos_weight not broadcastable"),
                ValueError,
                r"pos_weight of shape \(2,\) does not broadcast to \(3,\)",
                upstream_rejects=True,
            )

    return errors


def torch_cross_entropy_formula(
    logits: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Any:
    """torch 2.13's class-index cross-entropy written on F.log_softmax, for (N, C) logits: the same
    numbers as F.cross_entropy (checked as a second reference) and differentiable in ``weight``,
    which F.cross_entropy is not (its weight gradient raises)."""
    log_probs = F.log_softmax(logits, dim=1)
    num_classes = logits.shape[1]
    weight = torch.ones(num_classes, dtype=logits.dtype) if weight is None else weight
    counted = target != ignore_index
    safe = torch.where(counted, target, torch.zeros_like(target))
    target_weight = weight[safe] * counted
    picked = log_probs.gather(1, safe[:, None])[:, 0]
    smooth = -(log_probs * weight).sum(dim=1) * counted
    losses = (1 - label_smoothing) * (
        -target_weight * picked
    ) + label_smoothing / num_classes * smooth
    if reduction == "mean":
        return losses.sum() / target_weight.sum()
    return losses.sum() if reduction == "sum" else losses


def cross_entropy_numpy(logits: Any, target: Any, weight: Any = None, **kwargs: Any) -> Any:
    """F.cross_entropy itself on the same sample (forward only: it cannot differentiate weight)."""
    return F.cross_entropy(
        torch.from_numpy(logits), torch.from_numpy(target), torch.from_numpy(weight), **kwargs
    ).numpy()


def weight_gradient_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    """weight passed positionally, so it can be differentiated: every reduction, with and without
    smoothing, a partly ignored batch."""
    shape = (6, 4)
    logits = normal(rng, shape, dtype)
    target = class_indices(rng, (6,), 4)
    target[0] = -100
    weight = uniform(rng, (4,), dtype, 0.5, 2.0)
    yield Sample((logits, target, weight), {}, "defaults", grad_argnums=(0, 2))
    for reduction in REDUCTIONS:
        for smoothing in (0.0, 0.3):
            yield Sample(
                (logits, target, weight),
                {"reduction": reduction, "label_smoothing": smoothing},
                f"{reduction} ε={smoothing}",
                grad_argnums=(0, 2),
            )


LOSS_CASES = [
    Case(
        "mse_loss",
        "losses",
        regression_samples(),
        references=(Reference("torch.nn.functional.mse_loss", F.mse_loss),),
        edge_inputs=regression_edges,
        error_inputs=regression_errors("mse_loss"),
        grad_argnums=(0, 1),
        kind="reduction",
    ),
    Case(
        "huber_loss",
        "losses",
        regression_samples(({"delta": 1.0}, {"delta": 0.5}, {"delta": 2.5})),
        references=(Reference("torch.nn.functional.huber_loss", F.huber_loss),),
        edge_inputs=regression_edges,
        error_inputs=regression_errors("huber_loss"),
        grad_argnums=(0, 1),
        kind="reduction",
    ),
    Case(
        "cross_entropy_loss",
        "losses",
        cross_entropy_samples,
        references=(Reference("torch.nn.functional.cross_entropy", F.cross_entropy),),
        edge_inputs=classification_edges(log_probs_input=False),
        error_inputs=classification_errors("logits", probability_targets=True),
        kind="reduction",
    ),
    Case(
        "cross_entropy_loss",
        "losses",
        weight_gradient_samples,
        references=(
            Reference("a formula on F.log_softmax", torch_cross_entropy_formula),
            Reference("torch.nn.functional.cross_entropy (forward)", cross_entropy_numpy, "numpy"),
        ),
        kind="reduction",
        variant="gradient with respect to weight",
    ),
    Case(
        "nll_loss",
        "losses",
        classification_samples(log_probs_input=True),
        references=(Reference("torch.nn.functional.nll_loss", F.nll_loss),),
        edge_inputs=classification_edges(log_probs_input=True),
        error_inputs=classification_errors("log_probs", probability_targets=False),
        kind="reduction",
    ),
    Case(
        "binary_cross_entropy",
        "losses",
        binary_samples(logits_input=False),
        references=(Reference("torch.nn.functional.binary_cross_entropy", F.binary_cross_entropy),),
        edge_inputs=probability_edges,
        error_inputs=binary_errors("probs"),
        kind="reduction",
    ),
    Case(
        "binary_cross_entropy_with_logits",
        "losses",
        binary_samples(logits_input=True),
        references=(
            Reference(
                "torch.nn.functional.binary_cross_entropy_with_logits",
                F.binary_cross_entropy_with_logits,
            ),
        ),
        edge_inputs=logit_edges,
        error_inputs=binary_errors("logits"),
        kind="reduction",
    ),
]


# ----------------------------------------------------------------------------------------------
# Gradient checking
# ----------------------------------------------------------------------------------------------
# The function differentiated is written once against a framework's package, so jaxmath's
# numerical_gradient sees jaxmath ops and torch_ref's sees torch_ref ops.


def smooth_scalar(package: Any, x: Any) -> Any:
    """A non-trivial scalar function of an array or a {"w", "b"} dict: sum(logsumexp(w) * tanh(b))."""
    if isinstance(x, dict):
        return (package.logsumexp(x["w"]) * package.tanh(x["b"])).sum()
    return (package.logsumexp(x) ** 2).sum() + (package.softplus(x) * x).sum()


def smooth_scalar_torch(x: Any) -> Any:
    """The same function in plain torch, for torch.autograd as the upstream reference."""
    if isinstance(x, dict):
        return (torch.logsumexp(x["w"], -1) * torch.tanh(x["b"])).sum()
    return (torch.logsumexp(x, -1) ** 2).sum() + (F.softplus(x) * x).sum()


def vector_valued(package: Any, x: Any) -> Any:
    return package.tanh(x)


def _tree_requires_grad(x: Any) -> tuple[Any, list[Any]]:
    if isinstance(x, dict):
        tracked = {key: value.detach().clone().requires_grad_(True) for key, value in x.items()}
        return tracked, [tracked[key] for key in sorted(tracked)]
    tracked = x.detach().clone().requires_grad_(True)
    return tracked, [tracked]


def autograd_gradient(x: Any, eps: float | None = None, function: Any = None) -> Any:
    """torch.autograd's gradient of smooth_scalar_torch, structured like x (upstream reference)."""
    with torch.enable_grad():
        tracked, flat = _tree_requires_grad(x)
        gradients = torch.autograd.grad(smooth_scalar_torch(tracked), flat)
    if isinstance(x, dict):
        return dict(zip(sorted(x), gradients, strict=True))
    return gradients[0]


def call_numerical_gradient(
    framework: Framework, x: Any, function: Any = smooth_scalar, **kwargs: Any
) -> Any:
    return framework.package.numerical_gradient(
        lambda value: function(framework.package, value), x, **kwargs
    )


def gradcheck_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    yield Sample((normal(rng, (3, 4), dtype, scale=1.0),), {}, "array (3, 4), default eps")
    yield Sample((normal(rng, (1, 1), dtype, scale=1.0),), {}, "array (1, 1)")
    tree = {"w": normal(rng, (2, 3), dtype, scale=1.0), "b": normal(rng, (2,), dtype, scale=1.0)}
    yield Sample((tree,), {}, "pytree {w, b}")
    yield Sample(
        (normal(rng, (5,), dtype, scale=1.0),),
        {"eps": 1e-3 if dtype == "float64" else 1e-2},
        "explicit eps",
    )


def gradcheck_errors(call_kwargs: dict[str, Any]) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        x = np.ones(3)
        yield ErrorInput(
            Sample((x,), {"eps": 0.0, **call_kwargs}, "eps 0"),
            ValueError,
            r"eps must be > 0.0, got 0.0",
        )
        yield ErrorInput(
            Sample((x,), {"eps": -1e-3, **call_kwargs}, "eps < 0"),
            ValueError,
            r"eps must be > 0.0, got -0.001",
        )
        yield ErrorInput(
            Sample((x,), {"function": vector_valued, **call_kwargs}, "f not scalar"),
            ValueError,
            r"f must return a scalar, got output of shape \(3,\)",
        )
        yield ErrorInput(
            Sample((np.arange(3),), call_kwargs, "integer x"),
            TypeError,
            r"x must hold floating-point arrays only, got dtype int",
        )

    return errors


def wrong_gradient(package: Any, x: Any) -> Any:
    """A deliberately wrong analytic gradient (a backward that forgot the chain rule's factor 2)."""
    return 0.5 * package.numerical_gradient(lambda value: smooth_scalar(package, value), x)


def call_check_gradients(
    framework: Framework, x: Any, wrong: bool = False, truncated: bool = False, **kwargs: Any
) -> Any:
    package = framework.package
    grad = (lambda value: wrong_gradient(package, value)) if wrong else None
    if truncated:
        grad = lambda value: value[:1]  # noqa: E731  (a gradient missing entries)
    return package.check_gradients(
        lambda value: smooth_scalar(package, value), x, grad=grad, **kwargs
    )


def gradcheck_reference(
    x: Any, wrong: bool = False, rtol: float = 1e-3, atol: float = 1e-5, **_: Any
) -> Any:
    """torch.autograd.gradcheck on the same function, with the same (right or wrong) backward.

    gradcheck is meaningful only in float64 (it warns otherwise), so it runs there for both dtypes:
    the verdicts compared are "is this backward right", which does not depend on the dtype.
    """

    class Smooth(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, value: Any) -> Any:
            ctx.save_for_backward(value)
            return smooth_scalar_torch(value)

        @staticmethod
        def backward(ctx: Any, grad_output: Any) -> Any:
            (value,) = ctx.saved_tensors
            with torch.enable_grad():
                gradient = autograd_gradient(value)
            return grad_output * (0.5 * gradient if wrong else gradient)

    with torch.enable_grad():
        x64 = x.detach().to(torch.float64).requires_grad_(True)
        return torch.autograd.gradcheck(
            Smooth.apply, (x64,), rtol=rtol, atol=atol, raise_exception=False
        )


def compare_gradient_checks(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """Same verdict as the other side. Between the twins (two GradientChecks) also the same rtol and
    atol and the same errors: the max relative error within ``tol.rtol`` absolutely (a right gradient
    gives rounding noise far below it; the half gradient gives exactly 0.5 on both sides)."""
    passed = actual.passed if hasattr(actual, "passed") else bool(actual)
    expected_passed = expected.passed if hasattr(expected, "passed") else bool(expected)
    assert passed == expected_passed, f"{context}: passed {passed} != {expected_passed}"
    if not (hasattr(actual, "max_relative_error") and hasattr(expected, "max_relative_error")):
        return
    assert (actual.rtol, actual.atol) == (expected.rtol, expected.atol), (
        f"{context}: tolerances {actual.rtol, actual.atol} != {expected.rtol, expected.atol}"
    )
    assert abs(actual.max_relative_error - expected.max_relative_error) <= tol.rtol, (
        f"{context}: max relative error {actual.max_relative_error} vs {expected.max_relative_error}"
    )
    scale = max(abs(expected.max_absolute_error), 1.0)
    assert abs(actual.max_absolute_error - expected.max_absolute_error) <= tol.rtol * scale, (
        f"{context}: max absolute error {actual.max_absolute_error} vs {expected.max_absolute_error}"
    )
    for result in (actual, expected):
        error = result.max_relative_error
        assert error <= result.rtol if result.passed else error > 0.1, f"{context}: {result}"


def check_gradients_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    """Right and half-wrong gradients at the default tolerances, and the wrong one judged at rtol
    0.6 (|g - n| = 0.5 |n|: passes) and 0.4 (fails), as torch.autograd.gradcheck judges it."""
    for shape in ((3, 4), (1, 1)):
        x = normal(rng, shape, dtype, scale=1.0)
        yield Sample((x,), {}, f"{shape} autodiff gradient")
        yield Sample((x,), {"wrong": True}, f"{shape} wrong gradient")
    x = normal(rng, (3, 4), dtype, scale=1.0)
    for rtol in (0.6, 0.4):
        yield Sample(
            (x,), {"wrong": True, "rtol": rtol, "atol": 0.0}, f"wrong gradient, rtol {rtol}"
        )


GRADCHECK_CASES = [
    Case(
        "numerical_gradient",
        "gradcheck",
        gradcheck_samples,
        references=(Reference("torch.autograd.grad", autograd_gradient),),
        error_inputs=gradcheck_errors({}),
        grad_argnums=(),
        kind="finite_difference",
        call=call_numerical_gradient,
        jit=False,
    ),
    Case(
        "check_gradients",
        "gradcheck",
        check_gradients_samples,
        references=(Reference("torch.autograd.gradcheck", gradcheck_reference),),
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample((np.ones(3),), {"truncated": True}, "grad of the wrong structure"),
                    ValueError,
                    r"grad must return the structure of x \(3 elements\), got 1 elements",
                ),
                ErrorInput(
                    Sample((np.ones(3),), {"eps": -1.0}, "eps < 0"),
                    ValueError,
                    r"eps must be > 0.0, got -1.0",
                ),
                # tolerances were not validated: a negative or NaN one failed every check
                # silently, a string gave NumPy's/torch's unrelated indexing TypeError
                ErrorInput(
                    Sample((np.ones(3),), {"rtol": -1.0}, "rtol < 0"),
                    ValueError,
                    r"rtol must be >= 0.0, got -1.0",
                ),
                ErrorInput(
                    Sample((np.ones(3),), {"atol": float("nan")}, "atol NaN"),
                    ValueError,
                    r"atol must not be NaN, got nan",
                ),
                ErrorInput(
                    Sample((np.ones(3),), {"rtol": "1e-6"}, "rtol a string"),
                    TypeError,
                    r"rtol must be a real number, got '1e-6'",
                ),
            ]
        ),
        grad_argnums=(),
        kind="finite_difference",
        call=call_check_gradients,
        compare=compare_gradient_checks,
        jit=False,
    ),
    Case(
        "default_eps",
        "gradcheck",
        lambda rng, dtype: iter([Sample((dtype,), {}, dtype)]),
        references=(
            Reference(
                "numpy.finfo(dtype).eps ** (1/3)",
                lambda dtype: np.finfo(dtype).eps ** (1 / 3),
                "numpy",
            ),
        ),
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample(("int32",), {}, "integer dtype"),
                    TypeError,
                    r"dtype must be a floating-point dtype, got int32",
                )
            ]
        ),
        grad_argnums=(),
        call=lambda framework, dtype: framework.package.default_eps(framework.dtype(dtype)),
        jit=False,
    ),
]


CASES: list[Case] = [
    *ACTIVATION_CASES,
    *LOSS_CASES,
    *GRADCHECK_CASES,
    *BACKPROP_CASES,
    *OPTIM_CASES,
    *LBFGS_CASES,
    *LANDSCAPE_CASES,
    *LOWRANK_CASES,
    *DISTRIBUTIONS_CASES,
]
