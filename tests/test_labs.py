"""The labs runner: listing, running with outputs, failure isolation, unknown ids, check-env."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from labs import LABS, LabContext, register_lab
from labs._runner import main, run_labs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run(
        [sys.executable, "-m", "labs", *args], cwd=ROOT, capture_output=True, text=True, env=env
    )


def test_list_shows_the_registered_labs() -> None:
    result = run_cli()
    assert result.returncode == 0, result.stderr
    assert "1.4.0" in result.stdout


def test_run_writes_metrics_figures_and_summary(tmp_path: pathlib.Path) -> None:
    result = run_cli("run", "1.4.0", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "lab-1.4.0" / "metrics.json").read_text())
    assert record["status"] == "passed"
    assert record["metrics"]["logsumexp_naive_is_inf"] == 1.0
    assert record["metrics"]["logsumexp_abs_error_1e4"] < 1e-2
    assert record["metrics"]["gradcheck_rel_error_tanh"] < 1e-6
    assert len(record["figures"]) >= 5
    for figure in record["figures"]:
        assert (tmp_path / "lab-1.4.0" / figure).stat().st_size > 1000
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [entry["lab"] for entry in summary] == ["1.4.0"]
    assert "| 1.4.0 |" in (tmp_path / "summary.md").read_text()


def test_unknown_lab_id_fails_clearly(tmp_path: pathlib.Path) -> None:
    result = run_cli("run", "9.9.9", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "unknown lab id '9.9.9'" in result.stderr


def test_a_failing_lab_is_reported_and_does_not_stop_the_others(tmp_path: pathlib.Path) -> None:
    @register_lab("0.0.fail", "always fails")
    def failing(ctx: LabContext) -> dict:
        raise RuntimeError("deliberate failure")

    @register_lab("0.0.ok", "always passes")
    def passing(ctx: LabContext) -> dict:
        return {"value": 1.0}

    try:
        records = run_labs(["0.0.fail", "0.0.ok"], tmp_path, quick=True)
        assert [record["status"] for record in records] == ["failed", "passed"]
        assert "deliberate failure" in records[0]["error"]
        assert json.loads((tmp_path / "lab-0.0.ok" / "metrics.json").read_text())["metrics"] == {
            "value": 1.0
        }
        assert "deliberate failure" in (tmp_path / "summary.md").read_text()
        assert main(["run", "0.0.fail", "--out", str(tmp_path / "again")]) == 1
    finally:
        LABS.pop("0.0.fail")
        LABS.pop("0.0.ok")


def test_registering_an_id_twice_from_another_module_is_refused() -> None:
    def impostor(ctx: LabContext) -> dict:
        return {}

    impostor.__module__ = "somewhere.else"
    with pytest.raises(ValueError, match=r"lab id '1.4.0' is already registered"):
        register_lab("1.4.0", "impostor")(impostor)


def test_check_env_prints_the_package_verification() -> None:
    result = run_cli("check-env")
    assert result.returncode == 0, result.stderr
    for expected in ("NumPy version:", "JAX version:", "PyTorch version: 2.", "CUDA available:"):
        assert expected in result.stdout
