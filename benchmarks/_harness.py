"""The benchmark harness (private): contenders, alternation, limits, the table and the JSON.

Writing a benchmark: a module ``benchmarks/<name>.py`` with ::

    BENCHMARK = Benchmark(
        name="<name>",
        description="what one iteration computes, at full size",
        contenders=(
            Contender("jaxmath", setup_ours, ours=True),
            Contender("torch", setup_torch),
        ),
        params=lambda quick: {"n": 64} if quick else {"n": 4096},
        work=lambda params: {"bytes": ..., "flops": ...},  # per iteration, for GB/s and GFLOP/s
    )

where ``setup(params)`` builds inputs, compiles, and returns the zero-argument callable that runs one
iteration (or a :class:`Trial`, when something must happen before each iteration outside the timer,
or when the contender reports the quality of its answer, e.g. an approximation's error, in
``Trial.quality``). A module with more than one comparison defines ``BENCHMARKS = (...)``;
``python -m benchmarks <module>`` runs all of them, ``python -m benchmarks <name>`` one.
The harness blocks on what it returns (``jax.block_until_ready``; ``torch.cuda.synchronize`` on GPU).

Method:

- Each contender is set up once (inputs built, functions compiled) and warmed up, then the contenders
  are timed in rounds, round-robin with the order rotated every round, so slow drift of the machine
  (thermal, other load) hits every contender alike. The reported time is the median over all timed
  iterations; the spread is the interquartile range; every sample goes into the JSON.
- Untimed per-iteration preparation (``Trial.prepare``: fresh arguments for a donated input, clearing
  ``.grad``) runs outside the timer; :func:`donating_trial` is that pattern for donated arguments.
  A call's result is released after the timer stops (freeing it is not the call's work).
- ``isolation="process"`` runs each contender in its own worker process, still alternating (one worker
  runs at a time, the others wait on a pipe), for contenders that disturb each other when interleaved
  in one process (allocation-heavy ones slowed optax's cross-entropy from 95 to 150 ms; torch's and
  JAX's thread pools slowed each other's MLP steps).
- Limits measured in the same run, on JAX's default device, each the best of its repeats (what the
  machine reaches; another process busy on one core halves a typical repeat): streaming bandwidth
  (``x + 1`` over a 256 MB float32 buffer, donated so it updates in place: 8 bytes moved per element)
  and the float32 matmul rate (an n x n ``jnp.dot``, n = 2048 on CPU, 8192 on accelerators, at JAX's
  default matmul precision, recorded in the JSON).
  A contender's ``work`` gives its achieved GB/s and GFLOP/s and the fraction of those limits;
  ``floor_ms`` (optional) is the benchmark's own lower bound from them.
- ``Benchmark(cpu_time=True)``: every timed call also records the CPU time of its process (user +
  system, every thread, from ``getrusage``; read outside the wall-time window) and its minor page
  faults. Each row then reports the median CPU ms (and its user / system split) and faults per call,
  and with ``work`` the GFLOP and GB per CPU-second: a second opinion that other load on a shared
  machine does not stretch (it stretches wall time), and that shows where a contender's time goes
  (system time and faults: the kernel's first touch of fresh memory). In ``"interleaved"`` mode the
  process's idle threads of other contenders count too (little with ``OMP_WAIT_POLICY=PASSIVE``).
- ``Benchmark(serial_setups=True)``: the worker processes, started together, set up one at a time
  (each setup and warm-up holds a file lock, :func:`setups_one_at_a_time`), so that a quality
  measured in setup (CPU time, say: :func:`cpu_ms_of`) counts no other contender's compilation.
- ``Benchmark(worker_environment={...})``: environment variables set for the worker processes only
  (``isolation="process"``), read by them from their start: e.g. a C library's tunables, to time
  every contender under another allocator setting in a second benchmark of the same module.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib
import json
import multiprocessing
import os
import pathlib
import pkgutil
import platform
import resource
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
ISOLATIONS = ("interleaved", "process")
Work = Mapping[str, float]
USAGE_KEYS = ("cpu_ms", "user_ms", "sys_ms", "minor_faults")  # per timed call, with cpu_time=True


@dataclasses.dataclass
class Trial:
    """One contender, ready to time: ``run`` is timed (then blocked on), ``prepare`` is not.

    ``prepare`` runs before every call of ``run`` (warm-up included), outside the timer.
    ``quality``: what the contender's result achieves, measured once in setup (e.g. its error over
    the optimal error for an approximation), shown beside its time and kept in the JSON, so a faster
    but worse answer is visible as such.
    """

    run: Callable[[], Any]
    prepare: Callable[[], Any] = lambda: None
    quality: Mapping[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Contender:
    """One implementation under test.

    Attributes:
        name: the row's label; unique within its benchmark.
        setup: ``setup(params)`` builds the inputs and returns a zero-argument callable running one
            iteration, or a :class:`Trial`. Import heavy libraries (jax, torch) inside it.
        ours: a jaxmath row (else a peer: the ratio column compares with the fastest peer).
        note: a remark kept in the JSON.
        work: bytes moved / flops of one iteration when they differ from the benchmark's ``work``.
    """

    name: str
    setup: Callable[[Mapping[str, Any]], Trial | Callable[[], Any]]
    ours: bool = False
    note: str = ""
    work: Callable[[Mapping[str, Any]], Work] | None = None


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A named comparison; a module ``benchmarks/<name>.py`` defines one as ``BENCHMARK``, or several
    as ``BENCHMARKS = (...)`` (e.g. a grid and a Hessian benchmark of one concept).

    Attributes:
        name: what ``python -m benchmarks NAME`` selects (the module's name for its main benchmark;
            ``python -m benchmarks MODULE`` runs all of a module's benchmarks).
        description: what one iteration computes, at full size.
        contenders: the rows, jaxmath's (``ours=True``) and the peers'.
        params: ``quick -> problem sizes``; quick: tiny sizes, for the test suite.
        work: ``params -> {"bytes": ..., "flops": ...}`` moved / computed by one iteration (a missing
            or zero entry leaves that column blank).
        floor_ms: ``(params, limits) -> ms``, the time the work needs at the limits measured in this
            run (optional); the table shows each contender's fraction of it.
        floor_note: how ``floor_ms`` is computed, printed under the table.
        isolation: ``"interleaved"`` (all contenders in this process) or ``"process"`` (each in its
            own worker process, alternating); say why in the module's docstring.
        warmup: untimed iterations after setup (the first compiles).
        rounds: round-robin rounds; each contender runs ``iterations_per_round`` times per round.
        cpu_time: also record each timed call's CPU time (user + system, all threads of the
            process) and minor page faults; the rows and the table report their medians (see the
            module docstring).
        serial_setups: contenders set up (and warm up) one at a time, under a file lock, even in
            worker processes started together: for qualities measured in setup.
        worker_environment: environment variables for the worker processes (added to this
            process's); needs ``isolation="process"``. Shown above the table and kept in the JSON.
    """

    name: str
    description: str
    contenders: tuple[Contender, ...]
    params: Callable[[bool], dict[str, Any]]
    work: Callable[[Mapping[str, Any]], Work] = lambda params: {}
    floor_ms: Callable[[Mapping[str, Any], Mapping[str, float]], float] | None = None
    floor_note: str = ""
    isolation: str = "interleaved"
    warmup: int = 2
    rounds: int = 5
    iterations_per_round: int = 3
    cpu_time: bool = False
    serial_setups: bool = False
    worker_environment: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {self.isolation!r}")
        names = [contender.name for contender in self.contenders]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"contenders must have unique names, got {names}")
        for field in ("warmup", "rounds", "iterations_per_round"):
            minimum = 0 if field == "warmup" else 1
            if getattr(self, field) < minimum:
                raise ValueError(f"{field} must be >= {minimum}, got {getattr(self, field)}")
        if self.worker_environment and self.isolation != "process":
            raise ValueError(
                f"worker_environment needs isolation='process', got isolation={self.isolation!r}"
            )


