"""Case rows for jaxmath.backprop: hand-written gradients == jax.grad == torch.autograd (through a
torch.nn.functional MLP built from the same numbers) == torch_ref's hand-written twin, and every layer
against numerical_gradient. Joined into the one table by cases.py.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F

import jaxmath
from parity_tests.harness import (
    Case,
    ErrorInput,
    Framework,
    Reference,
    Sample,
    Tolerance,
    leaves,
    map_tree,
)
from parity_tests.inputs import extremes, normal

ACTIVATIONS = ("sigmoid", "relu", "leaky_relu", "tanh", "gelu", "gelu_tanh")

TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
}


# ------------------------------------------------------------------------------------------------
# Linear layer and activation backwards
# ------------------------------------------------------------------------------------------------


def linear_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for batch, fan_in, fan_out in ((1, 3, 2), (5, 4, 3), (16, 8, 8)):
        x, W, b = (
            normal(rng, (batch, fan_in), dtype, scale=1.0),
            normal(rng, (fan_in, fan_out), dtype, scale=1.0),
            normal(rng, (fan_out,), dtype, scale=1.0),
        )
        yield Sample((x, W, b), {}, f"x ({batch}, {fan_in}), W ({fan_in}, {fan_out})")


def linear_backward_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for sample in linear_samples(rng, dtype):
        x, W, _ = sample.args
        yield Sample(
            (normal(rng, (x.shape[0], W.shape[1]), dtype, scale=1.0), x, W), {}, sample.description
        )


def torch_linear_backward(grad_output: Any, x: Any, W: Any) -> tuple[Any, ...]:
    with torch.enable_grad():
        x, W = x.clone().requires_grad_(True), W.clone().requires_grad_(True)
        b = torch.zeros(W.shape[1], dtype=W.dtype, requires_grad=True)
        return torch.autograd.grad(F.linear(x, W.T, b), (x, W, b), grad_output)


def jax_linear_backward(grad_output: Any, x: Any, W: Any) -> tuple[Any, ...]:
    b = np.zeros(W.shape[1], W.dtype)
    _, pullback = jax.vjp(lambda x, W, b: x @ W + b, x, W, b)
    return tuple(np.asarray(g) for g in pullback(jnp.asarray(grad_output)))


def activation_backward_samples(
    **kwargs: Any,
) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        for shape in ((1, 1), (4, 5), (3, 2, 2)):
            x = normal(rng, shape, dtype, scale=2.0)
            yield Sample((normal(rng, shape, dtype, scale=1.0), x), kwargs, f"{shape} {kwargs}")
        if kwargs:  # every option at its default, against the reference's defaults
            x = normal(rng, (4, 5), dtype, scale=2.0)
            yield Sample((normal(rng, (4, 5), dtype, scale=1.0), x), {}, "(4, 5) defaults")

    return samples


def torch_activation_backward(forward: Callable[..., Any]) -> Callable[..., Any]:
    """torch.autograd's vector-Jacobian product of ``forward`` (a torch.nn.functional activation)."""

    def backward(grad_output: Any, x: Any, **kwargs: Any) -> Any:
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)
            return torch.autograd.grad(forward(x, **kwargs), x, grad_output)[0]

    return backward


def jax_activation_backward(forward: Callable[..., Any]) -> Callable[..., Any]:
    """jax.vjp of jaxmath's own activation, as a second reference (NumPy in, NumPy out)."""

    def backward(grad_output: Any, x: Any, **kwargs: Any) -> Any:
        _, pullback = jax.vjp(lambda v: forward(v, **kwargs), jnp.asarray(x))
        return np.asarray(pullback(jnp.asarray(grad_output))[0])

    return backward


#: Activations whose derivative torch defines at +-inf (gelu's x * phi(x) is inf * 0 there).
DERIVATIVE_DEFINED_AT_INFINITY = ("sigmoid", "relu", "leaky_relu", "tanh")


