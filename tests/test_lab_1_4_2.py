"""Lab 1.4.2 end to end (quick): figures written, and the comparison's rows are real measurements
(re-trained here by another code path: no vmap over learning rates, no switch over problems)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmath import lr_scheduler, optim
from labs import LabContext, exercises
from labs import lab_1_4_2_optimizers as lab
from labs._runner import run_labs

FIGURES = {
    "paths_rosenbrock.png",
    "paths_beale.png",
    "paths_saddle.png",
    "loss_rosenbrock.png",
    "loss_beale.png",
    "loss_saddle.png",
    "loss_quadratic.png",
    "sweep_lr_momentum.png",
    "adam_vs_adamw.png",
    "mlp_training_curves.png",
    "optimizer_comparison.png",
    "schedules.png",
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("lab142")
    (record,) = run_labs(["1.4.2"], out, quick=True)
    assert record["status"] == "passed", record.get("error")
    lab_dir = out / "lab-1.4.2"
    return lab_dir, json.loads((lab_dir / "metrics.json").read_text())["metrics"]


def labels() -> list[str]:
    """The quick run's optimizers."""
    quick = LabContext(out_dir=pathlib.Path("."), quick=True)
    return [*lab.compared(quick), *(["LBFGS"] if lab.has_lbfgs() else [])]


def test_the_default_run_compares_every_optimizer_of_optim() -> None:
    names = {name for name in optim.__all__ if name[0].isupper() and not name.endswith("State")}
    default = LabContext(out_dir=pathlib.Path("."), quick=False)
    assert names - {"LBFGS"} == {name for name, _ in lab.compared(default).values()}
    assert {"Adafactor", "Muon"} <= names  # the shape-aware ones are in
    quick = set(lab.compared(LabContext(out_dir=pathlib.Path("."), quick=True)))
    assert quick == set(lab.QUICK_OPTIMIZERS)


def test_figures_and_one_row_per_optimizer_and_problem(quick_run: tuple) -> None:
    lab_dir, metrics = quick_run
    assert {path.name for path in lab_dir.glob("*.png")} >= FIGURES
    rows = metrics["comparison"]
    problems = [*lab.PROBLEMS, "mlp"]
    expected = {(problem, label) for problem in problems for label in labels()}
    expected -= {("mlp", label) for label in (*lab.SGD_VARIANTS, "LBFGS")}  # default run only
    expected.add(("mlp", "AdamW, warm-up + cosine"))
    assert sorted((row["problem"], row["optimizer"]) for row in rows) == sorted(expected)
    for row in rows:
        assert set(row) == {
            "problem",
            "optimizer",
            "lr",
            "lr_from",
            "steps",
            "threshold",
            "steps_to_threshold",
            "final_loss",
        }
        if row["lr_from"] == "grid":
            assert any(np.isclose(row["lr"], rate) for rate in lab.LR_GRID)
        reached = row["steps_to_threshold"]
        if reached is not None:  # reached and kept going: the final loss is the end of that run
            assert 0 <= reached <= row["steps"]
    assert metrics["comparison_lr_rule"] == lab.LR_RULE
    # the headline numbers: Adam solves Rosenbrock's valley within the quick budget
    assert metrics["rosenbrock/Adam/steps_to_threshold"] is not None
    assert metrics["rosenbrock/Adam/final_loss"] < 1e-3


@pytest.fixture
def lab_numerics() -> Any:
    """The lab's own numerics: it runs in a process of its own, without the suite's x64 mode and
    "highest" matmul precision (conftest.py); the retraining must too (at a tuned, near-unstable lr
    a float64 bias correction or a float32-exact matmul ends the MLP's training 20% away)."""
    with jax.enable_x64(False), jax.default_matmul_precision("default"):
        yield


def _retrain_test_function(row: dict[str, Any]) -> np.ndarray:
    """The row's run again: ``descend`` (a plain jitted scan) at the row's lr."""
    name, options = lab.optimizers()[row["optimizer"]]
    shape = (1, 2) if name in lab.MATRIX_ONLY else (2,)
    function = lab.FUNCTIONS[row["problem"]]
    start = jnp.asarray(lab.PROBLEMS[row["problem"]]["start"], jnp.float32).reshape(shape)
    opt = getattr(optim, name)(lr=row["lr"], **options)
    _, losses = lab.descend(opt, lambda x: function(x.reshape(2)), start, row["steps"])
    return np.asarray(losses)


@pytest.mark.parametrize(
    ("problem", "label"),
    [
        ("rosenbrock", "Adam"),
        ("quadratic", "SGD momentum 0.9"),
        ("beale", "Rprop"),
        ("saddle", "RMSprop"),
        ("rosenbrock", "Muon"),
        ("quadratic", "Adafactor"),
    ],
)
def test_a_test_function_row_is_what_training_at_its_lr_gives(
    quick_run: tuple, lab_numerics: None, problem: str, label: str
) -> None:
    row = next(
        r for r in quick_run[1]["comparison"] if (r["problem"], r["optimizer"]) == (problem, label)
    )
    losses = _retrain_test_function(row)
    assert len(losses) == row["steps"] + 1
    np.testing.assert_allclose(row["final_loss"], losses[-1], rtol=1e-4, atol=1e-7)
    assert row["steps_to_threshold"] == lab.steps_to(losses, row["threshold"])
    if row["steps_to_threshold"] is not None:
        k = row["steps_to_threshold"]
        assert losses[k] <= row["threshold"] and (k == 0 or losses[k - 1] > row["threshold"])


