"""Lab 1.4.4 end to end (quick mode): it passes, saves its figures, and its metrics say what the lab
teaches: Eckart-Young holds to float32 rounding, randomized SVD is within 0.1% of the optimum, a
Gaussian matrix is far from low rank while the planted and fine-tuning ones are not, LoRA below r*
stalls at the Eckart-Young prediction and from r* on reaches the noise floor, PiSSA converges faster
when the update lives in W0's principal directions and cannot fit a random one at r = r*."""

from __future__ import annotations

import json
import pathlib

import pytest

from labs._runner import run_labs

FIGURES = {
    "svd_analysis.png",
    "lora_training_curves.png",
    "lora_final_losses.png",
    "learned_update_spectrum.png",
    "pissa_vs_lora.png",
}


def test_lab_1_4_4_quick(tmp_path: pathlib.Path) -> None:
    (record,) = run_labs(["1.4.4"], tmp_path, quick=True)
    assert record["status"] == "passed", record
    out = tmp_path / "lab-1.4.4"
    assert {path.name for path in out.glob("*.png")} >= FIGURES
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    # Step 1: spectra (quick: 128 x 128, planted rank 8)
    assert metrics["eckart_young_max_relative_difference"] < 1e-5
    assert 1.0 <= metrics["randomized_svd_error_over_optimal"] < 1.001
    assert metrics["gaussian_effective_rank"] > 2 * metrics["rank_effective_rank"]
    assert metrics["rank_energy_top_8"] > 0.9 > 0.3 > metrics["gaussian_energy_top_8"]
    assert metrics["fine_tuning_stable_rank"] < metrics["gaussian_stable_rank"] / 3
    assert metrics["mlp_fine_tune_loss"] < metrics["mlp_fine_tune_start_loss"] / 2
    assert metrics["rank_8_parameter_fraction"] == pytest.approx(8 * 256 / 128**2)
    # Step 2: LoRA (quick: 48 x 48, r* = 4)
    noise = metrics["noise_floor"]
    for rank in (1, 2):
        final, predicted = (
            metrics[f"lora_r{rank}_final_loss"],
            metrics[f"lora_r{rank}_predicted_loss"],
        )
        assert final == pytest.approx(predicted, rel=0.15) and final > 10 * noise
    for rank in (4, 8):
        assert metrics[f"lora_r{rank}_final_loss"] < 1.5 * noise
    assert metrics["full_fine_tuning_final_loss"] < 1.5 * noise
    # Step 3: PiSSA vs LoRA
    assert (
        metrics["pissa_principal_steps_to_2x_noise"]
        < metrics["kaiming_principal_steps_to_2x_noise"]
    )
    assert metrics["pissa_random_final_loss"] > 10 * metrics["kaiming_random_final_loss"]
    assert metrics["pissa_init_reconstruction_error"] < 1e-5