def activation_backward_edges(name: str, **kwargs: Any) -> Callable[[str], Iterator[Sample]]:
    """The forward rows' extremes (0, +-1e-7, +-1e4, ...) plus -0.0, +-tiny normals and (where torch
    defines the derivative) +-inf, each with a distinct grad_output: the kink at 0 included."""

    def edges(dtype: str) -> Iterator[Sample]:
        tiny = np.finfo(dtype).tiny
        points = [*extremes(dtype), -0.0, tiny, -tiny, 1e-30, -1e-30]
        if name in DERIVATIVE_DEFINED_AT_INFINITY:
            points += [np.inf, -np.inf]
        x = np.array(points, dtype)
        grad_output = np.linspace(0.5, 1.5, x.size).astype(dtype)
        yield Sample((grad_output, x), kwargs, f"extremes, kink and tiny values {kwargs}")
        if kwargs:
            yield Sample((grad_output, x), {}, "extremes, defaults")

    return edges


def shape_mismatch_error() -> Iterator[ErrorInput]:
    yield ErrorInput(
        Sample((np.zeros((2, 3)), np.zeros((3, 2))), {}, "grad_output shape != x shape"),
        ValueError,
        r"grad_output must have the shape of x \(3, 2\), got \(2, 3\)",
    )


def activation_backward_case(
    name: str, forward_jax: Callable, forward_torch: Callable, **kwargs: Any
) -> Case:
    return Case(
        f"{name}_backward",
        "backprop",
        activation_backward_samples(**kwargs),
        references=(
            Reference(f"torch.autograd of {name}", torch_activation_backward(forward_torch)),
            Reference(f"jax.vjp of jaxmath.{name}", jax_activation_backward(forward_jax), "numpy"),
        ),
        edge_inputs=activation_backward_edges(name, **kwargs),
        error_inputs=shape_mismatch_error,
        grad_argnums=(),
    )


# ------------------------------------------------------------------------------------------------
# Loss gradients
# ------------------------------------------------------------------------------------------------


def torch_loss_gradient(loss: Callable[..., Any]) -> Callable[..., Any]:
    def gradient(prediction: Any, target: Any, **kwargs: Any) -> Any:
        with torch.enable_grad():
            prediction = prediction.clone().requires_grad_(True)
            return torch.autograd.grad(loss(prediction, target, **kwargs), prediction)[0]

    return gradient


def jax_loss_gradient(loss: Callable[..., Any]) -> Callable[..., Any]:
    def gradient(prediction: Any, target: Any, **kwargs: Any) -> Any:
        return np.asarray(
            jax.grad(lambda p: loss(p, jnp.asarray(target), **kwargs))(jnp.asarray(prediction))
        )

    return gradient


def cross_entropy_gradient_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    logits = normal(rng, (4, 3), dtype, scale=3.0)
    yield Sample((logits, rng.integers(0, 3, size=4)), {}, "(4, 3) indices, defaults")
    for batch, classes in ((1, 3), (8, 5)):
        logits = normal(rng, (batch, classes), dtype, scale=3.0)
        indices = rng.integers(0, classes, size=batch)
        probabilities = np.asarray(
            scipy.special.softmax(rng.standard_normal((batch, classes)), axis=1), dtype
        )
        for smoothing in (0.0, 0.2):
            yield Sample(
                (logits, indices),
                {"label_smoothing": smoothing},
                f"({batch}, {classes}) indices, ε={smoothing}",
            )
            yield Sample(
                (logits, probabilities),
                {"label_smoothing": smoothing},
                f"({batch}, {classes}) probabilities, ε={smoothing}",
            )


def pair_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for shape in ((1, 1), (6, 3)):
        yield Sample(
            (normal(rng, shape, dtype, 3.0), rng.uniform(0.0, 1.0, shape).astype(dtype)),
            {},
            f"{shape}",
        )


def pair_errors(first: str) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        yield ErrorInput(
            Sample((np.zeros((2, 3)), np.zeros((3, 2))), {}, "shape mismatch"),
            ValueError,
            rf"target must have the same shape as {first} \(2, 3\), got \(3, 2\)",
        )

    return errors


def cross_entropy_gradient_errors() -> Iterator[ErrorInput]:
    logits = np.zeros((2, 3))
    yield ErrorInput(
        Sample((logits, np.array([0, 1])), {"label_smoothing": 2.0}, "ε > 1"),
        ValueError,
        r"label_smoothing must be <= 1.0, got 2.0",
    )
    yield ErrorInput(
        Sample((logits, np.array([0, 1, 2])), {}, "target length"),
        ValueError,
        r"target must be class indices of shape \(2,\) or probabilities of shape \(2, 3\)",
    )
    yield ErrorInput(
        Sample((np.zeros(3), np.array(0)), {}, "1-d logits"),
        ValueError,
        r"logits must have shape \(N, C\), got \(3,\)",
    )


