"""The benchmark harness (private): contenders, alternation, limits, the table and the JSON.

Method:
- Each contender is set up once (inputs built, functions compiled, one warm-up call), then the
  contenders are timed in rounds, round-robin with the order rotated every round, so slow drift of the
  machine (thermal, other load) hits every contender alike. The reported time is the median over all
  timed iterations; the spread is the interquartile range.
- JAX work is timed to ``jax.block_until_ready``; torch work runs synchronously on the CPU (and
  ``torch.cuda.synchronize`` where it runs on a GPU). Untimed per-iteration preparation (a fresh
  buffer for a donated input, clearing ``.grad``) happens outside the timer.
- ``isolation="process"`` runs every contender in its own worker process (still alternating: one
  worker runs at a time, the others wait on a pipe), for contenders that disturb each other when
  interleaved in one process (allocation-heavy ones slowed optax's cross-entropy from 95 to 150 ms).
- Limits measured in the same run: streaming bandwidth (an in-place ``x + 1`` over a 256 MB float32
  buffer, donated: 8 bytes moved per element) and float32 matmul throughput (2048^3 ``jnp.dot``).
  Each contender's ``bytes_moved``/``flops`` give achieved GB/s and GFLOP/s and the fraction of those.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import multiprocessing
import os
import pathlib
import pkgutil
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any


@dataclasses.dataclass
class Trial:
    """What a contender's setup returns: ``run`` is timed, ``prepare`` (optional) is not."""

    run: Callable[[], Any]
    prepare: Callable[[], None] = lambda: None


@dataclasses.dataclass(frozen=True)
class Contender:
    """One implementation. ``setup(params) -> Trial``; ``ours``: a jaxmath row (else a peer)."""

    name: str
    setup: Callable[[Mapping[str, Any]], Trial]
    ours: bool = False
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A named comparison.

    params: ``quick -> problem sizes`` (quick: tiny, for the test suite).
    work: ``params -> {"bytes": ..., "flops": ...}`` moved / computed by one iteration (either may be 0).
    floor_ms: ``(params, limits) -> ms``: the time the work takes at the measured limits (optional).
    """

    name: str
    description: str
    contenders: tuple[Contender, ...]
    params: Callable[[bool], dict[str, Any]]
    work: Callable[[Mapping[str, Any]], dict[str, float]]
    floor_ms: Callable[[Mapping[str, Any], Mapping[str, float]], float] | None = None
    isolation: str = "interleaved"  # or "process"
    rounds: int = 5
    iterations_per_round: int = 3


def block(result: Any) -> Any:
    """Wait for JAX (and CUDA torch) work inside ``result`` to finish."""
    import jax

    jax.block_until_ready(result)
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    return result


# ------------------------------------------------------------------------------------------------
# Limits measured in the same run
# ------------------------------------------------------------------------------------------------


def _median_ms(
    function: Callable[[], Any], repeats: int, prepare: Callable[[], None] = lambda: None
) -> float:
    times = []
    for _ in range(repeats):
        prepare()
        start = time.perf_counter()
        block(function())
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure_limits(quick: bool) -> dict[str, float]:
    """Streaming bandwidth (GB/s) and float32 matmul rate (GFLOP/s) on JAX's default device."""
    import jax
    import jax.numpy as jnp

    elements = (1 << 16) if quick else (1 << 26)  # 256 MB of float32
    increment = jax.jit(lambda x: x + 1.0, donate_argnums=0)
    state = {"x": jnp.zeros(elements, jnp.float32)}

    def stream() -> Any:
        state["x"] = increment(state["x"])
        return state["x"]

    block(stream())
    stream_ms = _median_ms(stream, 3 if quick else 9)
    size = 128 if quick else 2048
    a = jnp.ones((size, size), jnp.float32)
    matmul = jax.jit(lambda a, b: a @ b)
    block(matmul(a, a))
    matmul_ms = _median_ms(lambda: matmul(a, a), 3 if quick else 9)
    return {
        "stream_gb_per_s": 8.0 * elements / (stream_ms * 1e-3) / 1e9,
        "matmul_gflop_per_s": 2.0 * size**3 / (matmul_ms * 1e-3) / 1e9,
    }


