"""The benchmark harness runs, alternates, reports and writes JSON. Nothing here is timed."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks._harness import (
    Benchmark,
    Contender,
    Discovered,
    Trial,
    format_table,
    module_benchmarks,
    run_benchmark,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIMITS = {"stream_gb_per_s": 10.0, "matmul_gflop_per_s": 10.0}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_losses_quick_prints_the_table_and_writes_json(tmp_path: pathlib.Path) -> None:
    result = run_cli("losses", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OMP_WAIT_POLICY=PASSIVE (set by the harness before torch loaded)" in result.stdout
    assert "isolation: process" in result.stdout
    assert "limits measured now: stream" in result.stdout
    names = [
        "jaxmath",
        "jaxmath, donated",
        "optax",
        "optax, donated",
        "torch.nn.functional.cross_entropy",
    ]
    table = result.stdout[result.stdout.index("== losses") :]
    assert all(name in table for name in names)
    record = json.loads((tmp_path / "losses.json").read_text())
    assert {"environment", "limits", "rows", "isolation", "params", "floor_ms"} <= set(record)
    assert record["isolation"] == "process" and record["quick"] is True
    environment = record["environment"]
    assert set(environment["versions"]) >= {"python", "jax", "jaxlib", "numpy", "optax", "torch"}
    assert environment["threads"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert {"OMP_NUM_THREADS", "XLA_FLAGS", "torch_num_threads"} <= set(environment["threads"])
    assert {"platform", "jax_devices"} <= set(environment["device"])
    assert record["limits"]["stream_gb_per_s"] > 0 and record["limits"]["matmul_gflop_per_s"] > 0
    assert [row["contender"] for row in record["rows"]] == names
    assert record["best_peer"] in names[2:]
    for row in record["rows"]:
        assert row["status"] == "ok", row.get("error")
        assert row["median_ms"] > 0 and len(row["times_ms"]) == row["samples"] >= 1
        assert row["gb_per_s"] > 0 and row["gflop_per_s"] is None


def test_unknown_benchmark_is_named_in_the_error(tmp_path: pathlib.Path) -> None:
    result = run_cli("losses", "no_such_benchmark", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "unknown benchmark 'no_such_benchmark'" in result.stderr
    assert "losses" in result.stderr  # the known ones are listed
    assert not (tmp_path / "losses.json").exists()  # nothing ran


def test_list_names_every_benchmark() -> None:
    result = run_cli("--list")
    assert result.returncode == 0, result.stderr
    assert "losses" in result.stdout


def _recording_contender(name: str, calls: list[str], ours: bool = False) -> Contender:
    def setup(params: dict) -> Trial:
        calls.append(f"setup {name} n={params['n']}")
        return Trial(
            run=lambda: calls.append(f"run {name}"),
            prepare=lambda: calls.append(f"prepare {name}"),
        )

    return Contender(name, setup, ours=ours)


def test_contenders_alternate_and_prepare_runs_before_every_call() -> None:
    calls: list[str] = []
    toy = Benchmark(
        name="toy",
        description="toy",
        contenders=(_recording_contender("a", calls, ours=True), _recording_contender("b", calls)),
        params=lambda quick: {"n": 1 if quick else 2},
        work=lambda params: {"bytes": 1e6, "flops": 1e6},
        floor_ms=lambda params, limits: 1e-6,
        warmup=1,
        rounds=2,
        iterations_per_round=1,
    )
    result = run_benchmark(toy, limits=LIMITS)
    runs = [call for call in calls if not call.startswith("prepare")]
    set_up = ["setup a n=2", "run a", "setup b n=2", "run b"]  # each set up and warmed up
    assert runs == [*set_up, "run a", "run b", "run b", "run a"]  # round 2 rotated: b first
    assert calls.count("prepare a") == calls.count("run a") == 3
    for index, call in enumerate(calls):  # prepare right before each run, outside its timer
        if call.startswith("run"):
            assert calls[index - 1] == call.replace("run", "prepare")
    assert result["best_peer"] == "b"
    assert result["isolation"] == "interleaved"
    rows = {row["contender"]: row for row in result["rows"]}
    assert rows["a"]["samples"] == rows["b"]["samples"] == 2
    assert rows["b"]["ratio_to_best_peer"] == 1.0
    assert rows["a"]["gb_per_s"] > 0 and rows["a"]["fraction_of_matmul_peak"] > 0
    table = format_table(result)
    assert "== toy" in table and "* a" in table and "interleaved" in table


def test_a_plain_callable_is_a_contender_and_a_failing_one_is_reported() -> None:
    def broken(params: dict) -> None:
        raise RuntimeError("no such kernel")

    def missing(params: dict) -> None:
        import jaxmath_no_such_module  # noqa: F401

    toy = Benchmark(
        name="toy",
        description="toy",
        contenders=(
            Contender("plain", lambda params: lambda: sum(range(10)), ours=True),
            Contender("broken", broken),
            Contender("missing", missing),
        ),
        params=lambda quick: {},
        warmup=0,
    )
    result = run_benchmark(toy, quick=True)
    rows = {row["contender"]: row for row in result["rows"]}
    assert rows["plain"]["status"] == "ok" and rows["plain"]["samples"] == 3
    assert rows["plain"]["gb_per_s"] is None and rows["plain"]["ratio_to_best_peer"] is None
    assert rows["broken"]["status"] == "failed" and "no such kernel" in rows["broken"]["error"]
    assert rows["missing"]["status"] == "skipped"
    table = format_table(result)
    assert "broken" in table and "RuntimeError: no such kernel" in table


def _exit_at_once(params: dict) -> None:
    os._exit(3)  # as a worker killed for memory would


# For the worker processes of the next test, which import this module and take its BENCHMARK.
BENCHMARK = Benchmark(
    name="process_toy",
    description="each contender in a worker process",
    contenders=(
        Contender("fine", lambda params: lambda: sum(range(params["n"])), ours=True),
        Contender("dies", _exit_at_once),
    ),
    params=lambda quick: {"n": 10},
    isolation="process",
    warmup=1,
)


def _with_quality(params: dict) -> Trial:
    return Trial(run=lambda: sum(range(params["n"])), quality={"error_vs_optimal": 1.25})


# A second benchmark of this module (BENCHMARKS), looked up by name in the worker processes.
BENCHMARKS = (
    Benchmark(
        name="process_toy_quality",
        description="a contender reporting the quality of its answer",
        contenders=(Contender("approximate", _with_quality, ours=True),),
        params=lambda quick: {"n": 10},
        isolation="process",
        warmup=0,
    ),
)


@pytest.mark.parametrize("isolation", ["process", "interleaved"])
def test_a_second_benchmark_of_a_module_runs_and_reports_quality(isolation: str) -> None:
    result = run_benchmark(BENCHMARKS[0], quick=True, module=__name__, isolation=isolation)
    (row,) = result["rows"]
    assert row["status"] == "ok" and row["quality"] == {"error_vs_optimal": 1.25}
    assert format_table(result).splitlines()[-1].endswith("  error_vs_optimal=1.25")


def test_names_select_a_benchmark_or_all_of_a_module() -> None:
    found = Discovered(
        benchmarks={"grid": BENCHMARK, "grid_hessian": BENCHMARK, "other": BENCHMARK},
        modules={
            "grid": "benchmarks.grid",
            "grid_hessian": "benchmarks.grid",
            "other": "benchmarks.other",
        },
        broken={},
    )
    assert found.select([]) == ["grid", "grid_hessian", "other"]
    assert found.select(["grid"]) == ["grid", "grid_hessian"]  # the module: both
    assert found.select(["grid_hessian", "other"]) == ["grid_hessian", "other"]
    with pytest.raises(KeyError, match="nope"):
        found.select(["other", "nope"])
    assert module_benchmarks(sys.modules[__name__]) == (BENCHMARK, *BENCHMARKS)


def test_worker_processes_time_their_contender_and_a_dead_worker_is_reported() -> None:
    result = run_benchmark(BENCHMARK, quick=True, module=__name__)
    rows = {row["contender"]: row for row in result["rows"]}
    assert result["isolation"] == "process"
    assert rows["fine"]["status"] == "ok" and rows["fine"]["samples"] == 3
    assert rows["dies"]["status"] == "failed"
    assert "worker process died (exit code 3)" in rows["dies"]["error"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"isolation": "threads"}, "isolation must be one of"),
        ({"rounds": 0}, "rounds must be >= 1, got 0"),
        ({"contenders": (Contender("x", print), Contender("x", print))}, "unique names"),
    ],
)
def test_a_bad_benchmark_definition_is_refused(changes: dict, message: str) -> None:
    fields = {"name": "toy", "description": "toy", "params": lambda quick: {}}
    fields["contenders"] = (Contender("x", print),)
    with pytest.raises(ValueError, match=message):
        Benchmark(**{**fields, **changes})