# ------------------------------------------------------------------------------------------------
# The MLP
# ------------------------------------------------------------------------------------------------

MLP_SHAPES = ((2, 3, 2), (4, 8, 8, 3), (3, 16, 16, 16, 2))  # several depths and widths


def random_params(
    rng: np.random.Generator, sizes: tuple[int, ...], dtype: str
) -> list[dict[str, Any]]:
    return [
        {
            "W": normal(rng, (fan_in, fan_out), dtype, scale=1.0 / np.sqrt(fan_in) * 1.5),
            "b": normal(rng, (fan_out,), dtype, 0.1),
        }
        for fan_in, fan_out in itertools.pairwise(sizes)
    ]


def loss_target(rng: np.random.Generator, loss: str, batch: int, outputs: int, dtype: str) -> Any:
    if loss == "cross_entropy":
        return rng.integers(0, outputs, size=batch)
    if loss == "mse":
        return normal(rng, (batch, outputs), dtype, scale=1.0)
    return rng.uniform(0.0, 1.0, (batch, outputs)).astype(dtype)


def mlp_loss_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    """Every activation with every loss, over the depths in MLP_SHAPES and batches of 1 and 7."""
    losses = ("cross_entropy", "mse", "bce_with_logits")
    params = random_params(rng, MLP_SHAPES[1], dtype)
    x = normal(rng, (5, MLP_SHAPES[1][0]), dtype, scale=1.0)
    y = loss_target(rng, "cross_entropy", 5, MLP_SHAPES[1][-1], dtype)
    yield Sample((params, x, y), {}, f"{MLP_SHAPES[1]} batch 5 defaults")
    for index, activation in enumerate(ACTIVATIONS):
        for loss_index, loss in enumerate(losses):
            sizes = MLP_SHAPES[(index + loss_index) % len(MLP_SHAPES)]
            batch = 1 if (index + loss_index) % 4 == 0 else 7
            params = random_params(rng, sizes, dtype)
            x = normal(rng, (batch, sizes[0]), dtype, scale=1.0)
            y = loss_target(rng, loss, batch, sizes[-1], dtype)
            yield Sample(
                (params, x, y),
                {"loss": loss, "activation": activation},
                f"{sizes} batch {batch} {activation} {loss}",
            )


def torch_mlp_forward(
    params: list[dict[str, Any]], x: Any, activation: str = "relu"
) -> tuple[Any, list[dict[str, Any]]]:
    """The MLP in torch.nn.functional (F.linear takes the weight as (out, in))."""
    cache = []
    for index, layer in enumerate(params):
        z = F.linear(x, layer["W"].T, layer["b"])
        cache.append({"x": x, "z": z})
        x = z if index == len(params) - 1 else TORCH_ACTIVATIONS[activation](z)
    return x, cache


TORCH_LOSSES = {
    "cross_entropy": F.cross_entropy,
    "mse": F.mse_loss,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
}
JAX_LOSSES = {
    "cross_entropy": jaxmath.cross_entropy_loss,
    "mse": jaxmath.mse_loss,
    "bce_with_logits": jaxmath.binary_cross_entropy_with_logits,
}


def torch_mlp_loss_and_grad(
    params: Any, x: Any, y: Any, loss: str = "cross_entropy", activation: str = "relu"
) -> Any:
    with torch.enable_grad():
        tracked = [
            {key: value.clone().requires_grad_(True) for key, value in layer.items()}
            for layer in params
        ]
        output, _ = torch_mlp_forward(tracked, x, activation)
        value = TORCH_LOSSES[loss](output, y)
        flat = [leaf for layer in tracked for leaf in (layer["W"], layer["b"])]
        gradients = torch.autograd.grad(value, flat)
    return value, [{"W": gradients[2 * i], "b": gradients[2 * i + 1]} for i in range(len(params))]


def jax_loss_of_params(params: Any, x: Any, y: Any, loss: str, activation: str) -> Any:
    output, _ = jaxmath.mlp_forward(params, x, activation)
    return JAX_LOSSES[loss](output, y)


