"""The harness's CPU-time, setup-lock and worker-environment options (benchmarks/_harness.py), and the
losses benchmark built on them. Nothing here is timed against a target; the checks compare a
contender that does a thing with one that does not, so each can fail."""

from __future__ import annotations

import itertools
import os
import statistics
import time

import numpy as np
import pytest

from benchmarks._harness import (
    Benchmark,
    Contender,
    Trial,
    cpu_ms_of,
    format_table,
    run_benchmark,
    setups_one_at_a_time,
    summarize,
)

ENV_NAME = "JAXMATH_HARNESS_TEST_VARIABLE"
TOUCHED_BYTES = 32 << 20  # 32 MB: over glibc's mmap threshold, so fresh pages every call


def _busy(milliseconds: float) -> None:
    end = time.process_time() + milliseconds / 1e3
    while time.process_time() < end:
        pass


def _sleeps(params: dict) -> Trial:
    return Trial(run=lambda: time.sleep(0.03))


def _spins(params: dict) -> Trial:
    return Trial(run=lambda: _busy(30))


def _touches_fresh_memory(params: dict) -> Trial:
    return Trial(run=lambda: np.ones(TOUCHED_BYTES // 8))  # allocated and written every call


def _slow_setup(params: dict) -> Trial:
    start = time.time()
    time.sleep(0.6)
    return Trial(run=lambda: None, quality={"start": start, "end": time.time()})


def _reads_environment(params: dict) -> Trial:
    return Trial(run=lambda: None, quality={"seen": float(os.environ.get(ENV_NAME) == "7")})


USAGE = Benchmark(
    name="usage_toy",
    description="cpu time and faults per call",
    contenders=(
        Contender("sleeps", _sleeps, ours=True),
        Contender("spins", _spins),
        Contender("touches", _touches_fresh_memory),
    ),
    params=lambda quick: {},
    cpu_time=True,
    warmup=1,
    rounds=2,
)
SERIAL = Benchmark(
    name="serial_toy",
    description="setups one at a time",
    contenders=tuple(Contender(f"setup {index}", _slow_setup) for index in range(3)),
    params=lambda quick: {},
    isolation="process",
    serial_setups=True,
    warmup=0,
)
ENVIRONMENT = Benchmark(
    name="environment_toy",
    description="a variable for the workers only",
    contenders=(Contender("reads", _reads_environment),),
    params=lambda quick: {},
    isolation="process",
    worker_environment={ENV_NAME: "7"},
    warmup=0,
)
BENCHMARKS = (USAGE, SERIAL, ENVIRONMENT)


@pytest.mark.parametrize("isolation", ["interleaved", "process"])
def test_cpu_time_tells_sleeping_from_spinning_and_counts_fresh_pages(isolation: str) -> None:
    result = run_benchmark(USAGE, module=__name__, isolation=isolation)
    rows = {row["contender"]: row for row in result["rows"]}
    assert result["cpu_time"] is True
    for row in rows.values():
        assert row["status"] == "ok", row.get("error")
        assert len(row["cpu_times_ms"]) == len(row["minor_faults_per_call"]) == row["samples"] == 6
        # per call, CPU = user + system; the row's figures are the medians of the calls' (the
        # median of the sums is not the sum of the medians: a fresh-clone run had 9.7 vs 7.5 ms)
        for cpu, user, system in zip(
            row["cpu_times_ms"], row["user_times_ms"], row["sys_times_ms"], strict=True
        ):
            assert cpu == pytest.approx(user + system, abs=1e-9)
        assert row["cpu_ms"] == statistics.median(row["cpu_times_ms"])
        assert row["user_ms"] == statistics.median(row["user_times_ms"])
        assert row["sys_ms"] == statistics.median(row["sys_times_ms"])
    assert rows["sleeps"]["median_ms"] >= 29 and rows["sleeps"]["cpu_ms"] < 10
    assert rows["spins"]["cpu_ms"] >= 25  # its CPU time, whatever the wall time under load
    # 32 MB of fresh pages: 8192 faults of 4 KB (16 of 2 MB with transparent huge pages)
    assert rows["touches"]["minor_faults"] >= 16
    assert rows["touches"]["minor_faults"] > 4 * max(rows["sleeps"]["minor_faults"], 1)
    best_peer = rows[result["best_peer"]]
    assert rows["sleeps"]["cpu_ratio_to_best_peer"] == pytest.approx(
        rows["sleeps"]["cpu_ms"] / best_peer["cpu_ms"]
    )
    assert best_peer["cpu_ratio_to_best_peer"] == pytest.approx(1.0)
    table = format_table(result)
    assert "CPU ms" in table and "faults" in table
    spins_line = next(line for line in table.splitlines() if "  spins" in line)
    assert f"{rows['spins']['cpu_ms']:.4g}" in spins_line


def test_without_cpu_time_the_rows_and_table_have_no_cpu_columns() -> None:
    plain = Benchmark(
        name="plain", description="d", contenders=(Contender("x", _sleeps),), params=lambda q: {}
    )
    result = run_benchmark(plain, quick=True)
    (row,) = result["rows"]
    assert "cpu_ms" not in row and "minor_faults" not in row
    assert "CPU ms" not in format_table(result)


def test_cpu_rates_use_the_work_and_the_matmul_probe_per_cpu_second() -> None:
    benchmark = Benchmark(
        name="rates",
        description="d",
        contenders=(Contender("x", _sleeps),),
        params=lambda quick: {},
        work=lambda params: {"flops": 4e9, "bytes": 2e9},
        cpu_time=True,
    )
    usage = {"x": {"cpu_ms": [1000.0, 2000.0, 3000.0], "user_ms": [1.0] * 3}}
    usage["x"] |= {"sys_ms": [0.5] * 3, "minor_faults": [10.0, 30.0, 20.0]}
    limits = {"matmul_gflop_per_cpu_s": 8.0, "stream_gb_per_s": 1.0}
    (row,) = summarize(benchmark, {}, {"x": [5.0, 6.0, 7.0]}, limits, usage=usage)["rows"]
    assert row["cpu_ms"] == 2000.0 and row["minor_faults"] == 20.0
    assert row["gflop_per_cpu_s"] == pytest.approx(2.0)
    assert row["gb_per_cpu_s"] == pytest.approx(1.0)
    assert row["fraction_of_matmul_per_cpu_s"] == pytest.approx(0.25)


def test_cpu_ms_of_counts_cpu_not_waiting() -> None:
    assert cpu_ms_of(lambda: _busy(40)) >= 35
    assert cpu_ms_of(lambda: time.sleep(0.04)) < 10


def test_serial_setups_do_not_overlap_in_worker_processes() -> None:
    result = run_benchmark(SERIAL, quick=True, module=__name__)
    spans = sorted((row["quality"]["start"], row["quality"]["end"]) for row in result["rows"])
    assert len(spans) == 3
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # the next setup began after the previous one ended


def test_the_setup_lock_excludes_another_holder(tmp_path, monkeypatch) -> None:
    import fcntl

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with setups_one_at_a_time("lock_toy"):
        path = tmp_path / "jaxmath-benchmarks-lock_toy-setup.lock"
        with path.open("a") as handle, pytest.raises(BlockingIOError):
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with path.open("a") as handle:  # released on exit
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_worker_environment_reaches_the_workers_only() -> None:
    assert ENV_NAME not in os.environ
    result = run_benchmark(ENVIRONMENT, quick=True, module=__name__)
    (row,) = result["rows"]
    assert row["status"] == "ok" and row["quality"] == {"seen": 1.0}
    assert ENV_NAME not in os.environ  # restored in this process
    assert result["worker_environment"] == {ENV_NAME: "7"}
    assert f"worker processes run with {ENV_NAME}=7" in format_table(result)


def test_worker_environment_needs_worker_processes() -> None:
    with pytest.raises(ValueError, match="worker_environment needs isolation='process'"):
        Benchmark(
            name="e",
            description="d",
            contenders=(Contender("x", _sleeps),),
            params=lambda quick: {},
            worker_environment={ENV_NAME: "1"},
        )
    with pytest.raises(ValueError, match="sets worker_environment, which needs"):
        run_benchmark(ENVIRONMENT, quick=True, isolation="interleaved")


def test_losses_benchmarks_report_cpu_time_and_faults_with_and_without_huge_pages() -> None:
    from benchmarks import losses

    assert losses.BENCHMARK.cpu_time and losses.BENCHMARK.isolation == "process"
    (huge,) = losses.BENCHMARKS
    assert huge.contenders == losses.BENCHMARK.contenders
    assert "glibc.malloc.hugetlb=1" in huge.worker_environment["GLIBC_TUNABLES"]
    result = run_benchmark(huge, quick=True, module="benchmarks.losses")
    assert result["worker_environment"] == dict(huge.worker_environment)
    for row in result["rows"]:
        assert row["status"] == "ok", row.get("error")
        assert row["cpu_ms"] > 0 and row["minor_faults"] >= 0 and row["sys_ms"] >= 0