def block(result: Any) -> Any:
    """Wait until the work behind ``result`` is done: JAX arrays in it, and CUDA torch work."""
    import jax

    jax.block_until_ready(result)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    return result


def donating_trial(step: Callable[..., Any], make_arguments: Callable[[], tuple]) -> Trial:
    """A :class:`Trial` for ``step(*arguments)`` whose arguments are donated (consumed by the call).

    Before each timed call, ``prepare`` makes fresh arguments with ``make_arguments()`` and waits
    until they exist, outside the timer: the timed call then starts, as in a training step, from
    arguments that are already in memory.
    """
    pending: list[tuple] = []

    def prepare() -> None:
        pending.append(block(make_arguments()))

    return Trial(run=lambda: step(*pending.pop()), prepare=prepare)


def best_time_ms(
    function: Callable[[], Any], repeats: int, prepare: Callable[[], Any] = lambda: None
) -> float:
    """Fastest wall time (ms) of ``block(function())`` over ``repeats`` calls, after one untimed call.

    For limits and floors (what the machine can reach), not for contenders (their median is reported).
    """
    trial = Trial(run=function, prepare=prepare)
    _time_trial(trial, 1)
    return min(_time_trial(trial, repeats))


def _time_trial(trial: Trial, iterations: int) -> list[float]:
    return _time_calls(trial, iterations, usage=False)["wall_ms"]


