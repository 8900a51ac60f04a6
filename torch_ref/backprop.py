r"""Backpropagation written by hand in torch tensor ops (no autograd): twin of jaxmath.backprop.

An MLP is a plain pytree: a list of per-layer dicts ``{"W": (in, out), "b": (out,)}``; layer ``l``
computes :math:`z_l = x_l W_l + b_l`, hidden layers apply the activation :math:`x_{l+1} = f(z_l)`, and
the last layer returns the logits :math:`z_L` (no activation). The backward pass runs the chain rule
from the top:

.. math:: \bar z_L = \partial\ell/\partial z_L, \quad \bar W_l = x_l^\top \bar z_l, \quad
          \bar b_l = \textstyle\sum_n \bar z_l, \quad \bar x_l = \bar z_l W_l^\top, \quad
          \bar z_{l-1} = \bar x_l \odot f'(z_{l-1}).

Random inits take a ``torch.Generator`` where jaxmath takes a key. :class:`Value` holds 0-d float64
tensors. See jaxmath.backprop for the formulas.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from torch_ref import activations, losses
from torch_ref._tree import tree_map
from torch_ref._validation import as_float_tensor as as_float_array
from torch_ref._validation import check_option, check_scalar_in_range

__all__ = [
    "Value",
    "bce_with_logits_backward",
    "convert_params",
    "gelu_backward",
    "leaky_relu_backward",
    "linear_backward",
    "linear_forward",
    "mlp_backward",
    "mlp_forward",
    "mlp_init",
    "mlp_loss_and_grad",
    "mse_backward",
    "relu_backward",
    "sigmoid_backward",
    "softmax_cross_entropy_backward",
    "tanh_backward",
    "worked_example",
]

ACTIVATION_NAMES = ("sigmoid", "relu", "leaky_relu", "tanh", "gelu", "gelu_tanh")
LOSS_NAMES = ("cross_entropy", "mse", "bce_with_logits")
INIT_NAMES = ("he", "xavier")
FLOAT_DTYPES = ("float32", "float64")

#: torch.nn.init.calculate_gain for each activation; GELU has none in torch: ReLU's gain is the usual
#: choice for it (its slope is ~1 for x > 0 and ~0 for x < 0, like ReLU's).
ACTIVATION_GAINS = {
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1.0 + 0.01**2)),
    "gelu": math.sqrt(2.0),
    "gelu_tanh": math.sqrt(2.0),
}

# ------------------------------------------------------------------------------------------------
# Linear layer
# ------------------------------------------------------------------------------------------------


def _check_matrix_shapes(x: torch.Tensor, W: torch.Tensor, name: str = "x") -> None:
    if W.ndim != 2:
        raise ValueError(f"W must have shape (in, out), got {tuple(W.shape)}")
    if x.ndim != 2 or x.shape[1] != W.shape[0]:
        raise ValueError(
            f"{name} must have shape (N, {W.shape[0]}) to match W {tuple(W.shape)}, got {tuple(x.shape)}"
        )


def linear_forward(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r""":math:`z = x W + b`. Shapes: x (N, in), W (in, out), b (out,) -> z (N, out).

    Reference: ``torch.nn.functional.linear(x, W.T, b)`` (torch stores the weight as (out, in)).
    """
    x, W, b = as_float_array("x", x), as_float_array("W", W), as_float_array("b", b)
    _check_matrix_shapes(x, W)
    if tuple(b.shape) != (W.shape[1],):
        raise ValueError(
            f"b must have shape ({W.shape[1]},) to match W {tuple(W.shape)}, got {tuple(b.shape)}"
        )
    return x @ W + b


def linear_backward(
    grad_output: torch.Tensor, x: torch.Tensor, W: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Gradients of :math:`z = xW + b` given :math:`\bar z` = ``grad_output`` (N, out):
    :math:`\bar x = \bar z W^\top` (N, in), :math:`\bar W = x^\top \bar z` (in, out),
    :math:`\bar b = \sum_n \bar z_n` (out,)."""
    grad_output, x, W = (
        as_float_array(n, a) for n, a in (("grad_output", grad_output), ("x", x), ("W", W))
    )
    _check_matrix_shapes(x, W)
    if tuple(grad_output.shape) != (x.shape[0], W.shape[1]):
        raise ValueError(
            f"grad_output must have shape {(x.shape[0], W.shape[1])} (N, out), got {tuple(grad_output.shape)}"
        )
    return grad_output @ W.T, x.T @ grad_output, torch.sum(grad_output, dim=0)


