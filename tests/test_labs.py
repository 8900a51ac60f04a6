"""The labs runner: listing, running with outputs, failure isolation, unknown ids, check-env."""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

import labs
from labs import LABS, LabContext, register_lab
from labs._runner import _id_order, discover, jsonable, main, run_labs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def strict_json(path: pathlib.Path) -> object:
    """Parse JSON, refusing the non-standard Infinity / NaN that json.dumps writes by default."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{path} holds non-standard JSON {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def registry() -> Iterator[dict]:
    """An empty lab registry for the test (every lab module imported first), restored after."""
    discover()
    saved = dict(LABS)
    LABS.clear()
    yield LABS
    LABS.clear()
    LABS.update(saved)


def test_cli_runs_the_foundation_lab_end_to_end(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "labs", "run", "1.4.0", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    assert result.returncode == 0, result.stderr
    assert "Step 3" in result.stdout  # the lab teaches as it goes
    record = strict_json(tmp_path / "lab-1.4.0" / "metrics.json")
    assert record["status"] == "passed" and record["quick"] is True
    metrics = record["metrics"]
    assert metrics["logsumexp_naive_1e4"] == "inf"  # naive log(sum(exp(1e4))) overflows
    assert metrics["logsumexp_abs_error_1e4"] < np.spacing(np.float32(1e4))
    assert metrics["gradcheck_passed"] is True
    assert metrics["gradcheck_rel_error_sigmoid"] < 1e-6
    assert metrics["bce_probabilities_target0_z20"] == 100.0  # torch's clamp of log at -100
    assert metrics["bce_with_logits_target0_z20"] == pytest.approx(20.0)
    assert len(record["figures"]) == 6
    for figure in record["figures"]:
        assert (tmp_path / "lab-1.4.0" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = strict_json(tmp_path / "summary.json")
    assert summary["status"] == "passed" and summary["failed"] == []
    assert [entry["lab"] for entry in summary["labs"]] == ["1.4.0"]
    markdown = (tmp_path / "summary.md").read_text()
    assert "| 1.4.0 |" in markdown and "logsumexp_naive_1e4=inf" in markdown
    assert "(lab-1.4.0/activations.png)" in markdown


def test_list_is_the_default_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "1.4.0    Activations, losses and numerical stability" in capsys.readouterr().out


def test_unknown_lab_ids_are_named_and_nothing_runs(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "1.4.0", "9.9.9", "nope", "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "unknown lab ids '9.9.9', 'nope'" in error and "known: 1.4.0" in error
    assert not any(tmp_path.iterdir())


def test_a_failing_lab_is_reported_and_does_not_stop_the_others(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], registry: dict
) -> None:
    from matplotlib.figure import Figure

    @register_lab("0.0.1", "fails half way")
    def failing(ctx: LabContext) -> dict:
        ctx.record(first_step=1.5)
        ctx.save_figure(Figure(), "partial")
        raise RuntimeError("deliberate failure")

    @register_lab("0.0.2", "passes")
    def passing(ctx: LabContext) -> dict:
        return {"value": np.float32(2.0), "curve": np.arange(3), "overflow": math.inf}

    records = run_labs(["0.0.1", "0.0.2"], tmp_path, quick=True)
    assert [record["status"] for record in records] == ["failed", "passed"]
    assert "deliberate failure" in capsys.readouterr().err

    failed = strict_json(tmp_path / "lab-0.0.1" / "metrics.json")
    assert failed["status"] == "failed" and "RuntimeError: deliberate failure" in failed["error"]
    assert failed["metrics"] == {"first_step": 1.5}  # recorded before the failure: kept
    assert failed["figures"] == ["partial.png"] and (tmp_path / "lab-0.0.1/partial.png").exists()
    passed = strict_json(tmp_path / "lab-0.0.2" / "metrics.json")
    assert passed["metrics"] == {"value": 2.0, "curve": [0, 1, 2], "overflow": "inf"}

    summary = strict_json(tmp_path / "summary.json")
    assert summary["status"] == "failed" and summary["failed"] == ["0.0.1"]
    markdown = (tmp_path / "summary.md").read_text()
    assert "## Lab 0.0.1 failed" in markdown and "RuntimeError: deliberate failure" in markdown
    assert main(["run", "0.0.2", "0.0.1", "--out", str(tmp_path / "again")]) == 1
    assert main(["run", "0.0.2", "--out", str(tmp_path / "ok")]) == 0


def test_a_lab_must_return_metrics_or_none(tmp_path: pathlib.Path, registry: dict) -> None:
    @register_lab("0.0.3", "returns a list")
    def wrong(ctx: LabContext) -> list:
        return [1.0]

    (record,) = run_labs(["0.0.3"], tmp_path)
    assert record["status"] == "failed" and "must return a mapping" in record["error"]


def test_a_lab_module_that_fails_to_import_is_reported(
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    registry: dict,
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "lab_9_9_9_broken.py").write_text("raise ImportError('no such dependency')\n")
    monkeypatch.setattr(labs, "__path__", [str(plugins)])
    monkeypatch.delitem(sys.modules, "labs.lab_9_9_9_broken", raising=False)

    @register_lab("0.0.5", "passes")
    def passing(ctx: LabContext) -> dict:
        return {"value": 1.0}

    records = run_labs(["all"], tmp_path / "out", quick=True)
    assert [(record["lab"], record["status"]) for record in records] == [
        ("0.0.5", "passed"),
        ("lab_9_9_9_broken", "failed"),
    ]
    assert "no such dependency" in records[1]["error"]
    assert "failed to import" in capsys.readouterr().err
    assert main(["list"]) == 0
    assert "labs.lab_9_9_9_broken: failed to import (ImportError" in capsys.readouterr().out
    assert main(["run", "all", "--out", str(tmp_path / "again")]) == 1


def test_a_rerun_replaces_the_previous_figures(tmp_path: pathlib.Path, registry: dict) -> None:
    from matplotlib.figure import Figure

    @register_lab("0.0.4", "one figure")
    def one_figure(ctx: LabContext) -> None:
        ctx.save_figure(Figure(), "now")

    (tmp_path / "lab-0.0.4").mkdir()
    (tmp_path / "lab-0.0.4" / "stale.png").write_bytes(b"old")
    run_labs(["0.0.4"], tmp_path)
    assert sorted(path.name for path in (tmp_path / "lab-0.0.4").iterdir()) == [
        "metrics.json",
        "now.png",
    ]


def test_save_figure_checks_names_and_closes_pyplot_figures(tmp_path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    context = LabContext(out_dir=tmp_path)
    figure, _ = plt.subplots()
    assert context.save_figure(figure, "curve.png") == tmp_path / "curve.png"
    assert not plt.fignum_exists(figure.number)  # closed after saving
    with pytest.raises(ValueError, match="already saved"):
        context.save_figure(figure, "curve")
    with pytest.raises(ValueError, match="name must be a plain file name"):
        context.save_figure(figure, "../escape")
    assert context.figures == ["curve.png"]


def test_registration_refuses_a_taken_id_and_a_malformed_one() -> None:
    def impostor(ctx: LabContext) -> dict:
        return {}

    impostor.__module__ = "somewhere.else"
    with pytest.raises(ValueError, match=r"lab id '1.4.0' is already registered"):
        register_lab("1.4.0", "impostor")(impostor)
    with pytest.raises(ValueError, match=r"lab_id must look like '1\.4\.1', got '1 4'"):
        register_lab("1 4", "spaces")


def test_context_keys_follow_the_seed() -> None:
    import jax

    first, second = LabContext(pathlib.Path("."), seed=3), LabContext(pathlib.Path("."), seed=3)
    assert (jax.random.key_data(first.key(1)) == jax.random.key_data(second.key(1))).all()
    assert not (jax.random.key_data(first.key(1)) == jax.random.key_data(first.key(2))).all()


def test_ids_sort_numerically_and_metrics_become_strict_json() -> None:
    assert sorted(["1.4.10", "1.4.2", "1.4.0"], key=_id_order) == ["1.4.0", "1.4.2", "1.4.10"]
    converted = jsonable({"a": np.array([1.5, np.nan]), "b": (np.int64(3), -math.inf), 4: True})
    assert converted == {"a": [1.5, "nan"], "b": [3, "-inf"], "4": True}


def test_check_env_prints_the_package_verification(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-env"]) == 0
    out = capsys.readouterr().out
    for expected in ("NumPy version: ", "JAX version: ", "JAX devices: ", "CUDA available: "):
        assert expected in out
    assert "PyTorch version: 2." in out


def test_check_env_without_torch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    assert main(["check-env"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch: not installed" in out and "CUDA available" not in out


def test_resolution_reaches_the_lab_and_is_validated(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], registry: dict
) -> None:
    seen = []

    @register_lab("0.0.4", "reads the grid resolution")
    def grid(ctx: LabContext) -> dict:
        seen.append(ctx.resolution)
        return {}

    assert main(["run", "0.0.4", "--out", str(tmp_path)]) == 0
    assert main(["run", "0.0.4", "--resolution", "81", "--out", str(tmp_path)]) == 0
    assert seen == [None, 81]
    assert strict_json(tmp_path / "lab-0.0.4" / "metrics.json")["resolution"] == 81
    for bad, message in [("1", "resolution must be >= 2, got 1"), ("x", "must be an integer")]:
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "0.0.4", "--resolution", bad, "--out", str(tmp_path)])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


class _FakeTerminal:
    """A stream that says it is a terminal and keeps what was written."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_draws_a_bar_only_at_a_terminal_outside_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context = LabContext(pathlib.Path("."))
    terminal_out, terminal_err = _FakeTerminal(), _FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal_out)
    monkeypatch.setattr(sys, "stderr", terminal_err)
    monkeypatch.delenv("CI", raising=False)
    assert list(context.progress(range(5), "training")) == [0, 1, 2, 3, 4]
    assert "training:" in terminal_err.text and "/5 " in terminal_err.text  # tqdm drew a bar
    assert terminal_out.text == ""  # the lesson's printout is not mixed with the bar

    terminal_err.text = ""
    monkeypatch.setenv("CI", "true")  # CI logs: no bar, even on a (pseudo) terminal
    assert list(context.progress(iter("abc"), "sweep", total=3)) == ["a", "b", "c"]
    assert terminal_err.text == ""
    monkeypatch.setenv("CI", "")
    assert list(context.progress([1.5], "grid")) == [1.5]
    assert "grid" in terminal_err.text  # an empty CI variable is not CI


def test_progress_is_silent_when_output_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    values = list(LabContext(pathlib.Path(".")).progress(range(3), "training"))
    assert values == [0, 1, 2]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # pytest's capture is not a TTY