def jax_grad_mlp(
    params: Any, x: Any, y: Any, loss: str = "cross_entropy", activation: str = "relu"
) -> Any:
    value, grads = jax.value_and_grad(jax_loss_of_params)(params, x, y, loss, activation)
    return np.asarray(value), jax.tree.map(np.asarray, grads)


@functools.cache
def _loss_of_data_and_params(loss: str, activation: str) -> Callable[..., Any]:
    def loss_value(x: Any, y: Any, params: Any) -> Any:
        return jax_loss_of_params(params, x, y, loss, activation)

    return loss_value


def numerical_mlp(
    params: Any, x: Any, y: Any, loss: str = "cross_entropy", activation: str = "relu"
) -> Any:
    """numerical_gradient of every layer, in float64 whatever the sample's dtype."""
    dtype = np.asarray(x).dtype
    params64 = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), params)
    x64, y64 = (
        jnp.asarray(x, jnp.float64),
        jnp.asarray(y if loss == "cross_entropy" else np.asarray(y, np.float64)),
    )
    value = jax_loss_of_params(params64, x64, y64, loss, activation)
    # A Partial of one function per (loss, activation): numerical_gradient compiles once per shape
    grads = jaxmath.numerical_gradient(
        jax.tree_util.Partial(_loss_of_data_and_params(loss, activation), x64, y64), params64
    )
    return np.asarray(value).astype(dtype), jax.tree.map(
        lambda g: np.asarray(g).astype(dtype), grads
    )


def mlp_forward_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    sizes = MLP_SHAPES[1]
    yield Sample(
        (random_params(rng, sizes, dtype), normal(rng, (5, sizes[0]), dtype, scale=1.0)),
        {},
        f"{sizes} defaults",
    )
    for index, activation in enumerate(ACTIVATIONS):
        sizes = MLP_SHAPES[index % len(MLP_SHAPES)]
        batch = 1 if index % 3 == 0 else 5
        yield Sample(
            (random_params(rng, sizes, dtype), normal(rng, (batch, sizes[0]), dtype, scale=1.0)),
            {"activation": activation},
            f"{sizes} {activation}",
        )


def mlp_backward_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    """(params, cache, grad_output): the cache from torch_ref-independent NumPy arithmetic."""
    for sample in mlp_forward_samples(rng, dtype):
        params, x = sample.args
        activation = sample.kwargs.get("activation", "relu")  # mlp_forward's default
        _, cache = jaxmath.mlp_forward(params, x, activation)
        cache = jax.tree.map(np.asarray, cache)
        grad_output = normal(rng, cache[-1]["z"].shape, dtype, scale=1.0)
        yield Sample((params, cache, grad_output), sample.kwargs, sample.description)


def torch_mlp_backward(params: Any, cache: Any, grad_output: Any, activation: str = "relu") -> Any:
    with torch.enable_grad():
        tracked = [
            {key: value.clone().requires_grad_(True) for key, value in layer.items()}
            for layer in params
        ]
        output, _ = torch_mlp_forward(tracked, cache[0]["x"], activation)
        flat = [leaf for layer in tracked for leaf in (layer["W"], layer["b"])]
        gradients = torch.autograd.grad(output, flat, grad_output)
    return [{"W": gradients[2 * i], "b": gradients[2 * i + 1]} for i in range(len(params))]


def jax_vjp_mlp_backward(
    params: Any, cache: Any, grad_output: Any, activation: str = "relu"
) -> Any:
    _, pullback = jax.vjp(
        lambda p: jaxmath.mlp_forward(p, jnp.asarray(cache[0]["x"]), activation)[0], params
    )
    return jax.tree.map(np.asarray, pullback(jnp.asarray(grad_output))[0])


