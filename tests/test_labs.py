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
    # its own process: its own peak memory (JAX's import alone is ~200 MiB) and wall time
    assert record["memory_scope"] == "lab process" and record["exit_status"] == 0
    assert 150 < record["peak_memory_mb"] < 1024
    assert record["process_seconds"] > record["seconds"] > 0
    assert f"{record['peak_memory_mb']:.0f} MiB" in markdown
    page = (tmp_path / "index.html").read_text()
    assert page.count("<img ") == 6 and 'src="lab-1.4.0/activations.png"' in page


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

    records = run_labs(["0.0.1", "0.0.2"], tmp_path, quick=True, in_process=True)
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
    assert main(["run", "0.0.2", "0.0.1", "--in-process", "--out", str(tmp_path / "again")]) == 1
    assert main(["run", "0.0.2", "--in-process", "--out", str(tmp_path / "ok")]) == 0


def test_a_lab_must_return_metrics_or_none(tmp_path: pathlib.Path, registry: dict) -> None:
    @register_lab("0.0.3", "returns a list")
    def wrong(ctx: LabContext) -> list:
        return [1.0]

    (record,) = run_labs(["0.0.3"], tmp_path, in_process=True)
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

    records = run_labs(["all"], tmp_path / "out", quick=True, in_process=True)
    assert [(record["lab"], record["status"]) for record in records] == [
        ("0.0.5", "passed"),
        ("lab_9_9_9_broken", "failed"),
    ]
    assert "no such dependency" in records[1]["error"]
    assert "failed to import" in capsys.readouterr().err
    assert main(["list"]) == 0
    assert "labs.lab_9_9_9_broken: failed to import (ImportError" in capsys.readouterr().out
    assert main(["run", "all", "--in-process", "--out", str(tmp_path / "again")]) == 1


def test_a_rerun_replaces_the_previous_figures(tmp_path: pathlib.Path, registry: dict) -> None:
    from matplotlib.figure import Figure

    @register_lab("0.0.4", "one figure")
    def one_figure(ctx: LabContext) -> None:
        ctx.save_figure(Figure(), "now")

    (tmp_path / "lab-0.0.4").mkdir()
    (tmp_path / "lab-0.0.4" / "stale.png").write_bytes(b"old")
    run_labs(["0.0.4"], tmp_path, in_process=True)
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
    discover()  # 1.4.0 registered whichever tests ran before in this worker
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

    assert main(["run", "0.0.4", "--in-process", "--out", str(tmp_path)]) == 0
    assert main(["run", "0.0.4", "--in-process", "--resolution", "81", "--out", str(tmp_path)]) == 0
    assert seen == [None, 81]
    assert strict_json(tmp_path / "lab-0.0.4" / "metrics.json")["resolution"] == 81
    for bad, message in [("1", "resolution must be >= 2, got 1"), ("x", "must be an integer")]:
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "0.0.4", "--in-process", "--resolution", bad, "--out", str(tmp_path)])
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


