"""Discover, list and run the labs; write per-lab outputs, a summary and index.html (private).

Outputs of ``python -m labs run ... --out DIR`` (default ``outputs/``)::

    DIR/lab-<id>/*.png          the lab's figures
    DIR/lab-<id>/metrics.json   {"lab", "title", "folder", "status": "passed"|"failed", "seconds",
                                 "process_seconds", "peak_memory_mb", "memory_scope", "quick",
                                 "seed", "resolution", "metrics", "figures", "error" (if failed)}
    DIR/lab-<id>/log.txt        the lab's printout (only with --jobs > 1, where it is buffered)
    DIR/summary.json            {"status", "seconds", "quick", "seed", "jobs", "environment",
                                 "labs": [...]}
    DIR/summary.md              a table: status, run time, peak memory, key metrics and figures
                                per lab, then the traceback of each failed lab
    DIR/index.html              one page: every lab's figures, metrics (lists of rows as HTML
                                tables), run time and peak memory, and a link to the parity report

Each lab runs in its own Python process (``python -m labs run ID --worker MODULE``, which imports
only that lab's module), so its peak memory is its own: the high-water mark of the process's resident
set (``VmHWM`` in ``/proc/<pid>/status``: interpreter, imports and lab), read by the child when the
lab ends and polled by the runner while it runs (so a child that dies still has a figure). Not
``ru_maxrss`` from ``wait4``/``RUSAGE_CHILDREN``: Linux carries the spawning process's high-water
mark across fork/vfork and exec into the child's ``ru_maxrss``, so every lab would show at least the
runner's own size. ``seconds`` is the lab function's own run time, measured inside the child;
``process_seconds`` is the child's wall time (start-up and imports included). ``--in-process``
runs every lab in the runner's process instead (for a debugger, and for the tests' throw-away
labs): peak memory is then the runner's cumulative peak, and says so.

A lab that raises (or whose module fails to import, or whose process dies) is recorded as failed
with its traceback, on stderr and in the summary; the other labs still run; the exit status is 1 if
any failed, 2 for an unknown lab id or bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import html
import importlib
import json
import math
import os
import pathlib
import pkgutil
import platform
import resource
import subprocess
import sys
import time
import traceback
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import labs
from labs._registry import LABS, Lab, LabContext, _progress_visible

SUMMARY_METRICS = 4  # metrics shown per lab in summary.md when the lab names no key_metrics
#: Labs at once in ``run``: two on a machine with two cores or more. A lab is mostly one busy thread
#: (Python, XLA compilation, small ops), so a second lab uses the second core; each lab's printout is
#: then buffered and shown whole when it ends (``--jobs 1`` streams it, with progress bars).
DEFAULT_JOBS = min(2, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class Discovery:
    """The registered labs by id, and the lab modules that failed to import (with tracebacks)."""

    labs: dict[str, Lab]
    broken: dict[str, str]  # module name -> traceback


def _id_order(lab_id: str) -> tuple[tuple[int, Any], ...]:
    """Sort "1.4.10" after "1.4.2": numeric parts as numbers."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in lab_id.split("."))


def discover() -> Discovery:
    """Import every ``labs/lab_*.py`` module (each registers itself); record import failures."""
    broken = {}
    for info in pkgutil.iter_modules(labs.__path__):
        if info.name.startswith("lab_"):
            name = f"labs.{info.name}"
            try:
                importlib.import_module(name)
            except Exception:  # one broken lab module must not take the others down
                broken[name] = traceback.format_exc()
    ordered = dict(sorted(LABS.items(), key=lambda item: _id_order(item[0])))
    return Discovery(ordered, broken)


def select(requested: Sequence[str], available: Mapping[str, Lab]) -> list[Lab]:
    """The labs named by ``requested`` (ids, or "all"), in the order given, without repeats.

    Raises:
        KeyError: naming every unknown id and the known ones.
    """
    if not requested or "all" in requested:
        return list(available.values())
    unknown = [lab_id for lab_id in requested if lab_id not in available]
    if unknown:
        names = ", ".join(repr(lab_id) for lab_id in unknown)
        raise KeyError(
            f"unknown lab id{'s' if len(unknown) > 1 else ''} {names}; "
            f"known: {', '.join(available) or 'none'} (or 'all')"
        )
    return [available[lab_id] for lab_id in dict.fromkeys(requested)]


