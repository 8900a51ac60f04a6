"""jaxmath.visualization's optimizer-comparison figures: what they draw, and bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxmath import visualization


def test_comparison_heat_maps_label_every_cell() -> None:
    steps = np.array([[12.0, np.nan], [300.0, 45.0], [np.nan, np.nan]])
    finals = np.array([[1e-5, 0.3], [2e-4, -0.2499], [np.inf, np.nan]])
    figure = visualization.plot_optimizer_comparison(
        steps, finals, ["SGD", "Adam", "Muon"], ["rosenbrock", "saddle"], title="t"
    )
    assert isinstance(figure, Figure)
    steps_axes, loss_axes = figure.axes
    step_texts = [text.get_text() for text in steps_axes.texts]
    loss_texts = [text.get_text() for text in loss_axes.texts]
    assert step_texts == ["12", "-", "300", "45", "-", "-"]
    assert loss_texts == ["1e-05", "0.3", "0.0002", "-0.25", "div", "div"]
    assert [tick.get_text() for tick in steps_axes.get_yticklabels()] == ["SGD", "Adam", "Muon"]
    # the colours: log10 of the steps, NaN (never reached) masked
    image = steps_axes.images[0].get_array()
    assert image.mask.tolist() == [[False, True], [False, False], [True, True]]
    np.testing.assert_allclose(image[0, 0], np.log10(12.0))


def test_comparison_refuses_shapes_that_do_not_match_the_labels() -> None:
    with pytest.raises(ValueError, match=r"steps must have shape .* = \(2, 2\), got \(2, 3\)"):
        visualization.plot_optimizer_comparison(
            np.ones((2, 3)), np.ones((2, 2)), ["a", "b"], ["p", "q"]
        )
    with pytest.raises(ValueError, match="final_losses must have shape"):
        visualization.plot_optimizer_comparison(np.ones((2, 2)), np.ones(4), ["a", "b"], ["p", "q"])


def test_schedules_one_panel_each_and_momentum_on_a_twin_axis() -> None:
    steps = np.arange(50)
    curves = {
        "step": 0.1 * 0.5 ** (steps // 10),
        "cyclic": 0.01 + 0.09 * np.abs(np.sin(steps / 10)),
        "cosine": 0.05 * (1 + np.cos(np.pi * steps / 50)),
    }
    momentum = {"cyclic": 0.9 - 0.1 * np.abs(np.sin(steps / 10))}
    figure = visualization.plot_lr_schedules(curves, momentum, ncols=2, title="schedules")
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert len(visible) == 4  # three panels and one twin axis
    assert [axes.get_title() for axes in visible[:3]] == ["step", "cyclic", "cosine"]
    np.testing.assert_allclose(visible[1].lines[0].get_ydata(), curves["cyclic"])
    np.testing.assert_allclose(visible[3].lines[0].get_ydata(), momentum["cyclic"])
    assert not figure.axes[3].get_visible()  # the unused fourth panel of the 2 x 2 grid


def test_schedules_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one schedule"):
        visualization.plot_lr_schedules({})
    with pytest.raises(ValueError, match=r"momentum has labels that curves lacks: \['x'\]"):
        visualization.plot_lr_schedules({"a": [1.0, 2.0]}, {"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"momentum\['a'\] must have the shape"):
        visualization.plot_lr_schedules({"a": [1.0, 2.0]}, {"a": [1.0]})
    with pytest.raises(ValueError, match="ncols must be >= 1"):
        visualization.plot_lr_schedules({"a": [1.0]}, ncols=0)
