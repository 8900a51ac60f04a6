r"""Probability distributions written out on torch tensors: the twin of ``jaxmath.distributions``.

Same classes, parameter names, positional order, defaults, formulas and error messages as jaxmath's
(see its module docstring for the semantics and where upstreams disagree). The formulas are written
with tensor ops; ``torch.distributions`` is never called here, because it is the upstream reference
the parity suite compares both packages with.

Randomness: ``sample(generator, sample_shape=())`` takes a ``torch.Generator`` (torch.distributions
uses the global RNG). Reparameterized draws (``rsample``) are differentiable in the parameters by
autograd; the gamma draws use ``torch._standard_gamma`` (the sampler torch.distributions.Gamma uses,
with its implicit-reparameterization backward), which accepts a generator.
Tensors are always concrete, so every value check runs whenever ``validate_args`` is not False.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch

from torch_ref._validation import is_concrete

__all__ = [
    "Bernoulli",
    "Beta",
    "Categorical",
    "Exponential",
    "Gamma",
    "Laplace",
    "MixtureSameFamily",
    "MultivariateNormal",
    "Normal",
    "Poisson",
    "Uniform",
    "fit_bernoulli",
    "fit_beta",
    "fit_categorical",
    "fit_exponential",
    "fit_gamma",
    "fit_laplace",
    "fit_multivariate_normal",
    "fit_normal",
    "fit_poisson",
    "fit_uniform",
    "kl_divergence",
]

Shape = tuple[int, ...]
_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


# ------------------------------------------------------------------------------------------------
# Validation helpers (the messages are shared with jaxmath.distributions)
# ------------------------------------------------------------------------------------------------


def _is_concrete(*tensors: Any) -> bool:
    """False inside torch.func transforms (vmap, grad), where values cannot be inspected: value
    checks are skipped there, as jaxmath skips them on tracers."""
    return all(is_concrete(t) for t in tensors if isinstance(t, torch.Tensor))


def _require(name: str, tensor: Any, ok: Any, requirement: str) -> None:
    ok = torch.as_tensor(ok)
    if not _is_concrete(tensor, ok):
        return
    if not bool(ok.all()):
        bad = torch.as_tensor(tensor).detach()[~ok.expand_as(torch.as_tensor(tensor))]
        raise ValueError(f"{name} must {requirement}, got {float(bad.reshape(-1)[0])!r}")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _float_params(names: Sequence[str], values: Sequence[Any]) -> list[torch.Tensor]:
    """The parameters as tensors of one floating-point dtype, broadcast to their common shape."""
    tensors = []
    for name, value in zip(names, values, strict=True):
        if isinstance(value, bool) or value is None:
            raise TypeError(f"{name} must be a floating-point array, got {value!r}")
        if isinstance(value, int | float):
            continue
        if not isinstance(value, torch.Tensor):
            try:
                value = torch.as_tensor(value)
            except (TypeError, ValueError, RuntimeError) as error:
                raise TypeError(f"{name} must be a floating-point array, got {value!r}") from error
        if not value.is_floating_point():
            raise TypeError(
                f"{name} must be a floating-point array, got dtype {_dtype_name(value.dtype)}"
            )
        tensors.append(value)
    dtype = torch.get_default_dtype()
    if tensors:
        dtype = tensors[0].dtype
        for tensor in tensors[1:]:
            dtype = torch.promote_types(dtype, tensor.dtype)
    arrays = [torch.as_tensor(value, dtype=dtype) for value in values]
    shape = _broadcast_shapes(names, [tuple(array.shape) for array in arrays])
    return [array.expand(shape) for array in arrays]


def _broadcast_shapes(names: Sequence[str], shapes: Sequence[Shape]) -> Shape:
    try:
        return tuple(torch.broadcast_shapes(*shapes))
    except RuntimeError:
        described = ", ".join(f"{n} {tuple(s)}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"parameter shapes do not broadcast: {described}") from None


def _check_validate_args(validate_args: Any) -> bool:
    if validate_args is not None and not isinstance(validate_args, bool):
        raise TypeError(f"validate_args must be None or a bool, got {validate_args!r}")
    return validate_args is not False


def _check_sample_shape(sample_shape: Any) -> Shape:
    if isinstance(sample_shape, int) and not isinstance(sample_shape, bool):
        sample_shape = (sample_shape,)
    try:
        shape = tuple(int(size) for size in sample_shape)
        valid = all(
            not isinstance(size, bool) and int(size) == size and size >= 0 for size in sample_shape
        )
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"sample_shape must be a tuple of ints >= 0, got {sample_shape!r}")
    return shape


def _check_generator(generator: Any) -> None:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")


def _as_value(value: Any, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return torch.tensor(value, dtype=dtype)
    tensor = torch.as_tensor(value)
    if tensor.dtype == torch.bool:
        tensor = tensor.to(dtype)
    return tensor


def _xlogy(x: Any, y: Any) -> torch.Tensor:
    return torch.special.xlogy(x, y)


def _xlog1py(x: Any, y: Any) -> torch.Tensor:
    return torch.special.xlog1py(x, y)


# ------------------------------------------------------------------------------------------------
# The base class
# ------------------------------------------------------------------------------------------------


class _Distribution:
    """Shared machinery: shapes, value validation, method defaults (see jaxmath's twin)."""

    _param_names: ClassVar[tuple[str, ...]] = ()
    _event_ndims: ClassVar[int] = 0
    has_rsample: ClassVar[bool] = False
    support: ClassVar[str] = "real"

    _validate_args: bool

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{name}: {tuple(getattr(getattr(self, name), 'shape', ()))}"
            for name in self._param_names
        )
        return f"{type(self).__name__}({parts})"

    @property
    def _first_param(self) -> torch.Tensor:
        return getattr(self, self._param_names[0])

    @property
    def batch_shape(self) -> Shape:
        shape = tuple(self._first_param.shape)
        return shape[: len(shape) - self._event_ndims]

    @property
    def event_shape(self) -> Shape:
        shape = tuple(self._first_param.shape)
        return shape[len(shape) - self._event_ndims :]

    @property
    def dtype(self) -> torch.dtype:
        return self._first_param.dtype

    @property
    def stddev(self) -> torch.Tensor:
        return self.variance.sqrt()

    def _extended_shape(self, sample_shape: Any) -> Shape:
        return _check_sample_shape(sample_shape) + self.batch_shape + self.event_shape

    def rsample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterized sampler")

    def sample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(generator, sample_shape)

    @property
    def mode(self) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no mode")

    def cdf(self, value: Any) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form cdf")

    def icdf(self, value: Any) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form icdf")

    def entropy(self) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no closed-form entropy")

    def _value(self, value: Any) -> torch.Tensor:
        tensor = _as_value(value, self.dtype)
        shape = tuple(tensor.shape)
        if self._event_ndims and shape[len(shape) - self._event_ndims :] != self.event_shape:
            raise ValueError(
                f"value must have event shape {self.event_shape} (trailing dims), got shape {shape}"
            )
        try:
            torch.broadcast_shapes(shape, self.batch_shape + self.event_shape)
        except RuntimeError:
            raise ValueError(
                f"value of shape {shape} does not broadcast with batch shape "
                f"{self.batch_shape} and event shape {self.event_shape}"
            ) from None
        if self._validate_args:
            ok = self._in_support(tensor.detach())
            _require("value", tensor, ok, f"be within the support of {type(self).__name__}")
        return tensor

    def _in_support(self, value: torch.Tensor) -> torch.Tensor:
        return value == value

    def _probability(self, value: Any) -> torch.Tensor:
        tensor = _as_value(value, self.dtype)
        if self._validate_args:
            _require("value", tensor, (tensor >= 0) & (tensor <= 1), "lie in [0, 1]")
        return tensor


