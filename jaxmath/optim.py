r"""torch.optim's optimizers as optax gradient transformations, with torch 2.13's exact semantics.

Each optimizer is a factory named and parameterised as its ``torch.optim`` class (``params`` left
out) that returns an :class:`optax.GradientTransformation`:

.. code-block:: python

    opt = jaxmath.optim.Adam(lr=1e-3)
    state = opt.init(params)                              # a NamedTuple pytree
    updates, state = opt.update(grads, state, params)     # pure; jit it
    params = jaxmath.optim.apply_updates(params, updates)  # = optax.apply_updates

so it composes with optax (``optax.chain(optax.clip_by_global_norm(1.0), Adam(1e-3))``,
``optax.multi_transform`` for per-subtree optimizers). ``params`` and ``grads`` are any pytree.

The layering is optax's: validation helpers and tree utilities (private), one per-leaf update rule per
optimizer written out as torch's ``_single_tensor_*`` function computes it (the path torch takes on
CPU), and the named optimizers. The numbers match torch.optim step for step (float64 to ~1e-12
relative over hundreds of steps, see ``parity_tests/cases_optim.py``); the details that separate a copy
from the real thing are listed in each docstring.

Learning rates. ``lr`` is a float or a schedule ``step -> lr`` (e.g. :mod:`jaxmath.lr_scheduler`);
the schedule is called with the number of steps already taken (0 at the first update), so
``schedule(t)`` is the lr that torch uses at its (t+1)-th ``optimizer.step()``, after t calls of
``scheduler.step()``. Per-step scalars (lr, bias corrections) are computed in float64 when JAX's x64
mode is on, as torch computes them in Python floats, and in float32 otherwise (with ``expm1``/
``log1p`` forms that keep ``1 - beta**t`` accurate); they are cast to each leaf's dtype before use.
Momentum schedules: wherever torch's CyclicLR / OneCycleLR cycle the momentum (``cycle_momentum``:
every optimizer with ``momentum`` or ``betas`` in its defaults), that hyperparameter may be a
schedule too: SGD's, RMSprop's and Muon's ``momentum``, and ``betas[0]`` of Adam, AdamW, Adamax,
NAdam and RAdam (``SGD(lr=sched, momentum=sched.momentum)``,
``NAdam(lr=sched, betas=(sched.momentum, 0.999))``). Each step reads the schedule's value where
torch's update reads the param group's: bias corrections are :math:`1 - \beta_{1,t}^t` with this
step's beta1 (not a product of the betas so far), NAdam's :math:`\mu_t, \mu_{t+1}` use this step's
beta1 and its product of mus keeps the mus actually used; see each docstring (RMSprop's momentum
at 0 in particular). A constant (a number) compiles exactly as before: no extra runtime scalar.

Speed. Each leaf is updated by its own few XLA fusions, the same as optax's (Adam: three per leaf,
m' = f(m, g), v' = f(v, g), p' = f(p, m', v'): 40 bytes moved per parameter against the 28 of
torch's fused kernel, which makes one pass), which is what keeps the rules torch-exact per leaf and
lets any pytree through optax.chain / apply_updates. XLA:CPU has no multi-output loop fusion, and a
one-pass form written as a cache-blocked loop (``fori_loop`` over chunks updating p, m, v with
``dynamic_update_slice``) runs its in-place updates on one thread: 2x slower than the three fusions
on 2 cores. On CPU, a large leaf of odd size is updated about 2x slower than an even one: XLA
splits the fusion into 2 partitions of unequal length and leaves it unvectorised when it reads a
runtime scalar (the lr, the bias corrections); a reshape does not help (XLA loops over the output's
shape). With many leaves, keeping params flat is faster (``flat, unravel =
jax.flatten_util.ravel_pytree(params)``, the optimizer on ``flat``, ``unravel(flat)`` inside the
loss): one set of fusions for all leaves. Concatenating the leaves inside ``update`` (4x slower),
a flat state beside per-leaf params (5x slower: XLA fuses the 100-way concatenation of the grads
into the moment updates) and ``optax.flatten`` (1.4x slower) were measured and rejected; see
``benchmarks/optim.py`` and the README's benchmark.

Parameter groups. torch's ``[{"params": decay, "weight_decay": 0.1}, {"params": no_decay,
"weight_decay": 0.0}]`` becomes ``weight_decay_mask`` (a pytree of bools with the structure of
params, or a function of params returning one, as optax's ``mask``); groups that differ in other
hyperparameters (another lr for a head) become ``optax.multi_transform`` over per-group optimizers.

Optimizers: SGD, Adam, AdamW, RMSprop, Adagrad (issue 15), Adadelta, Adamax, NAdam, RAdam, Rprop,
ASGD, Adafactor, Muon, LBFGS (issue 19; LBFGS lives in ``jaxmath._lbfgs`` and takes the
loss function: ``opt.minimize(loss_fn, params, state)``, see its docstring).

Validation. Hyperparameters are checked when the optimizer is built (``ValueError`` naming the
argument and the value, as torch.optim); tree structures and shapes of ``grads``, ``params`` and
``weight_decay_mask`` are checked in ``init``/``update`` (static under jit). torch_ref.optim raises the
same messages.

``optax.inject_hyperparams``. Every numeric hyperparameter may also be a 0-d real array (jax or
NumPy), which is how ``optax.inject_hyperparams(optim.Adam)(lr=1e-3)`` passes them: all of them,
defaults included, in the params' dtype, concrete in ``init`` and traced inside a jitted ``update``
(tuples such as ``betas`` and bools stay as given). A concrete array is validated and used as the
Python number it holds (``lr=jnp.array(-1.0)`` raises as ``lr=-1.0``); a traced one cannot be
checked and is used as given, as a schedule's values are; another shape, a bool or complex dtype
is a TypeError naming the argument. Writing ``state.hyperparams["lr"]`` (or ``eps``,
``weight_decay``, ``momentum``, ...) between steps then acts as torch's
``param_group["lr"] = value``. What fixes the state or the program is decided from the concrete
value where there is one and from the state where the value is traced: SGD's and RMSprop's
momentum buffer exists whenever the momentum is an array (it may be written later, from 0 to
non-zero included, so inject's SGD and RMSprop carry a buffer even at momentum 0) or a non-zero
number, and each step is torch's per-step ``if momentum != 0`` (RMSprop: ``> 0``) on the value
written (SGD's buffer starts at the first step with momentum, as torch's lazily created one;
torch's RMSprop has no buffer to start from then and fails with a KeyError). A state made
without a buffer (a plain momentum 0) given a non-zero momentum is a ValueError. A
traced ``weight_decay`` is torch's ``if weight_decay != 0`` as a ``where`` (``g + 0 * p`` is nan
where p is inf), so ``update`` then needs params. A traced Muon ``ns_steps`` runs the Newton-Schulz
iterations in a ``fori_loop``. Rprop's lr only sets the initial step sizes (torch's too): writing it
later changes nothing. LBFGS is not a gradient transformation and refuses, saying why. The numbers
are those inject passes: for float32 params, RMSprop's default alpha 0.99 becomes 0.99000001, and
the steps move by ~1e-6 relative. Plain Python numbers compile exactly as before (no run-time
guard); ``tests/test_inject_hyperparams.py`` checks all of this for every optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmath._lbfgs import LBFGS, LBFGSState
from jaxmath._validation import check_scalar_in_range, is_concrete, scalar_hyperparameter

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "ASGDState",
    "Adadelta",
    "AdadeltaState",
    "Adafactor",
    "AdafactorState",
    "Adagrad",
    "AdagradState",
    "Adam",
    "AdamState",
    "AdamW",
    "Adamax",
    "AdamaxState",
    "LBFGSState",
    "Muon",
    "MuonState",
    "NAdam",
    "NAdamState",
    "RAdam",
    "RAdamState",
    "RMSprop",
    "RMSpropState",
    "Rprop",
    "RpropState",
    "SGDState",
    "apply_updates",
]

#: A learning rate: a Python float, or a schedule mapping the step count (int32 array) to the lr.
ScalarOrSchedule = float | Callable[[jax.Array], jax.Array]
#: ``weight_decay_mask``: None (decay everything), a pytree of bools, or params -> pytree of bools.
MaskOrFn = Any


# ------------------------------------------------------------------------------------------------
# Validation (shared with jaxmath.lr_scheduler; torch_ref.optim has the twin with the same messages)
# ------------------------------------------------------------------------------------------------


def check_lr(lr: Any) -> None:
    """``lr`` must be a schedule (callable) or a real number >= 0; a 0-d array is accepted too
    (``optax.inject_hyperparams`` passes one; a traced one cannot be checked)."""
    if callable(lr):
        return
    check_scalar_in_range("lr", scalar_hyperparameter("lr", lr), 0.0)


def is_traced(value: Any) -> bool:
    """True for a hyperparameter known only at run time: a 0-d array traced under jit, as
    ``optax.inject_hyperparams`` passes every numeric hyperparameter to a jitted ``update``."""
    return not is_concrete(value)


def dynamic(value: Any) -> bool:
    """A schedule or a traced value: read at run time (Python numbers are folded in at trace time)."""
    return callable(value) or is_traced(value)


def nonzero(value: Any) -> bool:
    """torch's ``if value != 0`` where it fixes the program (a term, a buffer): True when traced,
    since the value may be non-zero; the term is then guarded by a ``where`` on the value."""
    return is_traced(value) or value != 0


def hyperparameters(**values: Any) -> tuple[Any, ...]:
    """Each value through :func:`scalar_hyperparameter` (a concrete 0-d array becomes its Python
    number, a traced one stays; bad shapes and dtypes are TypeErrors naming the argument)."""
    return tuple(scalar_hyperparameter(name, value) for name, value in values.items())


def _like(value: Any, leaf: jax.Array) -> Any:
    """A hyperparameter as an operand of ``leaf``: a Python number as it is (weakly typed, which is
    the leaf's dtype), an array (traced) cast to the leaf's dtype (inject_hyperparams gives every
    hyperparameter the params' highest dtype; a bfloat16 leaf must not be promoted)."""
    return value.astype(leaf.dtype) if isinstance(value, jax.Array) else value


def check_nonnegative(name: str, value: Any) -> None:
    check_scalar_in_range(name, value, 0.0)


def check_unit_interval(name: str, value: Any) -> None:
    """``value`` must be a real number in [0, 1) (a beta or a decay rate)."""
    check_scalar_in_range(name, value)
    if not is_traced(value) and not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def check_schedulable(name: str, value: Any, check: Callable[[str, Any], None]) -> None:
    """``value`` is a schedule step -> value (a callable; unchecked: its values are traced), or a
    real number that passes ``check``; anything else is a TypeError saying both are accepted."""
    if callable(value):
        return
    try:
        check(name, value)
    except TypeError:
        raise TypeError(
            f"{name} must be a real number or a schedule (a function of the step count), "
            f"got {value!r}"
        ) from None


def check_betas(betas: Any) -> tuple[Any, Any]:
    """A pair in [0, 1); betas[0] may be a schedule step -> beta1 (e.g. ``CyclicLR(...).momentum``,
    what torch's schedulers with ``cycle_momentum`` write into betas[0]), returned as it is. Each
    may be a 0-d array (a concrete one becomes its float; a traced one is returned unchecked)."""
    if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
        raise TypeError(f"betas must be a pair of floats (beta1, beta2), got {betas!r}")
    beta1, beta2 = hyperparameters(**{"betas[0]": betas[0], "betas[1]": betas[1]})
    check_schedulable("betas[0]", beta1, check_unit_interval)
    check_unit_interval("betas[1]", beta2)
    return (beta1 if dynamic(beta1) else float(beta1)), (
        beta2 if is_traced(beta2) else float(beta2)
    )


def check_momentum(momentum: Any) -> None:
    """A real number >= 0, or a schedule step -> momentum (unchecked: its values are traced)."""
    check_schedulable("momentum", momentum, check_nonnegative)


def scheduled(value: Any, count: jax.Array) -> jax.Array:
    """A hyperparameter that may be a schedule, at the step that follows ``count`` steps."""
    return learning_rate(value, count)


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def check_mask(weight_decay_mask: Any) -> None:
    if weight_decay_mask is None or callable(weight_decay_mask):
        return
    for leaf in jax.tree.leaves(weight_decay_mask):
        if not isinstance(leaf, bool | np.bool_):
            raise TypeError(
                f"weight_decay_mask must be a pytree of bools or a function of params, "
                f"got a leaf {leaf!r}"
            )


# ------------------------------------------------------------------------------------------------
# Tree utilities
# ------------------------------------------------------------------------------------------------


def describe_structure(tree: Any) -> str:
    """A framework-neutral picture of a tree: ``{'b': *, 'w': [*, *]}`` (dict keys sorted as JAX
    orders them, ``*`` for a leaf), used in error messages that torch_ref repeats verbatim."""
    if tree is None:
        return "None"
    if isinstance(tree, dict):
        inner = ", ".join(f"{key!r}: {describe_structure(tree[key])}" for key in sorted(tree))
        return "{" + inner + "}"
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        inner = ", ".join(describe_structure(item) for item in tree)
        return f"{type(tree).__name__}({inner})"
    if isinstance(tree, list):
        return "[" + ", ".join(describe_structure(item) for item in tree) + "]"
    if isinstance(tree, tuple):
        return (
            "("
            + ", ".join(describe_structure(item) for item in tree)
            + ("," if len(tree) == 1 else "")
            + ")"
        )
    return "*"


def check_tree_like(name: str, tree: Any, reference_name: str, reference: Any) -> None:
    """``tree`` must have ``reference``'s tree structure and leaf shapes."""
    if jax.tree.structure(tree) != jax.tree.structure(reference):
        raise ValueError(
            f"{name} must have the tree structure of {reference_name} "
            f"{describe_structure(reference)}, got {describe_structure(tree)}"
        )
    paths = jax.tree_util.tree_flatten_with_path(tree)[0]
    for (path, leaf), expected in zip(paths, jax.tree.leaves(reference), strict=True):
        if np.shape(leaf) != np.shape(expected):
            raise ValueError(
                f"{name}{jax.tree_util.keystr(path)} must have shape {tuple(np.shape(expected))} "
                f"as in {reference_name}, got {tuple(np.shape(leaf))}"
            )


def check_real(name: str, tree: Any) -> None:
    """Complex leaves are refused: torch.optim updates a complex tensor as a pair of reals
    (``torch.view_as_real``); these update rules square and divide complex numbers instead."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if jnp.iscomplexobj(leaf):
            raise TypeError(
                f"{name}{jax.tree_util.keystr(path)} must be real (complex params are not "
                f"supported), got dtype {jnp.result_type(leaf)}"
            )


def resolve_mask(weight_decay_mask: MaskOrFn, params: Any) -> list[bool]:
    """The mask as one bool per leaf of ``params`` (all True when None)."""
    if weight_decay_mask is None:
        return [True] * len(jax.tree.leaves(params))
    mask = weight_decay_mask(params) if callable(weight_decay_mask) else weight_decay_mask
    check_mask(mask)
    if jax.tree.structure(mask) == jax.tree.structure(params):
        return [bool(leaf) for leaf in jax.tree.leaves(mask)]
    # Inside optax.multi_transform / optax.masked, the leaves of other groups are MaskedNode()s
    # (no leaves): a full mask then has a bool where params has a MaskedNode; drop those.
    with_masked = jax.tree.leaves(params, is_leaf=_is_masked_node)
    if jax.tree.structure(mask) == jax.tree.structure(params, is_leaf=_is_masked_node):
        return [
            bool(flag)
            for flag, leaf in zip(jax.tree.leaves(mask), with_masked, strict=True)
            if not _is_masked_node(leaf)
        ]
    raise ValueError(
        f"weight_decay_mask must have the tree structure of params "
        f"{describe_structure(params)}, got {describe_structure(mask)}"
    )


def _is_masked_node(leaf: Any) -> bool:
    return isinstance(leaf, optax.MaskedNode)


def scalar_dtype() -> Any:
    """float64 in JAX's x64 mode (torch computes its scalars in Python floats), float32 otherwise."""
    return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32


def learning_rate(lr: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """The lr of the step that follows ``count`` completed steps."""
    value = lr(count) if callable(lr) else lr
    return jnp.asarray(value, scalar_dtype())


def bias_correction(beta: float, step: jax.Array) -> jax.Array:
    r""":math:`1 - \beta^t`, as ``-expm1(t \log1p(-(1-\beta)))`` with :math:`1-\beta` formed in
    Python: accurate to a few ulp in float32 too (``1 - 0.999**t`` in float32 loses ~1e-5).
    A traced beta (inject_hyperparams) takes :func:`scheduled_bias_correction`'s form."""
    if is_traced(beta):
        return scheduled_bias_correction(jnp.asarray(beta, scalar_dtype()), step)
    one_minus = 1.0 - beta
    if one_minus == 1.0:
        return jnp.ones((), scalar_dtype())
    return -jnp.expm1(step * jnp.asarray(math.log1p(-one_minus), scalar_dtype()))


def scheduled_bias_correction(beta_t: jax.Array, step: jax.Array) -> jax.Array:
    r""":math:`1 - \beta_t^t` for a scheduled beta (a traced scalar, this step's value): torch
    computes ``1 - beta1**step`` with the param group's current beta1, not a product of the betas
    so far. Formed as ``-expm1(t log1p(beta_t - 1))`` (``beta_t - 1`` exact for beta_t in
    [0.5, 1]; beta_t = 0 gives 1)."""
    return -jnp.expm1(step * jnp.log1p(beta_t - 1))


def lerp(start: jax.Array, end: jax.Array, weight: float) -> jax.Array:
    """``torch.lerp`` with a Python weight: start + w (end - start) for w < 0.5, else
    end - (end - start)(1 - w) (torch's two branches, which round differently). A traced weight
    takes :func:`_torch_lerp` (the same branches, chosen at run time)."""
    if isinstance(weight, jax.Array):
        return _torch_lerp(start, end, weight)
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


def _cast(value: jax.Array, like: jax.Array) -> jax.Array:
    return value.astype(like.dtype)


def _second_moment(v: jax.Array, g: jax.Array, beta: Any) -> jax.Array:
    """``beta v + (1 - beta) g^2``, rounded as torch's ``mul_(beta).addcmul_(g, g, 1 - beta)``."""
    beta = _like(beta, v)
    return v * beta + ((1.0 - beta) * g) * g


def _coupled(g: jax.Array, p: jax.Array, weight_decay: Any) -> jax.Array:
    """Coupled L2, ``g + weight_decay * p``. A traced weight_decay is torch's per-step
    ``if weight_decay != 0`` as a ``where`` (``g + 0 * p`` is not g where p is inf or nan)."""
    if is_traced(weight_decay):
        return jnp.where(weight_decay != 0, g + _like(weight_decay, g) * p, g)
    return g + weight_decay * p


def _decoupled(u: jax.Array, p: jax.Array, lr_t: jax.Array, weight_decay: Any) -> jax.Array:
    """torch's ``p.mul_(1 - lr * wd)`` before the step, folded into the update: p * factor - p is
    exact (Sterbenz), so p + u rounds as torch's two in-place steps do (in float32 the rounded
    factor biases the decay by up to 3e-8 per step, which torch has too). A traced weight_decay
    is guarded by a ``where`` (``p * 1 - p`` is nan where p is inf)."""
    decayed = (p * _cast(1 - lr_t * weight_decay, p) - p) + u
    if is_traced(weight_decay):
        return jnp.where(weight_decay != 0, decayed, u)
    return decayed


def _leaves_or_none(tree: Any, count: int) -> list[Any]:
    return [None] * count if tree is None else jax.tree.leaves(tree)


def _prepare(
    grads: Any, state_tree: Any, params: Any, needs_params: bool, name: str
) -> tuple[Any, list[Any], list[Any]]:
    """Check grads (and params) against the state's params-shaped tree; return grads' treedef and
    the leaves of grads and params."""
    check_real("grads", grads)
    if state_tree is not None:
        check_tree_like("grads", grads, f"the {name} state", state_tree)
    elif params is not None:  # a state with nothing params-shaped (SGD without momentum)
        check_tree_like("grads", grads, "params", params)
    if needs_params:
        if params is None:
            raise ValueError(
                f"{name} needs params in update(grads, state, params) for weight decay"
            )
        check_tree_like("params", params, "grads", grads)
    grad_leaves, treedef = jax.tree.flatten(grads)
    param_leaves = jax.tree.leaves(params) if needs_params else [None] * len(grad_leaves)
    return treedef, grad_leaves, param_leaves


def apply_updates(params: Any, updates: Any) -> Any:
    """``params + updates`` leafwise, in each param's dtype (``optax.apply_updates``)."""
    check_tree_like("updates", updates, "params", params)
    return optax.apply_updates(params, updates)


def _zeros_like_tree(params: Any) -> Any:
    return jax.tree.map(jnp.zeros_like, params)


def _count() -> jax.Array:
    return jnp.zeros((), jnp.int32)


# ------------------------------------------------------------------------------------------------
# SGD
# ------------------------------------------------------------------------------------------------


class SGDState(NamedTuple):
    """State of :func:`SGD`."""

    count: jax.Array  # () int32: steps taken
    momentum_buffer: Any  # params-shaped pytree, params' dtypes; None when momentum == 0
    #: () bool: whether a step has run with momentum != 0 (torch's buffer is no longer None);
    #: None unless momentum is a schedule or an array (optax.inject_hyperparams); a Python
    #: number's buffer starts at the first step
    momentum_started: Any = None


def SGD(  # noqa: N802 (torch.optim's class name)
    lr: ScalarOrSchedule = 1e-3,
    momentum: float = 0,
    dampening: float = 0,
    weight_decay: float = 0,
    nesterov: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""Stochastic gradient descent with momentum, as ``torch.optim.SGD`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)}, \theta_0, \lambda \text{ (weight decay)},
           \mu \text{ (momentum)}, \tau \text{ (dampening)}, \textit{nesterov}, \textit{maximize}\\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do}\\
       &\quad g_t \leftarrow \nabla f(\theta_{t-1})\ (\text{negated if } \textit{maximize})\\
       &\quad \textbf{if}\ \lambda \ne 0:\ g_t \leftarrow g_t + \lambda\theta_{t-1}\\
       &\quad \textbf{if}\ \mu \ne 0:\ b_t \leftarrow g_t \text{ if } t = 1
             \text{ else } \mu b_{t-1} + (1-\tau) g_t;\quad
             g_t \leftarrow g_t + \mu b_t \text{ if } \textit{nesterov} \text{ else } b_t\\
       &\quad \theta_t \leftarrow \theta_{t-1} - \gamma g_t\\
       &\textbf{return}\ \theta_t
       \end{aligned}

    Dampening is not applied at the first momentum step (the buffer starts as the gradient itself),
    and nesterov needs momentum > 0 and dampening == 0 (torch refuses it otherwise; so do we).
    A scheduled momentum is read per step as torch reads the param group's (``if momentum != 0``):
    at a step where it is 0 the plain (decayed) gradient is taken and the buffer is left as it was;
    the buffer starts as the gradient at the first step whose momentum is non-zero.

    Args:
        lr: learning rate or schedule (default: 1e-3).
        momentum: momentum factor :math:`\mu` (default: 0), or a schedule step -> momentum, as
            torch's param-group momentum written by a scheduler with ``cycle_momentum``
            (``momentum=CyclicLR(...).momentum``; steps where it is 0 take no momentum).
        dampening: dampening :math:`\tau` for momentum (default: 0).
        weight_decay: coupled L2 penalty :math:`\lambda`, added to the gradient (default: 0).
        nesterov: Nesterov momentum (default: False).
        maximize: ascend the objective instead of descending (default: False).
        weight_decay_mask: which leaves are decayed (a pytree of bools like params, or a function
            of params returning one); None decays all (default: None).

    Differences from optax: ``optax.sgd(lr, momentum, nesterov)`` coincides for weight_decay = 0
    and dampening = 0 (optax's trace starts at 0, so ``b_1 = g_1`` as here).

    Reference: ``torch.optim.SGD`` (``_single_tensor_sgd``).
    """
    is_array = isinstance(momentum, jax.Array | np.ndarray)
    lr, momentum, dampening, weight_decay = hyperparameters(
        lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay
    )
    check_lr(lr)
    check_momentum(momentum)
    check_scalar_in_range("dampening", dampening)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("nesterov", nesterov)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)
    if nesterov and (
        (not dynamic(momentum) and momentum <= 0) or (not is_traced(dampening) and dampening != 0)
    ):
        raise ValueError(
            f"nesterov requires momentum > 0 and dampening == 0, "
            f"got momentum={momentum!r}, dampening={dampening!r}"
        )

    def init(params: Any) -> SGDState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        # The buffer exists when the momentum may be non-zero: a schedule, an array (what
        # inject_hyperparams passes: it may be written later, 0 included), or a non-zero number.
        buffer = (
            _zeros_like_tree(params) if dynamic(momentum) or is_array or momentum != 0 else None
        )
        per_step = buffer is not None and (callable(momentum) or is_array)
        started = jnp.zeros((), jnp.bool_) if per_step else None
        return SGDState(_count(), buffer, started)

    def update(grads: Any, state: SGDState, params: Any = None) -> tuple[Any, SGDState]:
        treedef, grad_leaves, param_leaves = _prepare(
            grads, state.momentum_buffer, params, nonzero(weight_decay), "SGD"
        )
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        started = state.momentum_started
        # The state decides what the program holds: no buffer (a plain momentum 0 at init), no
        # momentum. A per-step momentum (a schedule, or an array: inject_hyperparams lets it
        # change between steps) is torch's `if momentum != 0` on this step's value.
        has_momentum = state.momentum_buffer is not None
        if not has_momentum and not dynamic(momentum) and momentum != 0:
            raise ValueError(
                f"SGD's state has no momentum buffer (made with momentum 0), got "
                f"momentum={momentum!r}: give init a non-zero momentum, or a schedule"
            )
        per_step = has_momentum and (dynamic(momentum) or started is not None or momentum == 0)
        if per_step:
            momentum_t = scheduled(momentum, state.count)
            momentum_on = momentum_t != 0
            # a buffer from a non-zero number at init has no flag: it started at step 1
            was_started = state.count > 0 if started is None else started
            first = jnp.logical_not(was_started)  # torch's buffer is still None
            if started is not None:
                started = jnp.logical_or(started, momentum_on)
        else:
            first = state.count == 0
        buffers = _leaves_or_none(state.momentum_buffer, len(grad_leaves))
        updates, new_buffers = [], []
        for index, (g, p, buf) in enumerate(zip(grad_leaves, param_leaves, buffers, strict=True)):
            g = -g if maximize else g
            if nonzero(weight_decay) and decays[index]:
                g = _coupled(g, p, weight_decay)
            if per_step:
                mu = _cast(momentum_t, g)
                buf = jnp.where(
                    momentum_on,
                    jnp.where(first, g, buf * mu + (1 - _like(dampening, g)) * g),
                    buf,
                )
                g = jnp.where(momentum_on, g + mu * buf if nesterov else buf, g)
                new_buffers.append(buf)
            elif has_momentum:
                buf = jnp.where(first, g, buf * momentum + (1 - dampening) * g)
                new_buffers.append(buf)
                g = g + momentum * buf if nesterov else buf
            updates.append(-_cast(lr_t, g) * g)
        new_buffer = treedef.unflatten(new_buffers) if has_momentum else None
        return treedef.unflatten(updates), SGDState(state.count + 1, new_buffer, started)

    return optax.GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Adam and AdamW
# ------------------------------------------------------------------------------------------------


class AdamState(NamedTuple):
    """State of :func:`Adam` and :func:`AdamW`."""

    count: jax.Array  # () int32: steps taken (torch's state["step"])
    exp_avg: Any  # params-shaped: first moment m_t
    exp_avg_sq: Any  # params-shaped: second moment v_t
    max_exp_avg_sq: Any  # params-shaped: max of v_1..v_t (amsgrad); None otherwise


def Adam(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""Adam, as ``torch.optim.Adam`` (torch 2.13, single-tensor path).

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)}, \beta_1, \beta_2 \text{ (betas)}, \theta_0,
           \lambda \text{ (weight decay)}, \epsilon, \textit{amsgrad}, \textit{maximize}\\
       &\textbf{initialize}: m_0 \leftarrow 0, v_0 \leftarrow 0, v_0^{max} \leftarrow 0\\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do}\\
       &\quad g_t \leftarrow \nabla f(\theta_{t-1})\ (\text{negated if } \textit{maximize})\\
       &\quad \textbf{if}\ \lambda \ne 0:\ \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
             \text{ if decoupled, else } g_t \leftarrow g_t + \lambda\theta_{t-1}\\
       &\quad m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \quad (\text{torch.lerp})\\
       &\quad v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2\\
       &\quad \textbf{if}\ \textit{amsgrad}:\ v_t^{max} \leftarrow \max(v_{t-1}^{max}, v_t),
             \hat v \leftarrow v_t^{max} \text{ else } \hat v \leftarrow v_t\\
       &\quad \theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
             \frac{m_t}{\sqrt{\hat v}/\sqrt{1-\beta_2^t} + \epsilon}\\
       &\textbf{return}\ \theta_t
       \end{aligned}

    Weight decay is coupled L2 (added to the gradient before the moments) unless
    ``decoupled_weight_decay`` (then it is :func:`AdamW`). Note where eps sits: outside the root and
    *after* the bias correction of :math:`\sqrt{v}` (torch's form), not ``eps * sqrt(1-beta2^t)``.
    amsgrad keeps the max of the raw (uncorrected) second moment and bias-corrects the max.

    Args:
        lr: learning rate or schedule (default: 1e-3).
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1) (default: (0.9, 0.999)); beta1 may be
            a schedule step -> beta1, as torch's ``betas[0]`` written by a scheduler with
            ``cycle_momentum`` (``betas=(OneCycleLR(...).momentum, 0.999)``; the bias correction
            is then :math:`1 - \beta_{1,t}^t` with this step's beta1, as torch's).
        eps: added to the denominator, >= 0 (default: 1e-8).
        weight_decay: :math:`\lambda` >= 0 (default: 0).
        amsgrad: the AMSGrad variant (default: False).
        maximize: ascend instead of descend (default: False).
        decoupled_weight_decay: AdamW's decay (default: False).
        weight_decay_mask: which leaves are decayed (pytree of bools or function of params;
            default None: all).

    .. warning:: ``optax.adam(lr, b1, b2, eps)`` coincides for weight_decay = 0 and amsgrad = False
       (same update up to rounding); ``optax.amsgrad`` takes the max of the bias-corrected moment, so
       it differs from torch's amsgrad in the first steps.

    Reference: Kingma & Ba, "Adam", ICLR 2015; ``torch.optim.Adam`` (``_single_tensor_adam``).
    """
    lr, eps, weight_decay = hyperparameters(lr=lr, eps=eps, weight_decay=weight_decay)
    check_lr(lr)
    check_nonnegative("eps", eps)
    beta1, beta2 = check_betas(betas)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("amsgrad", amsgrad)
    check_bool("maximize", maximize)
    check_bool("decoupled_weight_decay", decoupled_weight_decay)
    check_mask(weight_decay_mask)
    name = "AdamW" if decoupled_weight_decay else "Adam"

    def init(params: Any) -> AdamState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        return AdamState(
            _count(),
            _zeros_like_tree(params),
            _zeros_like_tree(params),
            _zeros_like_tree(params) if amsgrad else None,
        )

    def update(grads: Any, state: AdamState, params: Any = None) -> tuple[Any, AdamState]:
        treedef, grad_leaves, param_leaves = _prepare(
            grads, state.exp_avg, params, nonzero(weight_decay), name
        )
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        step = state.count + 1
        lr_t = learning_rate(lr, state.count)
        step_t = step.astype(scalar_dtype())
        if dynamic(beta1):  # torch: 1 - beta1**t with the beta1 of this step (not a product)
            beta1_t = scheduled(beta1, state.count)
            step_size = lr_t / scheduled_bias_correction(beta1_t, step_t)
        else:
            step_size = lr_t / bias_correction(beta1, step_t)
        bias_correction2_sqrt = jnp.sqrt(bias_correction(beta2, step_t))
        maxes = _leaves_or_none(state.max_exp_avg_sq, len(grad_leaves))
        columns: list[list[Any]] = [[], [], [], []]
        for index, (g, p, m, v, v_max) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                jax.tree.leaves(state.exp_avg),
                jax.tree.leaves(state.exp_avg_sq),
                maxes,
                strict=True,
            )
        ):
            g = -g if maximize else g
            decay = nonzero(weight_decay) and decays[index]
            if decay and not decoupled_weight_decay:
                g = _coupled(g, p, weight_decay)
            m = _torch_lerp(m, g, 1 - beta1_t) if dynamic(beta1) else lerp(m, g, 1.0 - beta1)
            v = _second_moment(v, g, beta2)
            if amsgrad:
                v_max = jnp.maximum(v_max, v)
            denom = jnp.sqrt(v_max if amsgrad else v) / _cast(bias_correction2_sqrt, g) + _like(
                eps, g
            )
            u = -_cast(step_size, g) * (m / denom)
            if decay and decoupled_weight_decay:
                # torch scales p by (1 - lr * wd) before the step: see _decoupled
                u = _decoupled(u, p, lr_t, weight_decay)
            for column, value in zip(columns, (u, m, v, v_max), strict=True):
                column.append(value)
        updates, exp_avg, exp_avg_sq, max_sq = columns
        new_state = AdamState(
            step,
            treedef.unflatten(exp_avg),
            treedef.unflatten(exp_avg_sq),
            treedef.unflatten(max_sq) if amsgrad else None,
        )
        return treedef.unflatten(updates), new_state

    return optax.GradientTransformation(init, update)


def AdamW(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""AdamW, as ``torch.optim.AdamW`` (torch 2.13: ``Adam(..., decoupled_weight_decay=True)``).

    .. math::
       \begin{aligned}
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do}\\
       &\quad \theta_{t-1} \leftarrow \theta_{t-1} - \gamma\lambda\theta_{t-1}
             \quad (\text{decoupled: before, and outside, the moments})\\
       &\quad m_t, v_t, \hat v \text{ and the step as in } \textit{Adam}\\
       &\textbf{return}\ \theta_t
       \end{aligned}

    The decay is scaled by the *scheduled* lr :math:`\gamma_t` (torch's ``1 - lr * weight_decay``),
    not by the lr's peak.

    Args: as :func:`Adam`, with weight_decay defaulting to 1e-2 (torch's default).

    .. warning:: ``optax.adamw`` defaults to weight_decay=1e-4 (torch: 1e-2), and its decay is
       ``-lr * wd * p`` added to the Adam step computed from the *undecayed* params: the same
       update, so ``optax.adamw(lr, b1, b2, eps, weight_decay=wd)`` matches ``AdamW(lr, (b1, b2),
       eps, wd)`` up to rounding. Pass ``weight_decay=1e-2`` explicitly when porting.

    Reference: Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019;
    ``torch.optim.AdamW``.
    """
    return Adam(
        lr,
        betas,
        eps,
        weight_decay,
        amsgrad,
        maximize,
        decoupled_weight_decay=True,
        weight_decay_mask=weight_decay_mask,
    )


# ------------------------------------------------------------------------------------------------
# RMSprop
# ------------------------------------------------------------------------------------------------


class RMSpropState(NamedTuple):
    """State of :func:`RMSprop`."""

    count: jax.Array  # () int32: steps taken
    square_avg: Any  # params-shaped: running mean of g^2
    grad_avg: Any  # params-shaped: running mean of g (centered); None otherwise
    momentum_buffer: Any  # params-shaped (momentum > 0); None otherwise


def RMSprop(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0,
    momentum: float = 0,
    centered: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""RMSprop, as ``torch.optim.RMSprop`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)}, \alpha \text{ (smoothing)}, \theta_0, \epsilon,
           \lambda, \mu \text{ (momentum)}, \textit{centered}, \textit{maximize}\\
       &\textbf{initialize}: v_0 \leftarrow 0, \bar g_0 \leftarrow 0, b_0 \leftarrow 0\\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do}\\
       &\quad g_t \leftarrow \nabla f(\theta_{t-1})\ (\text{negated if } \textit{maximize});\
             \textbf{if}\ \lambda \ne 0:\ g_t \leftarrow g_t + \lambda\theta_{t-1}\\
       &\quad v_t \leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2\\
       &\quad \textbf{if centered}:\ \bar g_t \leftarrow \alpha\bar g_{t-1} + (1-\alpha)g_t,\
             d_t \leftarrow \sqrt{v_t - \bar g_t^2} + \epsilon\
             \textbf{else}\ d_t \leftarrow \sqrt{v_t} + \epsilon\\
       &\quad \textbf{if}\ \mu > 0:\ b_t \leftarrow \mu b_{t-1} + g_t/d_t,\
             \theta_t \leftarrow \theta_{t-1} - \gamma b_t\
             \textbf{else}\ \theta_t \leftarrow \theta_{t-1} - \gamma g_t/d_t\\
       &\textbf{return}\ \theta_t
       \end{aligned}

    eps is outside the square root; the momentum buffer holds :math:`g/d` with the lr applied
    outside it (so a schedule rescales the whole buffer, unlike optax's trace of lr-scaled steps).

    A momentum schedule (``momentum=OneCycleLR(...).momentum``, what torch's CyclicLR / OneCycleLR
    write into the param group) is read at every step: :math:`\mu_t` replaces :math:`\mu`, and the
    branch is torch's per-step ``if momentum > 0``. torch creates the buffer at the first step only
    if the momentum is > 0 then; a step whose :math:`\mu_t \le 0` takes the plain step
    :math:`g_t/d_t` and leaves the buffer as it was (torch's buffer is untouched), and the next
    step with :math:`\mu_t > 0` continues from it. With a schedule the buffer always exists
    (zeros): where torch has one (:math:`\mu_1 > 0`, e.g. every OneCycleLR and every CyclicLR with
    max_momentum > 0) the steps are torch's; where torch has none (:math:`\mu_1 \le 0`, rising
    later) torch fails with a KeyError at the first step with :math:`\mu_t > 0`, and here the
    zero buffer starts then, as if torch had created it at the first step.

    Args:
        lr: learning rate or schedule (default: 1e-2).
        alpha: smoothing constant, >= 0 (default: 0.99).
        eps: added to the denominator, >= 0 (default: 1e-8).
        weight_decay: coupled L2 penalty, >= 0 (default: 0).
        momentum: :math:`\mu` >= 0 (default: 0), or a schedule step -> momentum (see above).
        centered: normalise by the estimated variance (default: False).
        maximize: ascend (default: False).
        weight_decay_mask: which leaves are decayed (default None: all).

    .. warning:: ``optax.rmsprop`` puts eps inside the root and starts its second moment at
       ``initial_scale``: use ``optax.rmsprop(lr, decay=alpha, eps=eps, eps_in_sqrt=False,
       initial_scale=0.0, centered=c, momentum=mu)``; with momentum it matches only for a constant lr.

    Reference: Hinton, Lecture 6e of "Neural Networks for Machine Learning"; Graves 2013 (centered);
    ``torch.optim.RMSprop`` (``_single_tensor_rmsprop``).
    """
    is_array = isinstance(momentum, jax.Array | np.ndarray)
    lr, alpha, eps, weight_decay, momentum = hyperparameters(
        lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum
    )
    check_lr(lr)
    check_nonnegative("eps", eps)
    check_momentum(momentum)
    check_nonnegative("weight_decay", weight_decay)
    check_nonnegative("alpha", alpha)
    check_bool("centered", centered)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> RMSpropState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        # a buffer when the momentum may be > 0: a schedule, an array (inject_hyperparams: it
        # may be written later, 0 included; torch would fail with a KeyError), or a number > 0
        has_buffer = dynamic(momentum) or is_array or momentum > 0
        return RMSpropState(
            _count(),
            _zeros_like_tree(params),
            _zeros_like_tree(params) if centered else None,
            _zeros_like_tree(params) if has_buffer else None,
        )

    def update(grads: Any, state: RMSpropState, params: Any = None) -> tuple[Any, RMSpropState]:
        treedef, grad_leaves, param_leaves = _prepare(
            grads, state.square_avg, params, nonzero(weight_decay), "RMSprop"
        )
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        # The state decides (init saw the momentum): no buffer, no momentum. With a buffer, a
        # schedule or a traced value is torch's `if momentum > 0` on this step's value.
        has_buffer = state.momentum_buffer is not None
        if not has_buffer and not dynamic(momentum) and momentum > 0:
            raise ValueError(
                f"RMSprop's state has no momentum buffer (made with momentum 0), got "
                f"momentum={momentum!r}: give init a momentum > 0, or a schedule"
            )
        per_step = has_buffer and (dynamic(momentum) or is_array)
        if per_step:
            momentum_t = scheduled(momentum, state.count)
            momentum_on = momentum_t > 0
        count = len(grad_leaves)
        columns: list[list[Any]] = [[], [], [], []]
        for index, (g, p, v, g_avg, buf) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                jax.tree.leaves(state.square_avg),
                _leaves_or_none(state.grad_avg, count),
                _leaves_or_none(state.momentum_buffer, count),
                strict=True,
            )
        ):
            g = -g if maximize else g
            if nonzero(weight_decay) and decays[index]:
                g = _coupled(g, p, weight_decay)
            v = _second_moment(v, g, alpha)
            if centered:
                g_avg = lerp(g_avg, g, 1.0 - _like(alpha, g))
                avg = jnp.sqrt(v - g_avg * g_avg) + _like(eps, g)
            else:
                avg = jnp.sqrt(v) + _like(eps, g)
            if per_step:
                buf = jnp.where(momentum_on, buf * _cast(momentum_t, buf) + g / avg, buf)
                u = -_cast(lr_t, g) * jnp.where(momentum_on, buf, g / avg)
            elif has_buffer and momentum > 0:
                buf = buf * momentum + g / avg
                u = -_cast(lr_t, g) * buf
            else:
                u = -_cast(lr_t, g) * (g / avg)
            for column, value in zip(columns, (u, v, g_avg, buf), strict=True):
                column.append(value)
        updates, square_avg, grad_avg, buffers = columns
        new_state = RMSpropState(
            state.count + 1,
            treedef.unflatten(square_avg),
            treedef.unflatten(grad_avg) if centered else None,
            treedef.unflatten(buffers) if has_buffer else None,
        )
        return treedef.unflatten(updates), new_state

    return optax.GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Adagrad
# ------------------------------------------------------------------------------------------------


class AdagradState(NamedTuple):
    """State of :func:`Adagrad`."""

    count: jax.Array  # () int32: steps taken
    sum: Any  # params-shaped: initial_accumulator_value + sum of g^2


def Adagrad(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    lr_decay: float = 0,
    weight_decay: float = 0,
    initial_accumulator_value: float = 0,
    eps: float = 1e-10,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""Adagrad, as ``torch.optim.Adagrad`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)}, \theta_0, \lambda, \eta \text{ (lr decay)},
           \tau \text{ (initial accumulator value)}, \epsilon, \textit{maximize}\\
       &\textbf{initialize}: s_0 \leftarrow \tau\\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do}\\
       &\quad g_t \leftarrow \nabla f(\theta_{t-1})\ (\text{negated if } \textit{maximize});\
             \textbf{if}\ \lambda \ne 0:\ g_t \leftarrow g_t + \lambda\theta_{t-1}\\
       &\quad \tilde\gamma \leftarrow \gamma / (1 + (t-1)\eta)\\
       &\quad s_t \leftarrow s_{t-1} + g_t^2\\
       &\quad \theta_t \leftarrow \theta_{t-1} - \tilde\gamma\, g_t / (\sqrt{s_t} + \epsilon)\\
       &\textbf{return}\ \theta_t
       \end{aligned}

    Args:
        lr: learning rate or schedule (default: 1e-2); lr_decay applies on top of a schedule.
        lr_decay: :math:`\eta` >= 0 (default: 0).
        weight_decay: coupled L2 penalty >= 0 (default: 0).
        initial_accumulator_value: :math:`\tau` >= 0 (default: 0).
        eps: outside the square root, >= 0 (default: 1e-10).
        maximize: ascend (default: False).
        weight_decay_mask: which leaves are decayed (default None: all).

    .. warning:: ``optax.adagrad`` starts the accumulator at 0.1 and puts eps (1e-7) inside the
       root: ``optax.adagrad(lr, initial_accumulator_value=tau, eps=0.0)`` equals
       ``Adagrad(lr, initial_accumulator_value=tau, eps=0.0)`` for tau > 0.

    Reference: Duchi, Hazan & Singer, JMLR 2011; ``torch.optim.Adagrad``
    (``_single_tensor_adagrad``).
    """
    lr, lr_decay, weight_decay, initial_accumulator_value, eps = hyperparameters(
        lr=lr,
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
        eps=eps,
    )
    check_lr(lr)
    check_nonnegative("lr_decay", lr_decay)
    check_nonnegative("weight_decay", weight_decay)
    check_nonnegative("initial_accumulator_value", initial_accumulator_value)
    check_nonnegative("eps", eps)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> AdagradState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        return AdagradState(
            _count(), jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        )

    def update(grads: Any, state: AdagradState, params: Any = None) -> tuple[Any, AdagradState]:
        treedef, grad_leaves, param_leaves = _prepare(
            grads, state.sum, params, nonzero(weight_decay), "Adagrad"
        )
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        clr = lr_t / (1 + state.count.astype(scalar_dtype()) * lr_decay)
        updates, sums = [], []
        for index, (g, p, s) in enumerate(
            zip(grad_leaves, param_leaves, jax.tree.leaves(state.sum), strict=True)
        ):
            g = -g if maximize else g
            if nonzero(weight_decay) and decays[index]:
                g = _coupled(g, p, weight_decay)
            s = s + g * g
            updates.append(-_cast(clr, g) * (g / (jnp.sqrt(s) + _like(eps, g))))
            sums.append(s)
        return treedef.unflatten(updates), AdagradState(state.count + 1, treedef.unflatten(sums))

    return optax.GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Adadelta, Adamax, NAdam, RAdam (issue 19)
# ------------------------------------------------------------------------------------------------


def _decay_parts(
    g: jax.Array, p: jax.Array, decay: bool, decoupled: bool, weight_decay: float
) -> jax.Array:
    """Coupled L2: the gradient with ``weight_decay * p`` added (decoupled decay is applied to the
    update by :func:`_decoupled`)."""
    return _coupled(g, p, weight_decay) if decay and not decoupled else g


class AdadeltaState(NamedTuple):
    """State of :func:`Adadelta`."""

    count: jax.Array  # () int32: steps taken
    square_avg: Any  # params-shaped: running mean of g^2
    acc_delta: Any  # params-shaped: running mean of the squared updates


def Adadelta(  # noqa: N802
    lr: ScalarOrSchedule = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""Adadelta, as ``torch.optim.Adadelta`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do}\\
       &\quad g_t \leftarrow \nabla f(\theta_{t-1})\ (\text{negated if maximize});\
             \textbf{if}\ \lambda \ne 0:\ g_t \leftarrow g_t + \lambda\theta_{t-1}\\
       &\quad v_t \leftarrow \rho v_{t-1} + (1-\rho) g_t^2\\
       &\quad \Delta x_t \leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t\\
       &\quad u_t \leftarrow \rho u_{t-1} + (1-\rho) \Delta x_t^2\\
       &\quad \theta_t \leftarrow \theta_{t-1} - \gamma \Delta x_t\\
       \end{aligned}

    eps sits inside both roots. ``optax.adadelta(lr, rho, eps)`` is the same rule (up to rounding)
    for weight_decay = 0.

    Args: lr (default: 1.0), rho in [0, 1] (default: 0.9), eps >= 0 (default: 1e-6),
    weight_decay (default: 0), maximize (default: False), weight_decay_mask (default: None).

    Reference: Zeiler, "ADADELTA", 2012; ``torch.optim.Adadelta``.
    """
    lr, rho, eps, weight_decay = hyperparameters(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
    check_lr(lr)
    check_scalar_in_range("rho", rho, 0.0, 1.0)
    check_nonnegative("eps", eps)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> AdadeltaState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        return AdadeltaState(_count(), _zeros_like_tree(params), _zeros_like_tree(params))

    def update(grads: Any, state: AdadeltaState, params: Any = None) -> tuple[Any, AdadeltaState]:
        treedef, grad_leaves, param_leaves = _prepare(
            grads, state.square_avg, params, nonzero(weight_decay), "Adadelta"
        )
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        columns: list[list[Any]] = [[], [], []]
        for index, (g, p, v, u_avg) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                jax.tree.leaves(state.square_avg),
                jax.tree.leaves(state.acc_delta),
                strict=True,
            )
        ):
            g = -g if maximize else g
            if nonzero(weight_decay) and decays[index]:
                g = _coupled(g, p, weight_decay)
            v = _second_moment(v, g, rho)
            delta = jnp.sqrt(u_avg + _like(eps, g)) / jnp.sqrt(v + _like(eps, g)) * g
            u_avg = _second_moment(u_avg, delta, rho)
            for column, value in zip(columns, (-_cast(lr_t, g) * delta, v, u_avg), strict=True):
                column.append(value)
        updates, square_avg, acc_delta = columns
        return treedef.unflatten(updates), AdadeltaState(
            state.count + 1, treedef.unflatten(square_avg), treedef.unflatten(acc_delta)
        )

    return optax.GradientTransformation(init, update)


class AdamaxState(NamedTuple):
    """State of :func:`Adamax`."""

    count: jax.Array  # () int32: steps taken
    exp_avg: Any  # params-shaped: first moment
    exp_inf: Any  # params-shaped: exponentially weighted infinity norm


def Adamax(  # noqa: N802
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""Adamax (Adam with the infinity norm), as ``torch.optim.Adamax`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\quad m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \quad (\text{torch.lerp})\\
       &\quad u_t \leftarrow \max(\beta_2 u_{t-1}, |g_t| + \epsilon)\\
       &\quad \theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,\frac{m_t}{u_t}
       \end{aligned}

    with coupled L2 weight decay added to g first. eps is added to |g| *inside* the max (torch's
    form), as ``optax.adamax`` (0.2.8's ``tree.update_infinity_moment``) does too: with
    weight_decay = 0 the two take the same steps up to rounding (tests/test_optim_benchmark.py
    checks the benchmark's contenders, optax.adamax among them, compute the same step).

    Args: lr (default: 2e-3), betas in [0, 1) (default: (0.9, 0.999)), eps (default: 1e-8),
    weight_decay (default: 0), maximize, weight_decay_mask. betas[0] may be a schedule
    step -> beta1, as torch's ``betas[0]`` written by a scheduler with ``cycle_momentum``
    (``betas=(CyclicLR(...).momentum, 0.999)``): m_t then uses this step's :math:`\beta_{1,t}`
    and the bias correction is :math:`1 - \beta_{1,t}^t`, as torch's.

    Reference: Kingma & Ba, "Adam", section 7.1; ``torch.optim.Adamax``.
    """
    lr, eps, weight_decay = hyperparameters(lr=lr, eps=eps, weight_decay=weight_decay)
    check_lr(lr)
    check_nonnegative("eps", eps)
    beta1, beta2 = check_betas(betas)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> AdamaxState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        return AdamaxState(_count(), _zeros_like_tree(params), _zeros_like_tree(params))

    def update(grads: Any, state: AdamaxState, params: Any = None) -> tuple[Any, AdamaxState]:
        treedef, grad_leaves, param_leaves = _prepare(
            grads, state.exp_avg, params, nonzero(weight_decay), "Adamax"
        )
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        step_t = (state.count + 1).astype(scalar_dtype())
        if dynamic(beta1):  # torch: 1 - beta1**t with the beta1 of this step
            beta1_t = scheduled(beta1, state.count)
            clr = lr_t / scheduled_bias_correction(beta1_t, step_t)
        else:
            clr = lr_t / bias_correction(beta1, step_t)
        columns: list[list[Any]] = [[], [], []]
        for index, (g, p, m, u_inf) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                jax.tree.leaves(state.exp_avg),
                jax.tree.leaves(state.exp_inf),
                strict=True,
            )
        ):
            g = -g if maximize else g
            if nonzero(weight_decay) and decays[index]:
                g = _coupled(g, p, weight_decay)
            m = _torch_lerp(m, g, 1 - beta1_t) if dynamic(beta1) else lerp(m, g, 1.0 - beta1)
            u_inf = jnp.maximum(u_inf * _like(beta2, g), jnp.abs(g) + _like(eps, g))
            for column, value in zip(
                columns, (-_cast(clr, g) * (m / u_inf), m, u_inf), strict=True
            ):
                column.append(value)
        updates, exp_avg, exp_inf = columns
        return treedef.unflatten(updates), AdamaxState(
            state.count + 1, treedef.unflatten(exp_avg), treedef.unflatten(exp_inf)
        )

    return optax.GradientTransformation(init, update)


class NAdamState(NamedTuple):
    """State of :func:`NAdam`."""

    count: jax.Array  # () int32: steps taken
    mu_product: jax.Array  # () float32: prod of mu_1..mu_t, in float32 as torch keeps it
    exp_avg: Any  # params-shaped: first moment
    exp_avg_sq: Any  # params-shaped: second moment


def NAdam(  # noqa: N802
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""NAdam (Adam with Nesterov momentum), as ``torch.optim.NAdam`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\quad \mu_t \leftarrow \beta_1 (1 - \tfrac12\, 0.96^{t\psi}),\quad
             \mu_{t+1} \leftarrow \beta_1 (1 - \tfrac12\, 0.96^{(t+1)\psi})\\
       &\quad m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
             v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2\\
       &\quad d_t \leftarrow \sqrt{v_t / (1 - \beta_2^t)} + \epsilon\\
       &\quad \theta_t \leftarrow \theta_{t-1}
             - \gamma \frac{1-\mu_t}{1 - \prod_{i\le t}\mu_i}\frac{g_t}{d_t}
             - \gamma \frac{\mu_{t+1}}{1 - \prod_{i\le t+1}\mu_i}\frac{m_t}{d_t}
       \end{aligned}

    with :math:`\psi` = momentum_decay, and weight decay coupled (L2 on g) or decoupled (AdamW's).
    torch keeps :math:`\prod \mu_i` in a float32 0-d tensor (its default dtype) whatever the
    params' dtype; so do we (``state.mu_product``), or float64 params would drift from torch by ~1e-8.

    A beta1 schedule (``betas=(OneCycleLR(...).momentum, 0.999)``, torch's ``betas[0]`` written
    by a scheduler with ``cycle_momentum``) gives :math:`\beta_{1,t}` at step t, used as torch uses
    the param group's current beta1: in :math:`\mu_t` and :math:`\mu_{t+1}` alike (both with
    :math:`\beta_{1,t}`) and in m_t's lerp; the product keeps the mus actually used,
    :math:`\prod_{i\le t} \beta_{1,i}(1 - \tfrac12 0.96^{i\psi})`, and the second term's
    denominator is :math:`1 - \prod_{i\le t}\mu_i \cdot \mu_{t+1}` with this step's
    :math:`\mu_{t+1}` (not the one the next step will use).

    .. warning:: ``optax.nadam`` uses a constant :math:`\mu = \beta_1` (no 0.96 schedule and no
       product of mus), so it does not reproduce torch's NAdam.

    Args: lr (default: 2e-3), betas (default: (0.9, 0.999); betas[0] may be a schedule
    step -> beta1, see above), eps (default: 1e-8), weight_decay (default: 0), momentum_decay
    :math:`\psi` >= 0 (default: 4e-3), decoupled_weight_decay (default: False), maximize,
    weight_decay_mask.

    Reference: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop;
    ``torch.optim.NAdam``.
    """
    lr, eps, weight_decay, momentum_decay = hyperparameters(
        lr=lr, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay
    )
    check_lr(lr)
    check_nonnegative("eps", eps)
    beta1, beta2 = check_betas(betas)
    check_nonnegative("weight_decay", weight_decay)
    check_nonnegative("momentum_decay", momentum_decay)
    check_bool("decoupled_weight_decay", decoupled_weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> NAdamState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        return NAdamState(
            _count(), jnp.ones((), jnp.float32), _zeros_like_tree(params), _zeros_like_tree(params)
        )

    def update(grads: Any, state: NAdamState, params: Any = None) -> tuple[Any, NAdamState]:
        treedef, grad_leaves, param_leaves = _prepare(
            grads, state.exp_avg, params, nonzero(weight_decay), "NAdam"
        )
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        step = (state.count + 1).astype(scalar_dtype())
        bias_correction2 = bias_correction(beta2, step)
        decay_base = jnp.asarray(0.96, scalar_dtype())
        beta1_t = scheduled(beta1, state.count) if dynamic(beta1) else beta1
        mu = beta1_t * (1.0 - 0.5 * decay_base ** (step * momentum_decay))
        mu_next = beta1_t * (1.0 - 0.5 * decay_base ** ((step + 1) * momentum_decay))
        mu_product = state.mu_product * mu.astype(jnp.float32)  # rounded as torch's float32 `*=`
        product = mu_product.astype(scalar_dtype())
        grad_scale = -lr_t * (1.0 - mu) / (1.0 - product)
        avg_scale = (-lr_t * mu_next) / (1.0 - product * mu_next)
        columns: list[list[Any]] = [[], [], []]
        for index, (g, p, m, v) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                jax.tree.leaves(state.exp_avg),
                jax.tree.leaves(state.exp_avg_sq),
                strict=True,
            )
        ):
            g = -g if maximize else g
            decay = nonzero(weight_decay) and decays[index]
            g = _decay_parts(g, p, decay, decoupled_weight_decay, weight_decay)
            m = _torch_lerp(m, g, 1 - beta1_t) if dynamic(beta1) else lerp(m, g, 1.0 - beta1)
            v = _second_moment(v, g, beta2)
            denom = jnp.sqrt(v / _cast(bias_correction2, v)) + _like(eps, g)
            u = _cast(grad_scale, g) * (g / denom) + _cast(avg_scale, g) * (m / denom)
            if decay and decoupled_weight_decay:
                u = _decoupled(u, p, lr_t, weight_decay)
            for column, value in zip(columns, (u, m, v), strict=True):
                column.append(value)
        updates, exp_avg, exp_avg_sq = columns
        return treedef.unflatten(updates), NAdamState(
            state.count + 1, mu_product, treedef.unflatten(exp_avg), treedef.unflatten(exp_avg_sq)
        )

    return optax.GradientTransformation(init, update)


class RAdamState(NamedTuple):
    """State of :func:`RAdam`."""

    count: jax.Array  # () int32: steps taken
    exp_avg: Any  # params-shaped: first moment
    exp_avg_sq: Any  # params-shaped: second moment


def RAdam(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""RAdam (rectified Adam), as ``torch.optim.RAdam`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\quad m_t, v_t \text{ as Adam};\ \hat m_t \leftarrow m_t / (1-\beta_1^t)\\
       &\quad \rho_\infty \leftarrow 2/(1-\beta_2) - 1,\quad
             \rho_t \leftarrow \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)\\
       &\quad \textbf{if}\ \rho_t > 5:\
             r_t \leftarrow \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}
                                       {(\rho_\infty-4)(\rho_\infty-2)\rho_t}},\
             \theta_t \leftarrow \theta_{t-1} - \gamma\,\hat m_t\,
             \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon}\, r_t\\
       &\quad \textbf{else}:\ \theta_t \leftarrow \theta_{t-1} - \gamma\,\hat m_t
             \quad (\text{SGD with momentum while the variance estimate is unreliable})
       \end{aligned}

    The switch depends only on t (the first 5 steps with the default beta2 take the un-adapted
    branch). Weight decay coupled or decoupled, as NAdam. ``optax.radam`` uses a threshold of 5 too,
    but eps inside its own form; it is not tested as equal.

    A beta1 schedule (``betas=(CyclicLR(...).momentum, 0.999)``, torch's ``betas[0]`` written by a
    scheduler with ``cycle_momentum``) enters m_t's lerp and :math:`\hat m_t = m_t /
    (1 - \beta_{1,t}^t)` with this step's :math:`\beta_{1,t}`, as torch's; the rectification
    depends on beta2 only.

    Args: lr (default: 1e-3), betas (default: (0.9, 0.999); betas[0] may be a schedule
    step -> beta1), eps (default: 1e-8), weight_decay (default: 0), decoupled_weight_decay
    (default: False), maximize, weight_decay_mask.

    Reference: Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020;
    ``torch.optim.RAdam``.
    """
    lr, eps, weight_decay = hyperparameters(lr=lr, eps=eps, weight_decay=weight_decay)
    check_lr(lr)
    check_nonnegative("eps", eps)
    beta1, beta2 = check_betas(betas)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("decoupled_weight_decay", decoupled_weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> RAdamState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        return RAdamState(_count(), _zeros_like_tree(params), _zeros_like_tree(params))

    def update(grads: Any, state: RAdamState, params: Any = None) -> tuple[Any, RAdamState]:
        treedef, grad_leaves, param_leaves = _prepare(
            grads, state.exp_avg, params, nonzero(weight_decay), "RAdam"
        )
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        step = (state.count + 1).astype(scalar_dtype())
        if dynamic(beta1):  # torch: 1 - beta1**t with the beta1 of this step
            beta1_t = scheduled(beta1, state.count)
            bias_correction1 = scheduled_bias_correction(beta1_t, step)
        else:
            bias_correction1 = bias_correction(beta1, step)
        bias_correction2 = bias_correction(beta2, step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (1.0 - bias_correction2) / bias_correction2
        rectified = rho_t > 5.0
        safe_rho = jnp.where(rectified, rho_t, 6.0)
        rect = jnp.sqrt(
            (safe_rho - 4) * (safe_rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe_rho)
        )
        columns: list[list[Any]] = [[], [], []]
        for index, (g, p, m, v) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                jax.tree.leaves(state.exp_avg),
                jax.tree.leaves(state.exp_avg_sq),
                strict=True,
            )
        ):
            g = -g if maximize else g
            decay = nonzero(weight_decay) and decays[index]
            g = _decay_parts(g, p, decay, decoupled_weight_decay, weight_decay)
            m = _torch_lerp(m, g, 1 - beta1_t) if dynamic(beta1) else lerp(m, g, 1.0 - beta1)
            v = _second_moment(v, g, beta2)
            step_m = (m / _cast(bias_correction1, m)) * _cast(lr_t, m)
            adaptive = _cast(jnp.sqrt(bias_correction2), v) / (jnp.sqrt(v) + _like(eps, v))
            u = -jnp.where(rectified, step_m * adaptive * _cast(rect, m), step_m)
            if decay and decoupled_weight_decay:
                u = _decoupled(u, p, lr_t, weight_decay)
            for column, value in zip(columns, (u, m, v), strict=True):
                column.append(value)
        updates, exp_avg, exp_avg_sq = columns
        return treedef.unflatten(updates), RAdamState(
            state.count + 1, treedef.unflatten(exp_avg), treedef.unflatten(exp_avg_sq)
        )

    return optax.GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Rprop, ASGD (issue 19)
# ------------------------------------------------------------------------------------------------


class RpropState(NamedTuple):
    """State of :func:`Rprop`."""

    count: jax.Array  # () int32: steps taken
    prev: Any  # params-shaped: the previous step's gradient (0 where its sign flipped)
    step_size: Any  # params-shaped: per-element step sizes, starting at lr


def Rprop(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50),
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""Resilient backpropagation, as ``torch.optim.Rprop`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\textbf{initialize}: g_0^{prev} \leftarrow 0,\ \eta_0 \leftarrow \text{lr}\\
       &\quad s \leftarrow \operatorname{sign}(g_t\, g_{t-1}^{prev});\
             f \leftarrow \eta_+ \text{ if } s > 0,\ \eta_- \text{ if } s < 0,\ 1 \text{ if } s = 0\\
       &\quad \eta_t \leftarrow \operatorname{clip}(\eta_{t-1} f, \Gamma_{min}, \Gamma_{max})\\
       &\quad g_t \leftarrow 0 \text{ where } s < 0 \quad (\text{a sign change: no step, and no
             sign change counted at the next step})\\
       &\quad \theta_t \leftarrow \theta_{t-1} - \eta_t \operatorname{sign}(g_t),\quad
             g_t^{prev} \leftarrow g_t
       \end{aligned}

    Only the signs of the gradients matter. ``lr`` only initialises the step sizes, as in torch
    (a scheduler changing torch's lr later has no effect); a schedule here is read at step 0.

    Args:
        lr: the initial step size (default: 1e-2).
        etas: :math:`(\eta_-, \eta_+)` with 0 < eta_minus < 1 < eta_plus (default: (0.5, 1.2)).
        step_sizes: :math:`(\Gamma_{min}, \Gamma_{max})` (default: (1e-6, 50)).
        maximize: ascend (default: False).

    Reference: Riedmiller & Braun, 1993; ``torch.optim.Rprop``.
    """
    (lr,) = hyperparameters(lr=lr)
    check_lr(lr)
    if not isinstance(etas, Sequence) or len(etas) != 2:
        raise TypeError(f"etas must be a pair (eta_minus, eta_plus), got {etas!r}")
    etas = hyperparameters(**{"etas[0]": etas[0], "etas[1]": etas[1]})
    check_scalar_in_range("etas[0]", etas[0])
    check_scalar_in_range("etas[1]", etas[1])
    if not any(map(is_traced, etas)) and not 0.0 < etas[0] < 1.0 < etas[1]:
        raise ValueError(f"etas must satisfy 0 < etas[0] < 1 < etas[1], got {tuple(etas)!r}")
    if not isinstance(step_sizes, Sequence) or len(step_sizes) != 2:
        raise TypeError(f"step_sizes must be a pair (min, max), got {step_sizes!r}")
    step_sizes = hyperparameters(**{"step_sizes[0]": step_sizes[0], "step_sizes[1]": step_sizes[1]})
    check_nonnegative("step_sizes[0]", step_sizes[0])
    check_nonnegative("step_sizes[1]", step_sizes[1])
    check_bool("maximize", maximize)
    eta_minus, eta_plus, smallest, largest = (
        value if is_traced(value) else float(value) for value in (*etas, *step_sizes)
    )

    def init(params: Any) -> RpropState:
        initial = learning_rate(lr, _count())
        return RpropState(
            _count(),
            _zeros_like_tree(params),
            jax.tree.map(lambda p: jnp.full_like(p, initial), params),
        )

    def update(grads: Any, state: RpropState, params: Any = None) -> tuple[Any, RpropState]:
        treedef, grad_leaves, _ = _prepare(grads, state.prev, params, False, "Rprop")
        columns: list[list[Any]] = [[], [], []]
        for g, prev, size in zip(
            grad_leaves, jax.tree.leaves(state.prev), jax.tree.leaves(state.step_size), strict=True
        ):
            g = -g if maximize else g
            sign = jnp.sign(g * prev)
            factor = jnp.where(sign > 0, eta_plus, jnp.where(sign < 0, eta_minus, 1.0))
            size = jnp.clip(size * factor.astype(size.dtype), smallest, largest)
            g = jnp.where(sign < 0, jnp.zeros_like(g), g)
            for column, value in zip(columns, (-(jnp.sign(g) * size), g, size), strict=True):
                column.append(value)
        updates, prev, sizes = columns
        return treedef.unflatten(updates), RpropState(
            state.count + 1, treedef.unflatten(prev), treedef.unflatten(sizes)
        )

    return optax.GradientTransformation(init, update)


class ASGDState(NamedTuple):
    """State of :func:`ASGD`."""

    count: jax.Array  # () int32: steps taken
    eta: jax.Array  # () float32: this step's lr, as torch keeps it (float32)
    mu: jax.Array  # () float32: this step's averaging weight (float32, as torch)
    ax: Any  # params-shaped: the averaged parameters (use them for evaluation)


def ASGD(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""Averaged SGD, as ``torch.optim.ASGD`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\textbf{initialize}: \eta_0 \leftarrow \gamma,\ \mu_0 \leftarrow 1,\ \bar\theta_0 \leftarrow 0\\
       &\quad g_t \leftarrow \nabla f(\theta_{t-1}) (+\lambda_{wd}\theta_{t-1})\\
       &\quad \theta_t \leftarrow \theta_{t-1}(1 - \lambda\eta_{t-1}) - \eta_{t-1} g_t\\
       &\quad \bar\theta_t \leftarrow \theta_t \text{ if } \mu_{t-1} = 1 \text{ else }
             \bar\theta_{t-1} + \mu_{t-1}(\theta_t - \bar\theta_{t-1})\\
       &\quad \eta_t \leftarrow \gamma / (1 + \lambda\gamma t)^\alpha,\quad
             \mu_t \leftarrow 1 / \max(1, t - t_0)
       \end{aligned}

    The averaged parameters are ``state.ax``. torch keeps :math:`\eta` and :math:`\mu` in float32
    0-d tensors and reads them back with ``.item()``; so do we, which float64 parity needs.
    ``update`` needs ``params`` (the average is of the updated params).

    Args: lr :math:`\gamma` (default: 1e-2), lambd :math:`\lambda` decay term (default: 1e-4),
    alpha power for the eta update (default: 0.75), t0 the step at which averaging starts (default:
    1e6), weight_decay (default: 0), maximize (default: False), weight_decay_mask (default: None).

    Reference: Polyak & Juditsky, 1992; ``torch.optim.ASGD``.
    """
    lr, lambd, alpha, t0, weight_decay = hyperparameters(
        lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay
    )
    check_lr(lr)
    check_scalar_in_range("lambd", lambd)
    check_scalar_in_range("alpha", alpha)
    check_scalar_in_range("t0", t0)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)

    def init(params: Any) -> ASGDState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        initial = learning_rate(lr, _count()).astype(jnp.float32)
        return ASGDState(_count(), initial, jnp.ones((), jnp.float32), _zeros_like_tree(params))

    def update(grads: Any, state: ASGDState, params: Any = None) -> tuple[Any, ASGDState]:
        treedef, grad_leaves, param_leaves = _prepare(grads, state.ax, params, True, "ASGD")
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        eta = state.eta.astype(scalar_dtype())
        mu = state.mu.astype(scalar_dtype())
        updates, averages = [], []
        for index, (g, p, ax) in enumerate(
            zip(grad_leaves, param_leaves, jax.tree.leaves(state.ax), strict=True)
        ):
            g = -g if maximize else g
            if nonzero(weight_decay) and decays[index]:
                g = _coupled(g, p, weight_decay)
            u = (p * _cast(1 - lambd * eta, p) - p) + (-_cast(eta, g)) * g
            new_p = p + u
            ax = jnp.where(mu == 1, new_p, ax + (new_p - ax) * _cast(mu, ax))
            updates.append(u)
            averages.append(ax)
        step = (state.count + 1).astype(scalar_dtype())
        new_eta = (lr_t / (1 + lambd * lr_t * step) ** alpha).astype(jnp.float32)
        new_mu = (1 / jnp.maximum(1.0, step - t0)).astype(jnp.float32)
        return treedef.unflatten(updates), ASGDState(
            state.count + 1, new_eta, new_mu, treedef.unflatten(averages)
        )

    return optax.GradientTransformation(init, update)


# ------------------------------------------------------------------------------------------------
# Adafactor, Muon (issue 19)
# ------------------------------------------------------------------------------------------------


def _torch_lerp(start: jax.Array, end: jax.Array, weight: jax.Array) -> jax.Array:
    """``torch.lerp`` with a scalar weight that may be traced: the weight rounded to the tensors'
    dtype first (torch's opmath), then torch's two branches chosen on ``|w| < 0.5``."""
    weight = weight.astype(start.dtype)
    difference = end - start
    return jnp.where(
        jnp.abs(weight) < 0.5, start + weight * difference, end - difference * (1 - weight)
    )


def _norm(x: jax.Array) -> jax.Array:
    """The 2-norm of all elements, in ``x``'s dtype (``torch.linalg.vector_norm``)."""
    return jnp.sqrt(jnp.sum(x * x))


def check_adafactor_eps(eps: Any) -> tuple[float | None, float]:
    if not isinstance(eps, Sequence) or isinstance(eps, str) or len(eps) != 2:
        raise TypeError(f"eps must be a pair (eps1 or None, eps2), got {eps!r}")
    eps = hyperparameters(**{"eps[0]": eps[0], "eps[1]": eps[1]})
    if eps[0] is not None:
        check_nonnegative("eps[0]", eps[0])
    check_nonnegative("eps[1]", eps[1])
    eps1, eps2 = (value if value is None or is_traced(value) else float(value) for value in eps)
    return eps1, eps2


class AdafactorState(NamedTuple):
    """State of :func:`Adafactor`. Each params-shaped tree has a leaf per param; the slot a param
    does not use holds a placeholder of shape (0,) (as optax's factored state does)."""

    count: jax.Array  # () int32: steps taken
    row_var: Any  # leaf (..., n, 1) for a param (..., n, m) with ndim >= 2: row means of g^2
    col_var: Any  # leaf (..., 1, m) for ndim >= 2: column means of g^2
    variance: Any  # leaf like the param for ndim <= 1: running mean of g^2


def Adafactor(  # noqa: N802
    lr: ScalarOrSchedule = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple[float | None, float] = (None, 1e-3),
    d: float = 1.0,
    weight_decay: float = 0.0,
    maximize: bool = False,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""Adafactor, as ``torch.optim.Adafactor`` (torch 2.13, ``_single_tensor_adafactor``).

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)}, \tau \text{ (beta2\_decay)}, \epsilon_1, \epsilon_2
           \text{ (eps)}, d, \lambda \text{ (weight decay)}\\
       &\textbf{initialize}: R_0 \leftarrow 0,\ C_0 \leftarrow 0,\ V_0 \leftarrow 0\\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do}\\
       &\quad G_t \leftarrow \nabla f(\theta_{t-1})\ (\text{negated if maximize})\\
       &\quad \hat\beta_{2,t} \leftarrow 1 - t^{\tau},\quad \rho_t \leftarrow \min(\gamma,
             1/\sqrt t),\quad \alpha_t \leftarrow \max(\epsilon_2,
             \operatorname{RMS}(\theta_{t-1}))\,\rho_t\\
       &\quad \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)\\
       &\quad \textbf{if}\ \dim G_t \ge 2 \text{ (factored over the last two axes, } G_t:
             (\ldots, n, m)):\\
       &\quad\quad R_t \leftarrow \operatorname{lerp}(R_{t-1}, \operatorname{mean}_{-1}
             G_t^2, t^{\tau}),\quad C_t \leftarrow \operatorname{lerp}(C_{t-1},
             \operatorname{mean}_{-2} G_t^2, t^{\tau})\\
       &\quad\quad \hat V_t \leftarrow R_t C_t / \max(\operatorname{mean}_{-2} R_t,
             \epsilon_1) \quad (R_t: (\ldots, n, 1),\ C_t: (\ldots, 1, m))\\
       &\quad \textbf{else}:\ \hat V_t \leftarrow \operatorname{lerp}(\hat V_{t-1}, G_t^2,
             t^{\tau})\\
       &\quad U_t \leftarrow G_t / \sqrt{\max(\hat V_t, \epsilon_1^2)},\quad
             \hat U_t \leftarrow U_t / \max(1, \operatorname{RMS}(U_t) / d)\\
       &\quad \theta_t \leftarrow \theta_{t-1} - \alpha_t \hat U_t
       \end{aligned}

    :math:`\operatorname{RMS}(x) = \|x\|_2 / \sqrt{\text{numel}}` over the whole leaf. Params with
    ndim >= 2 keep only the row and column factors (memory n + m per matrix instead of n m); 0-d
    and 1-D params keep a full second moment. ``eps[0]`` None means ``finfo(dtype).eps`` of the
    first param's dtype (torch sets it from the first param and keeps it for the rest of the
    group; so do we). Weight decay is decoupled and scaled by ``lr`` (not by :math:`\rho_t`), and
    :math:`\alpha_t` uses the params *before* the decay, as torch does. ``lr`` is also the cap of
    the relative step :math:`\rho_t` (the paper's constant 0.01); a schedule drives both.

    .. warning:: ``optax.adafactor(learning_rate=lr)`` takes the same steps (up to rounding: it
       adds its eps = 1e-30 to :math:`G^2`, and forms :math:`1 - t^{-0.8}` in float32) only where
       its options line up with torch's: every param with ndim >= 2 has its *last two* axes >= 128
       (optax factors only when two axes reach ``min_dim_size_to_factor`` = 128, and then over the
       two largest axes, keeping a full :math:`G^2` moment otherwise; torch factors every param
       with ndim >= 2 over its last two axes), lr <= :math:`1/\sqrt t` (torch's relative step is
       :math:`\min(\gamma, 1/\sqrt t)`, optax's is lr), and weight decay through
       ``weight_decay_rate = lr * weight_decay`` with a constant lr (optax adds it unscaled by lr).
       A small matrix such as a (4, 3) layer takes another first step in optax (tested in
       ``tests/test_optim.py``); use this function for torch's numbers.

    Args:
        lr: learning rate or schedule: the cap of the relative step and the weight decay's scale,
            >= 0 (default: 1e-2).
        beta2_decay: :math:`\tau <= 0`; :math:`1 - \hat\beta_{2,t} = t^\tau` (default: -0.8).
        eps: :math:`(\epsilon_1, \epsilon_2)`, each >= 0, :math:`\epsilon_1` None for the
            dtype's machine epsilon (default: (None, 1e-3)).
        d: the clipping threshold on RMS(U), >= 1 (default: 1.0).
        weight_decay: :math:`\lambda >= 0` (default: 0.0).
        maximize: ascend (default: False).
        weight_decay_mask: which leaves are decayed (default None: all).

    ``update`` needs ``params`` (the relative step uses RMS(params)).

    Reference: Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
    ICML 2018; ``torch.optim.Adafactor``.
    """
    lr, beta2_decay, d, weight_decay = hyperparameters(
        lr=lr, beta2_decay=beta2_decay, d=d, weight_decay=weight_decay
    )
    check_lr(lr)
    check_scalar_in_range("beta2_decay", beta2_decay, high=0.0)
    eps1, eps2 = check_adafactor_eps(eps)
    check_scalar_in_range("d", d, 1.0)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("maximize", maximize)
    check_mask(weight_decay_mask)
    beta2_decay, d = (value if is_traced(value) else float(value) for value in (beta2_decay, d))

    def placeholder(p: jax.Array) -> jax.Array:
        return jnp.zeros((0,), p.dtype)

    def init(params: Any) -> AdafactorState:
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)

        def row(p: jax.Array) -> jax.Array:
            return jnp.zeros((*p.shape[:-1], 1), p.dtype) if p.ndim >= 2 else placeholder(p)

        def col(p: jax.Array) -> jax.Array:
            shape = (*p.shape[:-2], 1, p.shape[-1]) if p.ndim >= 2 else None
            return jnp.zeros(shape, p.dtype) if shape else placeholder(p)

        def full(p: jax.Array) -> jax.Array:
            return jnp.zeros_like(p) if p.ndim < 2 else placeholder(p)

        return AdafactorState(
            _count(),
            jax.tree.map(row, params),
            jax.tree.map(col, params),
            jax.tree.map(full, params),
        )

    def update(grads: Any, state: AdafactorState, params: Any = None) -> tuple[Any, AdafactorState]:
        treedef, grad_leaves, param_leaves = _prepare(grads, None, params, True, "Adafactor")
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        step = (state.count + 1).astype(scalar_dtype())
        weight = step**beta2_decay  # 1 - beta2_t
        rho = jnp.minimum(lr_t, 1 / jnp.sqrt(step))
        first_eps = float(jnp.finfo(grad_leaves[0].dtype).eps) if grad_leaves else 0.0
        epsilon1 = first_eps if eps1 is None else eps1
        columns: list[list[Any]] = [[], [], [], []]
        for index, (g, p, r, c, v) in enumerate(
            zip(
                grad_leaves,
                param_leaves,
                jax.tree.leaves(state.row_var),
                jax.tree.leaves(state.col_var),
                jax.tree.leaves(state.variance),
                strict=True,
            )
        ):
            g = -g if maximize else g
            size = math.sqrt(max(g.size, 1))
            alpha = jnp.maximum(eps2, _norm(p).astype(scalar_dtype()) / size) * rho
            if g.ndim >= 2:
                row_mean = (
                    jnp.square(jnp.sqrt(jnp.sum(g * g, axis=-1, keepdims=True))) / g.shape[-1]
                )
                col_mean = (
                    jnp.square(jnp.sqrt(jnp.sum(g * g, axis=-2, keepdims=True))) / g.shape[-2]
                )
                r = _torch_lerp(r, row_mean, weight)
                c = _torch_lerp(c, col_mean, weight)
                row_scale = jnp.maximum(jnp.mean(r, axis=-2, keepdims=True), epsilon1)
                estimate = (r * c) / row_scale
            else:
                v = _torch_lerp(v, g * g, weight)
                estimate = v
            u = jax.lax.rsqrt(jnp.maximum(estimate, epsilon1 * epsilon1)) * g
            denom = jnp.maximum(1.0, _norm(u).astype(scalar_dtype()) / (size * d))
            u = -_cast(alpha / denom, u) * u
            if nonzero(weight_decay) and decays[index]:
                u = _decoupled(u, p, lr_t, weight_decay)
            for column, value in zip(columns, (u, r, c, v), strict=True):
                column.append(value)
        updates, row_var, col_var, variance = columns
        return treedef.unflatten(updates), AdafactorState(
            state.count + 1,
            treedef.unflatten(row_var),
            treedef.unflatten(col_var),
            treedef.unflatten(variance),
        )

    return optax.GradientTransformation(init, update)


ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def check_muon_options(
    ns_coefficients: Any, eps: Any, ns_steps: Any, adjust_lr_fn: Any
) -> tuple[float, float, float]:
    if (
        not isinstance(ns_coefficients, Sequence)
        or isinstance(ns_coefficients, str)
        or len(ns_coefficients) != 3
    ):
        raise ValueError(
            f"ns_coefficients must be a tuple of 3 floats (a, b, c), got {ns_coefficients!r}"
        )
    coefficients = hyperparameters(
        **{f"ns_coefficients[{index}]": value for index, value in enumerate(ns_coefficients)}
    )
    for index, value in enumerate(coefficients):
        check_scalar_in_range(f"ns_coefficients[{index}]", value)
    check_scalar_in_range("eps", eps)
    if is_traced(ns_steps):  # inject_hyperparams: the iterations become a fori_loop
        if not jnp.issubdtype(ns_steps.dtype, jnp.integer):
            raise TypeError(f"ns_steps must be an int, got a traced {ns_steps.dtype} value")
    elif isinstance(ns_steps, bool) or not isinstance(ns_steps, int | np.integer):
        raise TypeError(f"ns_steps must be an int, got {ns_steps!r}")
    elif not 0 <= ns_steps < 100:
        raise ValueError(f"ns_steps must be in [0, 100), got {ns_steps!r}")
    if adjust_lr_fn not in ADJUST_LR_FNS:
        raise ValueError(
            f"adjust_lr_fn must be one of None, 'original', 'match_rms_adamw', got {adjust_lr_fn!r}"
        )
    a, b, c = (value if is_traced(value) else float(value) for value in coefficients)
    return a, b, c


def muon_lr_ratio(adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """torch's ``_adjust_lr`` factor for a (rows, cols) param: sqrt(max(1, rows/cols)) ("original",
    Keller Jordan's) or 0.2 sqrt(max(rows, cols)) ("match_rms_adamw", Moonshot's)."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1, rows / cols))
    return 0.2 * math.sqrt(max(rows, cols))


def check_muon_params(tree: Any) -> None:
    """torch.optim.Muon refuses params that are not 2-D at construction; we do at ``init``."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if np.ndim(leaf) != 2:
            raise ValueError(
                f"Muon only supports 2-D parameters, got params{jax.tree_util.keystr(path)} of "
                f"shape {tuple(np.shape(leaf))} (optimize biases and embeddings with another "
                f"optimizer, e.g. through optax.multi_transform)"
            )


def newton_schulz(
    update: jax.Array, coefficients: tuple[float, float, float], steps: int, eps: float
) -> jax.Array:
    r"""torch's ``_zeropower_via_newtonschulz`` in bfloat16: X <- G / max(||G||_F, eps) (wide
    side first), then ``steps`` times A = X X^T, B = b A + c A A, X = a X + B X. Each torch op
    rounds once to bfloat16 (matmuls accumulate in float32, ``addmm`` adds beta * C before the
    rounding), so each op here computes in float32 and rounds its result to bfloat16."""
    a, b, c = coefficients
    f32, bf16 = jnp.float32, jnp.bfloat16
    x = update.astype(bf16)
    norm = _norm(x.astype(f32)).astype(bf16)
    norm = jnp.maximum(norm, jnp.asarray(eps, bf16))
    x = (x.astype(f32) / norm.astype(f32)).astype(bf16)

    # XLA:CPU runs a bfloat16 dot natively (YNNPACK, avx512_bf16) only when the lhs contracts its
    # minor (last) axis; otherwise it widens both operands to float32 (4-5x slower here). So: the
    # Gram matrix contracts both operands' last axis, and a tall update is transposed for real.

    def matmul(left: jax.Array, right: jax.Array) -> jax.Array:
        # bfloat16 operands, float32 accumulation (torch's bf16 GEMM; the products are exact).
        return jnp.matmul(left, right, preferred_element_type=f32)

    def gram_of(x: jax.Array) -> jax.Array:
        # X X^T. Written matmul(x, x.T), XLA:CPU folds the transpose into the dot, whose lhs then
        # contracts its first axis: widened (33 ms for 128 x 78125; this form 7 ms, ~340 GFLOP/s).
        return jax.lax.dot_general(x, x, (((1,), (1,)), ((), ())), preferred_element_type=f32)

    def transpose_exactly(y: jax.Array) -> jax.Array:
        # y.T as I @ y^T (one product per entry: exact). Given y.T, XLA:CPU folds the transpose
        # into the dots' layouts and widens every dot of the iteration (a 78125 x 128 Muon step:
        # 278 ms; this way 141 ms, torch 171); elsewhere the plain transpose.
        return jax.lax.platform_dependent(
            y,
            cpu=lambda v: jax.lax.dot_general(
                jnp.eye(v.shape[1], dtype=bf16),
                v,
                (((1,), (1,)), ((), ())),
                preferred_element_type=f32,
            ).astype(bf16),
            default=lambda v: v.T,
        )

    def iteration(x: jax.Array) -> jax.Array:
        gram = gram_of(x).astype(bf16)
        gram_update = (b * gram.astype(f32) + c * matmul(gram, gram)).astype(bf16)
        return (a * x.astype(f32) + matmul(gram_update, x)).astype(bf16)

    tall = update.shape[0] > update.shape[1]
    if tall:
        x = transpose_exactly(x)
    if is_traced(steps):  # inject_hyperparams: known only at run time
        x = jax.lax.fori_loop(0, steps, lambda _, x: iteration(x), x)
    else:
        for _ in range(steps):
            x = iteration(x)
    return x.T if tall else x


class MuonState(NamedTuple):
    """State of :func:`Muon`."""

    count: jax.Array  # () int32: steps taken
    momentum_buffer: Any  # params-shaped (2-D leaves), params' dtypes


def Muon(  # noqa: N802
    lr: ScalarOrSchedule = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
    eps: float = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: str | None = None,
    weight_decay_mask: MaskOrFn = None,
) -> optax.GradientTransformation:
    r"""Muon (momentum orthogonalised by Newton-Schulz), as ``torch.optim.Muon`` (torch 2.13).

    .. math::
       \begin{aligned}
       &\textbf{initialize}: B_0 \leftarrow 0\\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do}\\
       &\quad B_t \leftarrow \mu B_{t-1} + (1-\mu) g_t \quad (\text{torch.lerp})\\
       &\quad \tilde B_t \leftarrow (1-\mu) g_t + \mu B_t \text{ if nesterov else } B_t\\
       &\quad O_t \leftarrow \mathrm{NS}^{(a,b,c)}_k(\tilde B_t; \varepsilon)
             \quad (\text{in bfloat16})\\
       &\quad \theta_t \leftarrow \theta_{t-1}(1 - \gamma\lambda) - \gamma\, r(A, B)\, O_t
       \end{aligned}

    Params: every leaf must be 2-D, (A, B) (``init`` refuses others, as torch's constructor does;
    give biases and embeddings to another optimizer through ``optax.multi_transform``).
    :math:`\mathrm{NS}` (:func:`newton_schulz`) normalises :math:`\tilde B` by its Frobenius norm
    (clamped at eps) and runs ``ns_steps`` quintic Newton-Schulz iterations
    :math:`X \leftarrow aX + (bXX^\top + c(XX^\top)^2)X` on the wide orientation, which pushes
    the singular values towards ~[0.7, 1.2]. :math:`r(A, B) = \sqrt{\max(1, A/B)}` for
    ``adjust_lr_fn`` None or "original" (Keller Jordan's), :math:`0.2\sqrt{\max(A, B)}` for
    "match_rms_adamw" (Moonshot's, to reuse AdamW's lr and weight decay). Weight decay is decoupled,
    scaled by the unadjusted lr, and always applied (torch multiplies by :math:`1 - \gamma\lambda`
    even when it is 1). The momentum is torch's lerp form, so the buffer is an EMA
    (:math:`(1-\mu)` times the usual heavy-ball buffer); the orthogonalisation removes that scale.

    bfloat16. As torch, the orthogonalisation runs in bfloat16 whatever the params' dtype (float64
    params too); the update is then added in the params' dtype. bfloat16 keeps 8 significant bits:
    one rounding is up to 2^-9 = 2e-3 relative, and XLA and torch's CPU kernels accumulate the
    matmuls and the norm in float32 in different orders, so now and then an element rounds to the
    other neighbouring bfloat16 value (a 2^-8 relative jump). Such a flip moves that element by
    ~lr * 4e-3 * |O| and later steps start from slightly different params, so parity with
    torch.optim.Muon is held at the tolerance kind "bfloat16" of ``parity_tests/harness.py``
    (absolute 5e-4 + relative 1e-4 after 250 steps at lr 1e-3..2e-3, in float32 and float64 alike;
    worst measured 4.9e-5, and torch's own end point moves by up to 7.4e-5 when its float32 start
    moves by one ulp) rather than the ~1e-12 of the other optimizers in float64. torch_ref, which
    runs torch's own bfloat16 kernels, equals torch.optim.Muon to the "optimizer" tolerance.

    Args:
        lr: learning rate or schedule, >= 0 (default: 1e-3).
        weight_decay: decoupled :math:`\lambda >= 0` (default: 0.1).
        momentum: :math:`\mu >= 0` (default: 0.95), or a schedule step -> momentum, as torch's
            param-group momentum written by a scheduler with ``cycle_momentum``
            (``momentum=OneCycleLR(...).momentum``): both lerps use this step's :math:`\mu_t`,
            as torch's.
        nesterov: use :math:`\tilde B_t = \operatorname{lerp}(g_t, B_t, \mu)` (default: True).
        ns_coefficients: (a, b, c) of the quintic iteration (default: (3.4445, -4.775, 2.0315)).
        eps: the floor of the norm that normalises the input (default: 1e-7).
        ns_steps: Newton-Schulz iterations, an int in [0, 100) (default: 5; torch refuses >= 100
            at its first step, we at construction).
        adjust_lr_fn: None, "original" or "match_rms_adamw" (default: None, i.e. "original").
        weight_decay_mask: which leaves are decayed (default None: all).

    ``update`` needs ``params`` (weight decay is always applied).

    Reference: K. Jordan, "Muon: An optimizer for hidden layers in neural networks", 2024; Liu et
    al., "Muon is Scalable for LLM Training", 2025; ``torch.optim.Muon``.
    """
    lr, weight_decay, momentum, eps, ns_steps = hyperparameters(
        lr=lr, weight_decay=weight_decay, momentum=momentum, eps=eps, ns_steps=ns_steps
    )
    check_lr(lr)
    check_momentum(momentum)
    check_nonnegative("weight_decay", weight_decay)
    check_bool("nesterov", nesterov)
    coefficients = check_muon_options(ns_coefficients, eps, ns_steps, adjust_lr_fn)
    check_mask(weight_decay_mask)
    momentum = momentum if dynamic(momentum) else float(momentum)
    eps = eps if is_traced(eps) else float(eps)

    def init(params: Any) -> MuonState:
        check_muon_params(params)
        if nonzero(weight_decay):
            resolve_mask(weight_decay_mask, params)
        return MuonState(_count(), _zeros_like_tree(params))

    def update(grads: Any, state: MuonState, params: Any = None) -> tuple[Any, MuonState]:
        treedef, grad_leaves, param_leaves = _prepare(
            grads, state.momentum_buffer, params, True, "Muon"
        )
        decays = resolve_mask(weight_decay_mask, params) if nonzero(weight_decay) else None
        lr_t = learning_rate(lr, state.count)
        # a schedule: this step's value, in both lerps (torch reads the param group's momentum)
        momentum_t = scheduled(momentum, state.count) if callable(momentum) else momentum
        updates, buffers = [], []
        for index, (g, p, buf) in enumerate(
            zip(grad_leaves, param_leaves, jax.tree.leaves(state.momentum_buffer), strict=True)
        ):
            buf = _torch_lerp(buf, g, jnp.asarray(1 - momentum_t))
            direction = _torch_lerp(g, buf, jnp.asarray(momentum_t)) if nesterov else buf
            orthogonal = newton_schulz(direction, coefficients, ns_steps, eps).astype(p.dtype)
            step_size = lr_t * muon_lr_ratio(adjust_lr_fn, p.shape)
            u = -_cast(step_size, p) * orthogonal
            if nonzero(weight_decay) and decays[index]:
                u = _decoupled(u, p, lr_t, weight_decay)
            updates.append(u)
            buffers.append(buf)
        return treedef.unflatten(updates), MuonState(state.count + 1, treedef.unflatten(buffers))

    return optax.GradientTransformation(init, update)
