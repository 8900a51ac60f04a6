r"""L-BFGS as torch.optim.LBFGS computes it (torch 2.13), written out on torch tensors: the twin of
jaxmath._lbfgs.

Re-exported by :mod:`torch_ref.optim` (this module does not import it). It does not wrap
``torch.optim.LBFGS``: the algorithm (two-loop recursion, history, strong-Wolfe line search,
stopping tests) is written out here with Python control flow, on the same fixed-size state as
jaxmath's, so the parity suite compares three computations: jaxmath, this module, torch.optim.

Why not an optax-style gradient transformation: one torch ``LBFGS.step(closure)`` evaluates the
loss and its gradient many times (line search, inner iterations) and decides from those values where
to stop, so ``minimize`` takes the loss function itself:

.. code-block:: python

    opt = LBFGS(lr=1, line_search_fn="strong_wolfe")
    params, state = opt.minimize(loss_fn, params)         # = one torch opt.step(closure)
    params, state = opt.minimize(loss_fn, params, state)  # = a second opt.step(closure)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from torch_ref._tree import _rebuild, ravel_tree, tree_leaves
from torch_ref._validation import check_scalar_in_range

__all__ = ["LBFGS", "LBFGSState"]

#: The curvature test of the history update: a pair (s, y) is stored only when y.s > 1e-10.
CURVATURE_EPS = 1e-10
#: torch calls its _strong_wolfe without tolerance_change, so the line search always uses 1e-9.
LINE_SEARCH_TOLERANCE_CHANGE = 1e-9
#: The strong-Wolfe constants (sufficient decrease c1, curvature c2), torch's defaults.
WOLFE_C1, WOLFE_C2 = 1e-4, 0.9


class LBFGSState(NamedTuple):
    """torch's ``optimizer.state`` of LBFGS as fixed-shape tensors (n = number of parameter
    entries, H = history_size, dtype = the parameters' dtype); jaxmath's LBFGSState field for field.
    """

    func_evals: torch.Tensor  # () int32: loss evaluations over all minimize calls
    n_iter: torch.Tensor  # () int32: iterations over all minimize calls
    d: torch.Tensor  # (n,) dtype: the last search direction
    t: torch.Tensor  # () dtype: the last step length
    old_dirs: torch.Tensor  # (H, n) dtype: gradient differences y, oldest first
    old_stps: torch.Tensor  # (H, n) dtype: steps s = t d, oldest first
    ro: torch.Tensor  # (H,) dtype: 1 / (y . s) per stored pair
    history_count: torch.Tensor  # () int32: stored pairs, <= H (torch: len(old_dirs))
    H_diag: torch.Tensor  # () dtype: the initial inverse-Hessian scale (y . s) / (y . y)
    prev_flat_grad: torch.Tensor  # (n,) dtype: the flat gradient at the last iteration's start
    prev_loss: torch.Tensor  # () dtype: the loss at the last iteration's start


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
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
    """Validate LBFGS's hyperparameters (jaxmath raises the same messages); return max_eval."""
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


def _flat_dtype(params: Any) -> torch.dtype:
    leaves = tree_leaves(params)
    if not leaves or not all(isinstance(leaf, torch.Tensor) for leaf in leaves):
        raise ValueError("params must have at least one array leaf, got an empty tree")
    dtypes = {leaf.dtype for leaf in leaves}
    if len(dtypes) != 1 or not next(iter(dtypes)).is_floating_point:
        names = sorted(str(dtype).removeprefix("torch.") for dtype in dtypes)
        raise TypeError(f"params must be floating-point arrays of one dtype, got dtypes {names}")
    return next(iter(dtypes))