def _validate_real(self: _Distribution, **params: torch.Tensor) -> None:
    """torch's ``constraints.real`` (loc, logits): any value but NaN."""
    if self._validate_args:
        for name, tensor in params.items():
            _require(name, tensor, ~torch.isnan(tensor.detach()), "not be NaN")


def _validate_positive(self: _Distribution, **params: torch.Tensor) -> None:
    if self._validate_args:
        for name, tensor in params.items():
            _require(name, tensor, tensor.detach() > 0, "be > 0")


# ------------------------------------------------------------------------------------------------
# Continuous, univariate
# ------------------------------------------------------------------------------------------------


class Normal(_Distribution):
    """The normal distribution (see jaxmath.distributions.Normal)."""

    _param_names = ("loc", "scale")
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self._validate_args = _check_validate_args(validate_args)
        self.loc, self.scale = _float_params(("loc", "scale"), (loc, scale))
        _validate_real(self, loc=self.loc)
        _validate_positive(self, scale=self.scale)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        return self.scale**2

    @property
    def stddev(self) -> torch.Tensor:
        return self.scale

    def log_prob(self, value: Any) -> torch.Tensor:
        z = (self._value(value) - self.loc) / self.scale
        return -0.5 * z * z - self.scale.log() - _HALF_LOG_TWO_PI

    def cdf(self, value: Any) -> torch.Tensor:
        z = (self._value(value) - self.loc) / self.scale
        return 0.5 * torch.special.erfc(-z / math.sqrt(2.0))

    def icdf(self, value: Any) -> torch.Tensor:
        p = self._probability(value)
        return self.loc + self.scale * math.sqrt(2.0) * torch.erfinv(2.0 * p - 1.0)

    def entropy(self) -> torch.Tensor:
        return 0.5 + _HALF_LOG_TWO_PI + self.scale.log()

    def rsample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        shape = self._extended_shape(sample_shape)
        eps = torch.randn(shape, generator=generator, dtype=self.dtype)
        return self.loc + self.scale * eps


class Uniform(_Distribution):
    """The uniform distribution on [low, high) (see jaxmath.distributions.Uniform)."""

    _param_names = ("low", "high")
    has_rsample = True
    support = "interval"

    def __init__(self, low: Any, high: Any, validate_args: bool | None = None) -> None:
        self._validate_args = _check_validate_args(validate_args)
        self.low, self.high = _float_params(("low", "high"), (low, high))
        if self._validate_args:
            _require("high", self.high, (self.high > self.low).detach(), "be > low")

    @property
    def mean(self) -> torch.Tensor:
        return (self.low + self.high) / 2

    @property
    def mode(self) -> torch.Tensor:
        return torch.full_like(self.high, math.nan)

    @property
    def variance(self) -> torch.Tensor:
        return (self.high - self.low) ** 2 / 12

    def _in_support(self, value: torch.Tensor) -> torch.Tensor:
        return ((self.low <= value) & (value <= self.high)).detach()

    def log_prob(self, value: Any) -> torch.Tensor:
        value = self._value(value)
        inside = (self.low <= value) & (self.high > value)
        log_width = -(self.high - self.low).log()
        return torch.where(inside, log_width, torch.full_like(log_width, -math.inf))

    def cdf(self, value: Any) -> torch.Tensor:
        value = self._value(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value: Any) -> torch.Tensor:
        return self.low + self._probability(value) * (self.high - self.low)

    def entropy(self) -> torch.Tensor:
        return (self.high - self.low).log()

    def rsample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        u = torch.rand(self._extended_shape(sample_shape), generator=generator, dtype=self.dtype)
        return self.low + u * (self.high - self.low)


class Exponential(_Distribution):
    """The exponential distribution (see jaxmath.distributions.Exponential)."""

    _param_names = ("rate",)
    has_rsample = True
    support = "nonnegative"

    def __init__(self, rate: Any, validate_args: bool | None = None) -> None:
        self._validate_args = _check_validate_args(validate_args)
        (self.rate,) = _float_params(("rate",), (rate,))
        _validate_positive(self, rate=self.rate)

    @property
    def mean(self) -> torch.Tensor:
        return 1 / self.rate

    @property
    def mode(self) -> torch.Tensor:
        return torch.zeros_like(self.rate)

    @property
    def variance(self) -> torch.Tensor:
        return self.rate**-2

    def _in_support(self, value: torch.Tensor) -> torch.Tensor:
        return value >= 0

    def log_prob(self, value: Any) -> torch.Tensor:
        return self.rate.log() - self.rate * self._value(value)

    def cdf(self, value: Any) -> torch.Tensor:
        return -torch.expm1(-self.rate * self._value(value))

    def icdf(self, value: Any) -> torch.Tensor:
        return -torch.log1p(-self._probability(value)) / self.rate

    def entropy(self) -> torch.Tensor:
        return 1.0 - self.rate.log()

    def rsample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        shape = self._extended_shape(sample_shape)
        draws = torch.empty(shape, dtype=self.dtype).exponential_(generator=generator)
        return draws / self.rate


