"""jaxmath.visualization.plot_optimizer_outcomes (lab 1.4.2's comparison figure): every cell says
what happened (reached, never reached, reached then left, diverged, not run), and the text stays
readable on its cell."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxmath import visualization

OPTIMIZERS = ["SGD", "Adam", "Muon"]
PROBLEMS = ["rosenbrock", "saddle"]


def texts(axes) -> list[str]:
    return [text.get_text() for text in axes.texts]


def draw(**kwargs) -> Figure:
    steps = np.array([[12.0, np.nan], [300.0, 45.0], [np.nan, 7.0]])
    finals = np.array([[1e-5, 0.3], [2e-4, -0.2499], [np.inf, 5.0]])
    return visualization.plot_optimizer_outcomes(steps, finals, OPTIMIZERS, PROBLEMS, **kwargs)


def test_every_cell_is_labelled_with_its_outcome() -> None:
    figure = draw(
        ran=np.array([[True, False], [True, True], [True, True]]),
        start_losses=[24.2, 2.25],
        thresholds=[1e-3, -0.249],
        title="t",
    )
    steps_axes, loss_axes = figure.axes[:2]  # (then the two colour bars)
    # Muon on the saddle reached -0.249 at step 7 and ended at 5 > start 2.25: "*" and diverged;
    # Adam on rosenbrock ended at 2e-4 <= 1e-3: no mark; SGD on the saddle was not run.
    assert texts(steps_axes) == ["12", "not run", "300", "45", "-", "7*"]
    assert texts(loss_axes) == ["1e-05", "not run", "0.0002", "-0.25", "div", "div\n5"]
    assert [tick.get_text() for tick in steps_axes.get_yticklabels()] == OPTIMIZERS
    assert "not run" in figure.texts[0].get_text() and "diverged" in figure.texts[0].get_text()


def test_not_run_is_not_diverged_and_diverged_needs_a_start_loss_to_be_finite() -> None:
    # without start losses only non-finite ends are diverged: Muon's saddle end (5.0) is a number
    loss_axes = draw().axes[1]
    assert texts(loss_axes) == ["1e-05", "0.3", "0.0002", "-0.25", "div", "5"]
    # a cell not run is "not run" even when its numbers would read as diverged
    loss_axes = draw(ran=np.array([[True, True], [True, True], [False, True]])).axes[1]
    assert texts(loss_axes)[4] == "not run"


def test_the_colours_are_gaps_to_the_column_best_clipped_and_the_text_contrasts() -> None:
    figure = draw(start_losses=[24.2, 2.25])
    steps_axes, loss_axes = figure.axes[:2]
    gaps = loss_axes.images[0].get_array()
    # rosenbrock: best 1e-5 (floor 1e-8), Adam 2e-4 - 1e-5; Muon diverged: masked
    np.testing.assert_allclose(gaps[0, 0], -8.0)
    np.testing.assert_allclose(gaps[1, 0], np.log10(2e-4 - 1e-5))
    assert gaps.mask[2, 0] and gaps.mask[2, 1]  # diverged: drawn red, not on the scale
    np.testing.assert_allclose(steps_axes.images[0].get_array()[1, 0], np.log10(300.0))
    for axes in (steps_axes, loss_axes):
        image = axes.images[0]
        for text in axes.texts:
            row, column = round(text.get_position()[1]), round(text.get_position()[0])
            value = image.get_array()[row, column]
            if np.ma.is_masked(value):
                continue
            red, green, blue, _ = image.cmap(image.norm(value))
            light = 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45
            assert text.get_color() == ("black" if light else "white"), text.get_text()


def test_bad_shapes_and_masks_are_refused() -> None:
    steps, finals = np.ones((2, 2)), np.ones((2, 2))
    with pytest.raises(ValueError, match=r"steps must have shape .* = \(2, 2\), got \(2, 3\)"):
        visualization.plot_optimizer_outcomes(np.ones((2, 3)), finals, ["a", "b"], ["p", "q"])
    with pytest.raises(ValueError, match=r"ran must have shape .* got \(2,\)"):
        visualization.plot_optimizer_outcomes(steps, finals, ["a", "b"], ["p", "q"], ran=[1, 0])
    with pytest.raises(TypeError, match="ran must be a bool array, got dtype int"):
        visualization.plot_optimizer_outcomes(
            steps, finals, ["a", "b"], ["p", "q"], ran=np.ones((2, 2), int)
        )
    with pytest.raises(ValueError, match=r"start_losses must have shape \(len\(problems\),\)"):
        visualization.plot_optimizer_outcomes(
            steps, finals, ["a", "b"], ["p", "q"], start_losses=[1.0]
        )
    with pytest.raises(ValueError, match=r"thresholds must have shape"):
        visualization.plot_optimizer_outcomes(
            steps, finals, ["a", "b"], ["p", "q"], thresholds=np.ones((2, 2))
        )