def mlp_errors() -> Iterator[ErrorInput]:
    rng = np.random.default_rng(0)
    params = random_params(rng, (3, 4, 2), "float64")
    unchained = [params[0], {"W": np.zeros((5, 2)), "b": np.zeros(2)}]
    x = np.zeros((2, 3))
    yield ErrorInput(
        Sample((unchained, x), {}, "layer sizes that do not chain"),
        ValueError,
        r"layer sizes do not chain: params\[0\]\['W'\] is \(3, 4\) but params\[1\]\['W'\] is \(5, 2\)",
    )
    yield ErrorInput(
        Sample((params, np.zeros((2, 5))), {}, "x features != first layer"),
        ValueError,
        r"x must have shape \(N, 3\) for the first layer, got \(2, 5\)",
    )
    yield ErrorInput(
        Sample((params, x), {"activation": "swish"}, "unknown activation"),
        ValueError,
        r"activation must be one of 'sigmoid', 'relu', 'leaky_relu', 'tanh', 'gelu', 'gelu_tanh', got 'swish'",
    )
    yield ErrorInput(
        Sample((params, np.zeros((2, 3), np.float32)), {}, "x float32, params float64"),
        TypeError,
        r"x must have the parameters' dtype float64, got float32",
    )
    yield ErrorInput(
        Sample(([{"W": np.zeros((3, 2))}], x), {}, "layer without b"),
        TypeError,
        r"params\[0\] must be a dict with keys 'W' and 'b'",
    )


def mlp_backward_errors() -> Iterator[ErrorInput]:
    rng = np.random.default_rng(0)
    params = random_params(rng, (3, 4, 2), "float64")
    other = random_params(rng, (3, 5, 2), "float64")
    _, foreign_cache = jaxmath.mlp_forward(other, np.zeros((2, 3)))
    foreign_cache = jax.tree.map(np.asarray, foreign_cache)
    yield ErrorInput(
        Sample((params, foreign_cache, np.zeros((2, 2))), {}, "cache from another network"),
        ValueError,
        r"cache\[0\] does not match params\[0\]\['W'\] \(3, 4\)",
    )
    yield ErrorInput(
        Sample((params, foreign_cache[:1], np.zeros((2, 2))), {}, "cache too short"),
        ValueError,
        r"cache must have one entry per layer \(2\), got 1",
    )


def mlp_loss_errors() -> Iterator[ErrorInput]:
    rng = np.random.default_rng(0)
    params = random_params(rng, (3, 4, 2), "float64")
    yield ErrorInput(
        Sample((params, np.zeros((2, 3)), np.array([0, 1])), {"loss": "hinge"}, "unknown loss"),
        ValueError,
        r"loss must be one of 'cross_entropy', 'mse', 'bce_with_logits', got 'hinge'",
    )
    yield ErrorInput(
        Sample((params, np.zeros((2, 3)), np.zeros((2, 3))), {"loss": "mse"}, "mse target shape"),
        ValueError,
        r"target must have the same shape as input \(2, 2\), got \(2, 3\)",
    )


# ------------------------------------------------------------------------------------------------
# Initialisation: compared as distributions (PEFT's tests/test_initialization.py style)
# ------------------------------------------------------------------------------------------------

INIT_LAYERS = (300, 400, 200)  # 120k + 80k draws per comparison: a KS test sees a 1% error in scale


def call_mlp_init(
    framework: Framework, seed: int, layer_sizes: tuple[int, ...], **kwargs: Any
) -> Any:
    return framework.package.backprop.mlp_init(framework.rng(seed), layer_sizes, **kwargs)


def torch_nn_init(
    seed: int,
    layer_sizes: tuple[int, ...],
    activation: str = "relu",
    init: str = "he",
    dtype: str = "float32",
) -> Any:
    """torch.nn.init on torch's (out, in) weights, transposed to (in, out)."""
    generator = torch.Generator().manual_seed(seed + 1)
    nonlinearity, slope = {
        "gelu": ("relu", 0.0),
        "gelu_tanh": ("relu", 0.0),
        "leaky_relu": ("leaky_relu", 0.01),
    }.get(activation, (activation, 0.0))
    params = []
    for fan_in, fan_out in itertools.pairwise(layer_sizes):
        weight = torch.empty(fan_out, fan_in, dtype=getattr(torch, dtype))
        if init == "he":
            torch.nn.init.kaiming_normal_(
                weight, a=slope, mode="fan_in", nonlinearity=nonlinearity, generator=generator
            )
        else:
            gain = torch.nn.init.calculate_gain(nonlinearity, slope)
            torch.nn.init.xavier_uniform_(weight, gain=gain, generator=generator)
        params.append({"W": weight.T, "b": torch.zeros(fan_out, dtype=weight.dtype)})
    return params