class Laplace(_Distribution):
    """The Laplace distribution (see jaxmath.distributions.Laplace)."""

    _param_names = ("loc", "scale")
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self._validate_args = _check_validate_args(validate_args)
        self.loc, self.scale = _float_params(("loc", "scale"), (loc, scale))
        _validate_real(self, loc=self.loc)
        _validate_positive(self, scale=self.scale)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        return 2 * self.scale**2

    @property
    def stddev(self) -> torch.Tensor:
        return math.sqrt(2.0) * self.scale

    def log_prob(self, value: Any) -> torch.Tensor:
        return -(2 * self.scale).log() - (self._value(value) - self.loc).abs() / self.scale

    def cdf(self, value: Any) -> torch.Tensor:
        shifted = self._value(value) - self.loc
        return 0.5 - 0.5 * shifted.sign() * torch.expm1(-shifted.abs() / self.scale)

    def icdf(self, value: Any) -> torch.Tensor:
        term = self._probability(value) - 0.5
        return self.loc - self.scale * term.sign() * torch.log1p(-2 * term.abs())

    def entropy(self) -> torch.Tensor:
        return 1 + (2 * self.scale).log()

    def rsample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        shape = self._extended_shape(sample_shape)
        tiny = torch.finfo(self.dtype).eps
        u = torch.rand(shape, generator=generator, dtype=self.dtype) * (2 - tiny) - 1 + tiny
        return self.loc - self.scale * u.sign() * torch.log1p(-u.abs())


