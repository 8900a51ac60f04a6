"""Case rows for jaxmath.distributions, joined into the one table by cases.py.

The case table is function-oriented; a distribution is a class, so each row's ``call`` builds the
distribution from the sample's parameter arrays and calls one method (the row's ``variant``):
``Normal[log_prob]`` calls ``Normal(loc, scale).log_prob(value)`` in jaxmath (under jit and vmap by
the generic tests), in torch_ref, in ``torch.distributions`` and in ``scipy.stats``, all fed the same
numbers. Rows per distribution:

- ``<method>`` for log_prob, cdf, icdf, entropy, mean, variance: random parameters with batch shapes
  that broadcast against the value (sample dimensions in front); gradients in the parameters (and the
  value) against torch.distributions' autograd and both packages' numerical gradients.
- ``<method> edges``: probs 0 and 1, scales 1e-30 and 1e30, means of 1e8, -inf logits, compared with
  scipy.stats (exact there; torch.distributions clamps probs and squares 1e-30 to 0 in float32, see
  jaxmath.distributions' docstring) and, where torch is right at the edges, with torch too.
- ``sample``: 20000 draws at a fixed seed: jaxmath vs torch_ref vs torch.distributions by a two-sample
  KS test (continuous) or a chi-square test of the counts (discrete), and each against scipy.stats's
  cdf / pmf by a one-sample test. Seeds are fixed, so the p-values are fixed numbers: the threshold
  p > 1e-3 is a deterministic assertion, not a flaky one.
- ``rsample gradient``: the reparameterized gradient of E[x^2] (summed over the event) in the
  parameters, estimated from 20000 draws in 20 chunks, against the closed form
  d/dθ (mean^2 + variance) by torch.autograd through torch.distributions: within 5 standard errors
  (and jaxmath's estimate vs torch_ref's within 5 joint standard errors).
- ``kl_divergence[<family>]`` against torch.distributions.kl_divergence; ``fit_*`` against
  scipy.stats' ``fit`` where it has one, else the closed-form MLE in NumPy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.stats as st
import torch
import torch.distributions as td

import jaxmath.distributions  # noqa: F401  (the packages' __init__ may not import it yet)
import torch_ref.distributions  # noqa: F401
from parity_tests.harness import (
    Case,
    ErrorInput,
    Framework,
    Reference,
    Sample,
    Tolerance,
)
from parity_tests.inputs import normal, uniform

MODULE = "distributions"
PROPERTIES = (
    "mean",
    "variance",
    "stddev",
    "mode",
    "covariance_matrix",
    "precision_matrix",
    "scale_tril",
)
DRAWS = 20000
CHUNKS = 20
P_VALUE = 1e-3


# ------------------------------------------------------------------------------------------------
# Calling a method of a distribution built from arrays, in any framework
# ------------------------------------------------------------------------------------------------


def _apply(dist: Any, method: str, rest: tuple[Any, ...]) -> Any:
    if method in PROPERTIES:
        return getattr(dist, method)
    return getattr(dist, method)(*rest)


@dataclasses.dataclass(frozen=True)
class Family:
    """How to build one distribution from a sample's parameter arrays, in every framework.

    ``build(cls, *params)`` constructs it (default ``cls(*params)``); ``scipy(*params)`` gives the
    frozen scipy.stats distribution (NumPy parameters) or None; ``torch_methods`` / ``scipy_methods``
    the methods those references have.
    """

    name: str
    n_params: int
    parameters: Callable[[np.random.Generator, str, tuple[int, ...]], tuple[np.ndarray, ...]]
    values: Callable[[np.random.Generator, str, tuple[np.ndarray, ...], tuple[int, ...]], Any]
    methods: tuple[str, ...]
    torch_methods: tuple[str, ...]
    scipy: Callable[..., Any] | None = None
    scipy_methods: tuple[str, ...] = ()
    build: Callable[..., Any] = lambda cls, *params, **options: cls(*params, **options)
    discrete: bool = False
    variant_suffix: str = ""
    kind: str = "elementwise"

    def ours(self, framework: Framework, params: tuple[Any, ...], **options: Any) -> Any:
        return self.build(getattr(framework.package.distributions, self.name), *params, **options)

    def upstream(self, params: tuple[Any, ...], **options: Any) -> Any:
        return self.build(getattr(td, self.name), *params, **options)


def _cast_counts(family: Family, params: tuple[Any, ...], rest: tuple[Any, ...]) -> tuple:
    """Bernoulli / Poisson values travel as int64 (so the jit test's halving of float arrays keeps
    them in the support) and are cast to the parameters' float dtype here, as a user would."""
    if family.name not in ("Bernoulli", "Poisson") or not rest:
        return rest
    value, like = rest[0], params[0]
    if isinstance(value, torch.Tensor):
        return (value.to(like.dtype), *rest[1:])
    return (value.astype(like.dtype), *rest[1:])


def method_call(family: Family, method: str) -> Callable[..., Any]:
    def call(framework: Framework, *args: Any, **options: Any) -> Any:
        params, rest = args[: family.n_params], args[family.n_params :]
        rest = _cast_counts(family, params, rest)
        return _apply(family.ours(framework, params, **options), method, rest)

    return call


def torch_method(family: Family, method: str) -> Callable[..., Any]:
    def reference(*args: Any, **options: Any) -> Any:
        params, rest = args[: family.n_params], args[family.n_params :]
        rest = _cast_counts(family, params, rest)
        return _apply(family.upstream(params, **options), method, rest)

    return reference


SCIPY_NAMES = {"log_prob": None, "cdf": "cdf", "icdf": "ppf", "entropy": "entropy"}


def scipy_method(family: Family, method: str) -> Callable[..., Any]:
    """scipy.stats on the same numbers, in float64, rounded to the sample's dtype at the end."""

    def reference(*args: Any) -> Any:
        params, rest = args[: family.n_params], args[family.n_params :]
        dtype = np.asarray(params[0]).dtype
        frozen = family.scipy(*(np.asarray(p, np.float64) for p in params))
        if method == "log_prob":
            name = "logpmf" if family.discrete else "logpdf"
            out = getattr(frozen, name)(np.asarray(rest[0], np.float64))
        elif method in ("cdf", "icdf"):
            out = getattr(frozen, SCIPY_NAMES[method])(np.asarray(rest[0], np.float64))
        elif method == "entropy":
            out = frozen.entropy()
        elif method == "mean":
            out = frozen.mean()
        elif method == "variance":
            out = frozen.var()
        else:
            out = frozen.std()
        return np.asarray(np.asarray(out, np.float64).astype(dtype))

    return reference


def _references(family: Family, method: str, torch_too: bool = True) -> tuple[Reference, ...]:
    refs = []
    if torch_too and method in family.torch_methods:
        refs.append(
            Reference(f"torch.distributions.{family.name}.{method}", torch_method(family, method))
        )
    if family.scipy is not None and method in family.scipy_methods:
        refs.append(
            Reference(
                f"scipy.stats ({family.name}).{method}", scipy_method(family, method), "numpy"
            )
        )
    return tuple(refs)


# ------------------------------------------------------------------------------------------------
# The families: parameters and values
# ------------------------------------------------------------------------------------------------

BATCHES = ((5,), (2, 3))


def _positive(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: str, low=0.3, high=3.0
) -> Any:
    return uniform(rng, shape, dtype, low, high)


def _real_values(rng, dtype, params, shape):
    return normal(rng, (3, *shape), dtype)


def _positive_values(rng, dtype, params, shape):
    return uniform(rng, (3, *shape), dtype, 0.05, 4.0)


def _unit_values(rng, dtype, params, shape):
    return uniform(rng, (3, *shape), dtype, 0.02, 0.98)


def _uniform_values(rng, dtype, params, shape):
    low, high = params
    u = rng.uniform(0.0, 0.999, size=(3, *shape))
    return (low + u * (high - low)).astype(dtype)


def _count_values(rng, dtype, params, shape):
    return rng.integers(0, 8, size=(3, *shape)).astype(np.int64)


def _binary_values(rng, dtype, params, shape):
    return rng.integers(0, 2, size=(3, *shape)).astype(np.int64)


def _class_values(rng, dtype, params, shape):
    return rng.integers(0, params[0].shape[-1], size=(3, *shape[:-1])).astype(np.int64)


def _mvn_values(rng, dtype, params, shape):
    return normal(rng, (3, *shape), dtype, scale=1.0)


def _spd(rng: np.random.Generator, batch: tuple[int, ...], d: int, dtype: str) -> Any:
    a = rng.standard_normal((*batch, d, d))
    return (a @ np.swapaxes(a, -1, -2) / d + 0.5 * np.eye(d)).astype(dtype)


def _tril(rng: np.random.Generator, batch: tuple[int, ...], d: int, dtype: str) -> Any:
    return np.linalg.cholesky(_spd(rng, batch, d, "float64")).astype(dtype)


