"""Lab 1.4.2 end to end (quick): figures written, metrics recorded and meaningful."""

from __future__ import annotations

import json
import pathlib

from labs._runner import run_labs

FIGURES = {
    "paths_rosenbrock.png",
    "paths_beale.png",
    "paths_saddle.png",
    "loss_rosenbrock.png",
    "loss_beale.png",
    "loss_saddle.png",
    "sweep_lr_momentum.png",
    "adam_vs_adamw.png",
    "mlp_training_curves.png",
    "schedules.png",
}


def test_lab_runs_quick_and_records_its_findings(tmp_path: pathlib.Path) -> None:
    (record,) = run_labs(["1.4.2"], tmp_path, quick=True)
    assert record["status"] == "passed", record.get("error")
    lab_dir = tmp_path / "lab-1.4.2"
    assert {path.name for path in lab_dir.glob("*.png")} >= FIGURES
    metrics = json.loads((lab_dir / "metrics.json").read_text())["metrics"]
    optimizers = ("SGD", "SGD momentum 0.9", "SGD Nesterov 0.9", "RMSprop", "Adagrad", "Adam")
    for problem in ("rosenbrock", "beale", "saddle"):
        for name in optimizers:
            assert f"{problem}/{name}/final_loss" in metrics
            assert f"{problem}/{name}/steps_to_threshold" in metrics
    # Every optimizer leaves the saddle point for a minimum (-1/4) within the quick budget.
    for name in optimizers:
        assert metrics[f"saddle/{name}/final_loss"] < -0.249
    # Adam's coupled L2 lands on the penalised minimum s / (s + wd), as the lab explains.
    assert metrics["adam_l2_max_gap_to_penalised_minimum"] < 1e-2
    # The MLP learns two moons with every optimizer.
    for name in ("SGD", "Adam", "AdamW", "AdamW, warm-up + cosine"):
        assert metrics[f"mlp/{name}/test_accuracy"] > 0.9
    # torch.optim's own float32 Rosenbrock paths agree with jaxmath's.
    assert metrics["rosenbrock_max_abs_gap_vs_torch_float32"] < 1e-4