def _standard_gamma(concentration: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    draws = torch._standard_gamma(concentration, generator=generator)
    return draws.clamp(min=torch.finfo(draws.dtype).tiny)


class Gamma(_Distribution):
    """The gamma distribution, shape and rate (see jaxmath.distributions.Gamma)."""

    _param_names = ("concentration", "rate")
    has_rsample = True
    support = "nonnegative"

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        self._validate_args = _check_validate_args(validate_args)
        self.concentration, self.rate = _float_params(
            ("concentration", "rate"), (concentration, rate)
        )
        _validate_positive(self, concentration=self.concentration, rate=self.rate)

    @property
    def mean(self) -> torch.Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> torch.Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> torch.Tensor:
        return self.concentration / self.rate**2

    def _in_support(self, value: torch.Tensor) -> torch.Tensor:
        return value >= 0

    def log_prob(self, value: Any) -> torch.Tensor:
        value = self._value(value)
        a, b = self.concentration, self.rate
        return _xlogy(a, b) + _xlogy(a - 1, value) - b * value - torch.lgamma(a)

    def cdf(self, value: Any) -> torch.Tensor:
        return torch.special.gammainc(self.concentration, self.rate * self._value(value))

    def entropy(self) -> torch.Tensor:
        a = self.concentration
        return a - self.rate.log() + torch.lgamma(a) + (1 - a) * torch.digamma(a)

    def rsample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        shape = self._extended_shape(sample_shape)
        return _standard_gamma(self.concentration.expand(shape), generator) / self.rate


class Beta(_Distribution):
    """The beta distribution (see jaxmath.distributions.Beta)."""

    _param_names = ("concentration1", "concentration0")
    has_rsample = True
    support = "unit_interval"

    def __init__(
        self, concentration1: Any, concentration0: Any, validate_args: bool | None = None
    ) -> None:
        self._validate_args = _check_validate_args(validate_args)
        self.concentration1, self.concentration0 = _float_params(
            ("concentration1", "concentration0"), (concentration1, concentration0)
        )
        _validate_positive(
            self, concentration1=self.concentration1, concentration0=self.concentration0
        )

    @property
    def mean(self) -> torch.Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> torch.Tensor:
        a, b = self.concentration1, self.concentration0
        a1, b1 = (a - 1).clamp(min=0), (b - 1).clamp(min=0)
        return torch.where((a < 1) & (b < 1), torch.ones_like(a), a1 / (a1 + b1))

    @property
    def variance(self) -> torch.Tensor:
        a, b = self.concentration1, self.concentration0
        total = a + b
        return a * b / (total**2 * (total + 1))

    def _in_support(self, value: torch.Tensor) -> torch.Tensor:
        return (value >= 0) & (value <= 1)

    def log_prob(self, value: Any) -> torch.Tensor:
        value = self._value(value)
        a, b = self.concentration1, self.concentration0
        log_beta = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
        return _xlogy(a - 1, value) + _xlog1py(b - 1, -value) - log_beta

    def entropy(self) -> torch.Tensor:
        a, b = self.concentration1, self.concentration0
        log_beta = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
        return (
            log_beta
            - (a - 1) * torch.digamma(a)
            - (b - 1) * torch.digamma(b)
            + (a + b - 2) * torch.digamma(a + b)
        )

    def rsample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        shape = self._extended_shape(sample_shape)
        x = _standard_gamma(self.concentration1.expand(shape), generator)
        y = _standard_gamma(self.concentration0.expand(shape), generator)
        info = torch.finfo(self.dtype)
        return (x / (x + y).clamp(min=info.tiny)).clamp(info.tiny, 1 - info.eps)


# ------------------------------------------------------------------------------------------------
# Discrete
# ------------------------------------------------------------------------------------------------


# torch refuses logits whose normalised form holds NaN (its constraints.real_vector)
_FINITE_NORMALIZER = "have a finite logsumexp over the last axis (no NaN or +inf, not all -inf)"


def _probs_or_logits(probs: Any, logits: Any) -> tuple[str, Any]:
    if (probs is None) == (logits is None):
        raise ValueError("exactly one of probs or logits must be specified, got both or neither")
    return ("probs", probs) if probs is not None else ("logits", logits)


class Bernoulli(_Distribution):
    """The Bernoulli distribution (see jaxmath.distributions.Bernoulli)."""

    support = "boolean"

    def __init__(
        self, probs: Any = None, logits: Any = None, validate_args: bool | None = None
    ) -> None:
        self._validate_args = _check_validate_args(validate_args)
        self._given, value = _probs_or_logits(probs, logits)
        self._param_names = (self._given,)
        (tensor,) = _float_params((self._given,), (value,))
        setattr(self, "_" + self._given, tensor)
        if self._given == "probs" and self._validate_args:
            _require("probs", tensor, ((tensor >= 0) & (tensor <= 1)).detach(), "lie in [0, 1]")
        if self._given == "logits":
            _validate_real(self, logits=tensor)

    @property
    def _first_param(self) -> torch.Tensor:
        return getattr(self, "_" + self._given)

    @property
    def probs(self) -> torch.Tensor:
        return self._probs if self._given == "probs" else torch.sigmoid(self._logits)

    @property
    def logits(self) -> torch.Tensor:
        if self._given == "logits":
            return self._logits
        return self._probs.log() - torch.log1p(-self._probs)

    @property
    def mean(self) -> torch.Tensor:
        return self.probs

    @property
    def mode(self) -> torch.Tensor:
        probs = self.probs
        mode = (probs >= 0.5).to(probs.dtype)
        return torch.where(probs == 0.5, torch.full_like(probs, math.nan), mode)

    @property
    def variance(self) -> torch.Tensor:
        return self.probs * (1 - self.probs)

    def _in_support(self, value: torch.Tensor) -> torch.Tensor:
        return (value == 0) | (value == 1)

    def log_prob(self, value: Any) -> torch.Tensor:
        value = self._value(value)
        if self._given == "logits":
            return value * self._logits - torch.nn.functional.softplus(self._logits)
        p = self._probs
        return _xlogy(value, p) + _xlog1py(1 - value, -p)

    def entropy(self) -> torch.Tensor:
        if self._given == "logits":
            p = torch.sigmoid(self._logits)
            return torch.nn.functional.softplus(self._logits) - p * self._logits
        p = self._probs
        return -_xlogy(p, p) - _xlog1py(1 - p, -p)

    def sample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        shape = self._extended_shape(sample_shape)
        u = torch.rand(shape, generator=generator, dtype=self.dtype)
        return (u < self.probs.detach()).to(self.dtype)


class Categorical(_Distribution):
    """The categorical distribution (see jaxmath.distributions.Categorical).

    ``sample`` is an inverse-CDF search (``torch.searchsorted`` of the cumulative probabilities),
    not jaxmath's alias table: both are exact samplers of the same distribution (the parity rows
    compare their draws by chi-square tests), and torch's ``searchsorted`` is a fast kernel.
    """

    _param_names = ("logits",)
    support = "integer_interval"

    def __init__(
        self, probs: Any = None, logits: Any = None, validate_args: bool | None = None
    ) -> None:
        self._validate_args = _check_validate_args(validate_args)
        given, value = _probs_or_logits(probs, logits)
        (tensor,) = _float_params((given,), (value,))
        if tensor.dim() < 1:
            raise ValueError(f"{given} must have at least one dimension (..., K), got shape ()")
        if given == "probs":
            if self._validate_args:
                _require("probs", tensor, tensor.detach() >= 0, "be >= 0")
                _require("probs", tensor, torch.isfinite(tensor.detach()), "be finite")
                sums = tensor.detach().sum(-1)
                _require("probs", sums, sums > 0, "have a positive sum over the last axis")
            self.logits = tensor.log() - tensor.sum(-1, keepdim=True).log()
        else:
            normalizer = tensor.logsumexp(-1, keepdim=True)
            if self._validate_args:
                finite = torch.isfinite(normalizer.detach())
                _require("logits", normalizer, finite, _FINITE_NORMALIZER)
            self.logits = tensor - normalizer

    @property
    def batch_shape(self) -> Shape:
        return tuple(self.logits.shape[:-1])

    @property
    def event_shape(self) -> Shape:
        return ()

    @property
    def num_classes(self) -> int:
        return self.logits.shape[-1]

    @property
    def probs(self) -> torch.Tensor:
        return self.logits.exp()

    @property
    def mean(self) -> torch.Tensor:
        return torch.full(self.batch_shape, math.nan, dtype=self.dtype)

    @property
    def mode(self) -> torch.Tensor:
        return self.logits.argmax(-1)

    @property
    def variance(self) -> torch.Tensor:
        return torch.full(self.batch_shape, math.nan, dtype=self.dtype)

    def _value(self, value: Any) -> torch.Tensor:
        tensor = torch.as_tensor(value)
        try:
            torch.broadcast_shapes(tuple(tensor.shape), self.batch_shape)
        except RuntimeError:
            raise ValueError(
                f"value of shape {tuple(tensor.shape)} does not broadcast with batch shape "
                f"{self.batch_shape}"
            ) from None
        if self._validate_args:
            ok = (tensor >= 0) & (tensor < self.num_classes) & (tensor == tensor.floor())
            _require("value", tensor, ok, f"be a class index in [0, {self.num_classes - 1}]")
        return tensor.long()

    def log_prob(self, value: Any) -> torch.Tensor:
        value = self._value(value)
        shape = torch.broadcast_shapes(tuple(value.shape), self.batch_shape)
        in_range = (value >= 0) & (value < self.num_classes)
        index = value.clamp(0, self.num_classes - 1)
        if not self.batch_shape:
            gathered = self.logits[index]
        else:
            rows = math.prod(self.batch_shape)
            row_index = torch.arange(rows).reshape(self.batch_shape)
            flat_index = (row_index * self.num_classes + index).expand(shape)
            gathered = self.logits.reshape(-1)[flat_index]
        return torch.where(in_range, gathered, torch.full_like(gathered, math.nan))

    def entropy(self) -> torch.Tensor:
        probs = self.probs
        safe_logits = torch.where(probs > 0, self.logits, torch.zeros_like(probs))
        return -(probs * safe_logits).sum(-1)

    def sample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        sample_shape = _check_sample_shape(sample_shape)
        probs = self.probs.detach()
        cumulative = probs.cumsum(-1)
        positive = probs > 0
        last = self.num_classes - 1 - positive.flip(-1).to(torch.int8).argmax(-1)
        u = torch.rand(sample_shape + self.batch_shape, generator=generator, dtype=self.dtype)
        u = u * cumulative[..., -1]
        if not self.batch_shape:
            index = torch.searchsorted(cumulative, u, right=True)
        else:
            rows = math.prod(self.batch_shape)
            flat_u = u.reshape(-1, rows).T.contiguous()  # (rows, draws)
            flat_cdf = cumulative.reshape(rows, self.num_classes).contiguous()
            flat = torch.searchsorted(flat_cdf, flat_u, right=True)
            index = flat.T.reshape(sample_shape + self.batch_shape)
        return torch.minimum(index, last)


class Poisson(_Distribution):
    """The Poisson distribution (see jaxmath.distributions.Poisson for the entropy's series)."""

    _param_names = ("rate",)
    support = "nonnegative_integer"
    _ENTROPY_WINDOW = 1400
    _ENTROPY_SERIES_FROM = 1000.0

    def __init__(self, rate: Any, validate_args: bool | None = None) -> None:
        self._validate_args = _check_validate_args(validate_args)
        (self.rate,) = _float_params(("rate",), (rate,))
        if self._validate_args:
            _require("rate", self.rate, self.rate.detach() >= 0, "be >= 0")

    @property
    def mean(self) -> torch.Tensor:
        return self.rate

    @property
    def mode(self) -> torch.Tensor:
        return self.rate.floor()

    @property
    def variance(self) -> torch.Tensor:
        return self.rate

    def _in_support(self, value: torch.Tensor) -> torch.Tensor:
        return (value >= 0) & (value == value.floor())

    def log_prob(self, value: Any) -> torch.Tensor:
        value = self._value(value)
        return _xlogy(value, self.rate) - self.rate - torch.lgamma(value + 1)

    def entropy(self) -> torch.Tensor:
        rate = self.rate
        small = rate.clamp(max=self._ENTROPY_SERIES_FROM)
        start = (small - 20 * small.sqrt() - 10).floor().clamp(min=0)
        k = start[..., None] + torch.arange(self._ENTROPY_WINDOW, dtype=rate.dtype)
        log_pmf = _xlogy(k, small[..., None]) - small[..., None] - torch.lgamma(k + 1)
        terms = torch.where(log_pmf > -math.inf, log_pmf.exp() * log_pmf, 0.0)
        summed = -terms.sum(-1)
        large = rate.clamp(min=self._ENTROPY_SERIES_FROM)
        series = (
            0.5 * torch.log(2 * math.pi * math.e * large)
            - 1 / (12 * large)
            - 1 / (24 * large**2)
            - 19 / (360 * large**3)
        )
        return torch.where(rate > self._ENTROPY_SERIES_FROM, series, summed)

    def sample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        shape = self._extended_shape(sample_shape)
        return torch.poisson(self.rate.detach().expand(shape), generator=generator)


# ------------------------------------------------------------------------------------------------
# Multivariate and mixtures
# ------------------------------------------------------------------------------------------------


def _precision_to_scale_tril(precision: torch.Tensor) -> torch.Tensor:
    """The Cholesky factor of P^-1 without inverting P (torch.distributions' formula)."""
    flipped = torch.linalg.cholesky_ex(torch.flip(precision, (-2, -1))).L
    inverse_tril = torch.flip(flipped, (-2, -1)).transpose(-2, -1)
    identity = torch.eye(precision.shape[-1], dtype=precision.dtype).expand(precision.shape)
    return torch.linalg.solve_triangular(inverse_tril, identity, upper=False)


class MultivariateNormal(_Distribution):
    """The multivariate normal (see jaxmath.distributions.MultivariateNormal)."""

    _param_names = ("loc", "scale_tril")
    _event_ndims = 1
    has_rsample = True
    support = "real_vector"

    def __init__(
        self,
        loc: Any,
        covariance_matrix: Any = None,
        precision_matrix: Any = None,
        scale_tril: Any = None,
        validate_args: bool | None = None,
    ) -> None:
        self._validate_args = _check_validate_args(validate_args)
        given = {
            name: matrix
            for name, matrix in (
                ("covariance_matrix", covariance_matrix),
                ("precision_matrix", precision_matrix),
                ("scale_tril", scale_tril),
            )
            if matrix is not None
        }
        if len(given) != 1:
            raise ValueError(
                "exactly one of covariance_matrix, precision_matrix or scale_tril must be "
                f"specified, got {len(given)}"
            )
        ((name, matrix),) = given.items()
        (loc_tensor,) = _float_params(("loc",), (loc,))
        (matrix_tensor,) = _float_params((name,), (matrix,))
        dtype = torch.promote_types(loc_tensor.dtype, matrix_tensor.dtype)
        loc_tensor, matrix_tensor = loc_tensor.to(dtype), matrix_tensor.to(dtype)
        if loc_tensor.dim() < 1:
            raise ValueError("loc must be at least one-dimensional (..., d), got shape ()")
        d = loc_tensor.shape[-1]
        if matrix_tensor.dim() < 2 or tuple(matrix_tensor.shape[-2:]) != (d, d):
            raise ValueError(
                f"{name} must have shape (..., {d}, {d}) to match loc {tuple(loc_tensor.shape)}, "
                f"got {tuple(matrix_tensor.shape)}"
            )
        batch = _broadcast_shapes(
            ("loc", name), (tuple(loc_tensor.shape[:-1]), tuple(matrix_tensor.shape[:-2]))
        )
        if name in ("covariance_matrix", "precision_matrix"):
            if self._validate_args:
                detached = matrix_tensor.detach()
                symmetric = (detached - detached.transpose(-1, -2)).abs() <= (
                    1e-6 * detached.abs().max() + 1e-30
                )
                _require(name, detached, symmetric, "be symmetric")
                eigenvalues = torch.linalg.eigvalsh(detached)
                _require(
                    name,
                    eigenvalues[..., 0],
                    eigenvalues[..., 0] > 0,
                    "be positive definite (smallest eigenvalue shown)",
                )
            if name == "covariance_matrix":
                scale_tril = torch.linalg.cholesky_ex(matrix_tensor).L
            else:
                scale_tril = _precision_to_scale_tril(matrix_tensor)
        else:
            scale_tril = matrix_tensor
            if self._validate_args:
                upper = matrix_tensor.detach().triu(1)
                _require(name, upper, upper == 0, "be lower triangular")
                diagonal = matrix_tensor.detach().diagonal(dim1=-2, dim2=-1)
                _require(name, diagonal, diagonal > 0, "have a positive diagonal")
        _validate_real(self, loc=loc_tensor)
        self.loc = loc_tensor.expand((*batch, d))
        self.scale_tril = scale_tril.expand((*batch, d, d))

    @property
    def covariance_matrix(self) -> torch.Tensor:
        return self.scale_tril @ self.scale_tril.transpose(-1, -2)

    @property
    def precision_matrix(self) -> torch.Tensor:
        identity = torch.eye(self.event_shape[0], dtype=self.dtype).expand(self.scale_tril.shape)
        return torch.cholesky_solve(identity, self.scale_tril, upper=False)

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        return (self.scale_tril**2).sum(-1)

    def _half_log_det(self) -> torch.Tensor:
        return self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value: Any) -> torch.Tensor:
        diff = self._value(value) - self.loc
        shape = tuple(diff.shape[:-1])
        tril = self.scale_tril.expand(shape + tuple(self.scale_tril.shape[-2:]))
        solved = torch.linalg.solve_triangular(tril, diff[..., None], upper=False)[..., 0]
        d = self.loc.shape[-1]
        mahalanobis = (solved**2).sum(-1)
        return -0.5 * (d * math.log(2 * math.pi) + mahalanobis) - self._half_log_det()

    def entropy(self) -> torch.Tensor:
        d = self.loc.shape[-1]
        return 0.5 * d * (1.0 + math.log(2 * math.pi)) + self._half_log_det()

    def rsample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        shape = self._extended_shape(sample_shape)
        eps = torch.randn(shape, generator=generator, dtype=self.dtype)
        return self.loc + torch.einsum("...ij,...j->...i", self.scale_tril, eps)