def _time_calls(trial: Trial, iterations: int, usage: bool) -> dict[str, list[float]]:
    """Per call: ``wall_ms``; with ``usage`` also ``cpu_ms``, ``user_ms``, ``sys_ms`` (this process,
    every thread) and ``minor_faults``, read just outside the wall-time window.

    The call's result is released after the clocks stop: freeing it is not the call's work (a
    262 MB JAX result's unmapping cost ~15 ms of system time inside the window; torch's gradient,
    cleared in ``prepare``, was freed outside it)."""
    samples: dict[str, list[float]] = {"wall_ms": []}
    if usage:
        samples.update({key: [] for key in USAGE_KEYS})
    for _ in range(iterations):
        trial.prepare()
        before = resource.getrusage(resource.RUSAGE_SELF) if usage else None
        start = time.perf_counter()
        result = block(trial.run())
        samples["wall_ms"].append((time.perf_counter() - start) * 1e3)
        after = resource.getrusage(resource.RUSAGE_SELF) if usage else None
        del result
        if before is not None and after is not None:
            user = (after.ru_utime - before.ru_utime) * 1e3
            system = (after.ru_stime - before.ru_stime) * 1e3
            samples["cpu_ms"].append(user + system)
            samples["user_ms"].append(user)
            samples["sys_ms"].append(system)
            samples["minor_faults"].append(float(after.ru_minflt - before.ru_minflt))
    return samples


def cpu_ms_of(function: Callable[[], Any]) -> float:
    """CPU time (ms; user + system, every thread of this process) of one blocked ``function()``.

    A second opinion robust to other load, for a quality measured in setup; pair it with
    ``Benchmark(serial_setups=True)`` so that no other contender's setup runs meanwhile.
    """
    before = resource.getrusage(resource.RUSAGE_SELF)
    block(function())
    after = resource.getrusage(resource.RUSAGE_SELF)
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1e3


@contextlib.contextmanager
def setups_one_at_a_time(benchmark_name: str) -> Iterator[None]:
    """Hold an exclusive file lock (``$TMPDIR/jaxmath-benchmarks-<name>-setup.lock``) meanwhile.

    Worker processes start together and set up in parallel; a setup under this lock runs alone
    among the benchmark's setups, so a CPU time it measures is its own. ``Benchmark(serial_setups=
    True)`` takes it around every contender's setup and warm-up.
    """
    import fcntl

    path = pathlib.Path(tempfile.gettempdir()) / f"jaxmath-benchmarks-{benchmark_name}-setup.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------------------------------------
# Limits measured in the same run
# ------------------------------------------------------------------------------------------------


def measure_limits(quick: bool = False) -> dict[str, float]:
    """Streaming bandwidth (GB/s) and float32 matmul rate (GFLOP/s) on JAX's default device."""
    import jax
    import jax.numpy as jnp

    elements = (1 << 16) if quick else (1 << 26)  # 256 MB of float32
    increment = jax.jit(lambda x: x + 1.0, donate_argnums=0)
    state = {"x": jnp.zeros(elements, jnp.float32)}

    def stream() -> Any:
        state["x"] = increment(state["x"])  # the output takes the input's buffer: in place
        return state["x"]

    stream_ms = best_time_ms(stream, 3 if quick else 20)
    on_cpu = jax.default_backend() == "cpu"
    size = 128 if quick else (2048 if on_cpu else 8192)
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    matmul = jax.jit(jnp.dot)
    matmul_ms = best_time_ms(lambda: matmul(a, a), 3 if quick else 10)
    matmul_cpu_ms = min(cpu_ms_of(lambda: matmul(a, a)) for _ in range(3))
    return {
        "stream_gb_per_s": 8.0 * elements / (stream_ms * 1e-3) / 1e9,
        "matmul_gflop_per_s": 2.0 * size**3 / (matmul_ms * 1e-3) / 1e9,
        "matmul_gflop_per_cpu_s": 2.0 * size**3 / max(matmul_cpu_ms * 1e-3, 1e-9) / 1e9,
        "stream_bytes": 8.0 * elements,
        "matmul_size": size,
    }


# ------------------------------------------------------------------------------------------------
# Running contenders: in this process, or each in a worker process
# ------------------------------------------------------------------------------------------------


class ContenderError(RuntimeError):
    """A contender failed in setup or while timed; ``skipped``: a library it needs is missing."""

    def __init__(self, name: str, message: str, skipped: bool = False) -> None:
        super().__init__(f"contender {name!r}: {message}")
        self.contender = name
        self.message = message
        self.skipped = skipped


def _as_trial(prepared: Trial | Callable[[], Any]) -> Trial:
    if isinstance(prepared, Trial):
        return prepared
    if not callable(prepared):
        raise TypeError(f"setup must return a callable or a Trial, got {type(prepared).__name__}")
    return Trial(run=prepared)


