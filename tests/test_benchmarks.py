"""The benchmark harness runs, alternates, reports and writes JSON. Nothing here is timed."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from benchmarks._harness import Benchmark, Contender, Trial, format_table, run_benchmark

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )


def test_losses_quick_prints_the_table_and_writes_json(tmp_path: pathlib.Path) -> None:
    result = run_cli("losses", "--quick", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "OMP_WAIT_POLICY=PASSIVE" in result.stdout
    assert "isolation: process" in result.stdout
    record = json.loads((tmp_path / "losses.json").read_text())
    names = [row["contender"] for row in record["rows"]]
    assert names == [
        "jaxmath",
        "jaxmath, donated",
        "optax",
        "optax, donated",
        "torch.nn.functional.cross_entropy",
    ]
    assert record["best_peer"] in names
    assert set(record["environment"]["versions"]) >= {
        "python",
        "jax",
        "jaxlib",
        "numpy",
        "optax",
        "torch",
    }
    assert record["limits"]["stream_gb_per_s"] > 0 and record["limits"]["matmul_gflop_per_s"] > 0
    for row in record["rows"]:
        assert row["median_ms"] > 0 and row["samples"] >= 1


def test_unknown_benchmark_is_named_in_the_error(tmp_path: pathlib.Path) -> None:
    result = run_cli("no_such_benchmark", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "unknown benchmark 'no_such_benchmark'" in result.stderr


def test_list_names_every_benchmark() -> None:
    result = run_cli("--list")
    assert result.returncode == 0
    assert "losses" in result.stdout


def test_contenders_alternate_and_prepare_runs_outside_the_timer() -> None:
    calls: list[str] = []

    def contender(name: str) -> Contender:
        def setup(params: dict) -> Trial:
            return Trial(
                run=lambda: calls.append(f"run {name}"),
                prepare=lambda: calls.append(f"prepare {name}"),
            )

        return Contender(name, setup, ours=name == "a")

    toy = Benchmark(
        name="toy",
        description="toy",
        contenders=(contender("a"), contender("b")),
        params=lambda quick: {},
        work=lambda params: {"bytes": 1e6, "flops": 1e6},
        rounds=2,
        iterations_per_round=1,
    )
    result = run_benchmark(
        toy, "toy", quick=False, limits={"stream_gb_per_s": 10.0, "matmul_gflop_per_s": 10.0}
    )
    timed = [call for call in calls if call.startswith("run")]
    # warm-up a, warm-up b, then round 1: a, b; round 2 (rotated): b, a
    assert timed == ["run a", "run b", "run a", "run b", "run b", "run a"]
    assert calls.count("prepare a") == 3
    assert result["best_peer"] == "b"
    assert [row["samples"] for row in result["rows"]] == [2, 2]
    assert "toy" in format_table(result)