def _scipy_mvn(loc: Any, tril: Any) -> Any:
    """A stand-in frozen distribution looping scipy.stats.multivariate_normal over the batch."""

    class Batched:
        def _each(self, function: Callable[[Any, int], Any], batch: tuple[int, ...]) -> Any:
            out = np.empty(batch)
            for index in np.ndindex(*batch):
                out[index] = function(index)
            return out

        def logpdf(self, value: Any) -> Any:
            shape = np.broadcast_shapes(value.shape[:-1], loc.shape[:-1])
            value_b = np.broadcast_to(value, (*shape, loc.shape[-1]))
            loc_b = np.broadcast_to(loc, value_b.shape)
            tril_b = np.broadcast_to(tril, (*shape, *tril.shape[-2:]))
            return self._each(
                lambda i: st.multivariate_normal(loc_b[i], tril_b[i] @ tril_b[i].T).logpdf(
                    value_b[i]
                ),
                shape,
            )

        def entropy(self) -> Any:
            return self._each(
                lambda i: st.multivariate_normal(loc[i], tril[i] @ tril[i].T).entropy(),
                loc.shape[:-1],
            )

        def mean(self) -> Any:
            return loc

        def var(self) -> Any:
            return np.einsum("...ij,...ij->...i", tril, tril)

    return Batched()


def _categorical_params(rng, dtype, shape):
    return (normal(rng, (*shape, 4), dtype),)


def _mixture_params(rng, dtype, shape):
    return (
        normal(rng, (*shape, 3), dtype),
        normal(rng, (*shape, 3), dtype),
        _positive(rng, (*shape, 3), dtype),
    )


def _mixture_build(cls_or_module: Any, logits: Any, loc: Any, scale: Any) -> Any:
    module = _module_of(cls_or_module)
    return cls_or_module(module.Categorical(logits=logits), module.Normal(loc, scale))


def _module_of(cls: Any) -> Any:
    import importlib

    return importlib.import_module(
        cls.__module__.rsplit(".", 1)[0]
        if cls.__module__.startswith("torch.distributions")
        else cls.__module__
    )


FAMILIES = {
    "Normal": Family(
        "Normal",
        2,
        lambda rng, dtype, shape: (normal(rng, shape, dtype), _positive(rng, shape, dtype)),
        _real_values,
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "stddev", "mode"),
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "stddev", "mode"),
        st.norm,
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "stddev"),
    ),
    "Uniform": Family(
        "Uniform",
        2,
        lambda rng, dtype, shape: (
            (low := normal(rng, shape, dtype)),
            (low + _positive(rng, shape, dtype)).astype(dtype),
        ),
        _uniform_values,
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "mode"),
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "mode"),
        lambda low, high: st.uniform(low, high - low),
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance"),
    ),
    "Exponential": Family(
        "Exponential",
        1,
        lambda rng, dtype, shape: (_positive(rng, shape, dtype),),
        _positive_values,
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "mode"),
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "mode"),
        lambda rate: st.expon(scale=1 / rate),
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance"),
    ),
    "Laplace": Family(
        "Laplace",
        2,
        lambda rng, dtype, shape: (normal(rng, shape, dtype), _positive(rng, shape, dtype)),
        _real_values,
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "stddev", "mode"),
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "stddev", "mode"),
        st.laplace,
        ("log_prob", "cdf", "icdf", "entropy", "mean", "variance", "stddev"),
    ),
    "Gamma": Family(
        "Gamma",
        2,
        lambda rng, dtype, shape: (
            _positive(rng, shape, dtype, 0.5, 5.0),
            _positive(rng, shape, dtype),
        ),
        _positive_values,
        ("log_prob", "cdf", "entropy", "mean", "variance", "mode"),
        ("log_prob", "cdf", "entropy", "mean", "variance", "mode"),
        lambda a, rate: st.gamma(a, scale=1 / rate),
        ("log_prob", "cdf", "entropy", "mean", "variance"),
        kind="elementwise",
    ),
    "Beta": Family(
        "Beta",
        2,
        lambda rng, dtype, shape: (
            _positive(rng, shape, dtype, 0.5, 5.0),
            _positive(rng, shape, dtype, 0.5, 5.0),
        ),
        _unit_values,
        ("log_prob", "entropy", "mean", "variance", "mode"),
        ("log_prob", "entropy", "mean", "variance", "mode"),
        st.beta,
        ("log_prob", "entropy", "mean", "variance"),
        kind="elementwise",
    ),
    "Poisson": Family(
        "Poisson",
        1,
        lambda rng, dtype, shape: (_positive(rng, shape, dtype, 0.5, 12.0),),
        _count_values,
        ("log_prob", "entropy", "mean", "variance", "mode"),
        ("log_prob", "mean", "variance", "mode"),
        st.poisson,
        ("log_prob", "entropy", "mean", "variance"),
        discrete=True,
        kind="elementwise",
    ),
    "Bernoulli": Family(
        "Bernoulli",
        1,
        lambda rng, dtype, shape: (uniform(rng, shape, dtype, 0.05, 0.95),),
        _binary_values,
        ("log_prob", "entropy", "mean", "variance", "mode"),
        ("log_prob", "entropy", "mean", "variance", "mode"),
        st.bernoulli,
        ("log_prob", "entropy", "mean", "variance"),
        build=lambda cls, probs, **options: cls(probs=probs, **options),
        discrete=True,
    ),
    "Bernoulli logits": Family(
        "Bernoulli",
        1,
        lambda rng, dtype, shape: (normal(rng, shape, dtype),),
        _binary_values,
        ("log_prob", "entropy", "mean", "variance"),
        ("log_prob", "entropy", "mean", "variance"),
        build=lambda cls, logits, **options: cls(logits=logits, **options),
        discrete=True,
        variant_suffix=" (logits)",
    ),
    "Categorical": Family(
        "Categorical",
        1,
        lambda rng, dtype, shape: (
            np.asarray(
                np.random.default_rng(rng.integers(1 << 30)).dirichlet(
                    np.full(4, 5.0), size=shape[:-1] or None
                ),
                dtype,
            ),
        ),
        _class_values,
        ("log_prob", "entropy", "mean", "variance", "mode"),
        ("log_prob", "entropy", "mean", "variance", "mode"),
        discrete=True,
    ),
    "Categorical logits": Family(
        "Categorical",
        1,
        lambda rng, dtype, shape: _categorical_params(rng, dtype, shape[:-1] or (5,)),
        _class_values,
        ("log_prob", "entropy"),
        ("log_prob", "entropy"),
        build=lambda cls, logits: cls(logits=logits),
        discrete=True,
        variant_suffix=" (logits)",
    ),
    "MultivariateNormal": Family(
        "MultivariateNormal",
        2,
        lambda rng, dtype, shape: (
            normal(rng, shape, dtype),
            _tril(rng, shape[:-1], shape[-1], dtype),
        ),
        _mvn_values,
        (
            "log_prob",
            "entropy",
            "mean",
            "variance",
            "mode",
            "covariance_matrix",
            "precision_matrix",
        ),
        (
            "log_prob",
            "entropy",
            "mean",
            "variance",
            "mode",
            "covariance_matrix",
            "precision_matrix",
        ),
        _scipy_mvn,
        ("log_prob", "entropy", "mean", "variance"),
        build=lambda cls, loc, tril: cls(loc, scale_tril=tril),
        kind="reduction",
    ),
    "MultivariateNormal covariance": Family(
        "MultivariateNormal",
        2,
        lambda rng, dtype, shape: (
            normal(rng, shape, dtype),
            _spd(rng, shape[:-1], shape[-1], dtype),
        ),
        _mvn_values,
        ("log_prob", "entropy", "scale_tril", "precision_matrix"),
        ("log_prob", "entropy", "scale_tril", "precision_matrix"),
        build=lambda cls, loc, cov: cls(loc, covariance_matrix=cov),
        variant_suffix=" (covariance_matrix)",
        kind="reduction",
    ),
    "MultivariateNormal precision": Family(
        "MultivariateNormal",
        2,
        lambda rng, dtype, shape: (
            normal(rng, shape, dtype),
            _spd(rng, shape[:-1], shape[-1], dtype),
        ),
        _mvn_values,
        ("log_prob", "entropy", "scale_tril", "covariance_matrix"),
        ("log_prob", "entropy", "scale_tril", "covariance_matrix"),
        build=lambda cls, loc, precision: cls(loc, precision_matrix=precision),
        variant_suffix=" (precision_matrix)",
        kind="reduction",
    ),
    "MixtureSameFamily": Family(
        "MixtureSameFamily",
        3,
        _mixture_params,
        _real_values,
        ("log_prob", "cdf", "mean", "variance"),
        ("log_prob", "cdf", "mean", "variance"),
        build=_mixture_build,
        kind="reduction",
    ),
}

#: Batch shapes per family; for Categorical / MVN the last entry is the event / class axis.
FAMILY_BATCHES = {
    "Categorical": ((5, 4), (2, 3, 4)),
    "Categorical logits": ((5, 4), (2, 4)),
    "MultivariateNormal": ((4, 3), (2, 3, 2)),
    "MultivariateNormal covariance": ((4, 3), (2, 2)),
    "MultivariateNormal precision": ((4, 3), (2, 2)),
}