def _set_up(
    contender: Contender, params: Mapping[str, Any], warmup: int, lock_name: str | None = None
) -> Trial:
    """Set up and warm up; under :func:`setups_one_at_a_time` when ``lock_name`` is given."""
    with setups_one_at_a_time(lock_name) if lock_name else contextlib.nullcontext():
        trial = _as_trial(contender.setup(params))
        _time_trial(trial, warmup)
    return trial


PROJECT_PACKAGES = ("jaxmath", "torch_ref", "benchmarks")


def _describe(error: BaseException) -> tuple[str, bool]:
    """(message, skipped): a missing third-party package (torch, optax) skips the contender; anything
    else, a missing module of this project included, fails it with its traceback."""
    missing = getattr(error, "name", None) or ""
    if isinstance(error, ModuleNotFoundError) and missing.split(".")[0] not in PROJECT_PACKAGES:
        return str(error), True
    return "".join(traceback.format_exception(error)).rstrip(), False


class _InProcess:
    def __init__(
        self, contender: Contender, params: Mapping[str, Any], warmup: int, usage: bool = False
    ) -> None:
        self.name = contender.name
        self.usage = usage
        try:
            self.trial: Trial | None = _set_up(contender, params, warmup)
        except Exception as error:
            raise ContenderError(self.name, *_describe(error)) from error
        self.quality = dict(self.trial.quality)

    def wait_ready(self) -> None:
        pass

    def time(self, iterations: int) -> dict[str, list[float]]:
        try:
            return _time_calls(self.trial, iterations, self.usage)
        except Exception as error:
            raise ContenderError(self.name, *_describe(error)) from error

    def close(self) -> None:
        self.trial = None  # frees its inputs and compiled functions


def module_benchmarks(module: Any) -> tuple[Benchmark, ...]:
    """The benchmarks a module defines: ``BENCHMARK`` and/or the tuple ``BENCHMARKS``."""
    found = [getattr(module, "BENCHMARK", None), *getattr(module, "BENCHMARKS", ())]
    return tuple(benchmark for benchmark in found if isinstance(benchmark, Benchmark))


def _worker(
    module: str,
    benchmark_name: str,
    contender_name: str,
    params: Mapping[str, Any],
    warmup: int,
    pipe: Any,
) -> None:
    """A worker process: set up one contender, then time it whenever asked, until told to stop."""
    try:
        benchmarks = module_benchmarks(importlib.import_module(module))
        benchmark = next(b for b in benchmarks if b.name == benchmark_name)
        contender = next(c for c in benchmark.contenders if c.name == contender_name)
        lock_name = benchmark.name if benchmark.serial_setups else None
        trial = _set_up(contender, params, warmup, lock_name)
        pipe.send(("ready", dict(trial.quality)))
        while (iterations := pipe.recv()) is not None:
            pipe.send(("times", _time_calls(trial, iterations, benchmark.cpu_time)))
    except Exception as error:  # reported to the parent, which names the contender
        pipe.send(("error", _describe(error)))


