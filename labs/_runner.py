"""Discover, list and run the labs; write per-lab outputs and a summary (private)."""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import pkgutil
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

import labs
from labs._registry import LABS, Lab, LabContext


def discover() -> dict[str, Lab]:
    """Import every ``labs/lab_*.py`` module (each registers itself) and return the registry."""
    for info in pkgutil.iter_modules(labs.__path__):
        if info.name.startswith("lab_"):
            importlib.import_module(f"labs.{info.name}")
    return dict(sorted(LABS.items()))


def select(requested: Sequence[str], available: dict[str, Lab]) -> list[Lab]:
    if not requested or "all" in requested:
        return list(available.values())
    unknown = [lab_id for lab_id in requested if lab_id not in available]
    if unknown:
        raise KeyError(f"unknown lab id {unknown[0]!r}; known: {', '.join(available) or 'none'}")
    return [available[lab_id] for lab_id in requested]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def run_lab(lab: Lab, out: pathlib.Path, quick: bool, seed: int) -> dict[str, Any]:
    """Run one lab in its own folder; a failure is recorded, never raised."""
    lab_dir = out / f"lab-{lab.lab_id}"
    lab_dir.mkdir(parents=True, exist_ok=True)
    context = LabContext(out_dir=lab_dir, quick=quick, seed=seed)
    print(f"== Lab {lab.lab_id}: {lab.title}{' (quick)' if quick else ''}", flush=True)
    start = time.perf_counter()
    record: dict[str, Any] = {"lab": lab.lab_id, "title": lab.title, "quick": quick}
    try:
        metrics = _jsonable(lab.run(context))
        record.update(status="passed", metrics=metrics)
    except Exception:  # a failing lab must not stop the others
        error = traceback.format_exc()
        print(error, file=sys.stderr, flush=True)
        record.update(status="failed", metrics={}, error=error)
    record.update(seconds=round(time.perf_counter() - start, 2), figures=list(context.figures))
    (lab_dir / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"   {record['status']} in {record['seconds']} s -> {lab_dir}", flush=True)
    return record


def write_summary(records: list[dict[str, Any]], out: pathlib.Path) -> None:
    (out / "summary.json").write_text(json.dumps(records, indent=2) + "\n")
    lines = [
        "# Lab summary",
        "",
        "| lab | title | status | seconds | key metrics |",
        "| --- | --- | --- | --- | --- |",
    ]
    for record in records:
        metrics = record["metrics"]
        shown = ", ".join(
            f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in list(metrics.items())[:4]
            if isinstance(value, int | float | str)
        )
        lines.append(
            f"| {record['lab']} | {record['title']} | {record['status']} | {record['seconds']} | {shown} |"
        )
    for record in records:
        if record["status"] == "failed":
            lines += [
                "",
                f"## Lab {record['lab']} failed",
                "",
                "```",
                record["error"].rstrip(),
                "```",
            ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def run_labs(
    requested: Sequence[str], out: pathlib.Path, quick: bool, seed: int = 0
) -> list[dict[str, Any]]:
    selected = select(requested, discover())
    out.mkdir(parents=True, exist_ok=True)
    records = [run_lab(lab, out, quick, seed) for lab in selected]
    write_summary(records, out)
    return records


def check_env() -> None:
    """The course module's package verification."""
    import numpy

    print(f"Python version: {platform.python_version()}")
    print(f"NumPy version: {numpy.__version__}")
    import jax

    print(f"JAX version: {jax.__version__}; devices: {jax.devices()}")
    try:
        import torch
    except ImportError:
        print("PyTorch: not installed (needed only for torch_ref and the tests)")
    else:
        print(f"PyTorch version: {torch.__version__}")
        print(f"CUDA available: {torch.cuda.is_available()}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m labs", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="list the labs (the default)")
    run = commands.add_parser("run", help="run labs: 'all' or ids such as 1.4.1")
    run.add_argument("ids", nargs="*", default=["all"])
    run.add_argument("--out", type=pathlib.Path, default=pathlib.Path("outputs"))
    run.add_argument("--quick", action="store_true", help="CI-sized runs")
    run.add_argument("--seed", type=int, default=0)
    commands.add_parser(
        "check-env", help="print package versions, JAX devices and CUDA availability"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "check-env":
        check_env()
        return 0
    if args.command == "run":
        try:
            records = run_labs(args.ids, args.out, args.quick, args.seed)
        except KeyError as error:
            print(f"error: {error.args[0]}", file=sys.stderr)
            return 2
        failed = [record["lab"] for record in records if record["status"] == "failed"]
        print(
            f"{len(records) - len(failed)} of {len(records)} labs passed; summary in {args.out}/summary.md"
        )
        return 1 if failed else 0
    for lab in discover().values():
        print(f"{lab.lab_id}  {lab.title}")
    return 0
