r"""L-BFGS as torch.optim.LBFGS computes it (torch 2.13), on any pytree of JAX arrays.

Re-exported by :mod:`jaxmath.optim` (this module does not import it). torch_ref._lbfgs is the twin
on torch tensors.

Why not an optax ``GradientTransformation``: a gradient transformation maps one gradient to one
update, and the caller evaluates the loss once per step. One torch ``LBFGS.step(closure)`` evaluates
the loss and its gradient many times: once at the start, then once per inner iteration (up to
``max_iter``) or several times per iteration in the strong-Wolfe line search (up to ``max_eval`` in
all), and it decides from those values where to stop. So ours takes the loss function itself:

.. code-block:: python

    opt = LBFGS(lr=1, line_search_fn="strong_wolfe")
    params, state = opt.minimize(loss_fn, params)         # = one torch opt.step(closure)
    params, state = opt.minimize(loss_fn, params, state)  # = a second opt.step(closure)

(optax's own ``optax.lbfgs`` is a gradient transformation whose line search needs the value and the
function passed to ``update``; it follows Nocedal and Wright, not torch's minFunc port, and its
iterates differ from torch's.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxmath._validation import check_scalar_in_range, scalar_hyperparameter

__all__ = ["LBFGS", "LBFGSState"]

#: The curvature test of the history update: a pair (s, y) is stored only when y.s > 1e-10.
CURVATURE_EPS = 1e-10
#: torch calls its _strong_wolfe without tolerance_change, so the line search always uses 1e-9.
LINE_SEARCH_TOLERANCE_CHANGE = 1e-9
#: The strong-Wolfe constants (sufficient decrease c1, curvature c2), torch's defaults.
WOLFE_C1, WOLFE_C2 = 1e-4, 0.9

#: Why ``optax.inject_hyperparams(LBFGS)`` cannot work (raised by ``update`` and by a traced
#: hyperparameter; tests/test_inject_hyperparams.py asserts it).
NOT_A_GRADIENT_TRANSFORMATION = (
    "LBFGS is not an optax GradientTransformation, so optax.inject_hyperparams cannot wrap it: "
    "one torch LBFGS step evaluates the loss many times, so it takes the loss function "
    "(LBFGS(...).minimize(loss_fn, params, state)), and its hyperparameters are static "
    "arguments of that compiled step; to change one between steps, build a new LBFGS(...) and "
    "pass it the state"
)


class LBFGSState(NamedTuple):
    """torch's ``optimizer.state`` of LBFGS as a pytree of fixed-shape arrays (n = number of
    parameter entries, H = history_size, dtype = the parameters' dtype).

    A fresh state (:meth:`LBFGS.init`) has ``n_iter = 0``; the first iteration then starts from
    steepest descent and an empty history, as torch does when ``state["n_iter"] == 1``.
    """

    func_evals: jax.Array  # () int32: loss evaluations over all minimize calls
    n_iter: jax.Array  # () int32: iterations over all minimize calls
    d: jax.Array  # (n,) dtype: the last search direction
    t: jax.Array  # () dtype: the last step length
    old_dirs: jax.Array  # (H, n) dtype: gradient differences y, oldest first (rows >= count: 0)
    old_stps: jax.Array  # (H, n) dtype: steps s = t d, oldest first
    ro: jax.Array  # (H,) dtype: 1 / (y . s) per stored pair
    history_count: jax.Array  # () int32: stored pairs, <= H (torch: len(old_dirs))
    H_diag: jax.Array  # () dtype: the initial inverse-Hessian scale (y . s) / (y . y)
    prev_flat_grad: jax.Array  # (n,) dtype: the flat gradient at the last iteration's start
    prev_loss: jax.Array  # () dtype: the loss at the last iteration's start


class _Config(NamedTuple):
    """The hyperparameters, hashable: a static argument of the jitted minimize."""

    lr: float
    max_iter: int
    max_eval: int
    tolerance_grad: float
    tolerance_change: float
    history_size: int
    line_search_fn: str | None


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")


def check_lbfgs_options(
    lr: Any,
    max_iter: Any,
    max_eval: Any,
    tolerance_grad: Any,
    tolerance_change: Any,
    history_size: Any,
    line_search_fn: Any,
) -> int:
    """Validate LBFGS's hyperparameters (torch_ref raises the same messages); return max_eval.
    They configure the compiled step: a 0-d array is taken as its Python number when concrete,
    and a traced one is a TypeError (:data:`NOT_A_GRADIENT_TRANSFORMATION`)."""
    names = ("lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size")
    values = [
        scalar_hyperparameter(name, value)
        for name, value in zip(
            names,
            (lr, max_iter, max_eval, tolerance_grad, tolerance_change, history_size),
            strict=True,
        )
    ]
    for name, value in zip(names, values, strict=True):
        if isinstance(value, jax.core.Tracer):
            raise TypeError(
                f"{name} must be concrete, got a traced value: {NOT_A_GRADIENT_TRANSFORMATION}"
            )
    lr, max_iter, max_eval, tolerance_grad, tolerance_change, history_size = values
    check_scalar_in_range("lr", lr, 0.0)
    _check_int("max_iter", max_iter, 0)
    if max_eval is not None:
        _check_int("max_eval", max_eval, 1)
    check_scalar_in_range("tolerance_grad", tolerance_grad)
    check_scalar_in_range("tolerance_change", tolerance_change)
    _check_int("history_size", history_size, 1)
    if line_search_fn is not None and line_search_fn != "strong_wolfe":
        raise ValueError(f"line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
    return max_iter * 5 // 4 if max_eval is None else int(max_eval)


def _flat_dtype(params: Any) -> Any:
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params must have at least one array leaf, got an empty tree")
    dtypes = {jnp.result_type(leaf) for leaf in leaves}
    if len(dtypes) != 1 or not jnp.issubdtype(next(iter(dtypes)), jnp.floating):
        names = sorted(str(dtype) for dtype in dtypes)
        raise TypeError(f"params must be floating-point arrays of one dtype, got dtypes {names}")
    return next(iter(dtypes))


class LBFGS:
    r"""L-BFGS with torch.optim.LBFGS's algorithm, step for step (torch 2.13, after minFunc).

    One :meth:`minimize` call is one ``torch.optim.LBFGS.step(closure)``: with :math:`g_k` the flat
    gradient (the leaves of params concatenated in ``jax.tree`` order, as torch concatenates its
    param list),

    .. math::
        \begin{aligned}
        &f, g \leftarrow \text{loss and gradient at } x; \text{ stop if } \|g\|_\infty \le
            \text{tolerance\_grad} \\
        &\textbf{for } k = 1 \ldots \text{max\_iter}: \\
        &\quad \text{first iteration ever: } d = -g,\ \text{history} = \emptyset,\ H_0 = 1 \\
        &\quad \text{otherwise: } y = g - g_{prev},\ s = t d;\ \text{if } y^\top s > 10^{-10}:
            \text{append } (y, s, 1/y^\top s) \text{ (dropping the oldest past history\_size)},
            \ H_0 = y^\top s / y^\top y \\
        &\quad\qquad d = -H g \text{ by the two-loop recursion over the history, with } H_0 \\
        &\quad t = \min(1, 1/\|g\|_1)\,\text{lr} \text{ at the first iteration ever, else lr};
            \text{ stop if } g^\top d > -\text{tolerance\_change} \\
        &\quad \text{line\_search\_fn = 'strong\_wolfe': } t \leftarrow \text{zoom search from } t
            \ (c_1 = 10^{-4}, c_2 = 0.9, \text{at most max\_eval - evaluations so far}); \
            x \leftarrow x + t d \\
        &\quad \text{None: } x \leftarrow x + t d, \text{ then } f, g \text{ re-evaluated unless }
            k = \text{max\_iter} \\
        &\quad \text{stop if } k = \text{max\_iter},\ \text{evaluations} \ge \text{max\_eval},\
            \|g\|_\infty \le \text{tolerance\_grad},\ \|t d\|_\infty \le \text{tolerance\_change}
            \text{ or } |f - f_{prev}| < \text{tolerance\_change} \text{ (in this order)}
        \end{aligned}

    The strong-Wolfe search is torch's ``_strong_wolfe`` (a port of minFunc's ``lswolfe``): bracket
    by cubic interpolation (``_cubic_interpolate``) between ``t + 0.01 (t - t_prev)`` and ``10 t``,
    then zoom with the 10 % safeguard against points near the bracket's ends; it stops when the
    bracket is shorter than 1e-9 / max|d| (torch's default ``tolerance_change`` of
    ``_strong_wolfe``, which LBFGS does not pass on, so the optimizer's own tolerance_change does
    not reach it).

    Args:
        lr: step length scale (default: 1). A Python float >= 0 (each number may also be a
            concrete 0-d array, taken as its value; not a traced one: see :meth:`update`).
        max_iter: iterations per :meth:`minimize` call (default: 20).
        max_eval: loss evaluations per call (default: None, meaning ``max_iter * 5 // 4``, as
            torch). Must be >= 1 when given (torch's line search fails on 0).
        tolerance_grad: stop when max|g| <= tolerance_grad (default: 1e-7).
        tolerance_change: stop when the step, max|t d|, or the loss change is below it
            (default: 1e-9).
        history_size: stored (s, y) pairs (default: 100). The state holds two (history_size, n)
            arrays, as torch's worst case does.
        line_search_fn: None (fixed step ``t``) or 'strong_wolfe' (default: None).

    Compilation: :meth:`minimize` is one ``jax.jit`` of the whole step, the iterations a
    ``lax.while_loop`` (the line search and the two-loop recursion nested loops), with ``loss_fn``
    and the hyperparameters static: a second call with the same ``loss_fn`` object and params of the
    same shapes and dtypes (state given or not) reuses the compiled step. A new ``loss_fn`` (a new
    lambda per call) compiles again. ``minimize`` can itself be called under ``jax.jit`` or
    ``jax.vmap``; it is not reverse-differentiable (while loops).

    Numbers: in float64 the iterates, ``n_iter`` and ``func_evals`` equal torch.optim.LBFGS's
    (worst measured 4e-14 relative over the parity rows, ``parity_tests/cases_lbfgs.py``; 4e-14
    absolute on a 4000 x 500 logistic regression, 11 iterations). torch keeps the loss as a Python
    float; here every scalar (loss, t, y.s, the line search's values) is in the parameters' dtype,
    as torch's 0-d tensors are, so in float32 both compute in float32 but sum the loss and the dot
    products in different orders. That is harmless except where float32 itself decides: the line
    search's cubic fit through two nearly collinear points (a first step of lr / |g|_1 much shorter
    than the curvature's scale) and the stopping tests at float32's noise floor, where torch's own
    float32 run departs from its float64 run, and ours takes other decisions (on that regression in
    float32: 9 iterations and 18 evaluations against torch's 10 and 32, weights 1e-4 apart).

    Validation (at construction; ``ValueError``/``TypeError`` naming the argument and the value,
    the same messages as torch_ref): lr >= 0 (torch's only check), max_iter an int >= 0, max_eval
    None or an int >= 1, history_size an int >= 1 (torch fails with an IndexError at the first
    eviction of an empty history), the tolerances real numbers, line_search_fn None or
    'strong_wolfe' (torch raises a RuntimeError only when stepping). params must be floating-point
    leaves of one dtype (torch would promote a mix inside ``torch.cat``).

    Reference: ``torch.optim.LBFGS`` (torch/optim/lbfgs.py); M. Schmidt, minFunc; J. Nocedal and
    S. Wright, Numerical Optimization (2006), algorithms 7.4 (two-loop recursion), 3.5-3.6 (zoom).
    """

    def __init__(
        self,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        resolved_max_eval = check_lbfgs_options(
            lr,
            max_iter,
            max_eval,
            tolerance_grad,
            tolerance_change,
            history_size,
            line_search_fn,
        )
        self._config = _Config(
            float(lr),
            int(max_iter),
            resolved_max_eval,
            float(tolerance_grad),
            float(tolerance_change),
            int(history_size),
            line_search_fn,
        )

    def update(self, grads: Any, state: Any, params: Any = None) -> Any:
        """Refused with a TypeError saying why (:data:`NOT_A_GRADIENT_TRANSFORMATION`): one torch
        LBFGS step needs the loss function, which a gradient transformation's update does not
        get; call :meth:`minimize`. (Present so that ``optax.inject_hyperparams(LBFGS)`` and other
        gradient-transformation wrappers fail with that reason, not an AttributeError.)"""
        raise TypeError(NOT_A_GRADIENT_TRANSFORMATION)

    @property
    def max_eval(self) -> int:
        """The evaluation limit in force (``max_iter * 5 // 4`` when constructed with None)."""
        return self._config.max_eval

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self._config._asdict().items())
        return f"LBFGS({options})"

    def init(self, params: Any) -> LBFGSState:
        """The state before the first step: counters 0, empty history, zero vectors."""
        dtype = _flat_dtype(params)
        size = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(params))
        history = self._config.history_size
        zero = jnp.zeros((), dtype)
        return LBFGSState(
            func_evals=jnp.zeros((), jnp.int32),
            n_iter=jnp.zeros((), jnp.int32),
            d=jnp.zeros((size,), dtype),
            t=zero,
            old_dirs=jnp.zeros((history, size), dtype),
            old_stps=jnp.zeros((history, size), dtype),
            ro=jnp.zeros((history,), dtype),
            history_count=jnp.zeros((), jnp.int32),
            H_diag=jnp.ones((), dtype),
            prev_flat_grad=jnp.zeros((size,), dtype),
            prev_loss=zero,
        )

    def minimize(
        self, loss_fn: Callable[[Any], Any], params: Any, state: LBFGSState | None = None
    ) -> tuple[Any, LBFGSState]:
        """One ``torch.optim.LBFGS.step(closure)``: returns (params, state).

        loss_fn: params -> scalar loss (differentiated with ``jax.value_and_grad``); static under
        jit (hashed by identity). params: any pytree of floating arrays of one dtype. state: None
        (a fresh :meth:`init` state) or the state a previous call returned.
        """
        if state is None:
            state = self.init(params)
        else:
            expected = jax.tree.map(jnp.shape, jax.eval_shape(self.init, params))
            if jax.tree.map(jnp.shape, state) != expected:
                raise ValueError(
                    "state must be the LBFGSState of params of these shapes (from init or a "
                    f"previous minimize), got shapes {jax.tree.map(jnp.shape, state)}"
                )
        return _minimize(params, state, loss_fn=loss_fn, config=self._config)


# ------------------------------------------------------------------------------------------------
# The step, written as torch's LBFGS.step
# ------------------------------------------------------------------------------------------------


def _abs_max(vector: jax.Array) -> jax.Array:
    return jnp.max(jnp.abs(vector))


def _cubic_interpolate(
    x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any, bounds: tuple[Any, Any] | None = None
) -> jax.Array:
    """torch's _cubic_interpolate: the minimiser of the cubic through (x1, f1, g1), (x2, f2, g2),
    clamped to ``bounds`` (default: the interval between x1 and x2); the midpoint of the bounds
    when the cubic has no real minimiser."""
    if bounds is None:
        xmin_bound = jnp.where(x1 <= x2, x1, x2)
        xmax_bound = jnp.where(x1 <= x2, x2, x1)
    else:
        xmin_bound, xmax_bound = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    d2 = jnp.sqrt(jnp.maximum(d2_square, 0))
    min_pos = jnp.where(
        x1 <= x2,
        x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
        x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
    )
    # Python's min(max(min_pos, lo), hi): max returns lo only if lo > min_pos (NaN kept).
    clamped = jnp.where(xmin_bound > min_pos, xmin_bound, min_pos)
    clamped = jnp.where(xmax_bound < clamped, xmax_bound, clamped)
    return jnp.where(d2_square >= 0, clamped, (xmin_bound + xmax_bound) / 2.0)


class _Bracket(NamedTuple):
    t: jax.Array  # (2,)
    f: jax.Array  # (2,)
    g: jax.Array  # (2, n)
    gtd: jax.Array  # (2,)


def _strong_wolfe(
    evaluate: Callable[[jax.Array], tuple[jax.Array, jax.Array]],
    x: jax.Array,
    t: jax.Array,
    d: jax.Array,
    f: jax.Array,
    g: jax.Array,
    gtd: jax.Array,
    max_ls: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """torch's _strong_wolfe: returns (loss, flat grad, t, evaluations) at the accepted point."""
    dtype = d.dtype
    c1, c2, tolerance_change = WOLFE_C1, WOLFE_C2, LINE_SEARCH_TOLERANCE_CHANGE
    d_norm = _abs_max(d)

    def at(step: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        f_new, g_new = evaluate(x + step * d)
        return f_new, g_new, jnp.dot(g_new, d)

    f_new, g_new, gtd_new = at(t)
    zero = jnp.zeros((), dtype)
    int_zero = jnp.zeros((), jnp.int32)

    # Bracketing phase. outcome: 0 running, 1 bracket [t_prev, t], 2 Wolfe point found.
    def bracket_cond(carry: tuple) -> jax.Array:
        outcome, ls_iter = carry[0], carry[1]
        return (outcome == 0) & (ls_iter < max_ls)

    def bracket_body(carry: tuple) -> tuple:
        _, ls_iter, evals, t, f_new, g_new, gtd_new, t_prev, f_prev, g_prev, gtd_prev = carry
        armijo_fails = (f_new > f + c1 * t * gtd) | ((ls_iter > 1) & (f_new >= f_prev))
        wolfe = jnp.abs(gtd_new) <= -c2 * gtd
        outcome = jnp.where(
            armijo_fails, 1, jnp.where(wolfe, 2, jnp.where(gtd_new >= 0, 1, 0))
        ).astype(jnp.int32)

        def extrapolate(_: Any) -> tuple:
            min_step = t + 0.01 * (t - t_prev)
            max_step = t * 10
            t_next = _cubic_interpolate(
                t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
            )
            f_next, g_next, gtd_next = at(t_next)
            return (
                ls_iter + 1,
                evals + 1,
                t_next,
                f_next,
                g_next,
                gtd_next,
                t,
                f_new,
                g_new,
                gtd_new,
            )

        def keep(_: Any) -> tuple:
            return (ls_iter, evals, t, f_new, g_new, gtd_new, t_prev, f_prev, g_prev, gtd_prev)

        return (outcome, *lax.cond(outcome == 0, extrapolate, keep, None))

    carry = (int_zero, int_zero, jnp.ones((), jnp.int32), t, f_new, g_new, gtd_new)
    carry = (*carry, zero, f, g, gtd)
    outcome, ls_iter, evals, t, f_new, g_new, gtd_new, t_prev, f_prev, g_prev, gtd_prev = (
        lax.while_loop(bracket_cond, bracket_body, carry)
    )
    done = outcome == 2
    # No bracket found within max_ls evaluations: torch falls back to [0, t] (and skips the zoom).
    exhausted = ls_iter == max_ls
    pair = _Bracket(
        jnp.stack([t_prev, t]),
        jnp.stack([f_prev, f_new]),
        jnp.stack([g_prev, g_new]),
        jnp.stack([gtd_prev, gtd_new]),
    )
    single = _Bracket(
        jnp.stack([t, t]), jnp.stack([f_new, f_new]), jnp.stack([g_new, g_new]), pair.gtd
    )
    fallback = _Bracket(
        jnp.stack([zero, t]), jnp.stack([f, f_new]), jnp.stack([g, g_new]), pair.gtd
    )
    bracket = jax.tree.map(
        lambda p, s, b: jnp.where(exhausted, b, jnp.where(done, s, p)), pair, single, fallback
    )
    low = jnp.where(bracket.f[0] <= bracket.f[1], 0, 1).astype(jnp.int32)

    # Zoom phase.
    def zoom_cond(carry: tuple) -> jax.Array:
        done, ls_iter, _, bracket, _, _ = carry
        too_small = jnp.abs(bracket.t[1] - bracket.t[0]) * d_norm < tolerance_change
        return ~done & (ls_iter < max_ls) & ~too_small

    def zoom_body(carry: tuple) -> tuple:
        done, ls_iter, evals, bracket, low, insuf_progress = carry
        high = 1 - low
        t = _cubic_interpolate(
            bracket.t[0], bracket.f[0], bracket.gtd[0], bracket.t[1], bracket.f[1], bracket.gtd[1]
        )
        b_max, b_min = jnp.max(bracket.t), jnp.min(bracket.t)
        eps = 0.1 * (b_max - b_min)
        near_end = jnp.minimum(b_max - t, t - b_min) < eps
        move = near_end & (insuf_progress | (t >= b_max) | (t <= b_min))
        moved = jnp.where(jnp.abs(t - b_max) < jnp.abs(t - b_min), b_max - eps, b_min + eps)
        t = jnp.where(move, moved, t)
        insuf_progress = near_end & ~move

        f_new, g_new, gtd_new = at(t)
        new_point = _Bracket(t, f_new, g_new, gtd_new)
        replace_high = (f_new > f + c1 * t * gtd) | (f_new >= bracket.f[low])
        wolfe = jnp.abs(gtd_new) <= -c2 * gtd
        flip = ~wolfe & (gtd_new * (bracket.t[high] - bracket.t[low]) >= 0)

        def set_row(tree: _Bracket, row: jax.Array, values: _Bracket) -> _Bracket:
            return jax.tree.map(lambda array, value: array.at[row].set(value), tree, values)

        def row(tree: _Bracket, index: jax.Array) -> _Bracket:
            return jax.tree.map(lambda array: array[index], tree)

        high_replaced = set_row(bracket, high, new_point)
        low_replaced = set_row(bracket, low, new_point)
        flipped = set_row(set_row(bracket, high, row(bracket, low)), low, new_point)
        improved = jax.tree.map(lambda a, b: jnp.where(flip, a, b), flipped, low_replaced)
        bracket = jax.tree.map(lambda a, b: jnp.where(replace_high, a, b), high_replaced, improved)
        new_low = jnp.where(bracket.f[0] <= bracket.f[1], 0, 1).astype(jnp.int32)
        low = jnp.where(replace_high, new_low, low)
        done = ~replace_high & wolfe
        return done, ls_iter + 1, evals + 1, bracket, low, insuf_progress

    carry = (done, ls_iter, evals, bracket, low, jnp.zeros((), bool))
    _, _, evals, bracket, low, _ = lax.while_loop(zoom_cond, zoom_body, carry)
    return bracket.f[low], bracket.g[low], bracket.t[low], evals


class _Loop(NamedTuple):
    """The carry of the iteration loop: torch's locals of step() and the state."""

    state: LBFGSState
    x: jax.Array
    loss: jax.Array
    flat_grad: jax.Array
    n_iter: jax.Array
    current_evals: jax.Array
    stop: jax.Array


def _two_loop(state: LBFGSState, flat_grad: jax.Array) -> jax.Array:
    """d = -H g by the two-loop recursion over the stored pairs, newest first then oldest first."""
    count = state.history_count

    def backward(j: jax.Array, carry: tuple) -> tuple:
        q, al = carry
        i = count - 1 - j
        alpha = jnp.dot(state.old_stps[i], q) * state.ro[i]
        return q - alpha * state.old_dirs[i], al.at[i].set(alpha)

    q, al = lax.fori_loop(0, count, backward, (-flat_grad, jnp.zeros_like(state.ro)))

    def forward(i: jax.Array, r: jax.Array) -> jax.Array:
        be_i = jnp.dot(state.old_dirs[i], r) * state.ro[i]
        return r + (al[i] - be_i) * state.old_stps[i]

    return lax.fori_loop(0, count, forward, q * state.H_diag)


def _remember(state: LBFGSState, y: jax.Array, s: jax.Array, ys: jax.Array) -> LBFGSState:
    """Append (y, s, 1/ys), dropping the oldest pair when the history is full; H_diag = ys/yy."""
    history = state.ro.shape[0]
    full = state.history_count == history

    def shifted(array: jax.Array) -> jax.Array:
        return lax.cond(full, lambda a: jnp.roll(a, -1, axis=0), lambda a: a, array)

    row = jnp.minimum(state.history_count, history - 1)
    return state._replace(
        old_dirs=shifted(state.old_dirs).at[row].set(y),
        old_stps=shifted(state.old_stps).at[row].set(s),
        ro=shifted(state.ro).at[row].set(1.0 / ys),
        history_count=jnp.minimum(state.history_count + 1, history),
        H_diag=ys / jnp.dot(y, y),
    )


def _direction(state: LBFGSState, flat_grad: jax.Array) -> LBFGSState:
    """torch's "compute gradient descent direction" block (state.n_iter already incremented)."""

    def first(state: LBFGSState) -> LBFGSState:
        return state._replace(
            d=-flat_grad,
            history_count=jnp.zeros_like(state.history_count),
            H_diag=jnp.ones_like(state.H_diag),
        )

    def later(state: LBFGSState) -> LBFGSState:
        y = flat_grad - state.prev_flat_grad
        s = state.d * state.t
        ys = jnp.dot(y, s)
        state = lax.cond(
            ys > CURVATURE_EPS, lambda st: _remember(st, y, s, ys), lambda st: st, state
        )
        return state._replace(d=_two_loop(state, flat_grad))

    return lax.cond(state.n_iter == 1, first, later, state)


@functools.partial(jax.jit, static_argnames=("loss_fn", "config"))
def _minimize(
    params: Any, state: LBFGSState, *, loss_fn: Callable[[Any], Any], config: _Config
) -> tuple[Any, LBFGSState]:
    x0, unravel = ravel_pytree(params)
    dtype = x0.dtype
    value_and_grad = jax.value_and_grad(loss_fn)

    def evaluate(x: jax.Array) -> tuple[jax.Array, jax.Array]:
        loss, grads = value_and_grad(unravel(x))
        return jnp.asarray(loss, dtype), ravel_pytree(grads)[0].astype(dtype)

    one = jnp.ones((), jnp.int32)
    loss, flat_grad = evaluate(x0)
    state = state._replace(func_evals=state.func_evals + 1)
    opt_cond = _abs_max(flat_grad) <= config.tolerance_grad

    def iteration(loop: _Loop) -> _Loop:
        state, x, loss, flat_grad = loop.state, loop.x, loop.loss, loop.flat_grad
        n_iter = loop.n_iter + 1
        state = _direction(state._replace(n_iter=state.n_iter + 1), flat_grad)
        d = state.d
        first_ever = state.n_iter == 1
        t = jnp.where(
            first_ever,
            jnp.minimum(1.0, 1.0 / jnp.sum(jnp.abs(flat_grad))) * config.lr,
            jnp.asarray(config.lr, dtype),
        ).astype(dtype)
        state = state._replace(t=t, prev_flat_grad=flat_grad, prev_loss=loss)
        gtd = jnp.dot(flat_grad, d)

        def move(_: Any) -> _Loop:
            if config.line_search_fn == "strong_wolfe":
                max_ls = config.max_eval - loop.current_evals
                new_loss, new_grad, step, ls_evals = _strong_wolfe(
                    evaluate, x, t, d, loss, flat_grad, gtd, max_ls
                )
                new_x = x + step * d
            else:
                step = t
                new_x = x + t * d
                reevaluate = n_iter != config.max_iter
                new_loss, new_grad = lax.cond(
                    reevaluate, evaluate, lambda _: (loss, flat_grad), new_x
                )
                ls_evals = reevaluate.astype(jnp.int32)
            opt_cond = _abs_max(new_grad) <= config.tolerance_grad
            current_evals = loop.current_evals + ls_evals
            stop = (
                (n_iter == config.max_iter)
                | (current_evals >= config.max_eval)
                | opt_cond
                | (_abs_max(d * step) <= config.tolerance_change)
                | (jnp.abs(new_loss - loss) < config.tolerance_change)
            )
            new_state = state._replace(t=step, func_evals=state.func_evals + ls_evals)
            return _Loop(new_state, new_x, new_loss, new_grad, n_iter, current_evals, stop)

        def halt(_: Any) -> _Loop:  # the directional derivative is below tolerance
            return _Loop(state, x, loss, flat_grad, n_iter, loop.current_evals, jnp.array(True))

        return lax.cond(gtd > -config.tolerance_change, halt, move, None)

    def running(loop: _Loop) -> jax.Array:
        return ~loop.stop & (loop.n_iter < config.max_iter)

    start = _Loop(state, x0, loss, flat_grad, 0 * one, one, opt_cond)
    end = lax.while_loop(running, iteration, start)
    return unravel(end.x), end.state