#: A stand-in for ``python -m labs run ID --worker MODULE``: holds ``megabytes`` of touched memory,
#: then writes a passing record with its own VmHWM, as the worker does ("ok"), or is killed by
#: SIGKILL before writing one ("crash").
FAKE_WORKER = """
import json, os, pathlib, signal, sys
lab, out, megabytes, mode = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
block = b"\\x01" * (megabytes * 2**20)
print(f"hello from {lab}", flush=True)
if mode == "crash":
    os.kill(os.getpid(), signal.SIGKILL)
status = pathlib.Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
record = {"lab": lab, "title": lab, "folder": f"lab-{lab}", "status": "passed", "seconds": 0.1,
          "metrics": {"megabytes": megabytes}, "figures": [], "peak_memory_mb": int(status) / 1024}
(out / f"lab-{lab}" / "metrics.json").write_text(json.dumps(record))
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_each_lab_runs_in_its_own_process_with_its_own_peak_memory(
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    registry: dict,
    jobs: int,
) -> None:
    from labs import _runner

    plans = {"0.1.1": (300, "ok"), "0.1.2": (20, "crash"), "0.1.3": (1, "ok")}
    for lab_id in plans:
        register_lab(lab_id, f"fake {lab_id}")(lambda ctx: {})

    def fake_command(lab, out, quick, seed, resolution) -> list[str]:
        megabytes, mode = plans[lab.lab_id]
        return [sys.executable, "-c", FAKE_WORKER, lab.lab_id, str(out), str(megabytes), mode]

    monkeypatch.setattr(_runner, "worker_command", fake_command)
    records = run_labs(["all"], tmp_path, jobs=jobs)
    assert [(r["lab"], r["status"]) for r in records] == [
        ("0.1.1", "passed"),
        ("0.1.2", "failed"),
        ("0.1.3", "passed"),
    ]
    big, crashed, small = records
    assert "killed by signal 9" in crashed["error"] and crashed["exit_status"] == -9
    assert crashed["peak_memory_mb"] is None or crashed["peak_memory_mb"] < 200  # polled
    # per process, not the runner's cumulative RUSAGE_CHILDREN: the small lab's peak is its own
    assert big["peak_memory_mb"] > 300 and small["peak_memory_mb"] < big["peak_memory_mb"] - 250
    assert all(r["memory_scope"] == "lab process" and r["process_seconds"] > 0 for r in records)
    assert (
        strict_json(tmp_path / "lab-0.1.3" / "metrics.json")["peak_memory_mb"]
        == (small["peak_memory_mb"])
    )
    summary = strict_json(tmp_path / "summary.json")
    assert summary["failed"] == ["0.1.2"] and summary["jobs"] == jobs
    output = capsys.readouterr()
    if jobs > 1:  # buffered: each lab's printout in its log, and shown whole when it ends
        assert (tmp_path / "lab-0.1.1" / "log.txt").read_text() == "hello from 0.1.1\n"
        assert "hello from 0.1.3" in output.out
    assert "Lab 0.1.2 failed" in output.err


def test_the_worker_command_names_the_lab_module_and_the_options(tmp_path: pathlib.Path) -> None:
    """The child imports only its lab's module (so its peak memory is the lab's own); the CLI test
    above runs the real command end to end."""
    from labs._runner import worker_command

    lab = discover().labs["1.4.0"]
    command = worker_command(lab, tmp_path, True, 3, 41)
    assert command[:5] == [sys.executable, "-m", "labs", "run", "1.4.0"]
    assert command[command.index("--worker") + 1] == "labs.lab_1_4_0_activations"
    assert command[command.index("--out") + 1] == str(tmp_path)
    assert command[command.index("--seed") + 1] == "3" and "--quick" in command
    assert command[command.index("--resolution") + 1] == "41"
    assert "--quick" not in worker_command(lab, tmp_path, False, 0, None)


def test_index_html_renders_row_lists_as_tables_figures_and_the_parity_link(
    tmp_path: pathlib.Path, registry: dict
) -> None:
    from matplotlib.figure import Figure

    @register_lab("0.2.1", "tables and figures", key_metrics=["accuracy"])
    def tables(ctx: LabContext) -> dict:
        figure = Figure()
        figure.add_subplot().plot([0, 1], [1, 0])
        ctx.save_figure(figure, "curve")
        return {
            "accuracy": 0.975,
            "gradient_check": [
                {"layer": "W1", "vs jax.grad": 1.5e-10, "vs central differences": 3e-9},
                {"layer": "b1", "vs jax.grad": 0.0, "vs central differences": 2e-9},
            ],
            "optimizers": {
                "sgd": {"final_loss": 0.5, "steps": None},  # None: never reached
                "adam": {"final_loss": 0.1, "steps": 100},
            },
            "curve": list(range(50)),
            "nested": {"a": 1.0, "b": "text <b>"},
        }

    run_labs(["0.2.1"], tmp_path, in_process=True)
    page = (tmp_path / "index.html").read_text()
    assert 'src="lab-0.2.1/curve.png"' in page and (tmp_path / "lab-0.2.1" / "curve.png").exists()
    assert "<th>layer</th><th>vs jax.grad</th><th>vs central differences</th>" in page
    assert "<th>W1</th>" not in page and "<td>W1</td>" in page and ">1.5e-10<" in page
    assert "<th>name</th><th>final_loss</th><th>steps</th>" in page and "<th>adam</th>" in page
    assert '<th>sgd</th><td class="number">0.5</td><td>-</td>' in page
    assert "50 values: 0, 1, 2, ..., 49" in page and "nested.b" in page
    assert "text &lt;b&gt;" in page and "text <b>" not in page
    assert "python -m parity_tests.report --out" in page and 'href="parity/' not in page
    assert "runner process, cumulative" in page  # --in-process says what its peak means

    (tmp_path / "parity").mkdir()
    (tmp_path / "parity" / "report.md").write_text("# Parity report\n")
    run_labs(["0.2.1"], tmp_path, in_process=True)
    assert 'href="parity/report.md"' in (tmp_path / "index.html").read_text()


def test_notebooks_subcommand_calls_labs_notebooks_lazily(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import types

    calls = []

    def write_notebooks(out_dir: pathlib.Path) -> list[pathlib.Path]:
        calls.append(out_dir)
        return [out_dir / "solutions" / "lab-1.4.1.ipynb", out_dir / "labs" / "lab-1.4.1.ipynb"]

    monkeypatch.setitem(
        sys.modules, "labs.notebooks", types.SimpleNamespace(write_notebooks=write_notebooks)
    )
    assert main(["notebooks", "--out", str(tmp_path)]) == 0
    assert main(["notebooks"]) == 0
    assert calls == [tmp_path, pathlib.Path("outputs") / "notebooks"]
    assert "2 notebooks written under" in capsys.readouterr().out
