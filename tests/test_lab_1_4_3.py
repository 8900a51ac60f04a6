"""Lab 1.4.3 end to end (quick, through the CLI): it passes, honours --resolution, records the
sharpness figures, and saves its five figures."""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_lab_1_4_3_runs_quick_with_a_resolution(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "labs",
            "run",
            "1.4.3",
            "--quick",
            "--resolution",
            "9",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Step 5" in result.stdout
    record = json.loads((tmp_path / "lab-1.4.3" / "metrics.json").read_text())
    assert record["status"] == "passed" and record["resolution"] == 9
    metrics = record["metrics"]
    assert metrics["surface_resolution"] == 9
    assert metrics["surface_min"] <= metrics["surface_centre"] <= metrics["surface_max"]
    assert 0 < metrics["pca_explained_variance_2"] <= metrics["pca_explained_variance_1"] < 1
    for batch in ("small_batch", "large_batch"):
        top3 = metrics[f"{batch}_top3_eigenvalues"]
        assert top3 == sorted(top3, reverse=True) and top3[0] == metrics[f"{batch}_top_eigenvalue"]
        assert top3[0] > 0 and math.isfinite(metrics[f"{batch}_trace"])
        assert 0 < metrics[f"{batch}_trace_standard_error"] < abs(metrics[f"{batch}_trace"])
        assert metrics[f"{batch}_accuracy"] > 0.85
    assert metrics["sgd_final_loss"] < 0.3 and metrics["adam_final_loss"] < 0.3
    assert record["figures"] == [
        "training_curve.png",
        "interpolation_1d.png",
        "surface_random_directions.png",
        "surface_pca_trajectories.png",
        "hessian_spectral_density.png",
    ]
    for figure in record["figures"]:
        assert (tmp_path / "lab-1.4.3" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
