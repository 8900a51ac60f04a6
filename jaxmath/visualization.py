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