def method_samples(
    family_key: str, method: str
) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    family = FAMILIES[family_key]

    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        for shape in FAMILY_BATCHES.get(family_key, BATCHES):
            params = family.parameters(rng, dtype, shape)
            if method in ("log_prob", "cdf"):
                value = family.values(rng, dtype, params, shape)
                yield Sample((*params, value), {}, f"batch {shape}, value {value.shape}")
            elif method == "icdf":
                p = uniform(rng, (3, *shape), dtype, 0.001, 0.999)
                yield Sample((*params, p), {}, f"batch {shape}, p {p.shape}")
            else:
                yield Sample(params, {}, f"batch {shape}")

    return samples


def grad_positions(family_key: str, method: str) -> tuple[int, ...]:
    """Parameters (and the value, for continuous families' log_prob/cdf/icdf) differentiated.

    Not differentiated: discrete values; Categorical's NaN mean/variance (constant); Gamma's cdf in
    the concentration (torch has no derivative of igamma in its first argument); the covariance
    matrix (torch's Cholesky reads the lower triangle, JAX's symmetrises, so their gradients differ
    by convention, both right).
    """
    family = FAMILIES[family_key]
    params = tuple(range(family.n_params))
    if family.name == "Categorical" and method in ("mean", "variance"):
        return ()
    if method == "precision_matrix":
        # torch's cholesky_inverse / cholesky_solve backward puts gradient on the upper triangle of
        # scale_tril, which the function never reads (finite differences give 0 there): a
        # convention, as for the covariance matrix below, not compared.
        return ()
    if method == "mode":
        # Constant, NaN or integer modes (Uniform, Exponential, Poisson, Bernoulli, Categorical)
        # have no gradient to compare; Beta's torch formula has a 0/0 branch at a, b <= 1.
        return (0,) if family.name in ("Normal", "Laplace", "MultivariateNormal") else ()
    if family_key in ("MultivariateNormal covariance", "MultivariateNormal precision"):
        return (0, 2) if method == "log_prob" else ()  # the entropy does not depend on loc
    if family.name == "Gamma" and method == "cdf":
        return (1, 2)
    if method in ("log_prob", "cdf", "icdf") and not family.discrete:
        return (*params, family.n_params)
    return params


# ------------------------------------------------------------------------------------------------
# Error inputs (attached to each family's log_prob row)
# ------------------------------------------------------------------------------------------------


def _errors_two_positive(
    first: str, second: str, support_value: float, dist: str
) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        one = np.ones(3)
        yield ErrorInput(
            Sample((one, np.array([1.0, 0.0, 1.0]), one), {}, f"{second} 0"),
            ValueError,
            rf"{second} must be > 0, got 0.0",
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match=second,
        )
        yield ErrorInput(
            Sample((one, np.array([1.0, -2.0, 1.0]), one), {}, f"{second} < 0"),
            ValueError,
            rf"{second} must be > 0, got -2.0",
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match=second,
        )
        yield ErrorInput(
            Sample((one, np.array([1.0, np.nan, 1.0]), one), {}, f"{second} NaN"),
            ValueError,
            rf"{second} must be > 0, got nan",
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match=second,
        )
        yield ErrorInput(  # torch's constraints.real refuses NaN (was accepted here)
            Sample((np.array([1.0, np.nan, 1.0]), one, one), {}, f"{first} NaN"),
            ValueError,
            rf"{first} must not be NaN, got nan",
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match=first,
        )
        yield ErrorInput(
            Sample((np.arange(3), one, one), {}, f"integer {first}"),
            TypeError,
            rf"{first} must be a floating-point array, got dtype int64",
        )
        yield ErrorInput(
            Sample(
                (one, one, np.array([0.5, support_value, 0.5])), {}, "value outside the support"
            ),
            ValueError,
            rf"value must be within the support of {dist}, got {support_value!r}",
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match="support",
        )
        yield ErrorInput(
            Sample((np.ones(3), np.ones(2), np.ones(3)), {}, "shapes"),
            ValueError,
            rf"parameter shapes do not broadcast: {first} \(3,\), {second} \(2,\)",
            upstream_rejects=True,
        )
        yield ErrorInput(
            Sample((one, one, np.ones((2, 2))), {}, "value shape"),
            ValueError,
            r"value of shape \(2, 2\) does not broadcast with batch shape \(3,\)",
            upstream_rejects=True,
        )

    return errors


def _errors_gamma_like(
    first: str, second: str, dist: str, bad_value: float
) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        one = np.full(3, 0.5)
        for name, position in ((first, 0), (second, 1)):
            args = [one, one, one]
            args[position] = np.array([1.0, -1.0, 1.0])
            yield ErrorInput(
                Sample(tuple(args), {}, f"{name} < 0"),
                ValueError,
                rf"{name} must be > 0, got -1.0",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="concentration|rate",  # torch Beta reports its Dirichlet's
            )
        yield ErrorInput(
            Sample((one, one, np.array([0.5, bad_value, 0.5])), {}, "value outside the support"),
            ValueError,
            rf"value must be within the support of {dist}, got {bad_value!r}",
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match="support",
        )
        yield ErrorInput(
            Sample((np.ones(3, np.float32), np.arange(3), one), {}, f"integer {second}"),
            TypeError,
            rf"{second} must be a floating-point array, got dtype int64",
        )

    return errors


def _errors_uniform() -> Iterator[ErrorInput]:
    yield ErrorInput(
        Sample(
            (np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([0.5, 1.0])), {}, "low == high"
        ),
        ValueError,
        r"high must be > low, got 1.0",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="high|low",
    )
    yield ErrorInput(
        Sample((np.zeros(2), np.ones(2), np.array([0.5, 1.5])), {}, "value above high"),
        ValueError,
        r"value must be within the support of Uniform, got 1.5",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="support",
    )


def _errors_single_positive(
    name: str, dist: str, bad_value: float
) -> Callable[[], Iterator[ErrorInput]]:
    def errors() -> Iterator[ErrorInput]:
        yield ErrorInput(
            Sample((np.array([1.0, -0.5]), np.ones(2)), {}, f"{name} < 0"),
            ValueError,
            rf"{name} must be (> 0|>= 0), got -0.5",
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match=name,
        )
        yield ErrorInput(
            Sample((np.ones(2), np.array([1.0, bad_value])), {}, "value outside the support"),
            ValueError,
            rf"value must be within the support of {dist}, got {bad_value!r}",
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match="support",
        )
        yield ErrorInput(
            Sample((np.arange(2), np.ones(2)), {}, f"integer {name}"),
            TypeError,
            rf"{name} must be a floating-point array, got dtype int64",
        )

    return errors


def _errors_bernoulli() -> Iterator[ErrorInput]:
    yield ErrorInput(
        Sample((np.array([0.5, 1.5]), np.ones(2)), {}, "probs > 1"),
        ValueError,
        r"probs must lie in \[0, 1\], got 1.5",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="probs",
    )
    yield ErrorInput(
        Sample((np.array([-0.1, 0.5]), np.ones(2)), {}, "probs < 0"),
        ValueError,
        r"probs must lie in \[0, 1\], got -0.1",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="probs",
    )
    yield ErrorInput(
        Sample((np.array([0.5, 0.5]), np.array([1.0, 0.5])), {}, "value not 0/1"),
        ValueError,
        r"value must be within the support of Bernoulli, got 0.5",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="support",
    )


def _errors_categorical() -> Iterator[ErrorInput]:
    yield ErrorInput(
        Sample((np.array([0.5, 0.6, -0.1]), np.array([0])), {}, "negative probs"),
        ValueError,
        r"probs must be >= 0, got -0.1",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="probs",
    )
    # probs that do not sum to 1 are renormalised, as torch (counts [1, 2, 3] are accepted:
    # tests/test_audit_foundation.py); what torch's simplex check refuses then is refused here
    yield ErrorInput(
        Sample((np.array([[0.5, 0.5], [0.0, 0.0]]), np.array([0])), {}, "a row of zeros"),
        ValueError,
        r"probs must have a positive sum over the last axis, got 0.0",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="probs",
    )
    yield ErrorInput(
        Sample((np.array([1.0, np.inf]), np.array([0])), {}, "infinite probs"),
        ValueError,
        r"probs must be finite, got inf",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="probs",
    )
    yield ErrorInput(
        Sample((np.array([0.5, 0.5]), np.array([2])), {}, "class index out of range"),
        ValueError,
        r"value must be a class index in \[0, 1\], got 2",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="support",
    )
    yield ErrorInput(
        Sample((np.array(1.0), np.array(0)), {}, "0-d probs"),
        ValueError,
        r"probs must have at least one dimension \(\.\.\., K\), got shape \(\)",
        upstream_rejects=True,
    )