class _InWorker:
    def __init__(
        self,
        module: str,
        benchmark: str,
        contender: Contender,
        params: Mapping[str, Any],
        warmup: int,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.name = contender.name
        self.quality: dict[str, float] = {}
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited state
        self.pipe, child = context.Pipe()
        self.process = context.Process(
            target=_worker,
            args=(module, benchmark, contender.name, dict(params), warmup, child),
            daemon=True,
        )
        with _environment(environment or {}):  # a spawned worker takes this process's environment
            self.process.start()
        child.close()

    def _receive(self) -> Any:
        try:
            kind, payload = self.pipe.recv()
        except EOFError:
            self.process.join(timeout=5)
            message = f"its worker process died (exit code {self.process.exitcode})"
            raise ContenderError(self.name, message) from None
        if kind == "error":
            raise ContenderError(self.name, *payload)
        return payload

    def wait_ready(self) -> None:
        self.quality = self._receive()

    def time(self, iterations: int) -> dict[str, list[float]]:
        self.pipe.send(iterations)
        return self._receive()

    def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):  # the worker may have exited already
                self.pipe.send(None)
            self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        self.pipe.close()


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``variables`` meanwhile, restored after."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_benchmark(
    benchmark: Benchmark,
    *,
    quick: bool = False,
    limits: Mapping[str, float] | None = None,
    module: str | None = None,
    rounds: int | None = None,
    isolation: str | None = None,
) -> dict[str, Any]:
    """Set up, warm up and time every contender of ``benchmark``, alternating; return the summary.

    Args:
        benchmark: what to run.
        quick: tiny sizes (``benchmark.params(True)``) and one round.
        limits: :func:`measure_limits`' result, for the GB/s and GFLOP/s fractions (None: left blank).
        module: the module defining the benchmark, imported by worker processes
            (default: ``benchmarks.<name>``); only ``isolation="process"`` needs it.
        rounds: overrides the benchmark's (and quick's) number of rounds.
        isolation: overrides the benchmark's isolation.

    A contender that fails (setup or timing) or is skipped (a module it needs is missing) gets a row
    with its message instead of times; the others are still timed.
    """
    isolation = isolation or benchmark.isolation
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
    if benchmark.worker_environment and isolation != "process":
        raise ValueError(
            f"benchmark {benchmark.name!r} sets worker_environment, which needs "
            f"isolation='process', got {isolation!r}"
        )
    rounds = rounds if rounds is not None else (1 if quick else benchmark.rounds)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    params = benchmark.params(quick)
    module = module or f"benchmarks.{benchmark.name}"
    runners: dict[str, _InProcess | _InWorker] = {}
    errors: dict[str, ContenderError] = {}
    times: dict[str, list[float]] = {}
    try:
        for contender in benchmark.contenders:  # workers start together, set up in parallel
            try:
                if isolation == "process":
                    runners[contender.name] = _InWorker(
                        module,
                        benchmark.name,
                        contender,
                        params,
                        benchmark.warmup,
                        benchmark.worker_environment,
                    )
                else:
                    runners[contender.name] = _InProcess(
                        contender, params, benchmark.warmup, benchmark.cpu_time
                    )
            except ContenderError as error:
                errors[contender.name] = error
        for name in list(runners):
            try:
                runners[name].wait_ready()
            except ContenderError as error:
                errors[name] = error
                runners.pop(name).close()
        times = {name: [] for name in runners}
        usage: dict[str, dict[str, list[float]]] = {name: {} for name in runners}
        quality = {name: runner.quality for name, runner in runners.items()}
        for round_index in range(rounds):
            names = list(runners)
            shift = round_index % max(len(names), 1)
            for name in names[shift:] + names[:shift]:
                try:
                    samples = runners[name].time(benchmark.iterations_per_round)
                except ContenderError as error:
                    errors[name] = error
                    runners.pop(name).close()
                    times.pop(name)
                    usage.pop(name)
                    continue
                times[name] += samples.pop("wall_ms")
                for key, values in samples.items():
                    usage[name].setdefault(key, []).extend(values)
    finally:
        for runner in runners.values():
            runner.close()
    return summarize(benchmark, params, times, limits, errors, isolation, rounds, quality, usage)


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    quartiles = statistics.quantiles(values, n=4)
    return quartiles[0], quartiles[2]


def _rate(amount: float, seconds: float, limit: float | None) -> tuple[float | None, float | None]:
    """(achieved per second in units of 1e9, fraction of the limit); None where there is no work."""
    if not amount:
        return None, None
    rate = amount / seconds / 1e9
    return rate, (rate / limit if limit else None)