# ------------------------------------------------------------------------------------------------
# Activation backwards: grad_input = grad_output * f'(x), x the activation's input
# ------------------------------------------------------------------------------------------------


def _pair(grad_output: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    grad_output, x = as_float_array("grad_output", grad_output), as_float_array("x", x)
    if grad_output.shape != x.shape:
        raise ValueError(
            f"grad_output must have the shape of x {tuple(x.shape)}, got {tuple(grad_output.shape)}"
        )
    return grad_output, x


def sigmoid_backward(grad_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\bar x = \bar y\,\sigma(x)(1 - \sigma(x))`."""
    grad_output, x = _pair(grad_output, x)
    s = activations.sigmoid(x)
    return grad_output * s * (1.0 - s)


def relu_backward(grad_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\bar x = \bar y\,[x > 0]` (0 at x = 0, as torch)."""
    grad_output, x = _pair(grad_output, x)
    return torch.where(x <= 0, torch.zeros_like(grad_output), grad_output)  # NaN x passes


def leaky_relu_backward(
    grad_output: torch.Tensor, x: torch.Tensor, negative_slope: float = 0.01
) -> torch.Tensor:
    r""":math:`\bar x = \bar y` for x > 0, ``negative_slope`` :math:`\cdot\,\bar y` otherwise."""
    grad_output, x = _pair(grad_output, x)
    check_scalar_in_range("negative_slope", negative_slope)
    return torch.where(x > 0, grad_output, grad_output * negative_slope)


def tanh_backward(grad_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\bar x = \bar y\,(1 - \tanh^2 x)`."""
    grad_output, x = _pair(grad_output, x)
    t = torch.tanh(x)
    return grad_output * (1.0 - t * t)


def gelu_backward(
    grad_output: torch.Tensor, x: torch.Tensor, approximate: str = "none"
) -> torch.Tensor:
    r"""GELU's derivative (torch's ``gelu_backward``):

    - ``'none'``: :math:`\Phi(x) + x\,\varphi(x)`, :math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`.
    - ``'tanh'``: with :math:`u = k(x + 0.044715x^3)`, :math:`k = \sqrt{2/\pi}`, :math:`t = \tanh u`:
      :math:`\tfrac12(1 + t) + \tfrac12 x (1 - t^2)\,k(1 + 3 \cdot 0.044715 x^2)`, evaluated with
      :math:`\tfrac12(1 + t) = s = \sigma(2u)` and :math:`1 - t^2 = 4 s (1 - s)`, and
      :math:`\Phi(x) = \tfrac12\operatorname{erfc}(-x/\sqrt2)`: no cancellation in the negative tail.
    """
    grad_output, x = _pair(grad_output, x)
    check_option("approximate", approximate, activations.GELU_APPROXIMATIONS)
    if approximate == "tanh":
        k = math.sqrt(2.0 / math.pi)
        s = activations.sigmoid(2.0 * k * (x + 0.044715 * x**3))  # (1 + t) / 2, no cancellation
        slope = s + 2.0 * x * s * (1.0 - s) * k * (1.0 + 3.0 * 0.044715 * x * x)
        return grad_output * slope
    cdf = 0.5 * torch.special.erfc(
        -x / math.sqrt(2.0)
    )  # 0.5 (1 + erf(x / sqrt 2)), accurate in the tail
    density = torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return grad_output * (cdf + x * density)


def _activation_forward(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return {
        "sigmoid": activations.sigmoid,
        "relu": activations.relu,
        "leaky_relu": activations.leaky_relu,
        "tanh": activations.tanh,
        "gelu": activations.gelu,
        "gelu_tanh": lambda z: activations.gelu(z, approximate="tanh"),
    }[name]


def _activation_backward(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return {
        "sigmoid": sigmoid_backward,
        "relu": relu_backward,
        "leaky_relu": leaky_relu_backward,
        "tanh": tanh_backward,
        "gelu": gelu_backward,
        "gelu_tanh": lambda g, z: gelu_backward(g, z, approximate="tanh"),
    }[name]


# ------------------------------------------------------------------------------------------------
# Loss gradients (mean reduction) with respect to the network's output
# ------------------------------------------------------------------------------------------------


def softmax_cross_entropy_backward(
    logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    r"""Gradient of ``cross_entropy_loss(logits, target, label_smoothing=ε)`` (mean) w.r.t. (N, C)
    logits: :math:`(p - \tilde y) / N` with :math:`p = \operatorname{softmax}(x)` and
    :math:`\tilde y = (1-\varepsilon)\,y + \varepsilon / C`, where :math:`y` is the one-hot of class
    indices (N,) or the class probabilities (N, C) themselves (torch's smoothing of both).
    """
    logits = as_float_array("logits", logits)
    check_scalar_in_range("label_smoothing", label_smoothing, 0.0, 1.0)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {tuple(logits.shape)}")
    target = torch.as_tensor(target)
    num_samples, num_classes = logits.shape
    if target.shape == logits.shape:
        target_distribution = as_float_array("target", target)
    elif tuple(target.shape) == (num_samples,) and not target.is_floating_point():
        classes = torch.arange(num_classes, device=logits.device)
        target_distribution = (target.unsqueeze(1) == classes).to(logits.dtype)
    else:
        raise ValueError(
            f"target must be class indices of shape ({num_samples},) or probabilities of shape "
            f"{tuple(logits.shape)}, got {tuple(target.shape)} {str(target.dtype).removeprefix('torch.')}"
        )
    smoothed = (1.0 - label_smoothing) * target_distribution + label_smoothing / num_classes
    return (activations.softmax(logits, axis=1) - smoothed) / num_samples


def mse_backward(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Gradient of ``mse_loss(input, target)`` (mean): :math:`2(x - y)/n`, n the element count."""
    input, target = as_float_array("input", input), as_float_array("target", target)
    if input.shape != target.shape:
        raise ValueError(
            f"target must have the same shape as input {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    return 2.0 * (input - target) / input.numel()


def bce_with_logits_backward(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Gradient of ``binary_cross_entropy_with_logits`` (mean): :math:`(\sigma(x) - y)/n`."""
    logits, target = as_float_array("logits", logits), as_float_array("target", target)
    if logits.shape != target.shape:
        raise ValueError(
            f"target must have the same shape as logits {tuple(logits.shape)}, got {tuple(target.shape)}"
        )
    return (activations.sigmoid(logits) - target) / logits.numel()


def _loss_value_and_output_grad(
    name: str, output: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "cross_entropy":
        return losses.cross_entropy_loss(output, y), softmax_cross_entropy_backward(output, y)
    if name == "mse":
        return losses.mse_loss(output, y), mse_backward(output, y)
    return losses.binary_cross_entropy_with_logits(output, y), bce_with_logits_backward(output, y)


# ------------------------------------------------------------------------------------------------
# The MLP
# ------------------------------------------------------------------------------------------------


def _check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(layer_sizes)
    if len(sizes) < 2 or not all(
        isinstance(s, int | np.integer) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise ValueError(
            f"layer_sizes must be at least two positive ints (input, ..., output), got {layer_sizes!r}"
        )
    return sizes


def mlp_init(
    generator: torch.Generator,
    layer_sizes: Sequence[int],
    activation: str = "relu",
    init: str = "he",
    dtype: str = "float32",
) -> list[dict[str, torch.Tensor]]:
    r"""Random MLP parameters ``[{"W": (n_l, n_{l+1}), "b": (n_{l+1},)}, ...]``, biases 0; ``init``
    'he' (normal, std :math:`g/\sqrt{n_\text{in}}`) or 'xavier' (uniform,
    :math:`\pm g\sqrt{6/(n_\text{in}+n_\text{out})}`), of ``dtype`` 'float32' or 'float64'."""
    sizes = _check_layer_sizes(layer_sizes)
    check_option("activation", activation, ACTIVATION_NAMES)
    check_option("init", init, INIT_NAMES)
    check_option("dtype", dtype, FLOAT_DTYPES)
    torch_dtype = getattr(torch, dtype)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    gain = ACTIVATION_GAINS[activation]
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        if init == "he":
            W = torch.randn(fan_in, fan_out, generator=generator, dtype=torch_dtype) * (
                gain / math.sqrt(fan_in)
            )
        else:
            bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
            W = (
                torch.rand(fan_in, fan_out, generator=generator, dtype=torch_dtype) * 2.0 - 1.0
            ) * bound
        params.append({"W": W, "b": torch.zeros(fan_out, dtype=W.dtype)})
    return params


def _check_params(params: Sequence[dict[str, torch.Tensor]]) -> None:
    if not isinstance(params, Sequence) or not params:
        raise TypeError(
            f"params must be a non-empty list of {{'W', 'b'}} dicts, got {type(params).__name__}"
        )
    for index, layer in enumerate(params):
        if not isinstance(layer, dict) or set(layer) != {"W", "b"}:
            raise TypeError(
                f"params[{index}] must be a dict with keys 'W' and 'b', got {layer!r:.60}"
            )
    for index, (layer, following) in enumerate(itertools.pairwise(params)):
        if layer["W"].shape[1] != following["W"].shape[0]:
            raise ValueError(
                f"layer sizes do not chain: params[{index}]['W'] is {tuple(layer['W'].shape)} but "
                f"params[{index + 1}]['W'] is {tuple(following['W'].shape)}"
            )


def mlp_forward(
    params: Sequence[dict[str, torch.Tensor]], x: torch.Tensor, activation: str = "relu"
) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    r"""Forward pass: returns the logits (N, n_L) and the cache ``[{"x": x_l, "z": z_l}, ...]``
    (each layer's input and pre-activation) that :func:`mlp_backward` needs.

    Shapes: x (N, n_0); ``params`` as from :func:`mlp_init`.
    """
    _check_params(params)
    check_option("activation", activation, ACTIVATION_NAMES)
    x = as_float_array("x", x)
    if x.ndim != 2 or x.shape[1] != params[0]["W"].shape[0]:
        raise ValueError(
            f"x must have shape (N, {params[0]['W'].shape[0]}) for the first layer, got {tuple(x.shape)}"
        )
    if x.dtype != params[0]["W"].dtype:
        weight_dtype = str(params[0]["W"].dtype).removeprefix("torch.")
        raise TypeError(
            f"x must have the parameters' dtype {weight_dtype}, got {str(x.dtype).removeprefix('torch.')}"
        )
    forward = _activation_forward(activation)
    cache = []
    for index, layer in enumerate(params):
        z = linear_forward(x, layer["W"], layer["b"])
        cache.append({"x": x, "z": z})
        x = z if index == len(params) - 1 else forward(z)
    return x, cache


def mlp_backward(
    params: Sequence[dict[str, torch.Tensor]],
    cache: Sequence[dict[str, torch.Tensor]],
    grad_output: torch.Tensor,
    activation: str = "relu",
) -> list[dict[str, torch.Tensor]]:
    r"""Backward pass from :math:`\bar z_L` = ``grad_output`` (N, n_L): gradients with exactly the
    structure of ``params`` (see the module docstring for the rules)."""
    _check_params(params)
    check_option("activation", activation, ACTIVATION_NAMES)
    if len(cache) != len(params):
        raise ValueError(f"cache must have one entry per layer ({len(params)}), got {len(cache)}")
    for index, (layer, entry) in enumerate(zip(params, cache, strict=True)):
        expected = (entry["x"].shape[0], layer["W"].shape[1])
        if (
            tuple(entry["x"].shape[1:]) != tuple(layer["W"].shape[:1])
            or tuple(entry["z"].shape) != expected
        ):
            raise ValueError(
                f"cache[{index}] does not match params[{index}]['W'] {tuple(layer['W'].shape)}: x "
                f"{tuple(entry['x'].shape)}, z {tuple(entry['z'].shape)} (a cache from a different forward?)"
            )
    grad_output = as_float_array("grad_output", grad_output)
    if grad_output.shape != cache[-1]["z"].shape:
        raise ValueError(
            f"grad_output must have the output's shape {tuple(cache[-1]['z'].shape)}, got {tuple(grad_output.shape)}"
        )
    backward = _activation_backward(activation)
    grads: list[dict[str, torch.Tensor]] = []
    grad_z = grad_output
    for index in reversed(range(len(params))):
        grad_x, grad_W, grad_b = linear_backward(grad_z, cache[index]["x"], params[index]["W"])
        grads.append({"W": grad_W, "b": grad_b})
        if index > 0:
            grad_z = backward(grad_x, cache[index - 1]["z"])
    return grads[::-1]


def mlp_loss_and_grad(
    params: Sequence[dict[str, torch.Tensor]],
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str = "cross_entropy",
    activation: str = "relu",
) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    r"""Forward, loss and hand-written backward in one jit-able call: returns (loss, grads).

    ``loss``: ``'cross_entropy'`` (y: class indices (N,) or probabilities (N, C)), ``'mse'`` or
    ``'bce_with_logits'`` (y: the output's shape), each with mean reduction and the semantics of
    :mod:`jaxmath.losses`.
    """
    check_option("loss", loss, LOSS_NAMES)
    output, cache = mlp_forward(params, x, activation)
    value, grad_output = _loss_value_and_output_grad(loss, output, y)
    return value, mlp_backward(params, cache, grad_output, activation)


def convert_params(params: Any) -> Any:
    """Any pytree of arrays (NumPy, torch, or JAX arrays via DLPack) as torch tensors, dtypes kept."""

    def to_torch(leaf: Any) -> torch.Tensor:
        if isinstance(leaf, torch.Tensor):
            return leaf.detach()
        if isinstance(leaf, np.ndarray | np.generic | float | int):
            return torch.from_numpy(np.array(leaf))
        if hasattr(leaf, "__dlpack__"):
            return torch.from_dlpack(leaf)
        raise TypeError(f"params leaves must be arrays or tensors, got {type(leaf).__name__}")

    return tree_map(to_torch, params)


# ------------------------------------------------------------------------------------------------
# Scalar autograd, micrograd-style
# ------------------------------------------------------------------------------------------------


class Value:
    """A scalar node of a computational graph: ``data``, ``grad``, its ``parents`` and ``op``.

    Operations build the graph and store each node's local backward rule; :meth:`backward` visits
    the nodes in reverse topological order so every node's gradient is complete before it is pushed
    to its parents (a node used twice accumulates both contributions: ``+=``).
    """

    def __init__(self, data: float, parents: tuple[Value, ...] = (), op: str = "") -> None:
        if isinstance(data, bool) or not isinstance(data, int | float | torch.Tensor):
            raise TypeError(f"data must be a real number, got {data!r}")
        self.data = torch.as_tensor(data, dtype=torch.float64)
        self.grad = torch.zeros((), dtype=torch.float64)
        self.parents = parents
        self.op = op
        self._backward: Callable[[], None] = lambda: None

    def __repr__(self) -> str:
        return f"Value(data={float(self.data):.6g}, grad={float(self.grad):.6g}, op={self.op!r})"

    @staticmethod
    def _lift(other: Value | float) -> Value:
        return other if isinstance(other, Value) else Value(other)

    def __add__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = backward
        return out

    def __pow__(self, exponent: float) -> Value:
        if isinstance(exponent, Value) or not isinstance(exponent, int | float):
            raise TypeError(f"exponent must be a Python number, got {exponent!r}")
        out = Value(self.data**exponent, (self,), f"**{exponent}")

        def backward() -> None:
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = backward
        return out

    def _unary(self, data: float, local_grad: float, op: str) -> Value:
        out = Value(data, (self,), op)

        def backward() -> None:
            self.grad += local_grad * out.grad

        out._backward = backward
        return out

    def exp(self) -> Value:
        value = torch.exp(self.data)
        return self._unary(value, value, "exp")

    def tanh(self) -> Value:
        value = torch.tanh(self.data)
        return self._unary(value, 1.0 - value * value, "tanh")

    def sigmoid(self) -> Value:
        value = activations.sigmoid(self.data)
        return self._unary(value, value * (1.0 - value), "sigmoid")

    def relu(self) -> Value:
        return self._unary(
            torch.clamp(self.data, min=0.0), (self.data > 0).to(torch.float64), "relu"
        )

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | float) -> Value:
        return self + (-self._lift(other))

    def __truediv__(self, other: Value | float) -> Value:
        return self * self._lift(other) ** -1.0

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __rsub__(self, other: float) -> Value:
        return self._lift(other) - self

    def __rtruediv__(self, other: float) -> Value:
        return self._lift(other) / self

    def topological_order(self) -> list[Value]:
        """Every node reachable from this one, each after all of its parents."""
        order: list[Value] = []
        visited: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
            elif id(node) not in visited:
                visited.add(id(node))
                stack.append((node, True))
                stack.extend(
                    (parent, False) for parent in node.parents if id(parent) not in visited
                )
        return order

    def backward(self) -> None:
        """Set ``grad`` of every node to d(self)/d(node), by the chain rule in reverse topological order."""
        order = self.topological_order()
        for node in order:
            node.grad = torch.zeros((), dtype=torch.float64)
        self.grad = torch.ones((), dtype=torch.float64)
        for node in reversed(order):
            node._backward()


def worked_example(x: float, y: float, z: float) -> tuple[Value, Value, Value, Value]:
    r"""The lab's worked expression :math:`f = (xy + z)^2\,\sigma(x)`, built from :class:`Value`\ s
    and back-propagated: returns ``(f, x, y, z)`` with ``x.grad`` = :math:`\partial f/\partial x`, etc.

    By hand: with :math:`u = xy + z` and :math:`s = \sigma(x)`,
    :math:`\partial f/\partial x = 2u\,y\,s + u^2 s(1 - s)`, :math:`\partial f/\partial y = 2u\,x\,s`,
    :math:`\partial f/\partial z = 2u\,s`.
    """
    x_node, y_node, z_node = Value(x), Value(y), Value(z)
    f = (x_node * y_node + z_node) ** 2 * x_node.sigmoid()
    f.backward()
    return f, x_node, y_node, z_node