def _errors_logits(dist: str) -> Callable[[], Iterator[ErrorInput]]:
    """NaN logits, refused by torch's constraints (real / real_vector); they were accepted here.
    Categorical's logits are checked after normalising, as torch's: all -inf or +inf too."""

    def errors() -> Iterator[ErrorInput]:
        value = np.array([1.0]) if dist == "Bernoulli" else np.array([1])
        message = (
            "must not be NaN"
            if dist == "Bernoulli"
            else r"must have a finite logsumexp over the last axis \(no NaN or \+inf, not all -inf\)"
        )
        yield ErrorInput(
            Sample((np.array([0.0, np.nan]), value), {}, "NaN logits"),
            ValueError,
            rf"logits {message}, got nan",
            upstream_rejects=True,
            upstream_exception=ValueError,
            upstream_match="logits",
        )
        if dist == "Categorical":
            for row, shown in (([-np.inf, -np.inf], "-inf"), ([np.inf, 0.0], "inf")):
                yield ErrorInput(
                    Sample((np.array(row), value), {}, f"logits {row}"),
                    ValueError,
                    rf"logits {message}, got {shown}",
                    upstream_rejects=True,
                    upstream_exception=ValueError,
                    upstream_match="logits",
                )

    return errors


def _errors_mvn() -> Iterator[ErrorInput]:
    loc = np.zeros(2)
    yield ErrorInput(  # torch's constraints.real_vector refuses NaN (was accepted here)
        Sample((np.array([0.0, np.nan]), np.eye(2), loc), {}, "NaN loc"),
        ValueError,
        r"loc must not be NaN, got nan",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="loc",
    )
    yield ErrorInput(
        Sample((loc, np.array([[1.0, 0.0], [2.0, -1.0]]), loc), {}, "negative diagonal"),
        ValueError,
        r"scale_tril must have a positive diagonal, got -1.0",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="scale_tril",
    )
    yield ErrorInput(
        Sample((loc, np.array([[1.0, 1.0], [0.0, 1.0]]), loc), {}, "upper triangular"),
        ValueError,
        r"scale_tril must be lower triangular, got 1.0",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="scale_tril",
    )
    yield ErrorInput(
        Sample((loc, np.eye(3), loc), {}, "matrix shape"),
        ValueError,
        r"scale_tril must have shape \(\.\.\., 2, 2\) to match loc \(2,\), got \(3, 3\)",
        upstream_rejects=True,
    )
    yield ErrorInput(
        Sample((loc, np.eye(2), np.zeros(3)), {}, "value event shape"),
        ValueError,
        r"value must have event shape \(2,\) \(trailing dims\), got shape \(3,\)",
        upstream_rejects=True,
    )


def _errors_mvn_covariance() -> Iterator[ErrorInput]:
    loc = np.zeros(2)
    yield ErrorInput(
        Sample((loc, np.array([[1.0, 2.0], [2.0, 1.0]]), loc), {}, "indefinite covariance"),
        ValueError,
        r"covariance_matrix must be positive definite \(smallest eigenvalue shown\), got -1.0",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="covariance_matrix",
    )
    yield ErrorInput(
        Sample((loc, np.array([[1.0, 0.5], [0.0, 1.0]]), loc), {}, "asymmetric covariance"),
        ValueError,
        r"covariance_matrix must be symmetric, got",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="covariance_matrix",
    )


def _errors_mvn_precision() -> Iterator[ErrorInput]:
    loc = np.zeros(2)
    yield ErrorInput(
        Sample((loc, np.array([[1.0, 2.0], [2.0, 1.0]]), loc), {}, "indefinite precision"),
        ValueError,
        r"precision_matrix must be positive definite \(smallest eigenvalue shown\), got -1.0",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="precision_matrix",
    )
    yield ErrorInput(
        Sample((loc, np.array([[1.0, 0.5], [0.0, 1.0]]), loc), {}, "asymmetric precision"),
        ValueError,
        r"precision_matrix must be symmetric, got",
        upstream_rejects=True,
        upstream_exception=ValueError,
        upstream_match="precision_matrix",
    )


def _errors_mixture() -> Iterator[ErrorInput]:
    yield ErrorInput(
        Sample((np.zeros(2), np.zeros(3), np.ones(3), np.zeros(1)), {}, "2 weights, 3 components"),
        ValueError,
        r"component_distribution must have batch shape \(\.\.\., 2\) to match the mixture's 2 classes, got \(3,\)",
        upstream_rejects=True,
    )


ERRORS = {
    "Normal": _errors_two_positive("loc", "scale", np.nan, "Normal"),
    "Laplace": _errors_two_positive("loc", "scale", np.nan, "Laplace"),
    "Gamma": _errors_gamma_like("concentration", "rate", "Gamma", -1.0),
    "Beta": _errors_gamma_like("concentration1", "concentration0", "Beta", 1.5),
    "Uniform": _errors_uniform,
    "Exponential": _errors_single_positive("rate", "Exponential", -1.0),
    "Poisson": _errors_single_positive("rate", "Poisson", 1.5),
    "Bernoulli": _errors_bernoulli,
    "Bernoulli logits": _errors_logits("Bernoulli"),
    "Categorical": _errors_categorical,
    "Categorical logits": _errors_logits("Categorical"),
    "MultivariateNormal": _errors_mvn,
    "MultivariateNormal covariance": _errors_mvn_covariance,
    "MultivariateNormal precision": _errors_mvn_precision,
    "MixtureSameFamily": _errors_mixture,
}


def _with_shared_errors(
    family_key: str, errors: Callable[[], Iterator[ErrorInput]] | None
) -> Callable[[], Iterator[ErrorInput]]:
    """The family's own errors, plus what every constructor refuses: a validate_args that is not a
    bool, and (probs/logits families) both probs and logits."""
    family = FAMILIES[family_key]

    def all_errors() -> Iterator[ErrorInput]:
        if errors is not None:
            yield from errors()
        if family.name in ("Bernoulli", "Categorical") and not family.variant_suffix:
            probs = np.array([0.5, 0.5])
            value = np.ones(2) if family.name == "Bernoulli" else np.array([1])
            yield ErrorInput(
                Sample((probs, value), {"logits": np.zeros(2)}, "probs and logits"),
                ValueError,
                r"exactly one of probs or logits must be specified, got both or neither",
                upstream_rejects=True,
                upstream_exception=ValueError,
                upstream_match="probs",
            )
        if family.name in ("Normal", "Exponential"):
            args = (np.zeros(2), np.ones(2), np.zeros(2))[3 - family.n_params - 1 :]
            yield ErrorInput(
                Sample(args, {"validate_args": "yes"}, "validate_args a string"),
                TypeError,
                r"validate_args must be None or a bool, got 'yes'",
            )

    return all_errors


# ------------------------------------------------------------------------------------------------
# Edge rows
# ------------------------------------------------------------------------------------------------


def normal_edges(dtype: str) -> Iterator[Sample]:
    loc = np.array([0.0, 1e8, -1e8, 0.0, 0.0, 3.0], dtype)
    scale = np.array([1e-30, 1.0, 1e30, 1e30, 1.0, 1e-30], dtype)
    value = np.array([0.0, 1e8 + 4.0, 0.0, 1e30, 40.0, 3.0], dtype)
    yield Sample((loc, scale, value), {}, "scale 1e-30 and 1e30, mean 1e8, x 40 sigma away")


def laplace_edges(dtype: str) -> Iterator[Sample]:
    yield from normal_edges(dtype)


def exponential_edges(dtype: str) -> Iterator[Sample]:
    rate = np.array([1e-30, 1e30, 1.0, 1.0, 1e-30], dtype)
    value = np.array([1.0, 0.0, 0.0, 80.0, 1e30], dtype)
    yield Sample((rate, value), {}, "rates 1e-30 and 1e30, x 0 and 80")


def bernoulli_edges(dtype: str) -> Iterator[Sample]:
    probs = np.array([0.0, 0.0, 1.0, 1.0, 1e-30, 0.5], dtype)
    value = np.array([0, 1, 0, 1, 1, 1], np.int64)
    yield Sample((probs, value), {}, "probs exactly 0 and 1")


def bernoulli_logit_edges(dtype: str) -> Iterator[Sample]:
    logits = np.array([-1e4, 1e4, -100.0, 100.0, 0.0, -np.inf], dtype)
    value = np.array([0, 1, 1, 0, 1, 0], np.int64)
    yield Sample((logits, value), {}, "logits +-1e4, +-100, -inf")


def categorical_edges(dtype: str) -> Iterator[Sample]:
    logits = np.array([[0.0, -np.inf, 1e4, -1e4], [-np.inf, -np.inf, 0.0, 3.0]], dtype)
    value = np.array([[2, 1], [0, 3]]).T.astype(np.int64)  # (2, 2): classes per batch row
    yield Sample((logits, value), {}, "-inf (masked) logits and logits of 1e4")