def _row(
    contender: Contender,
    samples: Sequence[float] | None,
    work: Work,
    limits: Mapping[str, float],
    best_peer_ms: float | None,
    floor: float | None,
    error: ContenderError | None,
    quality: Mapping[str, float] | None = None,
    usage: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {"contender": contender.name, "ours": contender.ours}
    row["note"] = contender.note
    row["quality"] = dict(quality or {})
    if not samples:
        message = error.message if error else "not run"
        return {
            **row,
            "status": "skipped" if error and error.skipped else "failed",
            "error": message,
        }
    median = statistics.median(samples)
    gb_per_s, fraction_of_stream = _rate(
        work.get("bytes", 0.0), median * 1e-3, limits.get("stream_gb_per_s")
    )
    gflop_per_s, fraction_of_matmul = _rate(
        work.get("flops", 0.0), median * 1e-3, limits.get("matmul_gflop_per_s")
    )
    return {
        **row,
        "status": "ok",
        "median_ms": median,
        "iqr_ms": list(_quartiles(samples)),
        "samples": len(samples),
        "times_ms": list(samples),
        "ratio_to_best_peer": median / best_peer_ms if best_peer_ms else None,
        "work": dict(work),
        "gb_per_s": gb_per_s,
        "fraction_of_stream": fraction_of_stream,
        "gflop_per_s": gflop_per_s,
        "fraction_of_matmul_peak": fraction_of_matmul,
        "fraction_of_floor": floor / median if floor else None,
        **_usage_fields(usage, work, limits),
    }


def _usage_fields(
    usage: Mapping[str, Sequence[float]] | None, work: Work, limits: Mapping[str, float]
) -> dict[str, Any]:
    """A row's CPU-time columns (``Benchmark(cpu_time=True)``): medians per call, every sample."""
    if not usage or not usage.get("cpu_ms"):
        return {}
    cpu_ms = statistics.median(usage["cpu_ms"])
    fields: dict[str, Any] = {
        "cpu_ms": cpu_ms,
        "cpu_iqr_ms": list(_quartiles(usage["cpu_ms"])),
        "user_ms": statistics.median(usage["user_ms"]),
        "sys_ms": statistics.median(usage["sys_ms"]),
        "minor_faults": statistics.median(usage["minor_faults"]),
        "cpu_times_ms": list(usage["cpu_ms"]),
        "user_times_ms": list(usage["user_ms"]),
        "sys_times_ms": list(usage["sys_ms"]),
        "minor_faults_per_call": list(usage["minor_faults"]),
    }
    cpu_s = max(cpu_ms * 1e-3, 1e-12)
    fields["gb_per_cpu_s"] = work.get("bytes", 0.0) / cpu_s / 1e9 or None
    fields["gflop_per_cpu_s"] = work.get("flops", 0.0) / cpu_s / 1e9 or None
    probe = limits.get("matmul_gflop_per_cpu_s")
    gflop = fields["gflop_per_cpu_s"]
    fields["fraction_of_matmul_per_cpu_s"] = gflop / probe if gflop and probe else None
    return fields


def summarize(
    benchmark: Benchmark,
    params: Mapping[str, Any],
    times: Mapping[str, Sequence[float]],
    limits: Mapping[str, float] | None = None,
    errors: Mapping[str, ContenderError] | None = None,
    isolation: str | None = None,
    rounds: int | None = None,
    quality: Mapping[str, Mapping[str, float]] | None = None,
    usage: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
) -> dict[str, Any]:
    """The benchmark's result as JSON-ready data: one row per contender, in declaration order.

    ``usage``: per contender, the per-call ``cpu_ms``, ``user_ms``, ``sys_ms`` and ``minor_faults``
    of the timed calls (``Benchmark(cpu_time=True)``); their medians go into the rows, and
    ``cpu_ratio_to_best_peer`` compares CPU medians with the same peer as ``ratio_to_best_peer``.
    """
    limits, errors, quality = limits or {}, errors or {}, quality or {}
    usage = usage or {}
    medians = {name: statistics.median(samples) for name, samples in times.items() if samples}
    peers = [c.name for c in benchmark.contenders if not c.ours and c.name in medians]
    best_peer = min(peers, key=medians.__getitem__) if peers else None
    floor = benchmark.floor_ms(params, limits) if benchmark.floor_ms and limits else None
    rows = [
        _row(
            contender,
            times.get(contender.name),
            (contender.work or benchmark.work)(params),
            limits,
            medians[best_peer] if best_peer else None,
            floor,
            errors.get(contender.name),
            quality.get(contender.name),
            usage.get(contender.name),
        )
        for contender in benchmark.contenders
    ]
    peer_cpu = next((r.get("cpu_ms") for r in rows if r["contender"] == best_peer), None)
    for row in rows:  # the same comparison by CPU time: what other load does not stretch
        if "cpu_ms" in row:
            row["cpu_ratio_to_best_peer"] = row["cpu_ms"] / peer_cpu if peer_cpu else None
    return {
        "benchmark": benchmark.name,
        "description": benchmark.description,
        "isolation": isolation or benchmark.isolation,
        "rounds": rounds,
        "iterations_per_round": benchmark.iterations_per_round,
        "warmup": benchmark.warmup,
        "cpu_time": benchmark.cpu_time,
        "worker_environment": dict(benchmark.worker_environment),
        "params": dict(params),
        "work": dict(benchmark.work(params)),
        "floor_ms": floor,
        "floor_note": benchmark.floor_note,
        "best_peer": best_peer,
        "rows": rows,
    }


# ------------------------------------------------------------------------------------------------
# Environment, discovery, output
# ------------------------------------------------------------------------------------------------

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "XLA_FLAGS",
)


def _load_average() -> list[float] | None:
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def environment() -> dict[str, Any]:
    """Versions, thread settings, devices and machine load, for the JSON."""
    import jax
    import numpy

    import benchmarks

    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": numpy.__version__,
    }
    for package in ("jaxlib", "optax", "torch"):
        try:
            versions[package] = importlib.import_module(package).__version__
        except ImportError:
            versions[package] = None
    threads: dict[str, Any] = {key: os.environ.get(key) for key in THREAD_VARIABLES}
    threads["omp_wait_policy_set_by_harness"] = benchmarks.OMP_WAIT_POLICY_FOUND is None
    threads["torch_imported_before_harness"] = benchmarks.TORCH_IMPORTED_FIRST
    device = jax.devices()[0]
    devices: dict[str, Any] = {
        "platform": device.platform,
        "kind": device.device_kind,
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
    }
    if versions["torch"]:
        import torch

        threads["torch_num_threads"] = torch.get_num_threads()
        threads["torch_num_interop_threads"] = torch.get_num_interop_threads()
        devices["torch_cuda"] = torch.cuda.is_available()
        if devices["torch_cuda"]:
            devices["torch_cuda_device"] = torch.cuda.get_device_name()
    return {
        "versions": versions,
        "threads": threads,
        "device": devices,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_at_start": _load_average(),
    }


