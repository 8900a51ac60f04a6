"""jaxmath.landscape beyond the parity rows: many devices, no recompiling, filter-normalization
properties in both layouts, Hutch++ vs Hutchinson, quadrature exactness, the figures.

The parity rows (parity_tests/cases_landscape.py) compare every function with torch_ref and the
upstream algorithm; these tests check the properties a row cannot express.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from jax.flatten_util import ravel_pytree

import jaxmath
from jaxmath import landscape, visualization
from torch_ref import landscape as torch_landscape

ROOT = pathlib.Path(__file__).resolve().parents[1]


def tanh_mlp(sizes: tuple[int, ...] = (3, 6, 2), batch: int = 16, seed: int = 0) -> tuple:
    key_params, key_x = jax.random.split(jax.random.PRNGKey(seed))
    params = jaxmath.mlp_init(key_params, sizes, activation="tanh", dtype="float64")
    x = jax.random.normal(key_x, (batch, sizes[0]), jnp.float64)
    y = jnp.arange(batch) % sizes[-1]

    def loss(p: list) -> jax.Array:
        return jaxmath.cross_entropy_loss(jaxmath.mlp_forward(p, x, "tanh")[0], y)

    return params, x, y, loss


# ------------------------------------------------------------------------------------------------
# Many devices
# ------------------------------------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import jaxmath
    from jaxmath import landscape
    key_params, key_x = jax.random.split(jax.random.PRNGKey(0))
    params = jaxmath.mlp_init(key_params, (3, 6, 2), activation="tanh", dtype="float64")
    x = jax.random.normal(key_x, (16, 3), jnp.float64)
    y = jnp.arange(16) % 2
    loss = lambda p: jaxmath.cross_entropy_loss(jaxmath.mlp_forward(p, x, "tanh")[0], y)
    d1 = landscape.random_direction(jax.random.PRNGKey(1), params)
    d2 = landscape.random_direction(jax.random.PRNGKey(2), params)
    surface = landscape.loss_surface_2d(
        loss, params, d1, d2, np.linspace(-1, 1, 12), np.linspace(-1, 1, 9), chunk_size=2
    )
    odd = landscape.loss_surface_2d(loss, params, d1, d2, np.linspace(-1, 1, 7), np.linspace(-1, 1, 5))
    trace = landscape.hessian_trace(jax.random.PRNGKey(3), loss, params, n_samples=40, chunk_size=3)

    def placement(array):
        return {
            "devices": len(array.sharding.device_set),
            "replicated": bool(array.sharding.is_fully_replicated),
            "shards": sorted(int(shard.data.shape[0]) for shard in array.addressable_shards),
        }

    json.dump(
        {
            "device_count": jax.device_count(),
            "surface": np.asarray(surface).tolist(),
            "surface_placement": placement(surface),
            "odd": np.asarray(odd).tolist(),
            "trace": float(trace.estimate),
            "error": float(trace.standard_error),
            "samples": np.asarray(trace.samples).tolist(),
            "samples_placement": placement(trace.samples),
        },
        sys.stdout,
    )
    """
)