def init_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    yield Sample((7, INIT_LAYERS), {}, "defaults (relu, he, float32)")
    for seed, (activation, init) in enumerate(
        (("relu", "he"), ("tanh", "xavier"), ("sigmoid", "he"), ("gelu", "xavier"))
    ):
        yield Sample(
            (seed, INIT_LAYERS),
            {"activation": activation, "init": init, "dtype": dtype},
            f"{activation} {init}",
        )


def compare_as_distributions(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """Same shapes and dtypes; zero biases; weights drawn from the same distribution (two-sample KS
    test at p > 1e-3, deterministic since every seed is fixed) with the same standard deviation."""
    for index, (ours, theirs) in enumerate(zip(leaves(actual), leaves(expected), strict=True)):
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, f"{context} leaf {index}"
        if ours.ndim == 1:
            assert not ours.any() and not theirs.any(), f"{context}: biases must be 0"
            continue
        result = scipy.stats.ks_2samp(ours.ravel(), theirs.ravel())
        assert result.pvalue > 1e-3, f"{context} leaf {index}: KS p = {result.pvalue:.2e}"
        np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.02, err_msg=context)


def init_errors() -> Iterator[ErrorInput]:
    yield ErrorInput(
        Sample((0, (3, 2)), {"init": "orthogonal"}, "unknown init"),
        ValueError,
        r"init must be one of 'he', 'xavier', got 'orthogonal'",
    )
    yield ErrorInput(
        Sample((0, (3,)), {}, "one layer size"),
        ValueError,
        r"layer_sizes must be at least two positive ints",
    )
    yield ErrorInput(
        Sample((0, (3, 0, 2)), {}, "a zero width"),
        ValueError,
        r"layer_sizes must be at least two positive ints",
    )
    yield ErrorInput(
        Sample((0, (3, 2)), {"activation": "elu"}, "unknown activation"),
        ValueError,
        r"activation must be one of",
    )
    yield ErrorInput(
        Sample((0, (3, 2)), {"dtype": "int32"}, "integer dtype"),
        ValueError,
        r"dtype must be one of 'float32', 'float64', got 'int32'",
    )


# ------------------------------------------------------------------------------------------------
# Conversion and the scalar graph
# ------------------------------------------------------------------------------------------------


def convert_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    yield Sample((random_params(rng, (3, 4, 2), dtype),), {}, "MLP params")


def _foreign(framework: Framework, leaf: Any) -> Any:
    """The leaf as the OTHER framework holds it: what convert_params exists to convert."""
    if not isinstance(leaf, np.ndarray):
        return leaf
    if framework.name == "jaxmath":
        return torch.from_numpy(leaf.copy())[::1]  # a torch tensor, read through DLPack
    return jnp.asarray(leaf)


def call_convert_params(framework: Framework, params: Any) -> Any:
    """convert_params on the other framework's arrays (torch tensors into jaxmath, JAX arrays into
    torch_ref). Returns the values and, per leaf, whether it came back as this framework's array
    type with the input's dtype: compared with the reference's all-True, so returning the input
    unconverted fails."""
    native = jax.Array if framework.name == "jaxmath" else torch.Tensor
    values = map_tree(framework.to_numpy, params)
    converted = framework.package.backprop.convert_params(
        map_tree(lambda leaf: _foreign(framework, leaf), values)
    )
    kept = [
        isinstance(leaf, native) and str(leaf.dtype).removeprefix("torch.") == str(original.dtype)
        for leaf, original in zip(leaves(converted), leaves(values), strict=True)
    ]
    return converted, np.array(kept)


def convert_params_reference(params: Any) -> Any:
    """The same values, every leaf converted to a native array of its own dtype."""
    return params, np.ones(len(leaves(params)), bool)


def scalar_expression(framework: Framework, x: float, y: float, z: float) -> Any:
    """Every Value operation once: + - * / ** exp tanh sigmoid relu, reused nodes included."""
    Value = framework.package.backprop.Value
    a, b, c = Value(x), Value(y), Value(z)
    u = a * b + c
    g = (
        u.tanh()
        - a / b
        + (c**2).exp() * 0.1
        + (a - 2.0).relu()
        - (1.0 - b).sigmoid()
        + 3.0 / (u * u + 1.0)
    )
    g.backward()
    return np.array([float(g.data), float(a.grad), float(b.grad), float(c.grad)])