def categorical_probs_edges(dtype: str) -> Iterator[Sample]:
    probs = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]], dtype)
    value = np.array([[0, 1], [1, 2]], np.int64)
    yield Sample((probs, value), {}, "probs exactly 0 and 1")


def poisson_edges(dtype: str) -> Iterator[Sample]:
    rate = np.array([1e-30, 1e4, 0.0, 999.5, 0.5], dtype)
    value = np.array([0, 10000, 0, 0, 30], np.int64)
    yield Sample((rate, value), {}, "rates 0, 1e-30, 999.5, 1e4")


def poisson_entropy_edges(dtype: str) -> Iterator[Sample]:
    """scipy.stats.poisson.entropy is wrong above ~1e3 (6.0216 at 1e4, 2.77 at 1e6, where the
    entropy is 6.0241 and 8.33), so the series branch is tested in tests/test_distributions.py."""
    yield Sample((np.array([1e-30, 0.0, 0.5, 30.0, 999.5], dtype),), {}, "rates 0, 1e-30 to 999.5")


def gamma_edges(dtype: str) -> Iterator[Sample]:
    a = np.array([1e-3, 1e3, 1.0, 0.5, 50.0], dtype)
    rate = np.array([1.0, 1e3, 1e30, 1e-30, 1.0], dtype)
    value = np.array([1e-20, 1.0, 0.0, 1e3, 50.0], dtype)
    yield Sample((a, rate, value), {}, "concentration 1e-3 and 1e3, rates 1e+-30, x 0")


def beta_edges(dtype: str) -> Iterator[Sample]:
    a = np.array([1.0, 0.5, 1e3, 2.0, 1.0], dtype)
    b = np.array([1.0, 0.5, 1e3, 1.0, 3.0], dtype)
    value = np.array([0.0, 1e-20, 0.5, 1.0, 1.0], dtype)
    yield Sample((a, b, value), {}, "x exactly 0 and 1, concentrations 1e3")


def entropy_edges(
    make: Callable[[str], Iterator[Sample]], n_params: int
) -> Callable[[str], Iterator[Sample]]:
    def edges(dtype: str) -> Iterator[Sample]:
        for sample in make(dtype):
            yield Sample(sample.args[:n_params], {}, sample.description)

    return edges


# ------------------------------------------------------------------------------------------------
# Sampling: statistical comparison
# ------------------------------------------------------------------------------------------------


def sample_call(family: Family) -> Callable[..., Any]:
    def call(framework: Framework, seed: int, *params: Any) -> Any:
        dist = family.ours(framework, params)
        return dist.sample(framework.rng(seed), (DRAWS,))

    return call


def torch_sample(family: Family) -> Callable[..., Any]:
    def reference(seed: int, *params: Any) -> Any:
        torch.manual_seed(seed + 12345)
        return family.upstream(params).sample((DRAWS,))

    return reference


def scipy_frozen(family: Family) -> Callable[..., Any]:
    def reference(seed: int, *params: Any) -> Any:
        return ("scipy", family.scipy(*(np.asarray(p, np.float64) for p in params)))

    return reference


