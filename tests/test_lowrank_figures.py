"""jaxmath.visualization.plot_svd_analysis: the figure's panels and curves, and its bad input."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxmath import lowrank, visualization


def test_svd_analysis_draws_three_panels_one_curve_per_matrix() -> None:
    a = np.random.default_rng(0).standard_normal((30, 20))
    spectra = {"gaussian": lowrank.svd(a).S, "decaying": np.exp(-np.arange(20) / 3.0)}
    figure = visualization.plot_svd_analysis(spectra, shape=(30, 20), marks=(4,), title="t")
    assert isinstance(figure, Figure)
    spectrum, energy, error = figure.axes[:3]
    for axes in (spectrum, energy, error):
        assert len(axes.get_lines()) == 2 + 1  # two curves and the mark
    # cumulative energy ends at 1, the relative error at 0; the spectrum is on a log axis
    assert energy.get_lines()[0].get_ydata()[-1] == pytest.approx(1.0)
    assert error.get_lines()[1].get_ydata()[-1] == pytest.approx(0.0, abs=1e-7)
    assert spectrum.get_yscale() == "log"
    # the error at rank k is the Eckart-Young error relative to ||A||_F
    s = np.asarray(spectra["gaussian"])
    expected = float(lowrank.eckart_young_error(s, 5)) / np.linalg.norm(s)
    assert error.get_lines()[0].get_ydata()[4] == pytest.approx(expected, rel=1e-5)


def test_svd_analysis_single_spectrum_and_max_rank() -> None:
    figure = visualization.plot_svd_analysis(np.linspace(3.0, 0.1, 50), max_rank=10)
    assert len(figure.axes[0].get_lines()[0].get_xdata()) == 10


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "at least one spectrum"),
        (np.ones((2, 2)), "must be one-dimensional"),
        (np.array([1.0, -0.5]), "must be >= 0"),
        (np.zeros(3), "not all 0"),
    ],
)
def test_svd_analysis_refuses_bad_spectra(values: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        visualization.plot_svd_analysis(values)
