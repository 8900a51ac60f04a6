"""Figures for the labs: each function returns a ``matplotlib.figure.Figure`` and never shows it.

Figures are built with matplotlib's object API (``Figure()``, no pyplot state), take NumPy-convertible
arrays (JAX or NumPy; torch tensors via ``.numpy()``) and are framework-neutral, so torch_ref has no
twin of this module. ``import jaxmath`` does not import this module or matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "plot_decision_boundary",
    "plot_functions",
    "plot_grouped_bars",
    "plot_table",
    "plot_training_curve",
]


def _figure(ncols: int = 1, width: float = 5.0, height: float = 3.6) -> tuple[Figure, list[Any]]:
    """A figure with ``ncols`` axes side by side (shared set-up, written once)."""
    figure = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


def plot_functions(
    x: Any,
    curves: Mapping[str, Any],
    title: str = "",
    xlabel: str = "x",
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Overlay curves ``y = f(x)``: ``x`` of shape (n,), each curve of shape (n,)."""
    figure, (axes,) = _figure()
    x = np.asarray(x)
    for label, values in curves.items():
        axes.plot(x, np.asarray(values), label=label)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if ylim is not None:
        axes.set_ylim(*ylim)
    axes.axhline(0.0, color="0.8", linewidth=0.8, zorder=0)
    axes.legend(fontsize="small")
    return figure


def _as_runs(history: Mapping[str, Sequence[float]] | Sequence[float]) -> dict[str, np.ndarray]:
    if isinstance(history, Mapping):
        return {str(name): np.asarray(values, dtype=float) for name, values in history.items()}
    return {"run": np.asarray(history, dtype=float)}


def plot_training_curve(
    history: Mapping[str, Sequence[float]] | Sequence[float],
    second: Mapping[str, Sequence[float]] | None = None,
    title: str = "Training curve",
    ylabel: str = "loss",
    second_label: str = "accuracy",
    log_scale: bool = False,
) -> Figure:
    """Loss per step for one run or several overlaid.

    Args:
        history: a sequence of losses (one run) or a mapping run name -> sequence of losses.
        second: optional mapping run name -> a second metric per step (e.g. accuracy), drawn in a
            second panel.
        log_scale: logarithmic loss axis.
    """
    runs = _as_runs(history)
    figure, axes = _figure(ncols=2 if second else 1)
    for name, values in runs.items():
        axes[0].plot(np.arange(1, len(values) + 1), values, label=name)
    axes[0].set(title=title, xlabel="step", ylabel=ylabel, yscale="log" if log_scale else "linear")
    axes[0].legend(fontsize="small")
    if second:
        for name, values in _as_runs(second).items():
            axes[1].plot(np.arange(1, len(values) + 1), values, label=name)
        axes[1].set(title=second_label, xlabel="step", ylabel=second_label)
        axes[1].legend(fontsize="small")
    return figure


def plot_grouped_bars(
    groups: Mapping[str, Sequence[float]],
    categories: Sequence[str],
    title: str = "",
    ylabel: str = "",
    log_scale: bool = False,
) -> Figure:
    """Bars per category, one colour per group: ``groups[name]`` has one value per category."""
    figure, (axes,) = _figure(width=6.0)
    positions = np.arange(len(categories))
    width = 0.8 / max(len(groups), 1)
    for index, (name, values) in enumerate(groups.items()):
        axes.bar(
            positions + (index - (len(groups) - 1) / 2) * width,
            np.asarray(values),
            width,
            label=name,
        )
    axes.set_xticks(positions, list(categories))
    axes.set(title=title, ylabel=ylabel, yscale="log" if log_scale else "linear")
    axes.legend(fontsize="small")
    return figure


def plot_table(rows: Sequence[Sequence[Any]], columns: Sequence[str], title: str = "") -> Figure:
    """A table of values (numbers formatted to 3 significant digits) as a figure."""
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
    """Predicted probability of class 1 on a grid, with the data points on top.

    Shapes: ``grid_x``, ``grid_y``, ``probabilities``: (h, w) from ``np.meshgrid``; ``points``: (n, 2);
    ``labels``: (n,) in {0, 1}.
    """
    figure, (axes,) = _figure(width=5.0, height=4.2)
    contour = axes.contourf(
        np.asarray(grid_x),
        np.asarray(grid_y),
        np.asarray(probabilities),
        levels=20,
        cmap="RdBu_r",
        alpha=0.7,
    )
    axes.contour(
        np.asarray(grid_x), np.asarray(grid_y), np.asarray(probabilities), levels=[0.5], colors="k"
    )
    points, labels = np.asarray(points), np.asarray(labels)
    axes.scatter(points[:, 0], points[:, 1], c=labels, cmap="RdBu_r", edgecolors="k", s=14)
    figure.colorbar(contour, ax=axes, label="p(class 1)")
    axes.set(title=title, xlabel="x1", ylabel="x2")
    return figure