# ------------------------------------------------------------------------------------------------
# Running contenders: in this process, or each in a worker process
# ------------------------------------------------------------------------------------------------


def _time_trial(trial: Trial, iterations: int) -> list[float]:
    times = []
    for _ in range(iterations):
        trial.prepare()
        start = time.perf_counter()
        block(trial.run())
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _worker(module_name: str, contender_name: str, params: dict[str, Any], connection: Any) -> None:
    """A worker process: set up one contender, then time it whenever asked."""
    benchmark = importlib.import_module(f"benchmarks.{module_name}").BENCHMARK
    contender = next(c for c in benchmark.contenders if c.name == contender_name)
    try:
        trial = contender.setup(params)
        _time_trial(trial, 1)  # warm-up (compilation)
        connection.send(("ready", None))
        while (request := connection.recv()) is not None:
            connection.send(("times", _time_trial(trial, request)))
    except Exception as error:  # report, so the parent can say which contender failed
        connection.send(("error", f"{type(error).__name__}: {error}"))


class _InProcess:
    def __init__(self, contender: Contender, params: dict[str, Any]) -> None:
        self.trial = contender.setup(params)
        _time_trial(self.trial, 1)  # warm-up (compilation)

    def time(self, iterations: int) -> list[float]:
        return _time_trial(self.trial, iterations)

    def close(self) -> None:
        self.trial = None


class _InWorker:
    def __init__(self, module_name: str, contender: Contender, params: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_worker, args=(module_name, contender.name, params, child), daemon=True
        )
        self.name = contender.name
        self.process.start()
        self._receive()  # "ready", once set up and warmed up

    def _receive(self) -> Any:
        kind, payload = self.connection.recv()
        if kind == "error":
            raise RuntimeError(f"contender {self.name!r} failed in its worker: {payload}")
        return payload

    def time(self, iterations: int) -> list[float]:
        self.connection.send(iterations)
        return self._receive()

    def close(self) -> None:
        self.connection.send(None)
        self.process.join(timeout=30)


def run_benchmark(
    benchmark: Benchmark, module_name: str, quick: bool, limits: Mapping[str, float]
) -> dict[str, Any]:
    params = benchmark.params(quick)
    runners = {}
    for contender in benchmark.contenders:
        if benchmark.isolation == "process":
            runners[contender.name] = _InWorker(module_name, contender, params)
        else:
            runners[contender.name] = _InProcess(contender, params)
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    rounds = 1 if quick else benchmark.rounds
    for round_index in range(rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            times[name] += runners[name].time(benchmark.iterations_per_round)
    for runner in runners.values():
        runner.close()
    return summarize(benchmark, params, times, limits)


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    quartiles = statistics.quantiles(values, n=4)
    return quartiles[0], quartiles[2]


def summarize(
    benchmark: Benchmark,
    params: Mapping[str, Any],
    times: Mapping[str, list[float]],
    limits: Mapping[str, float],
) -> dict[str, Any]:
    work = benchmark.work(params)
    medians = {name: statistics.median(values) for name, values in times.items()}
    peers = [c.name for c in benchmark.contenders if not c.ours]
    best_peer = min(peers, key=medians.__getitem__) if peers else None
    floor = benchmark.floor_ms(params, limits) if benchmark.floor_ms else None
    rows = []
    for contender in benchmark.contenders:
        median = medians[contender.name]
        seconds = median * 1e-3
        gb_per_s = work.get("bytes", 0.0) / seconds / 1e9
        gflop_per_s = work.get("flops", 0.0) / seconds / 1e9
        low, high = _quartiles(times[contender.name])
        rows.append(
            {
                "contender": contender.name,
                "ours": contender.ours,
                "note": contender.note,
                "median_ms": median,
                "iqr_ms": [low, high],
                "samples": len(times[contender.name]),
                "ratio_to_best_peer": median / medians[best_peer] if best_peer else None,
                "gb_per_s": gb_per_s,
                "fraction_of_stream": gb_per_s / limits["stream_gb_per_s"],
                "gflop_per_s": gflop_per_s,
                "fraction_of_matmul_peak": gflop_per_s / limits["matmul_gflop_per_s"],
                "fraction_of_floor": (floor / median) if floor else None,
            }
        )
    return {
        "benchmark": benchmark.name,
        "description": benchmark.description,
        "isolation": benchmark.isolation,
        "params": dict(params),
        "work": work,
        "floor_ms": floor,
        "best_peer": best_peer,
        "rows": rows,
    }


# ------------------------------------------------------------------------------------------------
# Environment, discovery, output
# ------------------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import jax
    import numpy

    versions = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": numpy.__version__,
    }
    for package in ("jaxlib", "optax", "torch"):
        try:
            versions[package] = importlib.import_module(package).__version__
        except ImportError:
            versions[package] = None
    threads = {
        key: os.environ.get(key) for key in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "XLA_FLAGS")
    }
    if "torch" in sys.modules or versions["torch"]:
        import torch

        threads["torch_num_threads"] = torch.get_num_threads()
    device = jax.devices()[0]
    return {
        "versions": versions,
        "threads": threads,
        "device": {
            "platform": device.platform,
            "kind": device.device_kind,
            "jax_devices": [str(d) for d in jax.devices()],
        },
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def discover() -> dict[str, Benchmark]:
    import benchmarks

    found = {}
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"benchmarks.{info.name}")
            if hasattr(module, "BENCHMARK"):
                found[info.name] = module.BENCHMARK
    return dict(sorted(found.items()))