class MixtureSameFamily(_Distribution):
    """A mixture of one family's components (see jaxmath.distributions.MixtureSameFamily)."""

    _param_names = ("mixture_distribution", "component_distribution")

    def __init__(
        self,
        mixture_distribution: Categorical,
        component_distribution: _Distribution,
        validate_args: bool | None = None,
    ) -> None:
        self._validate_args = _check_validate_args(validate_args)
        if not isinstance(mixture_distribution, Categorical):
            raise TypeError(
                "mixture_distribution must be a Categorical, got "
                f"{type(mixture_distribution).__name__}"
            )
        if not isinstance(component_distribution, _Distribution):
            raise TypeError(
                "component_distribution must be a distribution, got "
                f"{type(component_distribution).__name__}"
            )
        components = component_distribution.batch_shape
        if not components or components[-1] != mixture_distribution.num_classes:
            raise ValueError(
                f"component_distribution must have batch shape (..., "
                f"{mixture_distribution.num_classes}) to match the mixture's "
                f"{mixture_distribution.num_classes} classes, got {components}"
            )
        mixture_batch = mixture_distribution.batch_shape
        if mixture_batch and mixture_batch != components[:-1]:
            raise ValueError(
                f"mixture_distribution's batch shape {mixture_batch} must be () or the "
                f"components' {components[:-1]}"
            )
        self.mixture_distribution = mixture_distribution
        self.component_distribution = component_distribution

    @property
    def _first_param(self) -> torch.Tensor:
        return self.component_distribution._first_param

    @property
    def batch_shape(self) -> Shape:
        return self.component_distribution.batch_shape[:-1]

    @property
    def event_shape(self) -> Shape:
        return self.component_distribution.event_shape

    @property
    def _component_event_ndims(self) -> int:
        return len(self.component_distribution.event_shape)

    def _pad_mixture(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(self.batch_shape + tuple(x.shape[-1:]))
        return x.reshape(tuple(x.shape) + (1,) * self._component_event_ndims)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-1 - self._component_event_ndims)

    @property
    def mean(self) -> torch.Tensor:
        probs = self._pad_mixture(self.mixture_distribution.probs)
        return (probs * self.component_distribution.mean).sum(-1 - self._component_event_ndims)

    @property
    def variance(self) -> torch.Tensor:
        axis = -1 - self._component_event_ndims
        probs = self._pad_mixture(self.mixture_distribution.probs)
        mean_of_variances = (probs * self.component_distribution.variance).sum(axis)
        spread = (self.component_distribution.mean - self._pad(self.mean)) ** 2
        return mean_of_variances + (probs * spread).sum(axis)

    def log_prob(self, value: Any) -> torch.Tensor:
        value = _as_value(value, self.dtype)
        log_probs = self.component_distribution.log_prob(self._pad(value))
        return (log_probs + self.mixture_distribution.logits).logsumexp(-1)

    def cdf(self, value: Any) -> torch.Tensor:
        value = _as_value(value, self.dtype)
        cdfs = self.component_distribution.cdf(self._pad(value))
        return (cdfs * self.mixture_distribution.probs).sum(-1)

    def sample(self, generator: torch.Generator, sample_shape: Any = ()) -> torch.Tensor:
        _check_generator(generator)
        sample_shape = _check_sample_shape(sample_shape)
        index = self.mixture_distribution.sample(generator, sample_shape)
        index = index.expand(sample_shape + self.batch_shape)
        draws = self.component_distribution.sample(generator, sample_shape)
        event_ndims = self._component_event_ndims
        index = index.reshape(tuple(index.shape) + (1,) * (1 + event_ndims))
        index = index.expand((*tuple(index.shape[: -event_ndims - 1]), 1, *self.event_shape))
        return draws.gather(-1 - event_ndims, index).squeeze(-1 - event_ndims)