def jsonable(value: Any) -> Any:
    """Metrics as strict JSON: arrays to lists, scalars to numbers, inf/nan to strings."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):  # NumPy, JAX, torch
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "inf", "-inf", "nan"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _write_json(path: pathlib.Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")


def _clear_previous_outputs(lab_dir: pathlib.Path) -> None:
    """Remove the figures and metrics of an earlier run, so the folder shows only this run.

    (``log.txt`` is the runner's: it removes an old one before the run, and with ``--jobs`` > 1 the
    lab's process is writing the new one while the lab runs.)
    """
    for path in [*lab_dir.glob("*.png"), lab_dir / "metrics.json"]:
        path.unlink(missing_ok=True)


def peak_memory_mb(pid: int | str = "self") -> float | None:
    """The high-water mark of a process's resident set in MiB (``VmHWM``), None if unreadable.

    Without ``/proc`` (macOS), for this process only: ``ru_maxrss`` (bytes there).
    """
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        if pid == "self" and sys.platform == "darwin":
            return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 1)
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):  # "VmHWM:   123456 kB"
            return round(int(line.split()[1]) / 1024, 1)
    return None  # a zombie (exited, not yet reaped) has no memory lines


def _finish(record: dict[str, Any], lab_dir: pathlib.Path) -> dict[str, Any]:
    _write_json(lab_dir / "metrics.json", record)
    print(f"   {record['status']} in {record['seconds']} s -> {lab_dir}", flush=True)
    return record


def run_lab(
    lab: Lab,
    out: pathlib.Path,
    quick: bool = False,
    seed: int = 0,
    resolution: int | None = None,
    memory_scope: str = "",
) -> dict[str, Any]:
    """Run one lab in ``out/lab-<id>``; a failure is recorded (and printed to stderr), never raised.

    ``memory_scope`` says what the recorded peak memory (this process's) covers; default
    :data:`IN_PROCESS_SCOPE`.
    """
    memory_scope = memory_scope or IN_PROCESS_SCOPE
    lab_dir = out / f"lab-{lab.lab_id}"
    lab_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous_outputs(lab_dir)
    context = LabContext(out_dir=lab_dir, quick=quick, seed=seed, resolution=resolution)
    print(f"== Lab {lab.lab_id}: {lab.title}{' (quick)' if quick else ''}", flush=True)
    record: dict[str, Any] = {
        "lab": lab.lab_id,
        "title": lab.title,
        "folder": lab_dir.name,
        "quick": quick,
        "seed": seed,
        "resolution": resolution,
    }
    start = time.perf_counter()
    try:
        returned = lab.run(context)
        if returned is not None and not isinstance(returned, Mapping):
            raise TypeError(
                f"lab {lab.lab_id} must return a mapping of metrics or None, "
                f"got {type(returned).__name__}"
            )
        context.record(returned)
        status, error = "passed", None
    except Exception:  # a failing lab must not stop the others
        status, error = "failed", traceback.format_exc()
        print(f"Lab {lab.lab_id} failed:\n{error}", file=sys.stderr, flush=True)
    record.update(
        status=status,
        seconds=round(time.perf_counter() - start, 2),
        peak_memory_mb=peak_memory_mb(),
        memory_scope=memory_scope,
        metrics=jsonable(context.metrics),
        figures=list(context.figures),
    )
    if error is not None:
        record["error"] = error
    return _finish(record, lab_dir)


#: ``memory_scope`` of a record: what its ``peak_memory_mb`` is the peak of.
LAB_PROCESS_SCOPE = "lab process"
IN_PROCESS_SCOPE = "runner process, cumulative (--in-process)"


@dataclasses.dataclass
class _Worker:
    """A lab running in its own process."""

    lab: Lab
    process: subprocess.Popen
    started: float
    log: Any  # the open log file (--jobs > 1), or None when the child writes to our terminal
    polled_peak_mb: float = 0.0  # the largest VmHWM seen while it ran


def worker_command(
    lab: Lab, out: pathlib.Path, quick: bool, seed: int, resolution: int | None
) -> list[str]:
    """The command that runs one lab in a fresh interpreter and writes its metrics.json."""
    command = [sys.executable, "-m", "labs", "run", lab.lab_id, "--worker", lab.module]
    command += ["--out", str(out)]
    command += ["--seed", str(seed)]
    if quick:
        command.append("--quick")
    if resolution is not None:
        command += ["--resolution", str(resolution)]
    return command


def _start_worker(
    lab: Lab, out: pathlib.Path, quick: bool, seed: int, resolution: int | None, buffered: bool
) -> _Worker:
    lab_dir = out / f"lab-{lab.lab_id}"
    lab_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous_outputs(lab_dir)
    log = (lab_dir / "log.txt").open("w") if buffered else None
    sys.stdout.flush()
    process = subprocess.Popen(
        worker_command(lab, out, quick, seed, resolution),
        stdout=log,
        stderr=subprocess.STDOUT if buffered else None,
        env={**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")},
    )
    return _Worker(lab, process, time.perf_counter(), log)


def _poll(worker: _Worker) -> int | None:
    """The worker's exit status once it ended; while it runs, note its memory high-water mark."""
    peak = peak_memory_mb(worker.process.pid)
    if peak is not None:
        worker.polled_peak_mb = max(worker.polled_peak_mb, peak)
    return worker.process.poll()


def _finish_worker(worker: _Worker, returncode: int, out: pathlib.Path) -> dict[str, Any]:
    """Read the record the worker wrote, add its process's peak memory and wall time, rewrite it.

    A worker that died before writing its record (killed, out of memory, a crash in C) becomes a
    failed record naming its exit status.
    """
    lab = worker.lab
    lab_dir = out / f"lab-{lab.lab_id}"
    wall = round(time.perf_counter() - worker.started, 2)
    if worker.log is not None:
        worker.log.close()
        print((lab_dir / "log.txt").read_text(), end="", flush=True)
    try:
        record = json.loads((lab_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        how = f"was killed by signal {-returncode}" if returncode < 0 else f"exited {returncode}"
        error = (
            f"the lab's process {how} before writing {lab_dir / 'metrics.json'} "
            f"(its output is above{' and in log.txt' if worker.log is not None else ''})"
        )
        print(f"Lab {lab.lab_id} failed: {error}", file=sys.stderr, flush=True)
        record = {
            "lab": lab.lab_id,
            "title": lab.title,
            "folder": lab_dir.name,
            "status": "failed",
            "seconds": wall,
            "metrics": {},
            "figures": sorted(path.name for path in lab_dir.glob("*.png")),
            "error": error,
        }
    if not isinstance(record.get("peak_memory_mb"), int | float):  # died before measuring
        record["peak_memory_mb"] = worker.polled_peak_mb or None
    record.update(process_seconds=wall, memory_scope=LAB_PROCESS_SCOPE, exit_status=returncode)
    _write_json(lab_dir / "metrics.json", record)
    print(
        f"   lab {lab.lab_id}: {record['status']}, {record['seconds']} s in the lab, "
        f"{wall} s with process start, peak memory {_memory_text(record)}",
        flush=True,
    )
    return record


def run_labs_isolated(
    selected: Sequence[Lab],
    out: pathlib.Path,
    quick: bool = False,
    seed: int = 0,
    resolution: int | None = None,
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Run each lab in its own process, ``jobs`` at a time; records in the order of ``selected``.

    With one job the child writes to this terminal (its progress bars show); with more, each
    child's output goes to ``lab-<id>/log.txt`` and is printed whole when the lab ends, and at a
    terminal one progress bar counts the labs that have ended.
    """
    pending, running, records = list(selected), [], {}
    bar = None
    if jobs > 1 and _progress_visible():
        from tqdm import tqdm

        bar = tqdm(total=len(selected), desc="labs", unit="lab", file=sys.stderr, leave=False)

    def console() -> contextlib.AbstractContextManager:
        """Printing while the bar is up: clear it, print, redraw it."""
        return bar.external_write_mode() if bar is not None else contextlib.nullcontext()

    try:
        while pending or running:
            while pending and len(running) < jobs:
                lab = pending.pop(0)
                if jobs > 1:
                    with console():
                        print(f"== Lab {lab.lab_id}: {lab.title} (started)", flush=True)
                running.append(_start_worker(lab, out, quick, seed, resolution, jobs > 1))
            ended = False
            for worker in list(running):
                returncode = _poll(worker)
                if returncode is not None:
                    running.remove(worker)
                    with console():
                        records[worker.lab.lab_id] = _finish_worker(worker, returncode, out)
                    if bar is not None:
                        bar.update(1)
                    ended = True
            if running and not ended:
                time.sleep(0.1)
    finally:
        if bar is not None:
            bar.close()
    return [records[lab.lab_id] for lab in selected]


def broken_module_record(module: str, error: str, out: pathlib.Path) -> dict[str, Any]:
    """A failed record for a lab module that did not import (its lab id is unknown)."""
    name = module.removeprefix("labs.")
    lab_dir = out / name
    lab_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous_outputs(lab_dir)
    print(f"== {module}: failed to import\n{error}", file=sys.stderr, flush=True)
    record = {
        "lab": name,
        "title": f"{module} (import failed)",
        "folder": lab_dir.name,
        "status": "failed",
        "seconds": 0.0,
        "metrics": {},
        "figures": [],
        "error": error,
    }
    return _finish(record, lab_dir)


def environment() -> dict[str, str]:
    """Versions and devices, for the summary (torch's version from its metadata, not imported)."""
    from importlib import metadata

    import jax
    import numpy

    info = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "jax": jax.__version__,
        "jax_devices": ", ".join(str(device) for device in jax.devices()),
    }
    with contextlib.suppress(metadata.PackageNotFoundError):
        info["torch"] = metadata.version("torch")
    info["cpus"] = str(os.cpu_count())
    return info


def _metric_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _key_metrics(record: Mapping[str, Any], names: Sequence[str]) -> str:
    metrics = record["metrics"]
    if not names:
        names = [
            name for name, value in metrics.items() if isinstance(value, bool | int | float | str)
        ][:SUMMARY_METRICS]
    return ", ".join(f"{name}={_metric_text(metrics[name])}" for name in names if name in metrics)


def _seconds_text(record: Mapping[str, Any]) -> str:
    process = record.get("process_seconds")
    return f"{record['seconds']} / {process}" if process is not None else f"{record['seconds']}"


def _memory_text(record: Mapping[str, Any]) -> str:
    peak = record.get("peak_memory_mb")
    return f"{peak:.0f} MiB" if isinstance(peak, int | float) else "-"


def summary_markdown(summary: Mapping[str, Any], key_metrics: Mapping[str, Sequence[str]]) -> str:
    """summary.md: one table row per lab, then each failed lab's traceback."""
    records = summary["labs"]
    failed = [record for record in records if record["status"] == "failed"]
    lines = [
        "# Lab summary",
        "",
        f"{len(records) - len(failed)} of {len(records)} labs passed in {summary['seconds']} s"
        f"{' (quick)' if summary['quick'] else ''}, seed {summary['seed']}; "
        + "; ".join(f"{name} {value}" for name, value in summary["environment"].items()),
        "",
        "| lab | title | status | seconds (lab / process) | peak memory | key metrics | figures |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for record in records:
        figures = ", ".join(
            f"[{name.removesuffix('.png')}]({record['folder']}/{name})"
            for name in record["figures"]
        )
        metrics = _key_metrics(record, key_metrics.get(record["lab"], ()))
        lines.append(
            f"| {record['lab']} | {record['title']} | {record['status']} | {_seconds_text(record)} "
            f"| {_memory_text(record)} | {metrics} | {figures} |"
        )
    scopes = {record.get("memory_scope") for record in records} - {None}
    if scopes:
        lines += [
            "",
            f"Peak memory: maximum resident set size of the {' / '.join(sorted(scopes))}.",
        ]
    for record in failed:
        lines += ["", f"## Lab {record['lab']} failed", "", "```", record["error"].rstrip(), "```"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# index.html: one page with every lab
# ----------------------------------------------------------------------------------------------

PARITY_REPORT_FILES = ("parity/report.html", "parity/report.md")  # under the output folder
_SHORT_LIST = 8  # lists of numbers up to this length are shown whole in the page

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem;
       color: #1b1f24; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.2rem; }
.meta { color: #57606a; font-size: 0.92rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.passed { color: #1a7f37; font-weight: 600; } .failed { color: #cf222e; font-weight: 600; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; flex: 1 1 30rem; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { font-size: 0.85rem; color: #57606a; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
details { margin: 0.4rem 0 1rem; } summary { cursor: pointer; color: #0969da; }
"""


def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _cell(value: Any) -> str:
    """A table cell: numbers right-aligned with 4 significant digits, text escaped."""
    if value is None:
        return "<td>-</td>"  # no value (a threshold never reached, a lab that stopped early)
    if isinstance(value, bool):
        return f"<td>{_escape(value)}</td>"
    if isinstance(value, int | float):
        return f'<td class="number">{_escape(_metric_text(value))}</td>'
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return f'<td class="number">{value}</td>'
    if isinstance(value, list) and all(_is_scalar(item) for item in value):
        return f"<td>{_escape(', '.join(_metric_text(item) for item in value))}</td>"
    return f"<td>{_escape(json.dumps(value) if not isinstance(value, str) else value)}</td>"


def _row_table(rows: Sequence[Mapping[str, Any]], first_column: str | None = None) -> str:
    """An HTML table of rows that share their keys (the first row's key order)."""
    columns = list(rows[0])
    head = ([first_column] if first_column else []) + columns
    lines = ["<table>", "<tr>" + "".join(f"<th>{_escape(name)}</th>" for name in head) + "</tr>"]
    for row in rows:
        cells = [f"<th>{_escape(row[first_column])}</th>"] if first_column else []
        cells += [_cell(row[name]) for name in columns if name != first_column]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join([*lines, "</table>"])


def table_rows(value: Any) -> tuple[list[dict[str, Any]], str | None] | None:
    """Rows for an HTML table if ``value`` is table-shaped, else None.

    Table-shaped: a non-empty list of mappings with the same keys (one row each), or a non-empty
    mapping whose values are mappings with the same keys (one row per key, the key first).
    """
    if isinstance(value, list) and value and all(isinstance(row, Mapping) for row in value):
        keys = list(value[0])
        if keys and all(list(row) == keys or set(row) == set(keys) for row in value):
            return [dict(row) for row in value], None
    if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
        inner = [list(row) for row in value.values()]
        if inner[0] and all(set(keys) == set(inner[0]) for keys in inner):
            name = "name" if "name" not in inner[0] else "key"
            return [{name: key, **row} for key, row in value.items()], name
    return None


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings flattened to dotted names, except table-shaped values (kept whole)."""
    flat: dict[str, Any] = {}
    for name, value in metrics.items():
        full = f"{prefix}{name}"
        if isinstance(value, Mapping) and value and table_rows(value) is None:
            flat.update(_flatten(value, f"{full}."))
        else:
            flat[full] = value
    return flat


def _list_text(values: Sequence[Any]) -> str:
    if len(values) <= _SHORT_LIST:
        return ", ".join(_metric_text(item) for item in values)
    return (
        f"{len(values)} values: {', '.join(_metric_text(item) for item in values[:3])}, ..., "
        f"{_metric_text(values[-1])}"
    )


def _metrics_html(record: Mapping[str, Any], names: Sequence[str]) -> str:
    """Key metrics first (a two-column table), then each table-shaped metric as its own table,
    then every other metric in a collapsed list."""
    metrics = _flatten(record.get("metrics", {}))
    tables = {name: rows for name, value in metrics.items() if (rows := table_rows(value))}
    scalars = {name: value for name, value in metrics.items() if _is_scalar(value)}
    key_names = [name for name in names if name in metrics and name not in tables]
    if not key_names:
        key_names = list(scalars)[:SUMMARY_METRICS]
    parts = []
    if key_names:
        parts.append("<h3>Key metrics</h3>")
        parts.append(_row_table([{"metric": name, "value": metrics[name]} for name in key_names]))
    for name, (rows, first_column) in tables.items():
        parts.append(f"<h3>{_escape(name)}</h3>")
        parts.append(_row_table(rows, first_column))
    others = [name for name in metrics if name not in tables and name not in key_names]
    if others:
        rows = []
        for name in others:
            value = metrics[name]
            if isinstance(value, list) and all(_is_scalar(item) for item in value):
                value = _list_text(value)
            rows.append({"metric": name, "value": value})
        parts.append(f"<details><summary>All {len(others)} other metrics</summary>")
        parts += [_row_table(rows), "</details>"]
    return "\n".join(parts)


def _figures_html(record: Mapping[str, Any]) -> str:
    figures = []
    for name in record.get("figures", []):
        source = urllib.parse.quote(f"{record['folder']}/{name}")
        caption = _escape(name.removesuffix(".png").replace("_", " "))
        figures.append(
            f'<figure><img src="{source}" alt="{caption}"><figcaption>{caption}</figcaption>'
            "</figure>"
        )
    return f'<div class="figures">{"".join(figures)}</div>' if figures else ""


def _parity_html(out: pathlib.Path) -> str:
    for relative in PARITY_REPORT_FILES:
        if (out / relative).is_file():
            link = f'<a href="{urllib.parse.quote(relative)}">{_escape(relative)}</a>'
            return (
                f"<p>Parity report (every row and dtype of the parity table: largest absolute and "
                f"relative error against the torch twin and each upstream reference): {link}.</p>"
            )
    return (
        f"<p>Parity report: not created yet. Run <code>python -m parity_tests.report --out "
        f"{_escape(out / 'parity')}</code> (the whole parity suite, several minutes), then reload "
        f"this page, or run the labs again to refresh the link.</p>"
    )


def index_html(
    summary: Mapping[str, Any], key_metrics: Mapping[str, Sequence[str]], out: pathlib.Path
) -> str:
    """index.html: an overview table, the parity report's link, then each lab's section."""
    records = summary["labs"]
    passed = sum(record["status"] == "passed" for record in records)
    environment_text = "; ".join(f"{k} {v}" for k, v in summary["environment"].items())
    overview = [
        {
            "lab": f'<a href="#lab-{_escape(record["lab"])}">{_escape(record["lab"])}</a>',
            "title": _escape(record["title"]),
            "status": f'<span class="{record["status"]}">{record["status"]}</span>',
            "seconds in the lab": _escape(record["seconds"]),
            "seconds with process start": _escape(record.get("process_seconds", "-")),
            "peak memory": _escape(_memory_text(record)),
            "figures": str(len(record.get("figures", []))),
        }
        for record in records
    ]
    head = list(overview[0]) if overview else []
    overview_table = "\n".join(
        [
            "<table>",
            "<tr>" + "".join(f"<th>{_escape(name)}</th>" for name in head) + "</tr>",
            *(
                "<tr>" + "".join(f"<td>{row[name]}</td>" for name in head) + "</tr>"
                for row in overview
            ),
            "</table>",
        ]
    )
    scopes = sorted(
        {str(record.get("memory_scope")) for record in records if "memory_scope" in record}
    )
    body = [
        "<h1>jaxmath labs</h1>",
        f'<p class="meta">{passed} of {len(records)} labs passed in {summary["seconds"]} s '
        f"(wall time of the whole run{', quick mode' if summary['quick'] else ''}, seed "
        f"{summary['seed']}, {summary.get('jobs', 1)} at a time). {_escape(environment_text)}.</p>",
        overview_table,
        f'<p class="meta">Peak memory: the maximum resident set size of the '
        f"{_escape(' / '.join(scopes) or 'lab process')} (interpreter and imports included).</p>",
        _parity_html(out),
    ]
    for record in records:
        lab_id = _escape(record["lab"])
        body += [
            f'<section id="lab-{lab_id}">',
            f"<h2>Lab {lab_id}: {_escape(record['title'])}</h2>",
            f'<p class="meta"><span class="{record["status"]}">{record["status"]}</span>; '
            f"{_escape(record['seconds'])} s in the lab, "
            f"{_escape(record.get('process_seconds', '-'))} s with process start; peak memory "
            f"{_escape(_memory_text(record))}.</p>",
        ]
        if record.get("error"):
            body.append(f"<pre>{_escape(record['error'])}</pre>")
        body += [
            _metrics_html(record, key_metrics.get(record["lab"], ())),
            _figures_html(record),
            "</section>",
        ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8"><title>jaxmath labs</title>',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<style>{_STYLE}</style></head>",
            "<body>",
            *body,
            "</body></html>",
            "",
        ]
    )


def run_labs(
    requested: Sequence[str],
    out: pathlib.Path,
    quick: bool = False,
    seed: int = 0,
    resolution: int | None = None,
    in_process: bool = False,
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Run the requested labs (ids or "all"), write their outputs, the summary and index.html.

    Each lab runs in its own process (``jobs`` at a time) unless ``in_process``. With "all", lab
    modules that failed to import are reported as failed labs too. Returns the records.

    Raises:
        KeyError: an unknown lab id (nothing is run or written).
    """
    found = discover()
    try:
        selected = select(requested, found.labs)
    except KeyError as error:
        if found.broken:
            message = (
                f"{error.args[0]}; lab modules that failed to import: {', '.join(found.broken)}"
            )
            raise KeyError(message) from None
        raise
    out.mkdir(parents=True, exist_ok=True)
    for lab in selected:  # an earlier --jobs > 1 run's printout would not be this run's
        (out / f"lab-{lab.lab_id}" / "log.txt").unlink(missing_ok=True)
    start = time.perf_counter()
    if in_process:
        records = [run_lab(lab, out, quick, seed, resolution) for lab in selected]
    else:
        records = run_labs_isolated(selected, out, quick, seed, resolution, jobs)
    if not requested or "all" in requested:
        records += [broken_module_record(name, error, out) for name, error in found.broken.items()]
    failed = [record["lab"] for record in records if record["status"] == "failed"]
    summary = {
        "status": "failed" if failed else "passed",
        "failed": failed,
        "seconds": round(time.perf_counter() - start, 2),
        "quick": quick,
        "seed": seed,
        "jobs": 1 if in_process else jobs,
        "environment": environment(),
        "labs": records,
    }
    _write_json(out / "summary.json", summary)
    key_metrics = {lab.lab_id: lab.key_metrics for lab in selected}
    (out / "summary.md").write_text(summary_markdown(summary, key_metrics))
    (out / "index.html").write_text(index_html(summary, key_metrics, out))
    return records


def check_env() -> None:
    """The course module's package verification: versions, JAX devices, CUDA availability."""
    import numpy

    print(f"Python version: {platform.python_version()}")
    print(f"NumPy version: {numpy.__version__}")
    import jax

    print(f"JAX version: {jax.__version__}")
    print(f"JAX devices: {', '.join(str(device) for device in jax.devices())}")
    import matplotlib

    print(f"Matplotlib version: {matplotlib.__version__}")
    try:
        import torch
    except ImportError:
        print("PyTorch: not installed (needed only for torch_ref and the tests)")
    else:
        print(f"PyTorch version: {torch.__version__}")
        print(f"CUDA available: {torch.cuda.is_available()}")
    try:
        import sklearn
    except ImportError:
        print("scikit-learn: not installed (pip install scikit-learn)")
    else:
        print(f"scikit-learn version: {sklearn.__version__}")


def list_labs() -> None:
    """Print the registered labs, and any lab module that failed to import."""
    found = discover()
    for lab in found.labs.values():
        print(f"{lab.lab_id:8s} {lab.title}")
    for module, error in found.broken.items():
        last_line = error.strip().splitlines()[-1]
        print(f"{'?':8s} {module}: failed to import ({last_line})")
    print("\nRun: python -m labs run all [--quick] [--out DIR], or run IDS...")


def _resolution(text: str) -> int:
    """``--resolution``: an integer >= 2 (a grid needs two points per axis)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolution must be an integer, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"resolution must be >= 2, got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m labs", description="List, run and check the environment for the labs."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="list the labs (the default)")
    run = commands.add_parser("run", help="run labs: 'all' (the default) or ids such as 1.4.1")
    run.add_argument("ids", nargs="*", default=["all"], metavar="ID")
    run.add_argument(
        "--out", type=pathlib.Path, default=pathlib.Path("outputs"), help="output folder"
    )
    run.add_argument("--quick", action="store_true", help="CI-sized runs (seconds per lab)")
    run.add_argument("--seed", type=int, default=0, help="base PRNG seed (default: 0)")
    run.add_argument(
        "--resolution",
        type=_resolution,
        default=None,
        metavar="N",
        help="points per axis for labs that draw a grid (default: each lab's own)",
    )
    run.add_argument(
        "--jobs",
        type=_jobs,
        default=DEFAULT_JOBS,
        metavar="N",
        help=f"labs run at once, each in its own process (default: {DEFAULT_JOBS}); "
        "with N > 1 each lab's printout is shown whole when it ends",
    )
    run.add_argument(
        "--in-process",
        action="store_true",
        help="run the labs in this process, one after the other (for a debugger); peak memory "
        "is then the runner's cumulative peak",
    )
    # --worker MODULE: run the one lab that MODULE registers, write its metrics.json, no summary
    run.add_argument("--worker", metavar="MODULE", default=None, help=argparse.SUPPRESS)
    commands.add_parser(
        "check-env", help="print package versions, JAX devices and CUDA availability"
    )
    notebooks = commands.add_parser(
        "notebooks", help="write each lab's solution and student notebooks (labs/notebooks.py)"
    )
    notebooks.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("outputs") / "notebooks",
        help="output folder (default: outputs/notebooks)",
    )
    return parser.parse_args(argv)


def _jobs(text: str) -> int:
    """``--jobs``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"jobs must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"jobs must be >= 1, got {value}")
    return value


def write_notebooks(out: pathlib.Path) -> int:
    """``python -m labs notebooks``: labs.notebooks.write_notebooks, imported only when asked for
    (it needs the notebook packages, which running the labs does not)."""
    try:
        from labs.notebooks import write_notebooks as write
    except ModuleNotFoundError as error:
        if error.name not in ("labs.notebooks", "jupytext", "nbformat"):
            raise
        print(f"error: cannot write notebooks: {error}", file=sys.stderr)
        return 2
    paths = write(out)
    for path in paths:
        print(path)
    print(f"{len(paths)} notebooks written under {out}")
    return 0


def run_worker(args: argparse.Namespace) -> int:
    """``run ID --worker MODULE``: one lab in this process, its metrics.json only (the parent adds
    its peak memory and writes the summary). Imports only the lab's own module, so the peak is the
    lab's. Exit status 1 if the lab failed."""
    importlib.import_module(args.worker)  # only this lab's imports count towards its memory
    (lab,) = select(args.ids, LABS)
    record = run_lab(lab, args.out, args.quick, args.seed, args.resolution, LAB_PROCESS_SCOPE)
    return 1 if record["status"] == "failed" else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI; returns the exit status (0 ok, 1 a lab failed, 2 unknown id / bad arguments)."""
    args = parse_args(argv)
    if args.command == "check-env":
        check_env()
        return 0
    if args.command == "notebooks":
        return write_notebooks(args.out)
    if args.command != "run":
        list_labs()
        return 0
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    if args.worker is not None:
        return run_worker(args)
    try:
        records = run_labs(
            args.ids,
            args.out,
            args.quick,
            args.seed,
            args.resolution,
            in_process=args.in_process,
            jobs=args.jobs,
        )
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    failed = [record["lab"] for record in records if record["status"] == "failed"]
    print(f"{len(records) - len(failed)} of {len(records)} labs passed", end="")
    print(f" (failed: {', '.join(failed)})" if failed else "", end="")
    print(f"; summary in {args.out / 'summary.md'}, page {args.out / 'index.html'}")
    return 1 if failed else 0