def compare_draws(discrete: bool, support: int | None = None) -> Callable[..., None]:
    """Draws (DRAWS, *batch) of two samplers, or draws against a scipy.stats distribution.

    Continuous: Kolmogorov-Smirnov per batch element (two-sample, or one-sample against the cdf).
    Discrete: chi-square of the counts over the values seen (two-sample contingency, or against the
    pmf, the tail merged into the last cell). Each p-value must exceed P_VALUE.
    """

    def compare(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
        draws = np.asarray(actual)
        assert draws.shape[0] == DRAWS and np.isfinite(draws).all(), f"{context}: {draws.shape}"
        flat = draws.reshape(DRAWS, -1)
        if isinstance(expected, tuple) and expected[0] == "scipy":
            frozen = expected[1]
            for column in range(flat.shape[1]):
                single = _frozen_at(frozen, column, flat.shape[1])
                if discrete:
                    p = _chi_square_one(flat[:, column], single)
                else:
                    p = st.kstest(flat[:, column], single.cdf).pvalue
                assert p > P_VALUE, f"{context} column {column}: p = {p:.2e}"
            return
        other = np.asarray(expected).reshape(DRAWS, -1)
        for column in range(flat.shape[1]):
            if discrete:
                p = _chi_square_two(flat[:, column], other[:, column])
            else:
                p = st.ks_2samp(flat[:, column], other[:, column]).pvalue
            assert p > P_VALUE, f"{context} column {column}: p = {p:.2e}"

    return compare


def _frozen_at(frozen: Any, column: int, columns: int) -> Any:
    if not hasattr(frozen, "dist"):  # an rv_discrete instance: one distribution, no batch
        return frozen
    args = [
        np.broadcast_to(a, np.broadcast_shapes(*(np.shape(b) for b in frozen.args), (1,))).reshape(
            -1
        )[column]
        if np.size(a) > 1
        else np.asarray(a).reshape(-1)[0]
        for a in frozen.args
    ]
    kwds = {
        k: (np.asarray(v).reshape(-1)[column] if np.size(v) > 1 else np.asarray(v).reshape(-1)[0])
        for k, v in frozen.kwds.items()
    }
    return frozen.dist(*args, **kwds)


def _chi_square_two(a: Any, b: Any) -> float:
    values = np.union1d(a, b)
    table = np.array([[np.sum(a == v) for v in values], [np.sum(b == v) for v in values]])
    table = table[:, table.sum(0) >= 10]
    if table.shape[1] < 2:
        return 1.0 if np.array_equal(np.unique(a), np.unique(b)) else 0.0
    return float(st.chi2_contingency(table).pvalue)


def _chi_square_one(draws: Any, frozen: Any) -> float:
    top = int(draws.max())
    cells = np.arange(top + 1)
    expected = frozen.pmf(cells) * len(draws)
    expected[-1] += frozen.sf(top) * len(draws)
    observed = np.array([np.sum(draws == v) for v in cells])
    keep = expected >= 10
    merged_observed = np.append(observed[keep], observed[~keep].sum())
    merged_expected = np.append(expected[keep], expected[~keep].sum())
    if merged_expected[-1] < 1e-9:
        merged_observed, merged_expected = merged_observed[:-1], merged_expected[:-1]
    if len(merged_expected) < 2:  # one cell (probs 0 or 1): the draws must all be in it
        return 1.0 if merged_observed.sum() == len(draws) else 0.0
    merged_expected *= merged_observed.sum() / merged_expected.sum()
    return float(st.chisquare(merged_observed, merged_expected).pvalue)


SAMPLE_PARAMS: dict[str, Callable[[str], tuple[np.ndarray, ...]]] = {
    "Normal": lambda dtype: (np.array([0.0, 3.0], dtype), np.array([1.0, 0.5], dtype)),
    "Uniform": lambda dtype: (np.array([-1.0, 2.0], dtype), np.array([1.0, 2.5], dtype)),
    "Exponential": lambda dtype: (np.array([0.5, 4.0], dtype),),
    "Laplace": lambda dtype: (np.array([0.0, -2.0], dtype), np.array([1.0, 0.3], dtype)),
    "Gamma": lambda dtype: (np.array([0.5, 4.0], dtype), np.array([1.0, 2.0], dtype)),
    "Beta": lambda dtype: (np.array([0.5, 3.0], dtype), np.array([0.5, 1.5], dtype)),
    "Poisson": lambda dtype: (np.array([0.7, 25.0], dtype),),
    "Bernoulli": lambda dtype: (np.array([0.0, 0.3, 1.0], dtype),),
}


def scipy_frozen_categorical(seed: int, logits: Any) -> Any:
    probs = np.exp(np.asarray(logits, np.float64))
    probs /= probs.sum()
    return ("scipy", st.rv_discrete(values=(np.arange(probs.size), probs)))


def categorical_sample_params(dtype: str) -> tuple[np.ndarray]:
    """Logits of probs (0.1, 0, 0.25, 0.05, 0.6, 0): masked classes, the last one trailing."""
    with np.errstate(divide="ignore"):
        return (np.log(np.array([0.1, 0.0, 0.25, 0.05, 0.6, 0.0])).astype(dtype),)


# ------------------------------------------------------------------------------------------------
# Reparameterized gradients
# ------------------------------------------------------------------------------------------------


def _chunked_gradient_jax(family: Family, seed: int, params: tuple[Any, ...]) -> Any:
    import jax
    import jax.numpy as jnp

    from parity_tests.harness import JAX

    def chunk_means(*differentiable: Any) -> Any:
        dist = family.ours(JAX, differentiable)
        draws = dist.rsample(JAX.rng(seed), (CHUNKS, DRAWS // CHUNKS))
        squares = draws**2
        per_chunk = jnp.mean(squares, axis=1)  # (CHUNKS, *batch, *event)
        return jnp.sum(per_chunk.reshape(CHUNKS, -1), axis=1)

    jacobians = jax.jacrev(chunk_means, argnums=tuple(range(len(params))))(*params)
    return {
        "estimate": [jnp.mean(j, axis=0) for j in jacobians],
        "stderr": [jnp.std(j, axis=0) / math.sqrt(CHUNKS) for j in jacobians],
    }


def _chunked_gradient_torch(family: Family, seed: int, params: tuple[Any, ...]) -> Any:
    from parity_tests.harness import TORCH

    with torch.enable_grad():
        tracked = [p.detach().clone().requires_grad_(True) for p in params]
        dist = family.ours(TORCH, tuple(tracked))
        draws = dist.rsample(TORCH.rng(seed), (CHUNKS, DRAWS // CHUNKS))
        per_chunk = (draws**2).mean(1).reshape(CHUNKS, -1).sum(1)
        rows = [
            torch.autograd.grad(per_chunk[i], tracked, retain_graph=True) for i in range(CHUNKS)
        ]
    stacked = [torch.stack([row[k] for row in rows]) for k in range(len(params))]
    return {
        "estimate": [s.mean(0) for s in stacked],
        "stderr": [s.std(0, unbiased=False) / math.sqrt(CHUNKS) for s in stacked],
    }


def rsample_gradient_call(family: Family) -> Callable[..., Any]:
    def call(framework: Framework, seed: int, *params: Any) -> Any:
        if framework.name == "jaxmath":
            return _chunked_gradient_jax(family, seed, params)
        return _chunked_gradient_torch(family, seed, params)

    return call


def closed_form_gradient(family: Family) -> Callable[..., Any]:
    """d/dθ sum(mean^2 + variance) by torch.autograd through torch.distributions (E[x^2] exactly)."""

    def reference(seed: int, *params: Any) -> Any:
        with torch.enable_grad():
            tracked = [p.detach().clone().requires_grad_(True) for p in params]
            dist = family.upstream(tuple(tracked))
            moment = (dist.mean**2 + dist.variance).sum()
            gradients = torch.autograd.grad(moment, tracked)
        return {"estimate": list(gradients), "stderr": [torch.zeros_like(g) for g in gradients]}

    return reference


def compare_estimates(actual: Any, expected: Any, tol: Tolerance, context: str) -> None:
    """|estimate - expected| <= 5 joint standard errors (+ the dtype's rounding), leaf by leaf."""
    for ours, ours_se, theirs, theirs_se in zip(
        actual["estimate"], actual["stderr"], expected["estimate"], expected["stderr"], strict=True
    ):
        ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
        joint = np.sqrt(
            np.asarray(ours_se, np.float64) ** 2 + np.asarray(theirs_se, np.float64) ** 2
        )
        assert ours.shape == theirs.shape, f"{context}: shapes {ours.shape} {theirs.shape}"
        assert (joint < 0.05 * (1 + np.abs(theirs))).all(), f"{context}: standard errors {joint}"
        bound = 5 * joint + tol.atol + tol.rtol * np.abs(theirs)
        assert (np.abs(ours - theirs) <= bound).all(), (
            f"{context}: estimate {ours} vs {theirs} (bound {bound})"
        )


RSAMPLE_PARAMS: dict[str, Callable[[str], tuple[np.ndarray, ...]]] = {
    "Normal": lambda dtype: (np.array([0.5, -1.0], dtype), np.array([1.0, 0.5], dtype)),
    "Uniform": lambda dtype: (np.array([-1.0, 0.5], dtype), np.array([1.0, 2.0], dtype)),
    "Exponential": lambda dtype: (np.array([0.8, 2.0], dtype),),
    "Laplace": lambda dtype: (np.array([0.5, -1.0], dtype), np.array([1.0, 0.5], dtype)),
    "Gamma": lambda dtype: (np.array([2.0, 5.0], dtype), np.array([1.0, 2.0], dtype)),
    "Beta": lambda dtype: (np.array([2.0, 3.0], dtype), np.array([3.0, 1.5], dtype)),
    "MultivariateNormal": lambda dtype: (
        np.array([0.5, -1.0], dtype),
        np.array([[1.0, 0.0], [0.5, 0.8]], dtype),
    ),
}


# ------------------------------------------------------------------------------------------------
# KL divergence
# ------------------------------------------------------------------------------------------------

KL_FAMILIES = (
    "Normal",
    "Uniform",
    "Exponential",
    "Laplace",
    "Gamma",
    "Beta",
    "Poisson",
    "Bernoulli",
    "Bernoulli logits",
    "Categorical logits",
    "MultivariateNormal",
)


def kl_call(family: Family) -> Callable[..., Any]:
    """KL(p || q) of two distributions of ``family``; ``versus="Categorical"`` makes q a Categorical
    of the remaining arrays (an unregistered pair, for the error row)."""

    def call(framework: Framework, *args: Any, versus: str = "") -> Any:
        module = framework.package.distributions
        p, q = args[: family.n_params], args[family.n_params :]
        other = module.Categorical(logits=q[0]) if versus else family.ours(framework, q)
        return module.kl_divergence(family.ours(framework, p), other)

    return call


def torch_kl(family: Family) -> Callable[..., Any]:
    def reference(*args: Any, versus: str = "") -> Any:
        p, q = args[: family.n_params], args[family.n_params :]
        other = td.Categorical(logits=q[0]) if versus else family.upstream(q)
        return td.kl_divergence(family.upstream(p), other)

    return reference


def kl_samples(family_key: str) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    family = FAMILIES[family_key]

    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        for shape in FAMILY_BATCHES.get(family_key, BATCHES):
            p = family.parameters(rng, dtype, shape)
            q = family.parameters(rng, dtype, shape)
            if family_key == "Uniform":  # q's support must contain p's (else +inf, in the edges)
                q = ((p[0] - 0.5).astype(dtype), (p[1] + 0.7).astype(dtype))
            yield Sample((*p, *q), {}, f"batch {shape}")

    return samples


def kl_edges(family_key: str) -> Callable[[str], Iterator[Sample]]:
    def edges(dtype: str) -> Iterator[Sample]:
        if family_key == "Uniform":
            yield Sample(
                (
                    np.array([0.0, 0.0], dtype),
                    np.array([1.0, 1.0], dtype),
                    np.array([0.5, -1.0], dtype),
                    np.array([2.0, 2.0], dtype),
                ),
                {},
                "q's support misses part of p's: +inf",
            )
        elif family_key == "Bernoulli":
            yield Sample(
                (np.array([0.0, 1.0, 0.5, 0.0], dtype), np.array([0.5, 0.0, 1.0, 0.0], dtype)),
                {},
                "probs 0 and 1 in p and q",
            )
        elif family_key == "Categorical logits":
            yield Sample(
                (
                    np.array([[0.0, -np.inf, 1.0], [0.0, 0.0, 0.0]], dtype),
                    np.array([[1.0, 2.0, 0.0], [0.0, -np.inf, 0.0]], dtype),
                ),
                {},
                "-inf logits in p (finite) and in q (+inf)",
            )
        elif family_key == "Normal":
            yield Sample(
                (
                    np.array([0.0, 1e8], dtype),
                    np.array([1e-30, 1.0], dtype),
                    np.array([0.0, 0.0], dtype),
                    np.array([1.0, 1e30], dtype),
                ),
                {},
                "scales 1e-30 and 1e30, mean 1e8",
            )

    return edges


# ------------------------------------------------------------------------------------------------
# Fits
# ------------------------------------------------------------------------------------------------


def fit_call(name: str, fields: tuple[str, ...], **fixed: Any) -> Callable[..., Any]:
    def call(framework: Framework, x: Any, **options: Any) -> Any:
        fitted = getattr(framework.package.distributions, name)(x, **fixed, **options)
        return tuple(getattr(fitted, field) for field in fields)

    return call


def _as_dtype(x: Any, *values: Any) -> tuple[np.ndarray, ...]:
    dtype = np.asarray(x).dtype if np.issubdtype(np.asarray(x).dtype, np.floating) else np.float32
    return tuple(np.asarray(v, np.float64).astype(dtype) for v in values)


def scipy_fit_normal(x: Any) -> Any:
    columns = np.asarray(x, np.float64).reshape(len(x), -1).T
    loc, scale = np.array([st.norm.fit(c) for c in columns]).T
    return _as_dtype(x, loc.reshape(x.shape[1:]), scale.reshape(x.shape[1:]))


def scipy_fit_laplace(x: Any) -> Any:
    columns = np.asarray(x, np.float64).reshape(len(x), -1).T
    loc, scale = np.array([st.laplace.fit(c) for c in columns]).T
    return _as_dtype(x, loc.reshape(x.shape[1:]), scale.reshape(x.shape[1:]))


def scipy_fit_exponential(x: Any) -> Any:
    columns = np.asarray(x, np.float64).reshape(len(x), -1).T
    scales = np.array([st.expon.fit(c, floc=0)[1] for c in columns])
    return _as_dtype(x, (1 / scales).reshape(x.shape[1:]))


def _columns(x: Any) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(len(x), -1).T


def scipy_fit_gamma(x: Any) -> Any:
    fitted = np.array([st.gamma.fit(c, floc=0) for c in _columns(x)])
    shape, rate = fitted[:, 0], 1 / fitted[:, 2]
    return _as_dtype(x, shape.reshape(x.shape[1:]), rate.reshape(x.shape[1:]))


def scipy_fit_beta(x: Any) -> Any:
    fitted = np.array([st.beta.fit(c, floc=0, fscale=1)[:2] for c in _columns(x)])
    return _as_dtype(x, fitted[:, 0].reshape(x.shape[1:]), fitted[:, 1].reshape(x.shape[1:]))


def scipy_fit_uniform(x: Any) -> Any:
    loc, scale = np.array([st.uniform.fit(c) for c in _columns(x)]).T
    return _as_dtype(x, loc.reshape(x.shape[1:]), (loc + scale).reshape(x.shape[1:]))


def numpy_mean(x: Any) -> Any:
    return _as_dtype(x, np.asarray(x, np.float64).mean(0))


def numpy_mvn(x: Any) -> Any:
    x64 = np.asarray(x, np.float64)
    cov = np.cov(x64.T, bias=True)
    return _as_dtype(x, x64.mean(0), np.linalg.cholesky(cov))


def numpy_frequencies(x: Any, dtype: str = "float32") -> Any:
    counts = np.stack([(np.asarray(x) == k).mean(0) for k in range(4)], -1)
    return (np.log(counts).astype(dtype),)


def fit_samples(kind: str) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    def samples(rng: np.random.Generator, dtype: str) -> Iterator[Sample]:
        for n, shape in ((50, (3,)), (200, (2, 2))):
            if kind == "normal":
                x = normal(rng, (n, *shape), dtype)
            elif kind == "positive":
                x = rng.exponential(2.0, size=(n, *shape)).astype(dtype)
            elif kind == "gamma":
                x = rng.gamma(rng.uniform(0.3, 8.0, size=shape), 1.5, size=(n, *shape)).astype(
                    dtype
                )
            elif kind == "unit":
                a, b = rng.uniform(0.4, 6.0, size=(2, *shape))
                x = np.clip(rng.beta(a, b, size=(n, *shape)), 1e-6, 1 - 1e-6).astype(dtype)
            elif kind == "binary":
                x = rng.integers(0, 2, size=(n, *shape)).astype(dtype)
            elif kind == "counts":
                x = rng.poisson(3.0, size=(n, *shape)).astype(dtype)
            elif kind == "classes":
                x = np.concatenate(
                    [
                        np.arange(4).repeat(2)[:, None].repeat(shape[-1], 1),
                        rng.integers(0, 4, size=(n, shape[-1])),
                    ]
                ).astype(np.int64)
            else:  # vectors
                x = normal(rng, (n, 3), dtype)
            options = {"dtype": dtype} if kind == "classes" and dtype == "float64" else {}
            yield Sample((x,), options, f"x {x.shape} {options}")

    return samples


# ------------------------------------------------------------------------------------------------
# The rows
# ------------------------------------------------------------------------------------------------

EDGES: dict[str, Callable[[str], Iterator[Sample]]] = {
    "Normal": normal_edges,
    "Laplace": laplace_edges,
    "Exponential": exponential_edges,
    "Bernoulli": bernoulli_edges,
    "Bernoulli logits": bernoulli_logit_edges,
    "Categorical logits": categorical_edges,
    "Categorical": categorical_probs_edges,
    "Poisson": poisson_edges,
    "Gamma": gamma_edges,
    "Beta": beta_edges,
}

#: Edge rows compare with torch.distributions too where torch is exact at the edges.
TORCH_EXACT_AT_EDGES = {"Bernoulli logits", "Categorical logits", "Exponential", "Laplace"}

#: float32 edges where terms of ~1e4 cancel to O(1) (lgamma(1e3), xlogy(1e4, 1e4)): float32's
#: rounding of the terms, not the formula, sets the error (measured up to 7.8e-4): the
#: "special_function" tolerance.
CANCELLING_AT_EDGES = {"Gamma", "Beta", "Poisson"}


#: Rows whose float64 gradients go through digamma (trigamma): JAX's and torch's polygamma(1, x)
#: differ by up to 2.2e-8 relative (measured, Beta KL), beyond the elementwise 1e-10.
THROUGH_DIGAMMA = {("Gamma", "entropy"), ("Beta", "entropy"), ("Gamma", "kl"), ("Beta", "kl")}


def _kind(family_key: str, method: str) -> str:
    if (family_key, method) in THROUGH_DIGAMMA:
        return "special_function"
    return FAMILIES[family_key].kind


def method_rows(family_key: str) -> list[Case]:
    family = FAMILIES[family_key]
    rows = []
    for method in family.methods:
        rows.append(
            Case(
                family.name,
                MODULE,
                method_samples(family_key, method),
                references=_references(family, method),
                error_inputs=(
                    _with_shared_errors(family_key, ERRORS.get(family_key))
                    if method == "log_prob"
                    else _no_errors
                ),
                grad_argnums=grad_positions(family_key, method),
                kind=_kind(family_key, method),
                call=method_call(family, method),
                variant=method + family.variant_suffix,
                opt_outs=_opt_outs(family, method),
            )
        )
    edges = EDGES.get(family_key)
    if edges is not None:
        exact = family_key in TORCH_EXACT_AT_EDGES
        for method in ("log_prob", "entropy"):
            if method not in family.methods:
                continue
            make = edges if method == "log_prob" else entropy_edges(edges, family.n_params)
            if family_key == "Poisson" and method == "entropy":
                make = poisson_entropy_edges
            refs = _references(family, method, torch_too=exact)
            if not refs:
                continue
            rows.append(
                Case(
                    family.name,
                    MODULE,
                    make_sample_list(make),
                    references=refs,
                    grad_argnums=(),
                    kind="special_function" if family_key in CANCELLING_AT_EDGES else family.kind,
                    call=method_call(family, method),
                    variant=f"{method} edges{family.variant_suffix}",
                )
            )
    return rows


def make_sample_list(
    make: Callable[[str], Iterator[Sample]],
) -> Callable[[np.random.Generator, str], Iterator[Sample]]:
    return lambda rng, dtype: make(dtype)


def _no_errors() -> Iterator[ErrorInput]:
    return iter(())


def _opt_outs(family: Family, method: str) -> dict[str, str]:
    return {}


def sample_rows() -> list[Case]:
    rows = []
    for key, make in SAMPLE_PARAMS.items():
        family = FAMILIES[key]
        rows.append(
            Case(
                family.name,
                MODULE,
                lambda rng, dtype, make=make: iter(
                    [Sample((7, *make(dtype)), {}, "20000 draws, seed 7")]
                ),
                references=(
                    Reference(f"torch.distributions.{family.name}.sample", torch_sample(family)),
                    Reference(f"scipy.stats ({family.name})", scipy_frozen(family), "numpy"),
                ),
                grad_argnums=(),
                call=sample_call(family),
                compare=compare_draws(family.discrete),
                variant="sample",
            )
        )
    for key, make, refs in (
        (
            "Categorical logits",
            categorical_sample_params,
            (
                Reference(
                    "torch.distributions.Categorical.sample",
                    torch_sample(FAMILIES["Categorical logits"]),
                ),
                Reference("scipy.stats.rv_discrete", scipy_frozen_categorical, "numpy"),
            ),
        ),
        (
            "MixtureSameFamily",
            lambda dtype: (
                np.array([0.0, 1.0], dtype),
                np.array([-2.0, 2.0], dtype),
                np.array([0.5, 1.0], dtype),
            ),
            (
                Reference(
                    "torch.distributions.MixtureSameFamily.sample",
                    torch_sample(FAMILIES["MixtureSameFamily"]),
                ),
            ),
        ),
        (
            "MultivariateNormal",
            lambda dtype: (np.array([1.0, -1.0], dtype), np.array([[1.0, 0.0], [0.6, 0.5]], dtype)),
            (
                Reference(
                    "torch.distributions.MultivariateNormal.sample",
                    torch_sample(FAMILIES["MultivariateNormal"]),
                ),
            ),
        ),
    ):
        family = FAMILIES[key]
        rows.append(
            Case(
                family.name,
                MODULE,
                lambda rng, dtype, make=make: iter(
                    [Sample((7, *make(dtype)), {}, "20000 draws, seed 7")]
                ),
                references=refs,
                grad_argnums=(),
                call=sample_call(family),
                compare=compare_draws(family.discrete),
                variant="sample",
            )
        )
    return rows


def rsample_rows() -> list[Case]:
    rows = []
    for key, make in RSAMPLE_PARAMS.items():
        family = FAMILIES[key]
        rows.append(
            Case(
                family.name,
                MODULE,
                lambda rng, dtype, make=make: iter(
                    [Sample((11, *make(dtype)), {}, "E[x^2], 20000 draws")]
                ),
                references=(
                    Reference(
                        "d/dθ (mean² + variance), torch.distributions + autograd",
                        closed_form_gradient(family),
                    ),
                ),
                grad_argnums=(),
                call=rsample_gradient_call(family),
                compare=compare_estimates,
                variant="rsample gradient",
                opt_outs={"vmap": "the estimate's chunked Jacobian is already batched over draws"},
            )
        )
    return rows


def kl_rows() -> list[Case]:
    rows = []
    for key in KL_FAMILIES:
        family = FAMILIES[key]
        rows.append(
            Case(
                "kl_divergence",
                MODULE,
                kl_samples(key),
                references=(Reference("torch.distributions.kl_divergence", torch_kl(family)),),
                error_inputs=_kl_errors if key == "Normal" else _no_errors,
                grad_argnums=tuple(range(2 * family.n_params)),
                kind=_kind(key, "kl"),
                call=kl_call(family),
                variant=key,
            )
        )
        if any(True for _ in kl_edges(key)("float32")):
            rows.append(
                Case(
                    "kl_divergence",
                    MODULE,
                    make_sample_list(kl_edges(key)),
                    references=(Reference("torch.distributions.kl_divergence", torch_kl(family)),),
                    grad_argnums=(),
                    kind=family.kind,
                    call=kl_call(family),
                    variant=f"{key} edges",
                )
            )
    return rows


def _kl_errors() -> Iterator[ErrorInput]:
    yield ErrorInput(
        Sample(
            (np.zeros(2), np.ones(2), np.array([-np.inf, 0.0])),
            {"versus": "Categorical"},
            "Normal vs Categorical",
        ),
        NotImplementedError,
        r"no KL divergence registered for p Normal and q Categorical",
        upstream_rejects=True,
        upstream_exception=NotImplementedError,
    )


def _constant_column(value: float) -> ErrorInput:
    return ErrorInput(
        Sample((np.array([[value, 0.25], [value, 0.5]]),), {}, "a constant column"),
        ValueError,
        rf"x must hold at least two distinct values in every column, got a constant column of "
        rf"{value!r}",
    )


#: Why the Newton fits opt out of the float64 numerical-gradient check (their gradients are still
#: compared jax.vjp vs torch autograd through torch_ref, forward vs scipy).
NEWTON_FIT_NUMERICAL_GRADIENT = (
    "central differences at h = eps^(1/3) through the Newton steps' digamma and trigamma miss by up "
    "to 8.6e-6 relative at gradients of 10-30 (measured 2026-12-01), above the check's 1e-6; jax.vjp "
    "and torch autograd through torch_ref agree with each other there to the float64 tolerance"
)


def fit_rows() -> list[Case]:
    return [
        Case(
            "fit_gamma",
            MODULE,
            fit_samples("gamma"),
            references=(Reference("scipy.stats.gamma.fit(floc=0)", scipy_fit_gamma, "numpy"),),
            error_inputs=lambda: iter(
                [
                    ErrorInput(
                        Sample((np.array([1.0, -1.0]),), {}, "negative"),
                        ValueError,
                        r"x must be > 0, got -1.0",
                    ),
                    _constant_column(0.75),
                ]
            ),
            call=fit_call("fit_gamma", ("concentration", "rate")),
            kind="special_function",  # Newton on digamma / trigamma (see THROUGH_DIGAMMA)
            opt_outs={"numerical_gradient": NEWTON_FIT_NUMERICAL_GRADIENT},
        ),
        Case(
            "fit_beta",
            MODULE,
            fit_samples("unit"),
            references=(
                Reference("scipy.stats.beta.fit(floc=0, fscale=1)", scipy_fit_beta, "numpy"),
            ),
            error_inputs=lambda: iter(
                [
                    ErrorInput(
                        Sample((np.array([0.5, 1.0]),), {}, "an observation at 1"),
                        ValueError,
                        r"x must lie in \(0, 1\), got 1.0",
                    ),
                    _constant_column(0.75),
                ]
            ),
            call=fit_call("fit_beta", ("concentration1", "concentration0")),
            kind="special_function",
            opt_outs={"numerical_gradient": NEWTON_FIT_NUMERICAL_GRADIENT},
        ),
        Case(
            "fit_uniform",
            MODULE,
            fit_samples("normal"),
            references=(Reference("scipy.stats.uniform.fit", scipy_fit_uniform, "numpy"),),
            error_inputs=lambda: iter([_constant_column(0.75)]),
            call=fit_call("fit_uniform", ("low", "high")),
            kind="reduction",
        ),
        Case(
            "fit_normal",
            MODULE,
            fit_samples("normal"),
            references=(Reference("scipy.stats.norm.fit", scipy_fit_normal, "numpy"),),
            error_inputs=lambda: iter(
                [
                    ErrorInput(
                        Sample((np.ones(1),), {}, "one observation"),
                        ValueError,
                        r"x must have at least 2 observation\(s\) along axis 0, got shape \(1,\)",
                    ),
                    ErrorInput(
                        Sample((np.arange(4),), {}, "integers"),
                        TypeError,
                        r"x must be a floating-point array, got dtype int64",
                    ),
                ]
            ),
            call=fit_call("fit_normal", ("loc", "scale")),
            kind="reduction",
        ),
        Case(
            "fit_laplace",
            MODULE,
            fit_samples("normal"),
            references=(Reference("scipy.stats.laplace.fit", scipy_fit_laplace, "numpy"),),
            grad_argnums=(),
            call=fit_call("fit_laplace", ("loc", "scale")),
            kind="reduction",
        ),
        Case(
            "fit_exponential",
            MODULE,
            fit_samples("positive"),
            references=(
                Reference("scipy.stats.expon.fit(floc=0)", scipy_fit_exponential, "numpy"),
            ),
            error_inputs=lambda: iter(
                [
                    ErrorInput(
                        Sample((np.array([1.0, -1.0]),), {}, "negative"),
                        ValueError,
                        r"x must be >= 0, got -1.0",
                    ),
                ]
            ),
            call=fit_call("fit_exponential", ("rate",)),
            kind="reduction",
        ),
        Case(
            "fit_poisson",
            MODULE,
            fit_samples("counts"),
            references=(Reference("numpy mean (the Poisson MLE)", numpy_mean, "numpy"),),
            error_inputs=lambda: iter(
                [
                    ErrorInput(
                        Sample((np.array([1.0, 2.5]),), {}, "fractional"),
                        ValueError,
                        r"x must hold non-negative integer counts, got 2.5",
                    ),
                ]
            ),
            call=fit_call("fit_poisson", ("rate",)),
            jit=False,  # the jit test halves x: half-counts are refused eagerly (tested jitted in
            # tests/test_distributions.py)
            kind="reduction",
        ),
        Case(
            "fit_bernoulli",
            MODULE,
            fit_samples("binary"),
            references=(Reference("numpy mean (the Bernoulli MLE)", numpy_mean, "numpy"),),
            error_inputs=lambda: iter(
                [
                    ErrorInput(
                        Sample((np.array([1.0, 0.5]),), {}, "not 0/1"),
                        ValueError,
                        r"x must hold only 0 and 1, got 0.5",
                    ),
                ]
            ),
            call=fit_call("fit_bernoulli", ("probs",)),
            jit=False,  # the jit test halves x: 0.5 is not a 0/1 observation (see fit_poisson)
            kind="reduction",
        ),
        Case(
            "fit_multivariate_normal",
            MODULE,
            fit_samples("vectors"),
            references=(Reference("numpy mean and np.cov(bias=True)", numpy_mvn, "numpy"),),
            error_inputs=lambda: iter(
                [
                    ErrorInput(
                        Sample((np.ones((4, 2, 2)),), {}, "3-d x"),
                        ValueError,
                        r"x must have shape \(N, d\), got \(4, 2, 2\)",
                    ),
                ]
            ),
            call=fit_call("fit_multivariate_normal", ("loc", "scale_tril")),
            kind="matmul",
        ),
        Case(
            "fit_categorical",
            MODULE,
            fit_samples("classes"),
            references=(Reference("numpy class frequencies", numpy_frequencies, "numpy"),),
            error_inputs=lambda: iter(
                [
                    ErrorInput(
                        Sample((np.array([0, 5]),), {}, "class 5 of 4"),
                        ValueError,
                        r"x must hold classes in \[0, 3\], got 5.0",
                    ),
                    ErrorInput(
                        Sample((np.array([0.0, 1.0]),), {}, "float classes"),
                        TypeError,
                        r"x must be an integer array of class indices, got dtype float64",
                    ),
                ]
            ),
            grad_argnums=(),
            call=fit_call("fit_categorical", ("logits",), num_classes=4),
            opt_outs={
                "defaults": "the output dtype is an option (float32 by default); the float64 rows "
                "pass dtype='float64' to compare at float64's tolerance, the float32 rows use the "
                "defaults"
            },
        ),
    ]


DISTRIBUTIONS_CASES: list[Case] = [
    *(row for key in FAMILIES for row in method_rows(key)),
    *sample_rows(),
    *rsample_rows(),
    *kl_rows(),
    *fit_rows(),
]