# ------------------------------------------------------------------------------------------------
# KL divergence
# ------------------------------------------------------------------------------------------------

_KL: dict[tuple[type, type], Callable[[Any, Any], torch.Tensor]] = {}


def _register_kl(type_p: type, type_q: type) -> Callable:
    def register(function: Callable) -> Callable:
        _KL[(type_p, type_q)] = function
        return function

    return register


def kl_divergence(p: _Distribution, q: _Distribution) -> torch.Tensor:
    """KL(p || q) in closed form (see jaxmath.distributions.kl_divergence)."""
    function = _KL.get((type(p), type(q)))
    if function is None:
        raise NotImplementedError(
            f"no KL divergence registered for p {type(p).__name__} and q {type(q).__name__}"
        )
    return function(p, q)


@_register_kl(Normal, Normal)
def _kl_normal(p: Normal, q: Normal) -> torch.Tensor:
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@_register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn(p: MultivariateNormal, q: MultivariateNormal) -> torch.Tensor:
    if p.event_shape != q.event_shape:
        raise ValueError(
            f"p and q must have the same event shape, got {p.event_shape} and {q.event_shape}"
        )
    shape = tuple(torch.broadcast_shapes(p.batch_shape, q.batch_shape))
    d = p.event_shape[0]
    p_tril = p.scale_tril.expand((*shape, d, d))
    q_tril = q.scale_tril.expand((*shape, d, d))
    diff = (q.loc - p.loc).expand((*shape, d))
    solve = torch.linalg.solve_triangular
    term_trace = (solve(q_tril, p_tril, upper=False) ** 2).sum((-2, -1))
    term_mahalanobis = (solve(q_tril, diff[..., None], upper=False)[..., 0] ** 2).sum(-1)
    half_log_det = q._half_log_det() - p._half_log_det()
    return half_log_det + 0.5 * (term_trace + term_mahalanobis - d)