COLUMNS = (
    ("contender", 34), ("median ms", 10), ("IQR ms", 15), ("vs best peer", 12), ("GB/s", 7),
    ("%stream", 8), ("GFLOP/s", 8), ("%matmul", 8), ("%floor", 7),
)  # fmt: skip


def _format_row(cells: Sequence[str]) -> str:
    first, *rest = cells
    return f"{first:{COLUMNS[0][1]}}" + "".join(
        f" {cell:>{width}}" for cell, (_, width) in zip(rest, COLUMNS[1:], strict=True)
    )


def format_table(result: Mapping[str, Any]) -> str:
    floor = f"{result['floor_ms']:.1f} ms" if result["floor_ms"] else "n/a"
    lines = [
        f"== {result['benchmark']}: {result['description']}",
        f"   isolation: {result['isolation']}; floor: {floor}; * marks jaxmath",
        _format_row([name for name, _ in COLUMNS]),
    ]
    for row in result["rows"]:
        low, high = row["iqr_ms"]
        ratio, fraction = row["ratio_to_best_peer"], row["fraction_of_floor"]
        cells = [
            ("* " if row["ours"] else "  ") + row["contender"],
            f"{row['median_ms']:.2f}",
            f"{low:.1f}-{high:.1f}",
            f"{ratio:.2f}x" if ratio else "-",
            f"{row['gb_per_s']:.1f}",
            f"{100 * row['fraction_of_stream']:.0f}%",
            f"{row['gflop_per_s']:.1f}",
            f"{100 * row['fraction_of_matmul_peak']:.0f}%",
            f"{100 * fraction:.0f}%" if fraction else "-",
        ]
        lines.append(_format_row(cells))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Time jaxmath against its peers."
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round (for tests)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("benchmarks/results"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    available = discover()
    if args.list:
        for name, benchmark in available.items():
            print(f"{name:12} {benchmark.description}")
        return 0
    unknown = [name for name in args.names if name not in available]
    if unknown:
        print(
            f"error: unknown benchmark {unknown[0]!r}; known: {', '.join(available)}",
            file=sys.stderr,
        )
        return 2
    selected = args.names or list(available)
    env = environment()
    print(
        f"OMP_WAIT_POLICY={env['threads']['OMP_WAIT_POLICY']} (set before torch loads); device: {env['device']['kind']}"
    )
    limits = measure_limits(args.quick)
    print(
        f"limits measured now: stream {limits['stream_gb_per_s']:.1f} GB/s, "
        f"float32 matmul {limits['matmul_gflop_per_s']:.1f} GFLOP/s"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for name in selected:
        result = run_benchmark(available[name], name, args.quick, limits)
        print(format_table(result))
        record = {"environment": env, "limits": limits, "quick": args.quick, **result}
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(f"   written: {args.out / f'{name}.json'}")
    return 0