class LBFGS:
    r"""L-BFGS with torch.optim.LBFGS's algorithm, step for step: see jaxmath.optim.LBFGS for the
    algorithm block, the arguments and the validation (the same here, message for message).

    One :meth:`minimize` call is one ``torch.optim.LBFGS.step(closure)``; the loss and its gradient
    come from ``loss_fn(params)`` and ``torch.autograd.grad`` (a leaf the loss does not use gets a
    zero gradient, as torch's ``_gather_flat_grad`` gives one). Scalars (the loss, t, y.s, ...) are
    0-d tensors of the parameters' dtype, as in jaxmath (torch.optim keeps the loss as a Python
    float): float32 runs differ from torch.optim's by float32 rounding of those scalars. Nothing
    passed in is mutated.

    Args:
        lr: step length scale (default: 1).
        max_iter: iterations per call (default: 20).
        max_eval: loss evaluations per call (default: None, meaning ``max_iter * 5 // 4``).
        tolerance_grad: stop when max|g| <= tolerance_grad (default: 1e-7).
        tolerance_change: stop when max|t d| or the loss change is below it (default: 1e-9).
        history_size: stored (s, y) pairs (default: 100).
        line_search_fn: None or 'strong_wolfe' (default: None).
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
        self.max_eval = check_lbfgs_options(
            lr,
            max_iter,
            max_eval,
            tolerance_grad,
            tolerance_change,
            history_size,
            line_search_fn,
        )
        self.lr = float(lr)
        self.max_iter = int(max_iter)
        self.tolerance_grad = float(tolerance_grad)
        self.tolerance_change = float(tolerance_change)
        self.history_size = int(history_size)
        self.line_search_fn = line_search_fn

    def __repr__(self) -> str:
        return (
            f"LBFGS(lr={self.lr!r}, max_iter={self.max_iter!r}, max_eval={self.max_eval!r}, "
            f"tolerance_grad={self.tolerance_grad!r}, tolerance_change={self.tolerance_change!r}, "
            f"history_size={self.history_size!r}, line_search_fn={self.line_search_fn!r})"
        )

    def init(self, params: Any) -> LBFGSState:
        """The state before the first step: counters 0, empty history, zero vectors."""
        dtype = _flat_dtype(params)
        size = sum(leaf.numel() for leaf in tree_leaves(params))
        history = self.history_size
        return LBFGSState(
            func_evals=torch.zeros((), dtype=torch.int32),
            n_iter=torch.zeros((), dtype=torch.int32),
            d=torch.zeros(size, dtype=dtype),
            t=torch.zeros((), dtype=dtype),
            old_dirs=torch.zeros(history, size, dtype=dtype),
            old_stps=torch.zeros(history, size, dtype=dtype),
            ro=torch.zeros(history, dtype=dtype),
            history_count=torch.zeros((), dtype=torch.int32),
            H_diag=torch.ones((), dtype=dtype),
            prev_flat_grad=torch.zeros(size, dtype=dtype),
            prev_loss=torch.zeros((), dtype=dtype),
        )

    def minimize(
        self, loss_fn: Callable[[Any], Any], params: Any, state: LBFGSState | None = None
    ) -> tuple[Any, LBFGSState]:
        """One ``torch.optim.LBFGS.step(closure)``: returns (params, state)."""
        if state is None:
            state = self.init(params)
        else:
            expected = [tuple(field.shape) for field in self.init(params)]
            got = [tuple(getattr(field, "shape", ())) for field in state]
            if not isinstance(state, LBFGSState) or got != expected:
                raise ValueError(
                    "state must be the LBFGSState of params of these shapes (from init or a "
                    f"previous minimize), got shapes {type(state).__name__}({got})"
                )
        return _minimize(self, loss_fn, params, state)


# ------------------------------------------------------------------------------------------------
# The step, written as torch's LBFGS.step
# ------------------------------------------------------------------------------------------------


def _abs_max(vector: torch.Tensor) -> torch.Tensor:
    return vector.abs().max()


def _cubic_interpolate(
    x1: torch.Tensor,
    f1: torch.Tensor,
    g1: torch.Tensor,
    x2: torch.Tensor,
    f2: torch.Tensor,
    g2: torch.Tensor,
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """torch's _cubic_interpolate (the minimiser of the cubic through two points with slopes)."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = d2_square.sqrt()
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(
    evaluate: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    x: torch.Tensor,
    t: torch.Tensor,
    d: torch.Tensor,
    f: torch.Tensor,
    g: torch.Tensor,
    gtd: torch.Tensor,
    max_ls: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """torch's _strong_wolfe: returns (loss, flat grad, t, evaluations) at the accepted point."""
    c1, c2, tolerance_change = WOLFE_C1, WOLFE_C2, LINE_SEARCH_TOLERANCE_CHANGE
    d_norm = _abs_max(d)
    zero = torch.zeros((), dtype=d.dtype)

    def at(step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f_new, g_new = evaluate(x + step * d)
        return f_new, g_new, g_new.dot(d)

    f_new, g_new, gtd_new = at(t)
    evals = 1
    t_prev, f_prev, g_prev, gtd_prev = zero, f, g, gtd
    done = False
    found = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            found = True
            break
        if gtd_new.abs() <= -c2 * gtd:
            found = done = True
            break
        if gtd_new >= 0:
            found = True
            break
        # extrapolate by cubic interpolation between t + 0.01 (t - t_prev) and 10 t
        bounds = (t + 0.01 * (t - t_prev), t * 10)
        t_next = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=bounds)
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new, gtd_new = at(t)
        evals += 1
        ls_iter += 1

    if done:
        bracket, bracket_f, bracket_g = [t, t], [f_new, f_new], [g_new, g_new]
        bracket_gtd = [gtd_new, gtd_new]
    elif found:
        bracket, bracket_f = [t_prev, t], [f_prev, f_new]
        bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
    else:  # no bracket within max_ls evaluations: [0, t], and no zoom (ls_iter == max_ls)
        bracket, bracket_f, bracket_g = [zero, t], [f, f_new], [g, g_new]
        bracket_gtd = [gtd_prev, gtd_new]

    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
    while not done and ls_iter < max_ls:
        if (bracket[1] - bracket[0]).abs() * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # keep t at least 10 % of the bracket away from its ends when progress is insufficient
        b_max, b_min = max(bracket), min(bracket)
        eps = 0.1 * (b_max - b_min)
        if min(b_max - t, t - b_min) < eps:
            if insuf_progress or t >= b_max or t <= b_min:
                t = b_max - eps if (t - b_max).abs() < (t - b_min).abs() else b_min + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new, gtd_new = at(t)
        evals += 1
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high] = t, f_new, g_new
            bracket_gtd[high] = gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if gtd_new.abs() <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low] = t, f_new, g_new
            bracket_gtd[low] = gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