@dataclasses.dataclass(frozen=True)
class Discovered:
    """The benchmarks found in the package by name (with their modules), and modules that failed."""

    benchmarks: dict[str, Benchmark]
    modules: dict[str, str]  # benchmark name -> the module defining it
    broken: dict[str, str]

    def select(self, names: Sequence[str]) -> list[str]:
        """Benchmark names for ``names``: a benchmark's name, or a module's (all of its benchmarks);
        all benchmarks when ``names`` is empty. Raises KeyError naming the first unknown name."""
        if not names:
            return list(self.benchmarks)
        selected: list[str] = []
        for name in names:
            matches = [
                benchmark
                for benchmark, module in self.modules.items()
                if benchmark == name or module == f"benchmarks.{name}"
            ]
            if not matches:
                raise KeyError(name)
            selected += [match for match in matches if match not in selected]
        return selected


def discover() -> Discovered:
    """Import every public module of ``benchmarks`` and collect its ``BENCHMARK``/``BENCHMARKS``."""
    import benchmarks

    found: dict[str, Benchmark] = {}
    modules: dict[str, str] = {}
    broken: dict[str, str] = {}
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.name.startswith("_"):
            continue
        module_name = f"benchmarks.{info.name}"
        try:
            module = importlib.import_module(module_name)
        except Exception:
            broken[info.name] = traceback.format_exc().rstrip()
            continue
        for benchmark in module_benchmarks(module):
            if benchmark.name in found:
                broken[info.name] = (
                    f"benchmark name {benchmark.name!r} is already defined by "
                    f"{modules[benchmark.name]}"
                )
                continue
            found[benchmark.name] = benchmark
            modules[benchmark.name] = module_name
    order = sorted(found)
    return Discovered({n: found[n] for n in order}, {n: modules[n] for n in order}, broken)


HEADERS = ("median ms", "IQR ms", "vs best peer", "GB/s", "%stream", "GFLOP/s", "%matmul", "%floor")
WIDTHS = (10, 15, 12, 8, 8, 8, 8, 7)
# with cpu_time: median CPU ms per call (user + system), that over the best peer's (the peer of the
# wall-time ratio), its system part, minor page faults per call, GFLOP per CPU-second as a fraction
# of the matmul probe's
USAGE_HEADERS = ("CPU ms", "CPU vs peer", "sys ms", "faults", "%matmul/CPU")
USAGE_WIDTHS = (8, 11, 8, 8, 11)


def _cell(value: float | None, spec: str, scale: float = 1.0, suffix: str = "") -> str:
    return "-" if value is None else f"{scale * value:{spec}}{suffix}"


