"""jaxmath.objectives / torch_ref.objectives at their known minima, and the paths figure."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxmath import objectives as jobj
from jaxmath import visualization
from torch_ref import objectives as tobj

NAMES = list(jobj.MINIMA)


@pytest.mark.parametrize("name", NAMES)
def test_value_and_gradient_at_each_known_minimum(name: str) -> None:
    for point, value in jobj.MINIMA[name]:
        x = jnp.asarray(point, jnp.float64)
        assert float(getattr(jobj, name)(x)) == pytest.approx(value, abs=1e-12)
        np.testing.assert_allclose(jax.grad(getattr(jobj, name))(x), 0.0, atol=1e-9)
        tensor = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        result = getattr(tobj, name)(tensor)
        assert float(result.detach()) == pytest.approx(value, abs=1e-12)
        (gradient,) = torch.autograd.grad(result, tensor)
        np.testing.assert_allclose(gradient.numpy(), 0.0, atol=1e-9)
        # A minimum: the Hessian there is positive definite.
        hessian = jax.hessian(getattr(jobj, name))(x)
        assert np.all(np.linalg.eigvalsh(np.asarray(hessian)) > 0)


def test_minima_hold_in_more_dimensions_and_other_parameters() -> None:
    assert float(jobj.rosenbrock(jnp.ones(6))) == 0.0
    assert float(jobj.rosenbrock(jnp.asarray([2.0, 4.0]), a=2.0)) == 0.0
    np.testing.assert_allclose(jax.grad(jobj.rastrigin)(jnp.zeros(5)), 0.0, atol=1e-12)
    assert float(jobj.ill_conditioned_quadratic(jnp.zeros(4), condition_number=1e3)) == 0.0


def test_saddle_point_is_stationary_and_indefinite() -> None:
    origin = jnp.zeros(2)
    np.testing.assert_allclose(jax.grad(jobj.saddle)(origin), 0.0)
    np.testing.assert_allclose(jax.hessian(jobj.saddle)(origin), [[2.0, 0.0], [0.0, -1.0]])


def test_ill_conditioned_quadratic_has_the_condition_number_asked_for() -> None:
    hessian = jax.hessian(lambda x: jobj.ill_conditioned_quadratic(x, condition_number=250.0))(
        jnp.ones(5)
    )
    eigenvalues = np.linalg.eigvalsh(np.asarray(hessian))
    assert eigenvalues.max() / eigenvalues.min() == pytest.approx(250.0)


def test_grid_evaluation_is_vectorised_over_leading_axes() -> None:
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 7), np.linspace(-1, 3, 5)), -1)
    values = jobj.himmelblau(grid)
    assert values.shape == (5, 7)
    np.testing.assert_allclose(values[2, 3], jobj.himmelblau(grid[2, 3]))


def test_plot_optimizer_paths_draws_each_path_and_drops_a_diverged_tail() -> None:
    grid_x, grid_y = np.meshgrid(np.linspace(-2, 2, 30), np.linspace(-1, 3, 30))
    values = np.asarray(jobj.rosenbrock(np.stack([grid_x, grid_y], -1)))
    diverged = np.array([[-1.2, 1.0], [-1.0, 1.1], [np.inf, np.nan]])
    figure = visualization.plot_optimizer_paths(
        grid_x,
        grid_y,
        values,
        {"good": np.array([[-1.2, 1.0], [0.0, 0.0], [1.0, 1.0]]), "diverged": diverged},
        minima=[[1.0, 1.0]],
    )
    axes = figure.axes[0]
    lines = [line for line in axes.get_lines() if line.get_label() in ("good", "diverged")]
    assert [len(line.get_xdata()) for line in lines] == [3, 2]
    assert axes.get_legend() is not None
    with pytest.raises(ValueError, match=r"paths\['bad'\] must have shape \(steps \+ 1, 2\)"):
        visualization.plot_optimizer_paths(grid_x, grid_y, values, {"bad": np.zeros((3, 3))})