def torch_scalar_expression(x: float, y: float, z: float) -> Any:
    a, b, c = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, y, z))
    with torch.enable_grad():
        u = a * b + c
        g = (
            torch.tanh(u)
            - a / b
            + torch.exp(c**2) * 0.1
            + torch.relu(a - 2.0)
            - torch.sigmoid(1.0 - b)
            + 3.0 / (u * u + 1.0)
        )
        grads = torch.autograd.grad(g, (a, b, c))
    return np.array([float(g.detach()), *(float(grad) for grad in grads)])


def worked_example_call(framework: Framework, x: float, y: float, z: float) -> Any:
    f, *inputs = framework.package.backprop.worked_example(x, y, z)
    return np.array([float(f.data), *(float(node.grad) for node in inputs)])


def worked_example_by_hand(x: float, y: float, z: float) -> Any:
    """The derivatives the lab derives node by node (the docstring's formulas)."""
    u, s = x * y + z, 1.0 / (1.0 + np.exp(-x))
    return np.array([u * u * s, 2 * u * y * s + u * u * s * (1 - s), 2 * u * x * s, 2 * u * s])


def torch_worked_example(x: float, y: float, z: float) -> Any:
    a, b, c = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, y, z))
    with torch.enable_grad():
        f = (a * b + c) ** 2 * torch.sigmoid(a)
        grads = torch.autograd.grad(f, (a, b, c))
    return np.array([float(f.detach()), *(float(grad) for grad in grads)])


def scalar_samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
    for x, y, z in ((0.5, -1.2, 2.0), (3.0, 0.7, -0.4), (-2.0, 1.5, 0.3)):
        yield Sample((x, y, z), {}, f"x={x}, y={y}, z={z}")


def value_errors() -> Iterator[ErrorInput]:
    yield ErrorInput(
        Sample(("a", 1.0, 1.0), {}, "string data"),
        TypeError,
        r"data must be a real number, got 'a'",
    )