def _two_loop(
    old_dirs: torch.Tensor,
    old_stps: torch.Tensor,
    ro: torch.Tensor,
    count: int,
    H_diag: torch.Tensor,
    flat_grad: torch.Tensor,
) -> torch.Tensor:
    """d = -H g by the two-loop recursion over the stored pairs, newest first then oldest first."""
    al = [torch.zeros(())] * count
    q = flat_grad.neg()
    for i in range(count - 1, -1, -1):
        al[i] = old_stps[i].dot(q) * ro[i]
        q = q - al[i] * old_dirs[i]
    r = q * H_diag
    for i in range(count):
        be_i = old_dirs[i].dot(r) * ro[i]
        r = r + (al[i] - be_i) * old_stps[i]
    return r


def _minimize(
    opt: LBFGS, loss_fn: Callable[[Any], Any], params: Any, state: LBFGSState
) -> tuple[Any, LBFGSState]:
    x0, unravel = ravel_tree(params)
    x0 = x0.detach()
    dtype = x0.dtype

    def evaluate(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        leaves = [leaf.clone().requires_grad_(True) for leaf in tree_leaves(unravel(x))]
        with torch.enable_grad():
            loss = loss_fn(_rebuild(params, iter(leaves)))
            grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        flat = torch.cat(
            [
                torch.zeros(leaf.numel(), dtype=dtype) if grad is None else grad.reshape(-1)
                for leaf, grad in zip(leaves, grads, strict=True)
            ]
        )
        return loss.detach().to(dtype), flat.to(dtype)

    func_evals, n_iter = int(state.func_evals), int(state.n_iter)
    d, t, H_diag = state.d, state.t, state.H_diag
    old_dirs, old_stps, ro = state.old_dirs, state.old_stps, state.ro
    count = int(state.history_count)
    prev_flat_grad, prev_loss = state.prev_flat_grad, state.prev_loss
    history = opt.history_size

    x = x0
    loss, flat_grad = evaluate(x)
    current_evals = 1
    func_evals += 1
    stop = bool(_abs_max(flat_grad) <= opt.tolerance_grad)

    iteration = 0
    while not stop and iteration < opt.max_iter:
        iteration += 1
        n_iter += 1
        # search direction
        if n_iter == 1:
            d = flat_grad.neg()
            count = 0
            H_diag = torch.ones((), dtype=dtype)
        else:
            y = flat_grad - prev_flat_grad
            s = d * t
            ys = y.dot(s)
            if ys > CURVATURE_EPS:
                if count == history:  # drop the oldest pair
                    old_dirs, old_stps, ro = (a.roll(-1, 0) for a in (old_dirs, old_stps, ro))
                row = min(count, history - 1)
                old_dirs, old_stps, ro = old_dirs.clone(), old_stps.clone(), ro.clone()
                old_dirs[row], old_stps[row], ro[row] = y, s, 1.0 / ys
                count = min(count + 1, history)
                H_diag = ys / y.dot(y)
            d = _two_loop(old_dirs, old_stps, ro, count, H_diag, flat_grad)
        prev_flat_grad, prev_loss = flat_grad, loss

        # step length
        if n_iter == 1:
            t = torch.clamp(1.0 / flat_grad.abs().sum(), max=1.0) * opt.lr
        else:
            t = torch.tensor(opt.lr, dtype=dtype)
        gtd = flat_grad.dot(d)
        if gtd > -opt.tolerance_change:
            break

        if opt.line_search_fn == "strong_wolfe":
            loss, flat_grad, t, ls_evals = _strong_wolfe(
                evaluate, x, t, d, loss, flat_grad, gtd, opt.max_eval - current_evals
            )
            x = x + t * d
        else:
            x = x + t * d
            ls_evals = 0
            if iteration != opt.max_iter:
                loss, flat_grad = evaluate(x)
                ls_evals = 1
        opt_cond = bool(_abs_max(flat_grad) <= opt.tolerance_grad)
        current_evals += ls_evals
        func_evals += ls_evals

        stop = (
            iteration == opt.max_iter
            or current_evals >= opt.max_eval
            or opt_cond
            or bool(_abs_max(d * t) <= opt.tolerance_change)
            or bool((loss - prev_loss).abs() < opt.tolerance_change)
        )

    new_state = LBFGSState(
        func_evals=torch.tensor(func_evals, dtype=torch.int32),
        n_iter=torch.tensor(n_iter, dtype=torch.int32),
        d=d,
        t=t,
        old_dirs=old_dirs,
        old_stps=old_stps,
        ro=ro,
        history_count=torch.tensor(count, dtype=torch.int32),
        H_diag=H_diag,
        prev_flat_grad=prev_flat_grad,
        prev_loss=prev_loss,
    )
    return unravel(x), new_state
