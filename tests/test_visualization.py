"""Figure functions return Figures (never shown), with the content asked for."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from jaxmath import visualization


def test_plot_functions_draws_one_line_per_curve() -> None:
    x = np.linspace(-1, 1, 5)
    figure = visualization.plot_functions(x, {"a": x, "b": x**2, "c": -x})
    assert isinstance(figure, Figure)
    assert len(figure.axes[0].get_legend().get_texts()) == 3


def test_plot_training_curve_overlays_runs_and_adds_a_second_panel() -> None:
    figure = visualization.plot_training_curve(
        {"sgd": [3, 2, 1], "adam": [3, 1, 0.5]}, second={"sgd": [0.5, 0.7, 0.9]}
    )
    assert len(figure.axes) == 2
    assert len(figure.axes[0].get_lines()) == 2
    single = visualization.plot_training_curve([1.0, 0.5], log_scale=True)
    assert single.axes[0].get_yscale() == "log"


def test_plot_grouped_bars_table_and_decision_boundary() -> None:
    bars = visualization.plot_grouped_bars(
        {"sigmoid": [1e-6, 1e-3], "relu": [0.1, 0.2]}, ["layer 1", "layer 2"], log_scale=True
    )
    assert len(bars.axes[0].patches) == 4
    table = visualization.plot_table([["W1", 1e-10, True]], ["layer", "error", "passed"])
    assert table.axes[0].tables
    grid_x, grid_y = np.meshgrid(np.linspace(0, 1, 4), np.linspace(0, 1, 4))
    boundary = visualization.plot_decision_boundary(
        grid_x, grid_y, grid_x, np.zeros((3, 2)), np.array([0, 1, 0])
    )
    assert len(boundary.axes) == 2  # the plot and its colorbar
