"""jaxmath.visualization's learning-rate schedule figures: what they draw, and bad input refused."""

from __future__ import annotations

import numpy as np
import pytest

from jaxmath import visualization


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
