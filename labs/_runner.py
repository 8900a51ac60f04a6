"""Discover, list and run the labs; write per-lab outputs and a summary (private).

Outputs of ``python -m labs run ... --out DIR`` (default ``outputs/``)::

    DIR/lab-<id>/*.png          the lab's figures
    DIR/lab-<id>/metrics.json   {"lab", "title", "folder", "status": "passed"|"failed", "seconds",
                                 "quick", "seed", "resolution", "metrics", "figures",
                                 "error" (if failed)}
    DIR/summary.json            {"status", "seconds", "quick", "seed", "environment", "labs": [...]}
    DIR/summary.md              a table: status, runtime, key metrics and figures per lab, then
                                the traceback of each failed lab

A lab that raises (or whose module fails to import) is recorded as failed with its traceback, on
stderr and in the summary; the other labs still run; the exit status is 1 if any failed, 2 for an
unknown lab id or bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import pathlib
import pkgutil
import platform
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import labs
from labs._registry import LABS, Lab, LabContext

SUMMARY_METRICS = 4  # metrics shown per lab in summary.md when the lab names no key_metrics


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
    """Remove the figures and metrics of an earlier run, so the folder shows only this run."""
    for path in [*lab_dir.glob("*.png"), lab_dir / "metrics.json"]:
        path.unlink(missing_ok=True)


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
) -> dict[str, Any]:
    """Run one lab in ``out/lab-<id>``; a failure is recorded (and printed to stderr), never raised."""
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
        metrics=jsonable(context.metrics),
        figures=list(context.figures),
    )
    if error is not None:
        record["error"] = error
    return _finish(record, lab_dir)


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
    """Versions and devices, for the summary (torch only if a lab already imported it)."""
    import jax
    import numpy

    info = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "jax": jax.__version__,
        "jax_devices": ", ".join(str(device) for device in jax.devices()),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
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
        "| lab | title | status | seconds | key metrics | figures |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for record in records:
        figures = ", ".join(
            f"[{name.removesuffix('.png')}]({record['folder']}/{name})"
            for name in record["figures"]
        )
        metrics = _key_metrics(record, key_metrics.get(record["lab"], ()))
        lines.append(
            f"| {record['lab']} | {record['title']} | {record['status']} | {record['seconds']} "
            f"| {metrics} | {figures} |"
        )
    for record in failed:
        lines += ["", f"## Lab {record['lab']} failed", "", "```", record["error"].rstrip(), "```"]
    return "\n".join(lines) + "\n"


def run_labs(
    requested: Sequence[str],
    out: pathlib.Path,
    quick: bool = False,
    seed: int = 0,
    resolution: int | None = None,
) -> list[dict[str, Any]]:
    """Run the requested labs (ids or "all"), write their outputs and the summary; return records.

    With "all", lab modules that failed to import are reported as failed labs too.

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
    start = time.perf_counter()
    records = [run_lab(lab, out, quick, seed, resolution) for lab in selected]
    if not requested or "all" in requested:
        records += [broken_module_record(name, error, out) for name, error in found.broken.items()]
    failed = [record["lab"] for record in records if record["status"] == "failed"]
    summary = {
        "status": "failed" if failed else "passed",
        "failed": failed,
        "seconds": round(time.perf_counter() - start, 2),
        "quick": quick,
        "seed": seed,
        "environment": environment(),
        "labs": records,
    }
    _write_json(out / "summary.json", summary)
    key_metrics = {lab.lab_id: lab.key_metrics for lab in selected}
    (out / "summary.md").write_text(summary_markdown(summary, key_metrics))
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
    commands.add_parser(
        "check-env", help="print package versions, JAX devices and CUDA availability"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI; returns the exit status (0 ok, 1 a lab failed, 2 unknown id / bad arguments)."""
    args = parse_args(argv)
    if args.command == "check-env":
        check_env()
        return 0
    if args.command != "run":
        list_labs()
        return 0
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    try:
        records = run_labs(args.ids, args.out, args.quick, args.seed, args.resolution)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    failed = [record["lab"] for record in records if record["status"] == "failed"]
    print(f"{len(records) - len(failed)} of {len(records)} labs passed", end="")
    print(f" (failed: {', '.join(failed)})" if failed else "", end="")
    print(f"; summary in {args.out / 'summary.md'}")
    return 1 if failed else 0
