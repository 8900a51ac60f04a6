"""Lab 1.4.5 end to end (quick mode): it passes, saves its figures, and its metrics say what the
lab teaches (draws fit their densities, the CLT tightens, MLE converges, forward KL covers both
modes while reverse KL picks one, the score-function estimator has the larger variance)."""

from __future__ import annotations

import json
import pathlib

from labs._runner import run_labs

FIGURES = {
    "densities.png",
    "central_limit.png",
    "mle_convergence.png",
    "forward_vs_reverse_kl.png",
    "temperature_entropy.png",
    "estimator_variance.png",
}


def test_lab_1_4_5_quick(tmp_path: pathlib.Path) -> None:
    (record,) = run_labs(["1.4.5"], tmp_path, quick=True)
    assert record["status"] == "passed", record
    out = tmp_path / "lab-1.4.5"
    assert {path.name for path in out.glob("*.png")} >= FIGURES
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    p_values = [value for key, value in metrics.items() if key.startswith("p_value[")]
    assert len(p_values) == 8 and min(p_values) > 1e-3
    assert metrics["clt_ks_distance[n=30]"] < metrics["clt_ks_distance[n=1]"] / 3
    assert abs(metrics["mle[normal loc]"] - 2.0) < 0.15
    assert abs(metrics["mle[normal scale]"] - 1.5) < 0.15
    assert abs(metrics["mle[exponential rate]"] - 0.7) < 0.1
    # Forward KL matches the mixture's moments (mean 0, sd ~2.09); reverse KL sits on one mode.
    assert abs(metrics["forward_kl_fit_loc"]) < 0.2
    assert abs(metrics["forward_kl_fit_scale"] - metrics["mixture_scale"]) < 0.1
    assert abs(abs(metrics["reverse_kl_fit_loc"]) - 2.0) < 0.2
    assert abs(metrics["reverse_kl_fit_scale"] - 0.6) < 0.1
    assert metrics["entropy_low_temperature"] < 0.05 < 1.7 < metrics["entropy_high_temperature"]
    assert metrics["variance_score_function[n=1]"] > 2 * metrics["variance_reparameterization[n=1]"]
    assert abs(metrics["gradient_mean_reparameterization"] - 2.0) < 0.2