def run_script(devices: int) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_surface_and_trace_split_over_4_devices_equal_the_single_device_run() -> None:
    """With 4 (forced host) devices the grid's rows and the trace's probes are sharded over all 4
    (the results' shardings say so, each device holding a quarter), and every value equals the
    one-device run."""
    four, one = run_script(4), run_script(1)
    assert four["device_count"] == 4 and one["device_count"] == 1
    for name, rows in (("surface_placement", 12), ("samples_placement", 40)):
        placement = four[name]
        assert placement["devices"] == 4 and not placement["replicated"], placement
        assert placement["shards"] == [rows // 4] * 4, placement
        assert one[name]["devices"] == 1
    for field in ("surface", "odd", "samples"):
        np.testing.assert_allclose(four[field], one[field], rtol=1e-12, atol=1e-14)
    assert four["trace"] == pytest.approx(one["trace"], rel=1e-12)
    assert four["error"] == pytest.approx(one["error"], rel=1e-9)


# ------------------------------------------------------------------------------------------------
# Compilation
# ------------------------------------------------------------------------------------------------


def test_the_grid_does_not_recompile_for_new_values() -> None:
    params, _, _, loss = tanh_mlp()
    d1 = landscape.random_direction(jax.random.PRNGKey(1), params)
    d2 = landscape.random_direction(jax.random.PRNGKey(2), params)
    alphas = np.linspace(-1, 1, 5)
    first = landscape.loss_surface_2d(loss, params, d1, d2, alphas, alphas)
    size = landscape._grid_losses._cache_size()
    moved = jax.tree.map(lambda p: 0.5 * p, params)
    second = landscape.loss_surface_2d(loss, moved, d2, d1, alphas * 2, alphas * 3)
    assert landscape._grid_losses._cache_size() == size
    assert not np.allclose(first, second)


def test_chunk_size_changes_nothing_but_the_schedule() -> None:
    params, _, _, loss = tanh_mlp()
    d1 = landscape.random_direction(jax.random.PRNGKey(1), params)
    d2 = landscape.random_direction(jax.random.PRNGKey(2), params)
    alphas, betas = np.linspace(-1, 1, 6), np.linspace(-2, 0, 7)
    reference = landscape.loss_surface_2d(loss, params, d1, d2, alphas, betas, chunk_size=1)
    for chunk in (4, 42, 100):
        np.testing.assert_allclose(
            landscape.loss_surface_2d(loss, params, d1, d2, alphas, betas, chunk_size=chunk),
            reference,
            rtol=1e-13,
        )
    assert landscape.default_chunk_size("cpu") == 1 and landscape.default_chunk_size("gpu") == 64


@pytest.mark.parametrize("streams", [1, 2, 3, 5])
def test_independent_streams_per_step_change_nothing_but_the_schedule(
    streams: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each lax.map step evaluates GRID_STREAMS[backend] chunks side by side (CPU: 2); 42 and 5
    points are not multiples of every streams x chunk, so the padding (copies of the last point,
    dropped afterwards) is exercised too."""
    assert landscape.GRID_STREAMS["cpu"] == 2 and jax.default_backend() == "cpu"
    params, _, _, loss = tanh_mlp()
    d1 = landscape.random_direction(jax.random.PRNGKey(1), params)
    d2 = landscape.random_direction(jax.random.PRNGKey(2), params)
    alphas, betas = np.linspace(-1, 1, 6), np.linspace(-2, 0, 7)

    def point(a: float, b: float) -> float:
        return float(loss(jax.tree.map(lambda p, u, v: p + a * u + b * v, params, d1, d2)))

    expected = np.array([[point(a, b) for b in betas] for a in alphas])
    along = np.array([point(a, 0.0) for a in alphas[:5]])
    monkeypatch.setitem(landscape.GRID_STREAMS, "cpu", streams)
    for chunk in (1, 4):
        surface = landscape.loss_surface_2d(loss, params, d1, d2, alphas, betas, chunk_size=chunk)
        np.testing.assert_allclose(surface, expected, rtol=1e-13)
    np.testing.assert_allclose(
        landscape.loss_along(loss, params, d1, alphas[:5]), along, rtol=1e-13
    )


def conv_loss() -> tuple:
    """A conv net (HWIO kernel, then tanh, then a dense layer) on float64 images."""
    key_k, key_w, key_x = jax.random.split(jax.random.PRNGKey(5), 3)
    params = {
        "kernel": jax.random.normal(key_k, (3, 3, 2, 4), jnp.float64) * 0.3,
        "bias": jnp.full((4,), 0.1, jnp.float64),
        "dense": jax.random.normal(key_w, (4 * 6 * 6, 3), jnp.float64) * 0.1,
    }
    x = jax.random.normal(key_x, (5, 6, 6, 2), jnp.float64)

    def loss(p: dict) -> jax.Array:
        z = jax.lax.conv_general_dilated(
            x, p["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        h = jnp.tanh(z + p["bias"]).reshape(5, -1)
        return jnp.mean(jax.nn.logsumexp(h @ p["dense"], axis=-1))

    return params, loss


def hoisting_cases() -> list:
    """Losses of every shape the point-independent split meets: an MLP (dense first layer), the
    same under jax.jit (inlined call), a conv net, a loss linear in the parameters (the result is
    affine: nothing is point-dependent), a parameter used nonlinearly before any product (nothing
    to hoist; jax.nn.relu is a custom_jvp call, evaluated per point), a parameter in two products
    and in a sum of two affine values, a scalar parameter scaling the data."""
    params, x, _, loss = tanh_mlp((3, 6, 2), batch=16)
    conv_params, conv = conv_loss()
    data = jax.random.normal(jax.random.PRNGKey(7), (16, 3), jnp.float64)
    shared = {"W": params[0]["W"], "s": jnp.asarray(0.7, jnp.float64)}
    return [
        ("mlp", params, loss),
        ("jitted", params, jax.jit(loss)),
        ("conv", conv_params, conv),
        ("linear", params, lambda p: jnp.sum(x @ p[0]["W"]) - 2.0 * jnp.sum(p[1]["b"])),
        (
            "nonlinear first",
            params,
            lambda p: jnp.sum((x @ (p[0]["W"] ** 2)) ** 2 + x @ jax.nn.relu(p[0]["W"])),
        ),
        (
            "two products",
            shared,
            lambda p: jnp.sum(jnp.sin(data @ p["W"] + (data * p["s"]) @ p["W"] - p["s"])),
        ),
    ]


@pytest.mark.parametrize("case", range(6))
def test_hoisted_products_equal_the_direct_evaluation(
    case: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HOIST_PRODUCTS computes the point-independent parts once (x @ W0, x @ D1, x @ D2 for a first
    layer) and each point from them: equal, in float64, to loss_fn(params + a d1 + b d2) evaluated
    as written (the direct path) and to a per-point loop, for the surface (chunks of 1 and 3, one
    and two streams) and the 1-D slice."""
    name, params, loss = hoisting_cases()[case]
    d1 = landscape.random_direction(jax.random.PRNGKey(1), params, normalization="none")
    d2 = landscape.random_direction(jax.random.PRNGKey(2), params, normalization="none")
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-2, 0.5, 4)

    def point(a: float, b: float) -> float:
        return float(loss(jax.tree.map(lambda p, u, v: p + a * u + b * v, params, d1, d2)))

    expected = np.array([[point(a, b) for b in betas] for a in alphas])
    assert landscape.HOIST_PRODUCTS
    results = {}
    for hoist in (True, False):
        monkeypatch.setattr(landscape, "HOIST_PRODUCTS", hoist)
        for streams, chunk in ((1, 1), (2, 3)):
            monkeypatch.setitem(landscape.GRID_STREAMS, "cpu", streams)
            surface = landscape.loss_surface_2d(loss, params, d1, d2, alphas, betas, chunk)
            np.testing.assert_allclose(surface, expected, rtol=1e-12, err_msg=name)
            results[hoist, streams] = np.asarray(surface)
        along = landscape.loss_along(loss, params, d1, alphas)
        np.testing.assert_allclose(along, [point(a, 0.0) for a in alphas], rtol=1e-12)
    assert results[True, 1].dtype == np.float64


def count_in_loop(jaxpr: object, primitive: str, in_loop: bool = False) -> int:
    """How many ``primitive`` equations run inside a loop (scan/while bodies) of ``jaxpr``,
    through nested calls."""
    count = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == primitive and in_loop:
            count += 1
        loop = in_loop or eqn.primitive.name in ("scan", "while")
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            count += count_in_loop(sub, primitive, loop)
    return count


def test_the_data_products_of_the_first_layer_leave_the_loop() -> None:
    """With HOIST_PRODUCTS, the grid's loop over the points does 2 matmuls per point for a
    3-layer MLP (the first layer's x @ W0, x @ D1, x @ D2 are made once, before the loop), 3
    without; the 1-D slice alike."""
    params, _, _, loss = tanh_mlp((3, 6, 5, 2), batch=16)
    d1 = landscape.random_direction(jax.random.PRNGKey(1), params)
    d2 = landscape.random_direction(jax.random.PRNGKey(2), params)
    grid = np.zeros((4, 3, 2))
    for hoist, dots in ((True, 2), (False, 3)):
        for streams in (1, 2):
            traced = jax.make_jaxpr(
                functools.partial(
                    landscape._grid_losses,
                    loss_fn=loss,
                    chunk_size=1,
                    streams=streams,
                    hoist=hoist,
                )
            )(params=params, directions=(d1, d2), coefficients=grid)
            assert count_in_loop(traced.jaxpr, "dot_general") == dots * streams
            assert count_in_loop(traced.jaxpr, "scan") + count_in_loop(traced.jaxpr, "while") == 0


# ------------------------------------------------------------------------------------------------
# Filter normalization
# ------------------------------------------------------------------------------------------------


def filter_norms(array: np.ndarray, output_axis: int) -> np.ndarray:
    axes = tuple(axis for axis in range(array.ndim) if axis != output_axis % array.ndim)
    return np.sqrt(np.sum(np.asarray(array, np.float64) ** 2, axis=axes))


@pytest.mark.parametrize("package", [landscape, torch_landscape], ids=["jaxmath", "torch_ref"])
def test_every_filter_gets_its_weights_norm_in_either_layout(package: object) -> None:
    """Dense (in, out) and HWIO with layout='jax' = (out, in) and OIHW with layout='torch': each
    output unit's slice of the direction has that unit's weight norm; biases are zeroed."""
    rng = np.random.default_rng(0)
    dense, kernel = rng.standard_normal((5, 7)), rng.standard_normal((3, 3, 4, 6))
    dense[:, 2] = 0.0  # a dead unit keeps a zero direction
    jax_layout = {"dense": dense, "kernel": kernel, "bias": rng.standard_normal(7)}
    torch_layout = {
        "dense": dense.T.copy(),
        "kernel": kernel.transpose(3, 2, 0, 1).copy(),
        "bias": jax_layout["bias"],
    }
    noise = {key: rng.standard_normal(value.shape) for key, value in jax_layout.items()}
    noise_torch = {
        "dense": noise["dense"].T.copy(),
        "kernel": noise["kernel"].transpose(3, 2, 0, 1).copy(),
        "bias": noise["bias"],
    }
    convert = (
        (lambda tree: tree)
        if package is landscape
        else (lambda tree: {k: torch.from_numpy(v) for k, v in tree.items()})
    )
    ours = package.normalize_direction(convert(noise), convert(jax_layout), layout="jax")
    theirs = package.normalize_direction(
        convert(noise_torch), convert(torch_layout), layout="torch"
    )
    # rtol 1e-9 below: net_plotter's 1e-10 added to each direction-filter norm shifts the ratio.
    ours = {key: np.asarray(value) for key, value in ours.items()}
    theirs = {key: np.asarray(value) for key, value in theirs.items()}
    np.testing.assert_allclose(filter_norms(ours["dense"], -1), filter_norms(dense, -1), rtol=1e-9)
    np.testing.assert_allclose(
        filter_norms(ours["kernel"], -1), filter_norms(kernel, -1), rtol=1e-9
    )
    assert np.all(ours["dense"][:, 2] == 0.0) and np.all(ours["bias"] == 0.0)
    np.testing.assert_allclose(theirs["dense"].T, ours["dense"], rtol=1e-12)
    np.testing.assert_allclose(theirs["kernel"].transpose(2, 3, 1, 0), ours["kernel"], rtol=1e-12)
    wrong = package.normalize_direction(convert(noise), convert(jax_layout), layout="torch")
    assert not np.allclose(filter_norms(np.asarray(wrong["dense"]), -1), filter_norms(dense, -1))


def test_random_direction_is_reproducible_and_matches_the_params_scale() -> None:
    params, *_ = tanh_mlp()
    first = landscape.random_direction(jax.random.PRNGKey(5), params)
    again = landscape.random_direction(jax.random.PRNGKey(5), params)
    other = landscape.random_direction(jax.random.PRNGKey(6), params)
    for a, b, c, p in zip(
        jax.tree.leaves(first),
        jax.tree.leaves(again),
        jax.tree.leaves(other),
        jax.tree.leaves(params),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
        if p.ndim == 2:
            assert not np.allclose(a, c)
            np.testing.assert_allclose(filter_norms(a, -1), filter_norms(p, -1), rtol=1e-9)


# ------------------------------------------------------------------------------------------------
# The Hessian
# ------------------------------------------------------------------------------------------------


def low_rank_plus_noise(size: int = 120, rank: int = 6, seed: int = 0) -> np.ndarray:
    """A PSD matrix whose trace sits in a few large eigenvalues, the shape of a network Hessian."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((size, size)))
    spectrum = np.concatenate([np.linspace(50.0, 20.0, rank), rng.uniform(0.0, 0.2, size - rank)])
    return (basis * spectrum) @ basis.T


@pytest.mark.parametrize("package", ["jaxmath", "torch_ref"])
def test_hutch_plus_plus_beats_hutchinson_at_equal_matvecs(package: str) -> None:
    """Meyer et al. (2021): on a low-rank-plus-noise matrix, 30 matvecs of Hutch++ give a smaller
    error than 30 of Hutchinson, over 12 seeds (mean absolute error, and in most single seeds)."""
    matrix = low_rank_plus_noise()
    exact = np.trace(matrix)
    errors = {"hutchinson": [], "hutch++": []}
    for seed in range(12):
        for method in errors:
            if package == "jaxmath":
                a = jnp.asarray(matrix)
                result = landscape.hessian_trace(
                    jax.random.PRNGKey(seed),
                    lambda p, a=a: 0.5 * p @ a @ p,
                    jnp.zeros(matrix.shape[0]),
                    n_samples=30,
                    method=method,
                )
            else:
                a = torch.from_numpy(matrix)
                result = torch_landscape.hessian_trace(
                    torch.Generator().manual_seed(seed),
                    lambda p, a=a: 0.5 * p @ a @ p,
                    torch.zeros(matrix.shape[0], dtype=torch.float64),
                    n_samples=30,
                    method=method,
                )
            assert result.n_matvecs == 30
            errors[method].append(abs(float(result.estimate) - exact))
            assert abs(float(result.estimate) - exact) <= 4 * float(result.standard_error)
    hutchinson, hutch_pp = np.asarray(errors["hutchinson"]), np.asarray(errors["hutch++"])
    assert hutch_pp.mean() < 0.2 * hutchinson.mean(), (hutch_pp.mean(), hutchinson.mean())
    assert np.mean(hutch_pp < hutchinson) >= 0.75


def test_full_lanczos_quadrature_is_exact() -> None:
    """With as many Lanczos steps as parameters, the nodes are the Hessian's eigenvalues and the
    quadrature's moments are v^T H^p v / P exactly for that start vector."""
    params, _, _, loss = tanh_mlp((2, 3, 2), batch=10)
    flat, unravel = ravel_pytree(params)
    hessian = np.asarray(jax.hessian(lambda f: loss(unravel(f)))(flat))
    eigenvalues = np.linalg.eigvalsh(hessian)
    result = landscape.hessian_spectral_density(jax.random.PRNGKey(0), loss, params, n_iter=200)
    nodes, weights = np.asarray(result.nodes[0]), np.asarray(result.weights[0])
    used = nodes[weights > 1e-12]
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    for node in used:
        assert np.min(np.abs(eigenvalues - node)) < 1e-8 * max(1.0, np.abs(eigenvalues).max())
    assert np.trapezoid(result.density, result.grid) == pytest.approx(1.0, abs=1e-6)


def test_batches_average_by_batch_size() -> None:
    """hvp / eigs / trace over uneven batches equal the same on the whole data (the full-data mean
    is the batch-size-weighted mean of the batch means)."""
    params, x, y, loss = tanh_mlp(batch=14)
    batches = [(x[:3], y[:3]), (x[3:10], y[3:10]), (x[10:], y[10:])]

    def batch_loss(p: list, batch: tuple) -> jax.Array:
        return jaxmath.cross_entropy_loss(jaxmath.mlp_forward(p, batch[0], "tanh")[0], batch[1])

    v = landscape.random_direction(jax.random.PRNGKey(1), params, normalization="none", ignore=None)
    for whole, split in zip(
        jax.tree.leaves(landscape.hvp(loss, params, v)),
        jax.tree.leaves(landscape.hvp(batch_loss, params, v, batches=batches)),
        strict=True,
    ):
        np.testing.assert_allclose(split, whole, rtol=1e-10, atol=1e-13)
    key = jax.random.PRNGKey(2)
    whole = landscape.hessian_trace(key, loss, params, n_samples=20)
    split = landscape.hessian_trace(key, batch_loss, params, n_samples=20, batches=batches)
    np.testing.assert_allclose(split.samples, whole.samples, rtol=1e-10)


def test_eigs_vectors_are_unit_eigenvectors_of_the_masked_block() -> None:
    params, _, _, loss = tanh_mlp()
    mask = [
        {"W": np.ones((3, 6), bool), "b": np.zeros(6, bool)},
        jax.tree.map(lambda p: np.zeros(p.shape, bool), params[1]),
    ]
    result = landscape.hessian_eigs(jax.random.PRNGKey(0), loss, params, k=3, mask=mask, tol=1e-8)
    for index in range(3):
        vector = jax.tree.map(lambda leaf, index=index: leaf[index], result.eigenvectors)
        flat = ravel_pytree(vector)[0]
        assert float(jnp.linalg.norm(flat)) == pytest.approx(1.0, abs=1e-10)
        off_mask = ravel_pytree(jax.tree.map(lambda m: ~np.asarray(m), mask))[0]
        assert float(jnp.abs(flat * off_mask).max()) == 0.0
        product = ravel_pytree(landscape.hvp(loss, params, vector, mask=mask))[0]
        np.testing.assert_allclose(product, result.eigenvalues[index] * flat, atol=1e-7)


def test_pca_of_a_straight_path_finds_its_direction() -> None:
    params, *_ = tanh_mlp()
    direction = landscape.random_direction(jax.random.PRNGKey(3), params)
    bend = landscape.random_direction(jax.random.PRNGKey(4), params)
    path = [
        jax.tree.map(lambda p, d, b, t=t: p + t * d + 0.01 * t**2 * b, params, direction, bend)
        for t in np.linspace(0.0, 1.0, 9)
    ]
    result = landscape.pca_directions(path)
    unit = ravel_pytree(direction)[0] / jnp.linalg.norm(ravel_pytree(direction)[0])
    assert abs(float(unit @ ravel_pytree(result.directions[0])[0])) > 0.999
    assert float(result.explained_variance_ratio[0]) > 0.99
    np.testing.assert_allclose(result.projected[-1], 0.0, atol=1e-12)  # the solution at the origin


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------


def test_plot_loss_landscape_draws_contour_surface_and_paths() -> None:
    alphas, betas = np.linspace(-1, 1, 9), np.linspace(-2, 2, 11)
    surface = np.add.outer(alphas**2, 0.5 * betas**2) + 0.1
    path = np.stack([np.linspace(0.9, 0.0, 6), np.linspace(-1.8, 0.0, 6)], axis=1)
    figure = visualization.plot_loss_landscape(
        alphas, betas, surface, trajectories={"sgd": path, "adam": path * 0.5}, log_scale=True
    )
    contour_axes, _, surface_axes = figure.axes  # the colorbar is an axes too
    assert surface_axes.name == "3d"
    assert len(contour_axes.get_legend().get_texts()) == 2
    assert len(surface_axes.lines) == 2
    heights = surface_axes.lines[0].get_data_3d()[2]
    np.testing.assert_allclose(heights[-1], np.log10(0.1), atol=1e-12)  # the path ends at the min
    flat_only = visualization.plot_loss_landscape(alphas, betas, surface, surface_3d=False)
    assert len(flat_only.axes) == 2
    with pytest.raises(
        ValueError, match=r"surface must have shape \(len\(alphas\), len\(betas\)\)"
    ):
        visualization.plot_loss_landscape(alphas, betas, surface.T)
    with pytest.raises(ValueError, match=r"trajectories\['x'\] must have shape \(T, 2\)"):
        visualization.plot_loss_landscape(alphas, betas, surface, trajectories={"x": path[:, :1]})


def test_plot_spectral_density_marks_eigenvalues() -> None:
    grid = np.linspace(-1, 5, 50)
    density = np.exp(-((grid - 1) ** 2))
    figure = visualization.plot_spectral_density(
        {"small batch": (grid, density), "large batch": (grid, density / 2)},
        markers={"small batch": [4.0, 3.0]},
    )
    (axes,) = figure.axes
    assert len(axes.lines) == 4 and axes.get_yscale() == "log"
    with pytest.raises(ValueError, match="densities must hold at least one curve"):
        visualization.plot_spectral_density({})


# ------------------------------------------------------------------------------------------------
# The benchmark runs (quick sizes; nothing here is timed)
# ------------------------------------------------------------------------------------------------


def test_landscape_benchmark_quick_runs_every_contender(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "landscape", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((tmp_path / "landscape.json").read_text())
    assert [row["contender"] for row in record["rows"]] == [
        "jaxmath.loss_surface_2d",
        "jax.jit per point (Python loop)",
        "torch no_grad loop (plot_surface.py)",
    ]
    assert all(row["status"] == "ok" and row["gflop_per_s"] > 0 for row in record["rows"])
    # the harness's CPU-time second opinion, and the work jaxmath performs with the first layer's
    # data products hoisted (3 products once instead of one per point: less than the work)
    assert all(row["cpu_ms"] > 0 and row["gflop_per_cpu_s"] > 0 for row in record["rows"])
    performed = record["rows"][0]["quality"]["gflop_performed"]
    assert 0 < performed < record["rows"][0]["work"]["flops"] / 1e9
    assert record["environment"]["load_average_at_start"] is not None