@pytest.mark.parametrize("label", ["Adam", "Adafactor"])
def test_an_mlp_row_is_what_training_at_its_lr_gives(
    quick_run: tuple, lab_numerics: None, label: str
) -> None:
    """Retrained leaf by leaf (the lab steps elementwise optimizers on the raveled vector: the same
    numbers up to rounding, which the tuned lr amplifies to ~1e-3 over the run)."""
    row = next(
        r for r in quick_run[1]["comparison"] if (r["problem"], r["optimizer"]) == ("mlp", label)
    )
    ctx = LabContext(out_dir=pathlib.Path("."), quick=True)
    initial, x, y, _, _, steps = lab.mlp_setup(ctx)
    params, losses = lab.train_mlp(lab.mlp_optimizer(label, row["lr"]), initial, x, y, steps)
    final = lab.evaluate(params, x, y, x, y)[0]
    np.testing.assert_allclose(row["final_loss"], float(final), rtol=2e-3)
    curve = np.append(np.asarray(losses), float(final))
    assert row["steps_to_threshold"] == lab.steps_to(curve, lab.MLP_THRESHOLD)


def test_choose_lr_prefers_the_fastest_finite_run_else_the_lowest_loss() -> None:
    losses = np.array(
        [
            [10.0, 5.0, 2.0, 0.5, 0.1],  # reaches 1 at step 3
            [10.0, 0.5, 0.1, 0.0, np.nan],  # reaches it at step 1, then diverges: not kept
            [10.0, 3.0, 0.9, 0.8, 0.7],  # reaches it at step 2
        ]
    )
    assert lab.choose_lr(losses, 1.0) == 2
    assert lab.choose_lr(losses, 1e-3) == 0  # none reaches it: the lowest finite final loss
    assert lab.steps_to(losses[0], 1.0) == 3 and lab.steps_to(losses[0], 1e-9) is None


def test_every_schedule_class_is_drawn(quick_run: tuple) -> None:
    metrics = quick_run[1]
    classes = {
        name for name in lr_scheduler.__all__ if name[0].isupper() and not name.endswith("State")
    }
    assert set(metrics["schedules_drawn"]) == classes
    final = metrics["schedule_final_lr"]
    assert final["ExponentialLR"] == pytest.approx(0.1 * 0.99 ** (lab.SCHEDULE_STEPS - 1), rel=1e-5)
    assert final["ReduceLROnPlateau"] < 0.1  # the plateau made it reduce the lr


def test_plateau_schedule_follows_the_loss() -> None:
    losses = lab.plateau_loss(lab.SCHEDULE_STEPS)
    rates = np.asarray(lab.plateau_lrs(jnp.asarray(losses)))
    assert rates[0] == pytest.approx(0.1) and np.all(np.diff(rates) <= 0)
    plateau = lr_scheduler.ReduceLROnPlateau(0.1, factor=0.5, patience=10)
    state = plateau.init(jnp.zeros(()))
    for loss in losses[:100]:
        _, state = plateau.update(jnp.zeros(()), state, jnp.zeros(()), value=jnp.asarray(loss))
    assert float(state.lr) == pytest.approx(rates[100])


def test_torch_optim_agrees_at_the_default_learning_rates(quick_run: tuple) -> None:
    metrics = quick_run[1]
    rows = {row["optimizer"]: row for row in metrics["torch_agreement"]}
    assert set(rows) == set(labels())
    for label, row in rows.items():
        limit = 1e-2 if label in lab.MATRIX_ONLY else 1e-4  # Muon: bfloat16 Newton-Schulz
        assert row["max_abs_gap"] < limit, (label, row)
    assert metrics["rosenbrock_max_abs_gap_vs_torch_float32"] < 1e-4


def test_the_mlp_learns_two_moons(quick_run: tuple) -> None:
    metrics = quick_run[1]
    for name in ("Adam", "RMSprop", "AdamW, warm-up + cosine"):
        assert metrics[f"mlp/{name}/test_accuracy"] > 0.9
    assert metrics["adam_l2_max_gap_to_penalised_minimum"] < 1e-2


def test_the_adam_exercise_solution_passes_its_check() -> None:
    result = exercises.check_adam_step(lab.adam_step)
    assert result.passed, result.message


def test_sweep_problems_runs_each_problem_as_its_own_function() -> None:
    """The switch under vmap evaluates the right function: the start losses are the problems'."""
    paths, losses = lab.sweep_problems("SGD", (), 2, jnp.asarray([1e-4], jnp.float32))
    for index, problem in enumerate(lab.PROBLEMS):
        start = jnp.asarray(lab.PROBLEMS[problem]["start"], jnp.float32)
        assert float(losses[index, 0, 0]) == pytest.approx(float(lab.FUNCTIONS[problem](start)))
        np.testing.assert_allclose(paths[index, 0, 0], start)
    assert jax.tree.leaves(paths)[0].shape == (len(lab.PROBLEMS), 1, 3, 2)