def format_table(result: Mapping[str, Any]) -> str:
    """The printed table: one line per contender, with the run's settings above it."""
    rows = result["rows"]
    name_width = max(len("contender"), *(len(row["contender"]) + 2 for row in rows))
    params = ", ".join(f"{key}={value}" for key, value in result["params"].items())
    isolation = {
        "interleaved": "interleaved (all contenders in one process, alternating)",
        "process": "process (each contender in its own worker process, alternating)",
    }[result["isolation"]]
    lines = [
        f"== {result['benchmark']}: {result['description']}",
        f"   params: {params}; isolation: {isolation}",
        f"   median of {result['rounds'] * result['iterations_per_round']} timed iterations "
        f"({result['rounds']} rounds x {result['iterations_per_round']}, contenders alternated) "
        f"after {result['warmup']} warm-up; * marks jaxmath",
    ]
    if result.get("worker_environment"):
        variables = " ".join(f"{k}={v}" for k, v in result["worker_environment"].items())
        lines.append(f"   worker processes run with {variables}")
    if result["floor_ms"]:
        note = f" ({result['floor_note']})" if result["floor_note"] else ""
        lines.append(f"   floor: {result['floor_ms']:.4g} ms{note}")
    with_usage = any("cpu_ms" in row for row in rows)
    headers = HEADERS + (USAGE_HEADERS if with_usage else ())
    widths = WIDTHS + (USAGE_WIDTHS if with_usage else ())
    if with_usage:
        lines.append(
            "   CPU ms, sys ms: median CPU time per timed call (user + system, every thread of the "
            "contender's process), faults: minor page faults per call"
        )
    lines.append(
        f"{'contender':{name_width}}"
        + "".join(f" {header:>{width}}" for header, width in zip(headers, widths, strict=True))
    )
    for row in rows:
        label = ("* " if row["ours"] else "  ") + row["contender"]
        if row["status"] != "ok":
            lines.append(f"{label:{name_width}} {row['status']}: {row['error'].splitlines()[-1]}")
            continue
        quality = ", ".join(f"{key}={value:.6g}" for key, value in row.get("quality", {}).items())
        low, high = row["iqr_ms"]
        cells = (
            f"{row['median_ms']:.4g}",
            f"{low:.3g}-{high:.3g}",
            _cell(row["ratio_to_best_peer"], ".2f", suffix="x"),
            _cell(row["gb_per_s"], ".1f"),
            _cell(row["fraction_of_stream"], ".0f", 100, "%"),
            _cell(row["gflop_per_s"], ".1f"),
            _cell(row["fraction_of_matmul_peak"], ".0f", 100, "%"),
            _cell(row["fraction_of_floor"], ".0f", 100, "%"),
        )
        if with_usage:
            cells += (
                _cell(row.get("cpu_ms"), ".4g"),
                _cell(row.get("cpu_ratio_to_best_peer"), ".2f", suffix="x"),
                _cell(row.get("sys_ms"), ".3g"),
                _cell(row.get("minor_faults"), ".0f"),
                _cell(row.get("fraction_of_matmul_per_cpu_s"), ".0f", 100, "%"),
            )
        lines.append(
            f"{label:{name_width}}"
            + "".join(f" {cell:>{width}}" for cell, width in zip(cells, widths, strict=True))
            + (f"  {quality}" if quality else "")
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line of ``python -m benchmarks``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Time jaxmath against its peers."
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round (for tests)")
    parser.add_argument(
        "--out", type=pathlib.Path, default=RESULTS, help=f"JSON folder (default: {RESULTS})"
    )
    parser.add_argument("--rounds", type=int, help="round-robin rounds (default: the benchmark's)")
    parser.add_argument(
        "--isolation", choices=ISOLATIONS, help="override the benchmark's isolation mode"
    )
    return parser.parse_args(argv)


def _print_environment(env: Mapping[str, Any]) -> None:
    threads = env["threads"]
    how = (
        "set by the harness before torch loaded"
        if threads["omp_wait_policy_set_by_harness"]
        else "kept from the environment"
    )
    print(f"OMP_WAIT_POLICY={threads['OMP_WAIT_POLICY']} ({how})")
    if threads["torch_imported_before_harness"]:
        print("warning: torch was imported before benchmarks; OMP_WAIT_POLICY may not apply")
    device = env["device"]
    print(
        f"device: {device['platform']} ({device['kind']}), jax devices {device['jax_devices']}; "
        f"{env['cpu_count']} CPUs, torch threads {threads.get('torch_num_threads')}"
    )
    load = env["load_average_at_start"]
    if load and load[0] > 0.5 * (env["cpu_count"] or 1):
        print(f"warning: load average {load[0]} on {env['cpu_count']} CPUs: other work is running")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; 0 if all ran, 1 if a contender failed, 2 on a bad name."""
    args = parse_args(argv)
    found = discover()
    for module, error in found.broken.items():
        print(f"warning: benchmarks/{module}.py failed to import:\n{error}", file=sys.stderr)
    if args.list:
        for name, benchmark in found.benchmarks.items():
            print(f"{name:12} {benchmark.isolation:12} {benchmark.description}")
        return 0
    try:
        selected = found.select(args.names)
    except KeyError as error:
        known = ", ".join(found.benchmarks) or "none"
        print(f"error: unknown benchmark {error.args[0]!r}; known: {known}", file=sys.stderr)
        return 2
    env = environment()
    _print_environment(env)
    limits = measure_limits(args.quick)
    print(
        f"limits measured now: stream {limits['stream_gb_per_s']:.1f} GB/s, "
        f"float32 matmul {limits['matmul_gflop_per_s']:.1f} GFLOP/s"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in selected:
        result = run_benchmark(
            found.benchmarks[name],
            quick=args.quick,
            limits=limits,
            module=found.modules[name],
            rounds=args.rounds,
            isolation=args.isolation,
        )
        print(format_table(result), flush=True)
        if any(row["status"] == "failed" for row in result["rows"]):
            status = 1
            for row in result["rows"]:
                if row["status"] == "failed":
                    print(f"{name} / {row['contender']} failed:\n{row['error']}", file=sys.stderr)
        record = {
            "command": [
                "python",
                "-m",
                "benchmarks",
                *(argv if argv is not None else sys.argv[1:]),
            ],
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "environment": {**env, "load_average_at_end": _load_average()},
            "limits": limits,
            "quick": args.quick,
            **result,
        }
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"   written: {path}")
    return status
