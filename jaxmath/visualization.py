"""Figures for the labs: each function returns a ``matplotlib.figure.Figure`` and never shows it.

Figures are built with matplotlib's object API (``Figure()``, no pyplot state, so nothing to close
and no display needed), take NumPy-convertible arrays (NumPy or JAX arrays, lists; torch tensors
via ``.numpy()``) and are framework-neutral, so torch_ref has no twin of this module.
``import jaxmath`` does not import this module or matplotlib: import it explicitly::

    from jaxmath import visualization

    figure = visualization.plot_training_curve({"sgd": sgd_losses, "adam": adam_losses}, log_scale=True)
    figure.savefig("training_curve.png")   # in a lab: ctx.save_figure(figure, "training_curve")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "plot_decision_boundary",
    "plot_functions",
    "plot_grouped_bars",
    "plot_table",
    "plot_training_curve",
]

#: Line styles that tell apart the curves of one run when several runs are overlaid.
_LINESTYLES = ("-", "--", ":", "-.")

#: One run's curves (name -> values per step), a single unnamed curve, or several runs.
History = Mapping[str, Sequence[float]] | Sequence[float] | Sequence[Mapping[str, Sequence[float]]]


def _figure(ncols: int = 1, width: float = 5.0, height: float = 3.6) -> tuple[Figure, list[Axes]]:
    """A figure with ``ncols`` axes side by side, constrained layout (the shared set-up)."""
    figure = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


def _label_axes(
    axes: Axes,
    title: str,
    xlabel: str,
    ylabel: str,
    log_x: bool = False,
    log_scale: bool = False,
) -> None:
    """Title, labels, axis scales, and a legend when some artist carries a label."""
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if log_x:  # only when asked: setting a scale resets tick labels such as bar categories
        axes.set_xscale("log")
    if log_scale:
        axes.set_yscale("log")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")


def _one_dimensional(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def plot_functions(
    x: Any,
    curves: Mapping[str, Any],
    title: str = "",
    xlabel: str = "x",
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
    linestyles: Mapping[str, str] | None = None,
    log_x: bool = False,
    log_scale: bool = False,
) -> Figure:
    """Overlay curves ``y = f(x)`` on one axes (activations, their derivatives, losses).

    Args:
        x: shape (n,).
        curves: label -> values of shape (n,); non-finite values (inf, nan) leave gaps.
        ylim: (bottom, top) of the y axis (default: fitted to the data).
        linestyles: label -> matplotlib line style (default ``"-"``), e.g. to dash an
            approximation drawn over the exact curve.
        log_x, log_scale: logarithmic x / y axis.

    Returns:
        A Figure with one axes, one line per curve and a legend.
    """
    figure, (axes,) = _figure()
    x = _one_dimensional("x", x)
    for label, values in curves.items():
        y = _one_dimensional(f"curves[{label!r}]", values)
        if y.shape != x.shape:
            raise ValueError(f"curves[{label!r}] must have the shape of x {x.shape}, got {y.shape}")
        axes.plot(x, y, (linestyles or {}).get(label, "-"), label=label)
    if not log_scale:
        axes.axhline(0.0, color="0.8", linewidth=0.8, zorder=0)
    if ylim is not None:
        axes.set_ylim(*ylim)
    _label_axes(axes, title, xlabel, ylabel, log_x=log_x, log_scale=log_scale)
    return figure


def _as_runs(history: History, name: str) -> list[dict[str, np.ndarray]]:
    """Normalise a history to a list of runs, each a dict curve name -> values of shape (steps,)."""
    if isinstance(history, Mapping):
        runs = [history]
    elif isinstance(history, Sequence) and history and isinstance(history[0], Mapping):
        runs = list(history)
    else:
        runs = [{"": history}]
    if not any(runs):
        raise ValueError(f"{name} must hold at least one curve, got {history!r}")
    return [
        {str(key): _one_dimensional(f"{name}[{key!r}]", values) for key, values in run.items()}
        for run in runs
    ]


def _plot_runs(
    axes: Axes, runs: list[dict[str, np.ndarray]], every: int, run_labels: Sequence[str] | None
) -> None:
    """One colour per curve for a single run; one colour per run, a style per curve for several."""
    if run_labels is not None and len(run_labels) != len(runs):
        raise ValueError(
            f"run_labels must name each of the {len(runs)} runs, got {len(run_labels)}"
        )
    for index, run in enumerate(runs):
        run_label = run_labels[index] if run_labels is not None else f"run {index + 1}"
        for style_index, (name, values) in enumerate(run.items()):
            steps = every * np.arange(1, len(values) + 1)
            if len(runs) == 1:
                axes.plot(steps, values, label=name or None)
            else:
                style = _LINESTYLES[style_index % len(_LINESTYLES)]
                label = f"{run_label}: {name}" if name else run_label
                axes.plot(steps, values, style, color=f"C{index % 10}", label=label)


def plot_training_curve(
    history: History,
    second: History | None = None,
    title: str = "Training curve",
    ylabel: str = "loss",
    second_label: str = "accuracy",
    log_scale: bool = False,
    every: int = 1,
    second_every: int = 1,
    run_labels: Sequence[str] | None = None,
) -> Figure:
    """Loss per step for one run or several overlaid, optionally a second metric in a second panel.

    Args:
        history: the losses, one value per logged step, as
            a sequence of shape (steps,) (one curve);
            a mapping name -> sequence (e.g. ``{"lr=0.1": ..., "lr=1": ...}`` or
            ``{"train": ..., "test": ...}``), one colour per curve; or
            a list of such mappings (several runs): one colour per run, one line style per name.
            Curves may differ in length.
        second: an optional second metric (e.g. accuracy) in the same forms, drawn in a second
            panel to the right.
        log_scale: logarithmic loss axis (the second panel stays linear).
        every, second_every: steps between logged values, so the x axis counts training steps
            (value ``i`` is drawn at step ``every * (i + 1)``).
        run_labels: names of the runs when ``history`` is a list (default ``"run 1"``, ...).

    Returns:
        A Figure with one axes (two with ``second``), one line per curve.
    """
    figure, axes = _figure(ncols=2 if second is not None else 1)
    _plot_runs(axes[0], _as_runs(history, "history"), every, run_labels)
    _label_axes(axes[0], title, "step", ylabel, log_scale=log_scale)
    if second is not None:
        _plot_runs(axes[1], _as_runs(second, "second"), second_every, run_labels)
        _label_axes(axes[1], second_label, "step", second_label)
    return figure


def plot_grouped_bars(
    groups: Mapping[str, Sequence[float]],
    categories: Sequence[str],
    title: str = "",
    ylabel: str = "",
    log_scale: bool = False,
) -> Figure:
    """Bars per category, one colour per group (e.g. a gradient norm per layer, per network).

    Args:
        groups: group name -> values of shape (len(categories),).
        categories: the x tick labels.
        log_scale: logarithmic y axis.

    Returns:
        A Figure with one axes holding ``len(groups) * len(categories)`` bars.
    """
    figure, (axes,) = _figure(width=6.0)
    positions = np.arange(len(categories))
    width = 0.8 / max(len(groups), 1)
    for index, (name, values) in enumerate(groups.items()):
        heights = _one_dimensional(f"groups[{name!r}]", values)
        if heights.shape != positions.shape:
            raise ValueError(
                f"groups[{name!r}] must have one value per category ({len(categories)}), "
                f"got shape {heights.shape}"
            )
        offset = (index - (len(groups) - 1) / 2) * width
        axes.bar(positions + offset, heights, width, label=name)
    axes.set_xticks(positions, list(categories))
    _label_axes(axes, title, "", ylabel, log_scale=log_scale)
    return figure


def plot_table(rows: Sequence[Sequence[Any]], columns: Sequence[str], title: str = "") -> Figure:
    """A table of values as a figure (floats to 3 significant digits), e.g. gradient-check errors.

    Args:
        rows: each of ``len(columns)`` cells (numbers, strings, booleans).
        columns: the header.
    """
    for index, row in enumerate(rows):
        if len(row) != len(columns):
            raise ValueError(f"rows[{index}] must have {len(columns)} cells, got {len(row)}")
    figure, (axes,) = _figure(width=1.6 * len(columns), height=0.45 * (len(rows) + 2))
    axes.axis("off")
    cells = [
        [f"{cell:.3g}" if isinstance(cell, float) else str(cell) for cell in row] for row in rows
    ]
    table = axes.table(cellText=cells, colLabels=list(columns), loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    axes.set_title(title)
    return figure


def plot_decision_boundary(
    grid_x: Any,
    grid_y: Any,
    probabilities: Any,
    points: Any,
    labels: Any,
    title: str = "Decision boundary",
) -> Figure:
    """Predicted probability of class 1 on a grid, the 0.5 contour, and the data points on top.

    Args:
        grid_x, grid_y, probabilities: shape (h, w), the first two from ``np.meshgrid``.
        points: shape (n, 2).
        labels: shape (n,), in {0, 1}.

    Returns:
        A Figure with the plot's axes and its colorbar's.
    """
    grid_x, grid_y, probabilities = (np.asarray(a) for a in (grid_x, grid_y, probabilities))
    if not grid_x.shape == grid_y.shape == probabilities.shape or grid_x.ndim != 2:
        raise ValueError(
            "grid_x, grid_y and probabilities must share one (h, w) shape, got "
            f"{grid_x.shape}, {grid_y.shape}, {probabilities.shape}"
        )
    points, labels = np.asarray(points), np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2 or labels.shape != points.shape[:1]:
        raise ValueError(
            f"points must have shape (n, 2) and labels (n,), got {points.shape} and {labels.shape}"
        )
    figure, (axes,) = _figure(width=5.0, height=4.2)
    contour = axes.contourf(grid_x, grid_y, probabilities, levels=20, cmap="RdBu_r", alpha=0.7)
    axes.contour(grid_x, grid_y, probabilities, levels=[0.5], colors="k")
    axes.scatter(points[:, 0], points[:, 1], c=labels, cmap="RdBu_r", edgecolors="k", s=14)
    figure.colorbar(contour, ax=axes, label="p(class 1)")
    _label_axes(axes, title, "x1", "x2")
    return figure


# ---- distributions ----


def plot_densities_with_samples(panels: Sequence[Mapping[str, Any]], ncols: int = 3) -> Figure:
    """Densities (or mass functions) with a histogram of draws over each.

    Args:
        panels: one mapping per panel with ``"title"``, ``"x"`` (n,) the grid (continuous) or the
            support points (discrete), ``"density"`` (n,) the pdf / pmf at ``x``, ``"samples"``
            (m,) draws, and optional ``"discrete"`` (default False): bars of the empirical
            frequencies against the pmf's markers instead of a density histogram under the curve.
        ncols: panels per row.

    Returns:
        A Figure with one axes per panel.
    """
    if not panels:
        raise ValueError("panels must not be empty")
    nrows = -(-len(panels) // ncols)
    figure = Figure(figsize=(4.0 * ncols, 3.0 * nrows), layout="constrained")
    grid = figure.subplots(nrows, ncols, squeeze=False)
    for index, axes in enumerate(grid.ravel()):
        if index >= len(panels):
            axes.set_axis_off()
            continue
        panel = panels[index]
        x = _one_dimensional("x", panel["x"])
        density = _one_dimensional("density", panel["density"])
        samples = np.asarray(panel["samples"], dtype=float).ravel()
        if density.shape != x.shape:
            raise ValueError(f"density must have the shape of x {x.shape}, got {density.shape}")
        if panel.get("discrete", False):
            counts = np.array([np.mean(samples == value) for value in x])
            axes.bar(x, counts, width=0.8, alpha=0.5, label=f"{samples.size} draws")
            axes.plot(x, density, "o", color="C3", label="pmf")
        else:
            axes.hist(samples, bins=60, density=True, alpha=0.5, label=f"{samples.size} draws")
            axes.plot(x, density, color="C3", label="pdf")
        _label_axes(axes, str(panel.get("title", "")), "x", "density")
    return figure


def plot_central_limit(
    means: Mapping[int, Any], grid: Any, limit_density: Any, title: str = ""
) -> Figure:
    """Histograms of standardised sample means for several sample sizes against the limit density.

    Args:
        means: n -> (m,) standardised means of n draws each, :math:`\\sqrt n(\\bar x - \\mu)/\\sigma`.
        grid: (g,) points; limit_density: (g,) the standard normal density on them.
    """
    grid, limit_density = _one_dimensional("grid", grid), _one_dimensional("limit", limit_density)
    figure, axes_list = _figure(ncols=len(means), width=3.4, height=3.0)
    for axes, (n, values) in zip(axes_list, means.items(), strict=True):
        axes.hist(np.asarray(values, float).ravel(), bins=60, density=True, alpha=0.5)
        axes.plot(grid, limit_density, color="C3", label="N(0, 1)")
        _label_axes(axes, f"{title} n = {n}".strip(), "standardised mean", "density")
    return figure


def plot_convergence(
    sizes: Any, errors: Mapping[str, Any], title: str = "", ylabel: str = "|estimate - truth|"
) -> Figure:
    """Errors of estimators against the sample size, log-log, with an :math:`n^{-1/2}` guide line.

    Args:
        sizes: (k,) sample sizes; errors: name -> (k,) absolute errors at those sizes.
    """
    sizes = _one_dimensional("sizes", sizes)
    figure, (axes,) = _figure(width=5.5, height=3.8)
    for name, values in errors.items():
        axes.plot(sizes, np.maximum(_one_dimensional(name, values), 1e-12), "o-", label=name)
    guide = sizes**-0.5
    axes.plot(
        sizes,
        guide * np.median([np.ravel(v)[0] for v in errors.values()]) / guide[0],
        "k:",
        label="∝ n^(-1/2)",
    )
    _label_axes(axes, title, "sample size n", ylabel, log_x=True, log_scale=True)
    return figure


def plot_kl_fits(
    grid: Any, target: Any, fits: Mapping[str, Any], title: str = "Fitting a Gaussian"
) -> Figure:
    """A target density and the densities fitted to it (forward vs reverse KL) on one axes.

    Args:
        grid: (g,); target: (g,) the target density; fits: name -> (g,) fitted densities.
    """
    grid = _one_dimensional("grid", grid)
    figure, (axes,) = _figure(width=6.0, height=3.8)
    axes.fill_between(grid, _one_dimensional("target", target), alpha=0.3, label="target p")
    for name, density in fits.items():
        axes.plot(grid, _one_dimensional(name, density), label=name)
    _label_axes(axes, title, "x", "density")
    return figure


def plot_temperature(
    temperatures: Any, entropies: Any, probabilities: Mapping[str, Any], max_entropy: float
) -> Figure:
    """Softmax temperature: entropy against T (left), the distributions at a few T (right).

    Args:
        temperatures: (k,); entropies: (k,) in nats; probabilities: label -> (C,) class
            probabilities; max_entropy: log C, the uniform distribution's entropy (a guide line).
    """
    temperatures = _one_dimensional("temperatures", temperatures)
    figure, (left, right) = _figure(ncols=2, width=4.5, height=3.4)
    left.plot(temperatures, _one_dimensional("entropies", entropies), "o-", label="H(softmax(z/T))")
    left.axhline(max_entropy, color="k", linestyle=":", label="log C")
    _label_axes(left, "Entropy vs temperature", "T", "entropy (nats)", log_x=True)
    width = 0.8 / max(len(probabilities), 1)
    for index, (label, probs) in enumerate(probabilities.items()):
        probs = _one_dimensional(label, probs)
        right.bar(np.arange(probs.size) + index * width, probs, width=width, label=label)
    _label_axes(right, "softmax(z / T)", "class", "probability")
    return figure


def plot_estimator_variance(
    sizes: Any, variances: Mapping[str, Any], title: str = "Gradient estimator variance"
) -> Figure:
    """Variance of gradient estimators against the number of draws per estimate, log-log.

    Args:
        sizes: (k,) draws per estimate; variances: estimator name -> (k,) variances.
    """
    sizes = _one_dimensional("sizes", sizes)
    figure, (axes,) = _figure(width=5.5, height=3.8)
    for name, values in variances.items():
        axes.plot(sizes, _one_dimensional(name, values), "o-", label=name)
    _label_axes(axes, title, "draws per estimate", "variance", log_x=True, log_scale=True)
    return figure


__all__ += [
    "plot_central_limit",
    "plot_convergence",
    "plot_densities_with_samples",
    "plot_estimator_variance",
    "plot_kl_fits",
    "plot_temperature",
]


# ---- optim ----


def plot_optimizer_paths(
    grid_x: Any,
    grid_y: Any,
    values: Any,
    paths: Mapping[str, Any],
    title: str = "Optimizer paths",
    minima: Any = None,
    log_levels: bool = True,
    levels: int = 30,
) -> Figure:
    """Optimizer trajectories over the contour plot of a 2-D objective.

    Args:
        grid_x, grid_y, values: shape (h, w), the first two from ``np.meshgrid`` and ``values`` the
            objective there (e.g. ``jaxmath.objectives.rosenbrock(np.stack([gx, gy], -1))``).
        paths: optimizer name -> its iterates, shape (steps + 1, 2) (start first); non-finite rows
            (a diverged run) are dropped from the end.
        minima: optional known minima, shape (k, 2), drawn as stars.
        log_levels: contour levels spaced evenly in log(values - min + 1e-3), which shows the
            narrow valleys of Rosenbrock and Beale; False: linear levels (the saddle).
        levels: the number of contour levels.

    Returns:
        A Figure with one axes: filled contours, one line per path (a circle at its start, a cross at
        its end), a legend.
    """
    grid_x, grid_y, values = (np.asarray(a, dtype=float) for a in (grid_x, grid_y, values))
    if not grid_x.shape == grid_y.shape == values.shape or grid_x.ndim != 2:
        raise ValueError(
            "grid_x, grid_y and values must share one (h, w) shape, got "
            f"{grid_x.shape}, {grid_y.shape}, {values.shape}"
        )
    figure, (axes,) = _figure(width=5.2, height=4.4)
    shown = np.log(values - np.nanmin(values) + 1e-3) if log_levels else values
    axes.contourf(grid_x, grid_y, shown, levels=levels, cmap="viridis", alpha=0.75)
    axes.contour(grid_x, grid_y, shown, levels=levels, colors="k", linewidths=0.3, alpha=0.4)
    for index, (name, path) in enumerate(paths.items()):
        path = np.asarray(path, dtype=float)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"paths[{name!r}] must have shape (steps + 1, 2), got {path.shape}")
        finite = np.all(np.isfinite(path), axis=1)
        path = path[: int(np.argmin(finite)) if not finite.all() else len(path)]
        color = f"C{index % 10}"
        axes.plot(path[:, 0], path[:, 1], "-", color=color, linewidth=1.3, label=name)
        axes.plot(path[0, 0], path[0, 1], "o", color=color, markersize=5)
        axes.plot(path[-1, 0], path[-1, 1], "x", color=color, markersize=7, markeredgewidth=2)
    if minima is not None:
        minima = np.asarray(minima, dtype=float).reshape(-1, 2)
        axes.plot(minima[:, 0], minima[:, 1], "*", color="w", markeredgecolor="k", markersize=13)
    axes.set_xlim(grid_x.min(), grid_x.max())
    axes.set_ylim(grid_y.min(), grid_y.max())
    _label_axes(axes, title, "x", "y")
    return figure


__all__ += ["plot_optimizer_paths"]


# ---- gradient checking (foundation) ----


def plot_gradient_check(
    errors: Mapping[str, Mapping[str, Sequence[float]]],
    parameters: Sequence[str],
    title: str = "",
    tolerance: float | None = None,
    floor: float = 1e-18,
) -> Figure:
    """Gradient-check errors on a log axis: one panel per reference, one marker series per group.

    Args:
        errors: reference name (e.g. "vs jax.grad", "vs central differences") -> group name (e.g. an
            activation) -> one error per parameter tensor, shape (len(parameters),).
        parameters: the x tick labels (e.g. "W1", "b1", ...).
        tolerance: drawn as a dashed line in every panel (e.g. the check's rtol), if given.
        floor: errors below it (an exact 0 among them) are drawn at ``floor``, marked hollow, since
            a log axis has no 0.

    Returns:
        A Figure with ``len(errors)`` axes sharing the log y axis.
    """
    if not errors:
        raise ValueError("errors must name at least one reference, got none")
    if not floor > 0:
        raise ValueError(f"floor must be > 0, got {floor!r}")
    figure, all_axes = _figure(ncols=len(errors), width=4.6, height=3.6)
    positions = np.arange(len(parameters))
    markers = ("o", "s", "^", "D", "v", "P")
    for axes, (reference, groups) in zip(all_axes, errors.items(), strict=True):
        width = 0.6 / max(len(groups), 1)
        for index, (name, values) in enumerate(groups.items()):
            values = _one_dimensional(f"errors[{reference!r}][{name!r}]", values)
            if values.shape != positions.shape:
                raise ValueError(
                    f"errors[{reference!r}][{name!r}] must have one value per parameter "
                    f"({len(parameters)}), got shape {values.shape}"
                )
            shown = np.maximum(values, floor)
            offset = positions + (index - (len(groups) - 1) / 2) * width
            below = values < floor
            marker = markers[index % len(markers)]
            line = axes.plot(offset[~below], shown[~below], marker, label=name, linestyle="none")
            color = line[0].get_color()
            if below.any():
                axes.plot(
                    offset[below],
                    shown[below],
                    marker,
                    color=color,
                    fillstyle="none",
                    linestyle="none",
                )
        if any(np.any(np.asarray(values) < floor) for values in groups.values()):
            axes.annotate(
                f"hollow: below {floor:.0e} (exactly 0)",
                (0.02, 0.02),
                xycoords="axes fraction",
                fontsize="small",
            )
        if tolerance is not None:
            axes.axhline(tolerance, color="grey", linestyle="--", linewidth=1, label="tolerance")
        axes.set_xticks(positions, list(parameters))
        _label_axes(axes, reference, "parameter tensor", "max relative error", log_scale=True)
    if title:
        figure.suptitle(title)
    return figure


__all__ += ["plot_gradient_check"]


# ---- loss landscape (landscape) ----


def _bilinear(
    alphas: np.ndarray, betas: np.ndarray, surface: np.ndarray, points: np.ndarray
) -> Any:
    """The surface's bilinear interpolation at ``points`` (n, 2), clamped to the grid's edges."""
    a = np.clip(points[:, 0], alphas[0], alphas[-1])
    b = np.clip(points[:, 1], betas[0], betas[-1])
    i = np.clip(np.searchsorted(alphas, a) - 1, 0, len(alphas) - 2)
    j = np.clip(np.searchsorted(betas, b) - 1, 0, len(betas) - 2)
    ta = (a - alphas[i]) / (alphas[i + 1] - alphas[i])
    tb = (b - betas[j]) / (betas[j + 1] - betas[j])
    return (
        surface[i, j] * (1 - ta) * (1 - tb)
        + surface[i + 1, j] * ta * (1 - tb)
        + surface[i, j + 1] * (1 - ta) * tb
        + surface[i + 1, j + 1] * ta * tb
    )


def plot_loss_landscape(
    alphas: Any,
    betas: Any,
    surface: Any,
    trajectories: Mapping[str, Any] | None = None,
    title: str = "Loss landscape",
    levels: int = 30,
    log_scale: bool = False,
    surface_3d: bool = True,
    xlabel: str = "direction 1",
    ylabel: str = "direction 2",
) -> Figure:
    r"""Contour map and 3-D surface of a loss grid, with optional optimizer paths on both.

    The course's ``visualization_utils.plot_loss_landscape``: ``surface[i, j]`` is the loss at
    :math:`\theta + \alpha_i d_1 + \beta_j d_2` (``jaxmath.landscape.loss_surface_2d``). Paths are
    drawn in the plane's coordinates (``pca_directions``' ``projected``), on the 3-D view at the
    surface's height there (bilinear interpolation), starting with a circle and ending with a star.

    Args:
        alphas: shape (A,), increasing; betas: shape (B,), increasing.
        surface: shape (A, B); non-finite values are left blank.
        trajectories: name -> coordinates of shape (T, 2).
        levels: contour levels.
        log_scale: show log10 of the loss (losses must be > 0), which spreads the levels of a
            sharp minimum.
        surface_3d: add the 3-D panel (default) or draw the contour map alone.

    Returns:
        A Figure with a contour axes (and its colorbar) and, with ``surface_3d``, a 3-D axes.
    """
    alphas, betas = _one_dimensional("alphas", alphas), _one_dimensional("betas", betas)
    surface = np.asarray(surface, dtype=float)
    if surface.shape != (alphas.size, betas.size):
        raise ValueError(
            f"surface must have shape (len(alphas), len(betas)) = {(alphas.size, betas.size)}, "
            f"got {surface.shape}"
        )
    if alphas.size < 2 or betas.size < 2:
        raise ValueError(f"a landscape needs at least 2 x 2 points, got {surface.shape}")
    if log_scale:
        if np.any(surface[np.isfinite(surface)] <= 0):
            raise ValueError("log_scale needs losses > 0")
        surface = np.log10(surface)
    paths = {}
    for name, coordinates in (trajectories or {}).items():
        coordinates = np.asarray(coordinates, dtype=float)
        if coordinates.ndim != 2 or coordinates.shape[1] != 2:
            raise ValueError(
                f"trajectories[{name!r}] must have shape (T, 2), got {coordinates.shape}"
            )
        paths[name] = coordinates
    figure = Figure(figsize=(10.5 if surface_3d else 5.2, 4.3), layout="constrained")
    contour_axes = figure.add_subplot(1, 2 if surface_3d else 1, 1)
    grid_a, grid_b = np.meshgrid(alphas, betas, indexing="ij")
    filled = contour_axes.contourf(grid_a, grid_b, surface, levels=levels, cmap="viridis")
    contour_axes.contour(grid_a, grid_b, surface, levels=levels, colors="k", linewidths=0.3)
    figure.colorbar(filled, ax=contour_axes, label="log10 loss" if log_scale else "loss")
    for name, path in paths.items():
        (line,) = contour_axes.plot(path[:, 0], path[:, 1], "-", linewidth=1.5, label=name)
        contour_axes.plot(*path[0], "o", color=line.get_color())
        contour_axes.plot(*path[-1], "*", color=line.get_color(), markersize=11)
    _label_axes(contour_axes, title, xlabel, ylabel)
    if surface_3d:
        # computed_zorder=False: draw in call order, so the paths stay above the surface
        surface_axes = figure.add_subplot(1, 2, 2, projection="3d", computed_zorder=False)
        surface_axes.plot_surface(
            grid_a, grid_b, np.ma.masked_invalid(surface), cmap="viridis", linewidth=0, alpha=0.85
        )
        for name, path in paths.items():
            heights = _bilinear(alphas, betas, surface, path)
            surface_axes.plot(
                path[:, 0], path[:, 1], heights, "-", linewidth=2, label=name, zorder=3
            )
        surface_axes.set(xlabel=xlabel, ylabel=ylabel, zlabel="log10 loss" if log_scale else "loss")
        surface_axes.set_title(f"{title} (3-D)")
    return figure


def plot_spectral_density(
    densities: Mapping[str, tuple[Any, Any]],
    markers: Mapping[str, Sequence[float]] | None = None,
    title: str = "Hessian eigenvalue density",
    log_scale: bool = True,
    floor: float = 1e-8,
) -> Figure:
    """Eigenvalue densities (stochastic Lanczos quadrature) overlaid, e.g. two solutions' Hessians.

    Args:
        densities: name -> (grid, density), each of shape (n,)
            (``jaxmath.landscape.hessian_spectral_density``'s ``grid`` and ``density``).
        markers: name -> eigenvalues to mark with dashed vertical lines in that curve's colour
            (e.g. the top eigenvalues from ``hessian_eigs``).
        log_scale: logarithmic density axis (as Ghorbani et al. 2019 draw it), values below
            ``floor`` clipped to it.

    Returns:
        A Figure with one axes, one curve per entry.
    """
    if not densities:
        raise ValueError("densities must hold at least one curve, got none")
    figure, (axes,) = _figure(width=6.0)
    for name, (grid, density) in densities.items():
        grid = _one_dimensional(f"densities[{name!r}] grid", grid)
        density = _one_dimensional(f"densities[{name!r}] density", density)
        if grid.shape != density.shape:
            raise ValueError(
                f"densities[{name!r}] must hold grid and density of one shape, got "
                f"{grid.shape} and {density.shape}"
            )
        (line,) = axes.plot(grid, np.maximum(density, floor) if log_scale else density, label=name)
        for value in (markers or {}).get(name, ()):
            axes.axvline(float(value), color=line.get_color(), linestyle="--", linewidth=0.8)
    _label_axes(axes, title, "eigenvalue", "density", log_scale=log_scale)
    return figure


__all__ += ["plot_loss_landscape", "plot_spectral_density"]


# ---- low rank (lowrank) ----


def _spectra(singular_values: Any) -> dict[str, np.ndarray]:
    """name -> singular values (1-D, sorted descending), from one array or a mapping."""
    named = singular_values if isinstance(singular_values, Mapping) else {"": singular_values}
    if not named:
        raise ValueError("singular_values must hold at least one spectrum, got none")
    spectra = {}
    for name, values in named.items():
        label = f"singular_values[{name!r}]" if name else "singular_values"
        values = _one_dimensional(label, values)
        if values.size == 0 or np.any(values < 0) or not np.any(values > 0):
            raise ValueError(
                f"singular values must be >= 0, not all 0 and not empty, got {values[:5]}"
            )
        spectra[name] = np.sort(values)[::-1]
    return spectra


def plot_svd_analysis(
    singular_values: Any,
    shape: tuple[int, int] | None = None,
    title: str = "",
    max_rank: int | None = None,
    marks: Sequence[int] = (),
) -> Figure:
    r"""Spectrum, cumulative energy and best rank-k reconstruction error (the course's
    ``visualization_utils.plot_svd_analysis``), one curve per matrix.

    Panels: (1) singular values :math:`\sigma_i` (log scale); (2) cumulative energy
    :math:`\sum_{i \le k}\sigma_i^2 / \sum_i \sigma_i^2`; (3) the relative Eckart–Young error
    :math:`\|A - A_k\|_F / \|A\|_F = \sqrt{\sum_{i>k}\sigma_i^2 / \sum_i \sigma_i^2}` against the rank k,
    with a second axis giving the parameter fraction :math:`k(m + n)/(mn)` of a rank-k factorisation
    (LoRA's) when ``shape`` is given.

    Args:
        singular_values: one 1-D array, or name -> 1-D array (e.g. ``jaxmath.lowrank.svd(a).S``).
        shape: (m, n) of the matrices (one shape for all), for the parameter-fraction axis.
        max_rank: last rank drawn (default: the longest spectrum).
        marks: ranks to mark with dotted vertical lines (e.g. LoRA's r, or the true rank r*).

    Returns:
        A Figure with three axes.
    """
    spectra = _spectra(singular_values)
    limit = max_rank or max(len(values) for values in spectra.values())
    if limit < 1:
        raise ValueError(f"max_rank must be >= 1, got {limit}")
    figure, (spectrum_axes, energy_axes, error_axes) = _figure(ncols=3, width=4.4)
    for name, values in spectra.items():
        ranks = np.arange(1, min(limit, len(values)) + 1)
        energy = np.cumsum((values / values[0]) ** 2)
        energy = energy / energy[-1]
        error = np.sqrt(np.clip(1.0 - energy, 0.0, None))
        label = name or None
        spectrum_axes.plot(ranks, values[: len(ranks)], label=label)
        energy_axes.plot(ranks, energy[: len(ranks)], label=label)
        error_axes.plot(ranks, error[: len(ranks)], label=label)
    for axes in (spectrum_axes, energy_axes, error_axes):
        for rank in marks:
            axes.axvline(rank, color="grey", linestyle=":", linewidth=1)
    _label_axes(spectrum_axes, "Singular values", "index i", r"$\sigma_i$", log_scale=True)
    _label_axes(energy_axes, "Cumulative energy", "rank k", "fraction of ||A||_F²")
    energy_axes.set_ylim(0.0, 1.02)
    _label_axes(error_axes, "Best rank-k error", "rank k", "||A - A_k||_F / ||A||_F")
    if shape is not None:
        m, n = (int(size) for size in shape)
        per_rank = (m + n) / (m * n)
        top = error_axes.secondary_xaxis(
            "top", functions=(lambda k: k * per_rank, lambda f: f / per_rank)
        )
        top.set_xlabel(f"parameter fraction k(m+n)/(mn), {m}x{n}")
    if title:
        figure.suptitle(title)
    return figure


__all__ += ["plot_svd_analysis"]


# ---- optimizer schedules ----


def _colormap(name: str, bad: str) -> Any:
    """matplotlib's colormap ``name`` with ``bad`` (masked, NaN) cells in that colour."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=bad)


def plot_lr_schedules(
    curves: Mapping[str, Any],
    momentum: Mapping[str, Any] | None = None,
    ncols: int = 4,
    title: str = "",
) -> Figure:
    """One small panel per learning-rate schedule: lr against the step (and its momentum cycle).

    Args:
        curves: schedule label -> lr at steps 0, 1, ..., shape (steps,).
        momentum: label -> the momentum (or beta1) schedule of the same length, drawn dashed on a
            right-hand axis (torch's CyclicLR and OneCycleLR cycle it); optional.
        ncols: panels per row.

    Returns:
        A Figure with ``len(curves)`` axes in rows of ``ncols``.
    """
    if not curves:
        raise ValueError("curves must hold at least one schedule, got none")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    momentum = dict(momentum or {})
    unknown = sorted(set(momentum) - set(curves))
    if unknown:
        raise ValueError(f"momentum has labels that curves lacks: {unknown}")
    rows = -(-len(curves) // ncols)
    figure = Figure(figsize=(3.4 * ncols, 2.5 * rows), layout="constrained")
    grid = figure.subplots(rows, ncols, squeeze=False)
    for index, (label, values) in enumerate(curves.items()):
        axes = grid[index // ncols][index % ncols]
        values = _one_dimensional(f"curves[{label!r}]", values)
        axes.plot(np.arange(len(values)), values, color="C0", linewidth=1.4)
        axes.set_title(label, fontsize="small")
        axes.set_xlabel("step", fontsize="small")
        axes.set_ylabel("lr", fontsize="small", color="C0")
        axes.tick_params(labelsize="x-small")
        if label in momentum:
            second = _one_dimensional(f"momentum[{label!r}]", momentum[label])
            if second.shape != values.shape:
                raise ValueError(
                    f"momentum[{label!r}] must have the shape of curves[{label!r}] "
                    f"{values.shape}, got {second.shape}"
                )
            twin = axes.twinx()
            twin.plot(np.arange(len(second)), second, "--", color="C1", linewidth=1.0)
            twin.set_ylabel("momentum", fontsize="small", color="C1")
            twin.tick_params(labelsize="x-small")
    for index in range(len(curves), rows * ncols):
        grid[index // ncols][index % ncols].set_visible(False)
    if title:
        figure.suptitle(title)
    return figure


__all__ += ["plot_lr_schedules"]


# ---- optimizer outcomes (muon: lab 1.4.2's comparison table) ----

#: Cell colours of :func:`plot_optimizer_outcomes` outside the colour scales.
_DIVERGED_COLOUR = "#c0392b"
_NEVER_COLOUR = "0.85"


def _cell_text_colour(rgba: Any) -> str:
    """Black on light cells, white on dark ones (relative luminance of the cell colour)."""
    red, green, blue = (float(channel) for channel in rgba[:3])
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45 else "white"


def _per_problem(name: str, values: Any, count: int) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != (count,):
        raise ValueError(f"{name} must have shape (len(problems),) = ({count},), got {array.shape}")
    return array


def plot_optimizer_outcomes(
    steps: Any,
    final_losses: Any,
    optimizers: Sequence[str],
    problems: Sequence[str],
    ran: Any = None,
    start_losses: Any = None,
    thresholds: Any = None,
    title: str = "",
) -> Figure:
    """Each optimizer's outcome on each problem: steps to a loss threshold and the final loss, with
    every cell saying what happened (reached, never reached, reached then left, diverged, not run).

    Args:
        steps: shape (len(optimizers), len(problems)): the steps a run took to reach the problem's
            threshold; NaN where it never did (grey, "-").
        final_losses: the same shape: the loss after the run's last step.
        optimizers, problems: the row and column labels.
        ran: bool, the same shape (default: all True): False where that optimizer was not run on
            that problem (hatched, "not run" in both panels; its numbers are ignored).
        start_losses: shape (len(problems),), each problem's loss at the start (default: none). A
            run is *diverged* when its final loss is not finite or, given these, above the start
            loss (red, "div", the final loss under it when finite); without them only non-finite
            ends count.
        thresholds: shape (len(problems),), the problems' thresholds (default: none): a run that
            reached its threshold and ended above it gets a "*" after its step count.
        title: the figure's title.

    Colours: steps on a log10 scale; final losses as log10(loss - the best final loss of the
    column), clipped at 1e-8 (so a problem whose minimum is not 0, a saddle's -1/4, compares on
    the same scale, and the column's best cells share the floor), over the runs not diverged; each
    panel has its colour bar and the cell text is black or white to contrast with the cell.

    Returns:
        A Figure with the two heat maps and a line explaining the cell marks.
    """
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    steps = np.asarray(steps, dtype=float)
    final_losses = np.asarray(final_losses, dtype=float)
    shape = (len(optimizers), len(problems))
    ran = np.ones(shape, bool) if ran is None else np.asarray(ran)
    for name, array in (("steps", steps), ("final_losses", final_losses), ("ran", ran)):
        if array.shape != shape:
            raise ValueError(
                f"{name} must have shape (len(optimizers), len(problems)) = {shape}, "
                f"got {array.shape}"
            )
    if ran.dtype != bool:
        raise TypeError(f"ran must be a bool array, got dtype {ran.dtype}")
    start = None if start_losses is None else _per_problem("start_losses", start_losses, shape[1])
    limit = None if thresholds is None else _per_problem("thresholds", thresholds, shape[1])

    finite = np.isfinite(final_losses)
    above_start = finite & (final_losses > start[None, :]) if start is not None else ~finite
    diverged = ran & (~finite | above_start)
    left = np.zeros(shape, bool)
    if limit is not None:
        left = ran & np.isfinite(steps) & finite & (final_losses > limit[None, :])
    kept = ran & ~diverged
    best = np.where(kept, final_losses, np.inf).min(axis=0, initial=np.inf)
    best = np.where(np.isfinite(best), best, 0.0)
    gap = np.log10(
        np.maximum(final_losses - best[None, :], 1e-8), where=kept, out=np.full(shape, np.nan)
    )
    shown_steps = np.log10(steps, where=ran & np.isfinite(steps), out=np.full(shape, np.nan))

    figure, (steps_axes, loss_axes) = _figure(
        ncols=2, width=1.8 + 1.25 * len(problems), height=1.5 + 0.32 * len(optimizers)
    )
    panels = (
        (steps_axes, shown_steps, "steps to threshold", "log10 steps", "viridis_r"),
        (loss_axes, gap, "final loss", "log10(final loss - column best), floor -8", "magma_r"),
    )
    for axes, shown, panel_title, bar_label, cmap in panels:
        colormap = _colormap(cmap, bad=_NEVER_COLOUR)
        values = shown[np.isfinite(shown)]
        norm = Normalize(*(values.min(), values.max()) if values.size else (0.0, 1.0))
        if norm.vmin == norm.vmax:
            norm = Normalize(norm.vmin - 0.5, norm.vmax + 0.5)
        image = axes.imshow(np.ma.masked_invalid(shown), cmap=colormap, norm=norm, aspect="auto")
        figure.colorbar(image, ax=axes, shrink=0.8).set_label(bar_label, fontsize="small")
        axes.set_xticks(np.arange(len(problems)), list(problems), rotation=20, ha="right")
        axes.set_yticks(np.arange(len(optimizers)), list(optimizers))
        axes.set_title(panel_title, fontsize="medium")
        for row in range(shape[0]):
            for column in range(shape[1]):
                corner = (column - 0.5, row - 0.5)
                if not ran[row, column]:
                    axes.add_patch(
                        Rectangle(corner, 1, 1, facecolor="white", edgecolor="0.6", hatch="///")
                    )
                    text, colour = "not run", "0.35"
                elif axes is loss_axes and diverged[row, column]:
                    axes.add_patch(Rectangle(corner, 1, 1, facecolor=_DIVERGED_COLOUR))
                    loss = final_losses[row, column]
                    text, colour = ("div" if not np.isfinite(loss) else f"div\n{loss:.3g}"), "white"
                elif axes is loss_axes:
                    text = f"{final_losses[row, column]:.2g}"
                    colour = _cell_text_colour(colormap(norm(shown[row, column])))
                elif np.isfinite(shown[row, column]):
                    text = f"{steps[row, column]:.0f}" + ("*" if left[row, column] else "")
                    colour = _cell_text_colour(colormap(norm(shown[row, column])))
                else:
                    text, colour = "-", "black"
                axes.text(
                    column,
                    row,
                    text,
                    ha="center",
                    va="center",
                    fontsize="x-small" if "\n" in text or text == "not run" else "small",
                    color=colour,
                )
    notes = ['"-": never reached the threshold', "hatched: not run"]
    if limit is not None:
        notes.insert(1, "*: reached it, ended above it")
    notes.append(
        "red: diverged (final loss not finite"
        + (" or above the start loss)" if start is not None else ")")
    )
    figure.text(0.5, 0.0, ";  ".join(notes), ha="center", va="bottom", fontsize="small")
    figure.get_layout_engine().set(rect=(0, 0.04, 1, 0.96))
    if title:
        figure.suptitle(title)
    return figure


__all__ += ["plot_optimizer_outcomes"]