BACKPROP_CASES = [
    Case(
        "linear_forward",
        "backprop",
        linear_samples,
        references=(Reference("torch.nn.functional.linear", lambda x, W, b: F.linear(x, W.T, b)),),
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample((np.zeros((5, 4)), np.zeros((3, 2)), np.zeros(2)), {}, "x vs W"),
                    ValueError,
                    r"x must have shape \(N, 3\) to match W \(3, 2\), got \(5, 4\)",
                )
            ]
        ),
        grad_argnums=(0, 1, 2),
        kind="matmul",
    ),
    Case(
        "linear_backward",
        "backprop",
        linear_backward_samples,
        references=(
            Reference("torch.autograd of F.linear", torch_linear_backward),
            Reference("jax.vjp", jax_linear_backward, "numpy"),
        ),
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample(
                        (np.zeros((5, 3)), np.zeros((5, 4)), np.zeros((4, 2))), {}, "grad_output"
                    ),
                    ValueError,
                    r"grad_output must have shape \(5, 2\) \(N, out\), got \(5, 3\)",
                )
            ]
        ),
        grad_argnums=(),
        kind="matmul",
    ),
    activation_backward_case("sigmoid", jaxmath.sigmoid, torch.sigmoid),
    activation_backward_case("relu", jaxmath.relu, F.relu),
    activation_backward_case("leaky_relu", jaxmath.leaky_relu, F.leaky_relu, negative_slope=0.2),
    activation_backward_case("tanh", jaxmath.tanh, torch.tanh),
    activation_backward_case("gelu", jaxmath.gelu, F.gelu, approximate="none"),
    Case(
        "gelu_backward",
        "backprop",
        activation_backward_samples(approximate="tanh"),
        references=(
            Reference("torch.autograd of gelu (tanh)", torch_activation_backward(F.gelu)),
            Reference(
                "jax.vjp of jaxmath.gelu (tanh)", jax_activation_backward(jaxmath.gelu), "numpy"
            ),
        ),
        edge_inputs=activation_backward_edges("gelu", approximate="tanh"),
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample(
                        (np.zeros(2), np.zeros(2)), {"approximate": "erf"}, "unknown approximate"
                    ),
                    ValueError,
                    r"approximate must be one of 'none', 'tanh', got 'erf'",
                )
            ]
        ),
        grad_argnums=(),
    ),
    Case(
        "softmax_cross_entropy_backward",
        "backprop",
        cross_entropy_gradient_samples,
        references=(
            Reference("torch.autograd of F.cross_entropy", torch_loss_gradient(F.cross_entropy)),
            Reference(
                "jax.grad of jaxmath.cross_entropy_loss",
                jax_loss_gradient(jaxmath.cross_entropy_loss),
                "numpy",
            ),
        ),
        error_inputs=cross_entropy_gradient_errors,
        grad_argnums=(),
        kind="reduction",
    ),
    Case(
        "mse_backward",
        "backprop",
        pair_samples,
        references=(Reference("torch.autograd of F.mse_loss", torch_loss_gradient(F.mse_loss)),),
        error_inputs=pair_errors("input"),
        grad_argnums=(),
        kind="reduction",
    ),
    Case(
        "bce_with_logits_backward",
        "backprop",
        pair_samples,
        references=(
            Reference(
                "torch.autograd of F.binary_cross_entropy_with_logits",
                torch_loss_gradient(F.binary_cross_entropy_with_logits),
            ),
        ),
        error_inputs=pair_errors("logits"),
        grad_argnums=(),
        kind="reduction",
    ),
    Case(
        "mlp_init",
        "backprop",
        init_samples,
        references=(Reference("torch.nn.init (kaiming_normal_ / xavier_uniform_)", torch_nn_init),),
        error_inputs=init_errors,
        grad_argnums=(),
        call=call_mlp_init,
        compare=compare_as_distributions,
        jit=False,
    ),
    Case(
        "mlp_forward",
        "backprop",
        mlp_forward_samples,
        references=(Reference("a torch.nn.functional MLP", torch_mlp_forward),),
        error_inputs=mlp_errors,
        grad_argnums=(),
        kind="matmul",
    ),
    Case(
        "mlp_backward",
        "backprop",
        mlp_backward_samples,
        references=(
            Reference("torch.autograd of a torch.nn.functional MLP", torch_mlp_backward),
            Reference("jax.vjp of jaxmath.mlp_forward", jax_vjp_mlp_backward, "numpy"),
        ),
        error_inputs=mlp_backward_errors,
        grad_argnums=(),
        kind="matmul",
    ),
    Case(
        "mlp_loss_and_grad",
        "backprop",
        mlp_loss_samples,
        references=(
            Reference("torch.autograd of a torch.nn.functional MLP", torch_mlp_loss_and_grad),
            Reference("jax.value_and_grad", jax_grad_mlp, "numpy"),
            Reference(
                "jaxmath.numerical_gradient (float64)",
                numerical_mlp,
                "numpy",
                kind="finite_difference",
            ),
        ),
        error_inputs=mlp_loss_errors,
        grad_argnums=(),
        kind="matmul",
    ),
    Case(
        "convert_params",
        "backprop",
        convert_samples,
        references=(
            Reference("the same values, native type and dtype", convert_params_reference, "numpy"),
        ),
        call=call_convert_params,
        jit=False,
        opt_outs={"vmap": "converts between frameworks: nothing to batch under jax.vmap"},
        error_inputs=lambda: iter(
            [
                ErrorInput(
                    Sample(([{"W": "abc"}],), {}, "a string leaf"),
                    TypeError,
                    r"params leaves must be arrays or tensors, got str",
                )
            ]
        ),
        grad_argnums=(),
    ),
    Case(
        "Value",
        "backprop",
        scalar_samples,
        references=(Reference("torch.autograd (float64)", torch_scalar_expression, "numpy"),),
        error_inputs=value_errors,
        grad_argnums=(),
        call=scalar_expression,
        jit=False,
    ),
    Case(
        "worked_example",
        "backprop",
        scalar_samples,
        references=(
            Reference("torch.autograd (float64)", torch_worked_example, "numpy"),
            Reference("the derivatives by hand", worked_example_by_hand, "numpy"),
        ),
        grad_argnums=(),
        call=worked_example_call,
        jit=False,
    ),
]
