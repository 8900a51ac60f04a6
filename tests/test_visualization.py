"""Figure functions return Figures (never shown) with the content asked for; no import side effects."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxmath import visualization


def test_plot_functions_draws_one_line_per_curve() -> None:
    x = np.linspace(-1.0, 1.0, 5)
    figure = visualization.plot_functions(
        x, {"a": x, "b": x**2, "c": -x}, "title", linestyles={"b": "--"}, log_x=False
    )
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    axes = figure.axes[0]
    labelled = [line for line in axes.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in labelled] == ["a", "b", "c"]
    np.testing.assert_allclose(labelled[1].get_ydata(), x**2)
    assert labelled[1].get_linestyle() == "--" and labelled[0].get_linestyle() == "-"
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["a", "b", "c"]
    assert axes.get_title() == "title"


def test_plot_functions_log_axes_and_shape_errors() -> None:
    x = np.geomspace(1.0, 1e4, 5)
    figure = visualization.plot_functions(x, {"y": x}, log_x=True, log_scale=True)
    assert figure.axes[0].get_xscale() == "log" and figure.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match=r"curves\['y'\] must have the shape of x \(5,\)"):
        visualization.plot_functions(x, {"y": x[:3]})


def test_plot_training_curve_overlays_runs_and_adds_a_second_panel() -> None:
    figure = visualization.plot_training_curve(
        {"sgd": [3, 2, 1], "adam": [3, 1, 0.5]},
        second={"sgd": [0.5, 0.9]},
        second_every=10,
        log_scale=True,
    )
    loss_axes, accuracy_axes = figure.axes
    assert [line.get_label() for line in loss_axes.get_lines()] == ["sgd", "adam"]
    assert loss_axes.get_yscale() == "log" and accuracy_axes.get_yscale() == "linear"
    np.testing.assert_array_equal(loss_axes.get_lines()[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(accuracy_axes.get_lines()[0].get_xdata(), [10, 20])
    single = visualization.plot_training_curve(np.array([1.0, 0.5]))
    assert len(single.axes) == 1 and len(single.axes[0].get_lines()) == 1
    assert single.axes[0].get_legend() is None  # one unnamed curve needs no legend


def test_plot_training_curve_takes_a_list_of_runs() -> None:
    runs = [{"train": [1.0, 0.5], "test": [1.2, 0.7]}, {"train": [1.0, 0.2], "test": [1.1, 0.9]}]
    figure = visualization.plot_training_curve(runs, run_labels=["lr=0.1", "lr=1"])
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == [
        "lr=0.1: train",
        "lr=0.1: test",
        "lr=1: train",
        "lr=1: test",
    ]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert lines[0].get_linestyle() != lines[1].get_linestyle()
    with pytest.raises(ValueError, match="run_labels must name each of the 2 runs, got 1"):
        visualization.plot_training_curve(runs, run_labels=["only one"])
    with pytest.raises(ValueError, match="history must hold at least one curve"):
        visualization.plot_training_curve({})


def test_plot_grouped_bars_keeps_the_category_labels() -> None:
    bars = visualization.plot_grouped_bars(
        {"sigmoid": [1e-6, 1e-3], "relu": [0.1, 0.2]}, ["layer 1", "layer 2"], log_scale=True
    )
    axes = bars.axes[0]
    assert len(axes.patches) == 4 and axes.get_yscale() == "log"
    assert [label.get_text() for label in axes.get_xticklabels()] == ["layer 1", "layer 2"]
    with pytest.raises(ValueError, match=r"groups\['relu'\] must have one value per category"):
        visualization.plot_grouped_bars({"relu": [0.1]}, ["layer 1", "layer 2"])


def test_plot_table_and_decision_boundary() -> None:
    table = visualization.plot_table([["W1", 1.23456e-10, True]], ["layer", "error", "passed"])
    cells = table.axes[0].tables[0].get_celld()
    assert cells[(1, 1)].get_text().get_text() == "1.23e-10"
    with pytest.raises(ValueError, match=r"rows\[0\] must have 3 cells, got 2"):
        visualization.plot_table([["W1", 1.0]], ["layer", "error", "passed"])
    grid_x, grid_y = np.meshgrid(np.linspace(0, 1, 4), np.linspace(0, 1, 4))
    boundary = visualization.plot_decision_boundary(
        grid_x, grid_y, grid_x, np.zeros((3, 2)), np.array([0, 1, 0])
    )
    assert len(boundary.axes) == 2  # the plot and its colorbar
    with pytest.raises(ValueError, match=r"points must have shape \(n, 2\)"):
        visualization.plot_decision_boundary(
            grid_x, grid_y, grid_x, np.zeros((3, 3)), np.array([0, 1, 0])
        )


def test_import_jaxmath_leaves_matplotlib_alone_and_figures_leave_pyplot_alone() -> None:
    script = (
        "import sys, jaxmath\n"
        "assert 'matplotlib' not in sys.modules, 'import jaxmath imported matplotlib'\n"
        "from jaxmath import visualization\n"
        "visualization.plot_training_curve([1.0, 0.5]).savefig(__import__('io').BytesIO())\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'a figure function imported pyplot'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_plot_gradient_check_draws_every_error_on_a_log_axis() -> None:
    errors = {
        "vs jax.grad": {"relu": [0.0, 1e-17, 2e-16], "tanh": [3e-16, 0.0, 1e-16]},
        "vs central differences": {"relu": [1e-10, 2e-11, 5e-10], "tanh": [1e-9, 1e-10, 3e-11]},
    }
    figure = visualization.plot_gradient_check(errors, ["W1", "b1", "W2"], tolerance=1e-6)
    assert len(figure.axes) == 2
    for axes, groups in zip(figure.axes, errors.values(), strict=True):
        assert axes.get_yscale() == "log"
        plotted = np.concatenate(
            [line.get_ydata() for line in axes.lines if line.get_label() != "tolerance"]
        )
        expected = np.maximum(np.concatenate([np.asarray(v) for v in groups.values()]), 1e-18)
        np.testing.assert_allclose(np.sort(plotted), np.sort(expected))
        assert [t.get_text() for t in axes.get_xticklabels()] == ["W1", "b1", "W2"]
    with pytest.raises(
        ValueError, match=r"must have one value per parameter \(3\), got shape \(2,\)"
    ):
        visualization.plot_gradient_check({"vs x": {"relu": [1.0, 2.0]}}, ["W1", "b1", "W2"])