@_register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli(p: Bernoulli, q: Bernoulli) -> torch.Tensor:
    pp, qp = p.probs, q.probs
    return _xlogy(pp, pp) - _xlogy(pp, qp) + _xlog1py(1 - pp, -pp) - _xlog1py(1 - pp, -qp)


@_register_kl(Categorical, Categorical)
def _kl_categorical(p: Categorical, q: Categorical) -> torch.Tensor:
    if p.num_classes != q.num_classes:
        raise ValueError(
            f"p and q must have the same number of classes, got {p.num_classes} and {q.num_classes}"
        )
    p_probs = p.probs
    p_positive, q_zero = p_probs > 0, q.probs == 0
    safe_difference = torch.where(p_positive & ~q_zero, p.logits - q.logits, 0.0)
    terms = torch.where(p_positive & q_zero, math.inf, p_probs * safe_difference)
    return terms.sum(-1)


@_register_kl(Uniform, Uniform)
def _kl_uniform(p: Uniform, q: Uniform) -> torch.Tensor:
    result = ((q.high - q.low) / (p.high - p.low)).log()
    outside = (q.low > p.low) | (q.high < p.high)
    return torch.where(outside, math.inf, result)


@_register_kl(Exponential, Exponential)
def _kl_exponential(p: Exponential, q: Exponential) -> torch.Tensor:
    rate_ratio = q.rate / p.rate
    return -rate_ratio.log() + rate_ratio - 1


@_register_kl(Laplace, Laplace)
def _kl_laplace(p: Laplace, q: Laplace) -> torch.Tensor:
    scale_ratio = p.scale / q.scale
    loc_abs_diff = (p.loc - q.loc).abs()
    return (
        -scale_ratio.log()
        + loc_abs_diff / q.scale
        + scale_ratio * torch.exp(-loc_abs_diff / p.scale)
        - 1
    )


@_register_kl(Beta, Beta)
def _kl_beta(p: Beta, q: Beta) -> torch.Tensor:
    sum_p = p.concentration1 + p.concentration0
    sum_q = q.concentration1 + q.concentration0
    lgamma, digamma = torch.lgamma, torch.digamma
    t1 = lgamma(q.concentration1) + lgamma(q.concentration0) + lgamma(sum_p)
    t2 = lgamma(p.concentration1) + lgamma(p.concentration0) + lgamma(sum_q)
    t3 = (p.concentration1 - q.concentration1) * digamma(p.concentration1)
    t4 = (p.concentration0 - q.concentration0) * digamma(p.concentration0)
    t5 = (sum_q - sum_p) * digamma(sum_p)
    return t1 - t2 + t3 + t4 + t5


@_register_kl(Gamma, Gamma)
def _kl_gamma(p: Gamma, q: Gamma) -> torch.Tensor:
    t1 = q.concentration * (p.rate / q.rate).log()
    t2 = torch.lgamma(q.concentration) - torch.lgamma(p.concentration)
    t3 = (p.concentration - q.concentration) * torch.digamma(p.concentration)
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


@_register_kl(Poisson, Poisson)
def _kl_poisson(p: Poisson, q: Poisson) -> torch.Tensor:
    return _xlogy(p.rate, p.rate) - _xlogy(p.rate, q.rate) - (p.rate - q.rate)


# ------------------------------------------------------------------------------------------------
# Maximum-likelihood fits
# ------------------------------------------------------------------------------------------------


def _observations(x: Any, minimum: int = 1, name: str = "x") -> torch.Tensor:
    tensor = torch.as_tensor(x)
    if tensor.dim() < 1 or tensor.shape[0] < minimum:
        raise ValueError(
            f"{name} must have at least {minimum} observation(s) along axis 0, "
            f"got shape {tuple(tensor.shape)}"
        )
    return tensor


def _float_observations(x: Any, minimum: int = 1) -> torch.Tensor:
    tensor = _observations(x, minimum)
    if not tensor.is_floating_point():
        raise TypeError(f"x must be a floating-point array, got dtype {_dtype_name(tensor.dtype)}")
    return tensor


def fit_normal(x: Any) -> Normal:
    """Maximum-likelihood Normal (see jaxmath.distributions.fit_normal)."""
    x = _float_observations(x, 2)
    loc = x.mean(0)
    return Normal(loc, ((x - loc) ** 2).mean(0).sqrt())


def fit_multivariate_normal(x: Any) -> MultivariateNormal:
    """Maximum-likelihood MultivariateNormal (see jaxmath.distributions.fit_multivariate_normal)."""
    x = _float_observations(x, 2)
    if x.dim() != 2:
        raise ValueError(f"x must have shape (N, d), got {tuple(x.shape)}")
    loc = x.mean(0)
    centered = x - loc
    return MultivariateNormal(loc, covariance_matrix=centered.T @ centered / x.shape[0])


def fit_bernoulli(x: Any) -> Bernoulli:
    """Maximum-likelihood Bernoulli (see jaxmath.distributions.fit_bernoulli)."""
    x = _float_observations(x)
    _require("x", x, (x == 0) | (x == 1), "hold only 0 and 1")
    return Bernoulli(probs=x.mean(0))


def fit_categorical(x: Any, num_classes: int, dtype: str = "float32") -> Categorical:
    """Maximum-likelihood Categorical (see jaxmath.distributions.fit_categorical)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be one of 'float32', 'float64', got {dtype!r}")
    x = _observations(x)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(
            f"x must be an integer array of class indices, got dtype {_dtype_name(x.dtype)}"
        )
    _require("x", x, (x >= 0) & (x < num_classes), f"hold classes in [0, {num_classes - 1}]")
    one_hot = torch.nn.functional.one_hot(x.long(), num_classes).to(getattr(torch, dtype))
    return Categorical(probs=one_hot.sum(0) / x.shape[0])


def fit_exponential(x: Any) -> Exponential:
    """Maximum-likelihood Exponential (see jaxmath.distributions.fit_exponential)."""
    x = _float_observations(x)
    _require("x", x, x >= 0, "be >= 0")
    return Exponential(1.0 / x.mean(0))


def fit_laplace(x: Any) -> Laplace:
    """Maximum-likelihood Laplace: the median and the mean absolute deviation from it.

    For an even N the median is the mean of the two middle values (NumPy's and jnp.median's
    convention; torch.median would return the lower one).
    """
    x = _float_observations(x, 2)
    loc = torch.quantile(x, 0.5, dim=0)
    return Laplace(loc, (x - loc).abs().mean(0))


def fit_poisson(x: Any) -> Poisson:
    """Maximum-likelihood Poisson (see jaxmath.distributions.fit_poisson)."""
    x = _float_observations(x)
    _require("x", x, (x >= 0) & (x == x.floor()), "hold non-negative integer counts")
    return Poisson(x.mean(0))


def _require_spread(x: torch.Tensor) -> None:
    values = x.detach().reshape(x.shape[0], -1)
    constant = (values == values[:1]).all(0)
    if not _is_concrete(x, constant):  # under torch.func transforms, as _require
        return
    if bool(constant.any()):
        raise ValueError(
            "x must hold at least two distinct values in every column, got a constant column "
            f"of {float(values[0, int(constant.to(torch.int64).argmax())])!r}"
        )


_GAMMA_NEWTON_STEPS = 6
_BETA_NEWTON_STEPS = 10


def fit_gamma(x: Any) -> Gamma:
    """Maximum-likelihood Gamma by Minka's generalized Newton iteration on the shape (see
    jaxmath.distributions.fit_gamma: the same start, the same 6 steps)."""
    x = _float_observations(x, 2)
    _require("x", x, x > 0, "be > 0")
    _require_spread(x)
    mean = x.mean(0)
    mean_log = x.log().mean(0)
    s = mean.log() - mean_log
    shape = (3 - s + ((s - 3) ** 2 + 24 * s).sqrt()) / (12 * s)
    for _ in range(_GAMMA_NEWTON_STEPS):
        gradient = mean_log - mean.log() + shape.log() - torch.digamma(shape)
        curvature = shape**2 * (1 / shape - torch.polygamma(1, shape))
        shape = 1 / (1 / shape + gradient / curvature)
    return Gamma(shape, shape / mean)


def fit_beta(x: Any) -> Beta:
    """Maximum-likelihood Beta by Newton's method on the two digamma equations in
    (log a, log b) from the method of moments (see jaxmath.distributions.fit_beta: 10 steps)."""
    x = _float_observations(x, 2)
    _require("x", x, (x > 0) & (x < 1), "lie in (0, 1)")
    _require_spread(x)
    mean_log, mean_log1m = x.log().mean(0), torch.log1p(-x).mean(0)
    mean = x.mean(0)
    variance = ((x - mean) ** 2).mean(0)
    common = mean * (1 - mean) / variance - 1
    a, b = mean * common, (1 - mean) * common
    for _ in range(_BETA_NEWTON_STEPS):
        digamma_total = torch.digamma(a + b)
        residual_a = torch.digamma(a) - digamma_total - mean_log
        residual_b = torch.digamma(b) - digamma_total - mean_log1m
        shared = torch.polygamma(1, a + b)
        j_aa, j_ab = (torch.polygamma(1, a) - shared) * a, -shared * b
        j_ba, j_bb = -shared * a, (torch.polygamma(1, b) - shared) * b
        determinant = j_aa * j_bb - j_ab * j_ba
        step_a = (j_bb * residual_a - j_ab * residual_b) / determinant
        step_b = (j_aa * residual_b - j_ba * residual_a) / determinant
        a, b = a * torch.exp(-step_a), b * torch.exp(-step_b)
    return Beta(a, b)


def fit_uniform(x: Any) -> Uniform:
    """Maximum-likelihood Uniform: the smallest and largest observation (see
    jaxmath.distributions.fit_uniform)."""
    x = _float_observations(x, 2)
    _require_spread(x)
    return Uniform(x.amin(0), x.amax(0))
