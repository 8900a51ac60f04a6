"""The parity report: every row and dtype of the case table, with the errors the suite measured.

    python -m parity_tests.report [--out DIR] [-n N] [-k EXPR] [-- PYTEST_ARGS...]

runs the parity suite (``parity_tests/test_parity.py``) and writes ``DIR/report.md``,
``DIR/report.json`` and ``DIR/report.html`` (default ``DIR`` = ``outputs/parity``, where the labs'
``index.html`` links it). The suite writes the same report behind a pytest option::

    pytest parity_tests/test_parity.py --parity-report outputs/parity

(``conftest.py`` loads this module as a pytest plugin; without the option it does nothing.)

How it measures: while the suite runs, every ``np.testing.assert_allclose`` (which
``harness.assert_trees_close`` and the rows' own ``compare`` functions call with the comparison's
context as ``err_msg``) is recorded before it asserts, so a failing comparison is measured too and
nothing about pass or fail changes. The context names the row, the dtype and the two sides
(``"<row> [float32] <sample>: jaxmath vs torch_ref"``, ``"... jax.vjp vs autograd of <reference>"``,
``"... jaxmath gradient vs numerical"``); comparisons it cannot attribute to a row are not counted.
Per row, dtype, comparison target (the torch twin, each upstream reference, the numerical gradient,
jit vs eager, vmap vs loop), side (jaxmath or torch_ref) and part (forward or gradient):

- max abs: ``max |actual - expected|`` over elements where both are finite;
- max rel: ``max |actual - expected| / |expected|`` over those elements with ``|expected| > atol``
  (all nonzero ``expected`` when ``atol`` is 0): a value below the comparison's absolute tolerance
  is zero at that tolerance, and its relative error says nothing (a central difference of 1e-17
  against an exact 0 would read 100%); ``None`` ("-") when no element is that large;
- used: ``max |actual - expected| / (atol + rtol |expected|)``, the fraction of the tolerance the
  comparison used (1 = at the limit; above 1 the test failed);
- nonfinite mismatches: elements where one side is NaN/inf and the other is not (or differs).

Rows whose ``compare`` is not the elementwise ``assert_trees_close`` (statistical tests on random
draws, eigenvectors up to sign, Monte-Carlo estimates within their standard error) report what
those functions compare elementwise, which may be a derived quantity (a standard deviation, an
eigenvalue); the ``check`` column names the function. With ``pytest-xdist`` each worker writes its
measurements under ``DIR/.parts/`` and the controller merges them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import html
import json
import os
import pathlib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_OUT = pathlib.Path("outputs") / "parity"
TEST_FILE = "parity_tests/test_parity.py"
DTYPES = ("float32", "float64")

#: The left side of a comparison in test_parity's contexts, and what it measures.
_LEFT = re.compile(
    r": (?P<left>jaxmath gradient|torch_ref gradient|jaxmath|torch_ref|jax\.vjp|jit|vmap) vs "
)


@dataclasses.dataclass
class Stat:
    """The worst errors of one kind of comparison of one row and dtype."""

    max_abs: float = 0.0
    max_rel: float | None = None  # None: no element with |expected| > atol
    used: float = 0.0  # max |a - e| / (atol + rtol |e|)
    elements: int = 0
    comparisons: int = 0
    nonfinite_mismatches: int = 0
    worst: str = ""  # the context of the comparison that used the most tolerance

    def add(self, other: Stat) -> None:
        self.max_abs = max(self.max_abs, other.max_abs)
        if other.max_rel is not None:
            self.max_rel = max(self.max_rel or 0.0, other.max_rel)
        if other.used > self.used or not self.worst:
            self.used, self.worst = max(self.used, other.used), other.worst or self.worst
        self.elements += other.elements
        self.comparisons += other.comparisons
        self.nonfinite_mismatches += other.nonfinite_mismatches


def measure(actual: Any, desired: Any, rtol: float, atol: float) -> Stat:
    """One comparison's errors (see the module docstring for the definitions)."""
    got, want = np.broadcast_arrays(
        np.asarray(actual, dtype=np.float64), np.asarray(desired, dtype=np.float64)
    )
    finite = np.isfinite(got) & np.isfinite(want)
    same_nonfinite = (np.isnan(got) & np.isnan(want)) | (
        np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
    )
    difference = np.abs(got - want)[finite]
    scale = np.abs(want)[finite]
    relative = (scale > atol) & (scale > 0)
    stat = Stat(
        elements=int(got.size),
        comparisons=1,
        nonfinite_mismatches=int((~finite & ~same_nonfinite).sum()),
    )
    if difference.size:
        stat.max_abs = float(difference.max())
        if relative.any():
            stat.max_rel = float((difference[relative] / scale[relative]).max())
        bound = atol + rtol * scale
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(bound > 0, difference / bound, np.where(difference > 0, np.inf, 0.0))
        stat.used = float(ratio.max())
    return stat


@dataclasses.dataclass(frozen=True)
class Attribution:
    """Which row, dtype and comparison an ``err_msg`` belongs to."""

    case: str
    dtype: str
    against: str  # "torch_ref", a reference's name, "numerical gradient", "jit", "vmap"
    side: str  # "jaxmath" or "torch_ref": whose result was compared
    part: str  # "forward" or "gradient"


class Attributor:
    """Parses test_parity's comparison contexts against the known row ids and reference names."""

    def __init__(self, cases: Iterable[Any]) -> None:
        self.references = {case.id: [r.name for r in case.references] for case in cases}
        self.ids = sorted(self.references, key=len, reverse=True)  # longest prefix first

    def __call__(self, message: str) -> Attribution | None:
        case = next((i for i in self.ids if message.startswith(f"{i} ")), None)
        if case is None:
            return None
        rest = message[len(case) + 1 :]
        dtype = "float64"  # the numerical-gradient test runs in float64 and names no dtype
        for name in DTYPES:
            if rest.startswith(f"[{name}] "):
                dtype, rest = name, rest[len(name) + 3 :]
        matches = list(_LEFT.finditer(rest))
        if not matches:
            return None
        left, right_text = matches[-1]["left"], rest[matches[-1].end() :]
        return self._classify(case, dtype, left, right_text)

    def _classify(self, case: str, dtype: str, left: str, right_text: str) -> Attribution | None:
        def starts(name: str) -> bool:
            return right_text == name or right_text.startswith((f"{name}:", f"{name} leaf"))

        if left in ("jaxmath gradient", "torch_ref gradient") and starts("numerical"):
            return Attribution(case, dtype, "numerical gradient", left.split()[0], "gradient")
        if left in ("jit", "vmap"):
            return Attribution(case, dtype, left, "jaxmath", "forward")
        if left == "jaxmath" and starts("torch_ref"):
            return Attribution(case, dtype, "torch_ref", "jaxmath", "forward")
        if left == "jax.vjp" and starts("torch_ref autograd"):
            return Attribution(case, dtype, "torch_ref", "jaxmath", "gradient")
        side = "jaxmath" if left in ("jaxmath", "jax.vjp") else "torch_ref"
        for name in sorted(self.references.get(case, ()), key=len, reverse=True):
            if starts(f"autograd of {name}"):
                return Attribution(case, dtype, name, side, "gradient")
            if starts(name):
                return Attribution(case, dtype, name, side, "forward")
        return None


# ----------------------------------------------------------------------------------------------
# The pytest plugin
# ----------------------------------------------------------------------------------------------


class Recorder:
    """Records every attributable ``np.testing.assert_allclose`` and every test's outcome."""

    def __init__(self, out: pathlib.Path) -> None:
        self.out = out
        self.stats: dict[tuple[str, ...], Stat] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}  # case id -> {"tests", "failed": [...]}
        self._attributor: Attributor | None = None
        self._original = np.testing.assert_allclose

    def attributor(self) -> Attributor:
        if self._attributor is None:
            from parity_tests.cases import CASES

            self._attributor = Attributor(CASES)
        return self._attributor

    def install(self) -> None:
        original = self._original

        def recording_assert_allclose(actual, desired, rtol=1e-7, atol=0, *args, **kwargs):
            err_msg = kwargs.get("err_msg", args[1] if len(args) > 1 else "")
            self.observe(str(err_msg), actual, desired, rtol, atol)
            return original(actual, desired, rtol, atol, *args, **kwargs)

        np.testing.assert_allclose = recording_assert_allclose

    def uninstall(self) -> None:
        np.testing.assert_allclose = self._original

    def observe(self, message: str, actual: Any, desired: Any, rtol: float, atol: float) -> None:
        where = self.attributor()(message)
        if where is None:
            return
        try:
            stat = measure(actual, desired, rtol, atol)
        except (TypeError, ValueError):  # not numbers (or not broadcastable): the assert says so
            return
        stat.worst = message
        key = dataclasses.astuple(where)
        self.stats.setdefault(key, Stat()).add(stat)

    def outcome(self, case_id: str, dtype: str | None, test: str, failed: bool) -> None:
        entry = self.outcomes.setdefault(case_id, {"tests": 0, "failed": []})
        entry["tests"] += 1
        if failed:
            entry["failed"].append(f"{test}[{dtype}]" if dtype else test)

    def part(self) -> dict[str, Any]:
        return {
            "stats": [[*key, dataclasses.asdict(stat)] for key, stat in self.stats.items()],
            "outcomes": self.outcomes,
        }


_recorder: Recorder | None = None


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--parity-report",
        metavar="DIR",
        default=None,
        help="write the parity report (report.md / .json / .html: every row's max errors "
        "against its torch twin and upstream references) into DIR",
    )


def pytest_configure(config: Any) -> None:
    global _recorder
    out = config.getoption("--parity-report", default=None)
    if out:
        _recorder = Recorder(pathlib.Path(out))
        _recorder.install()


def pytest_unconfigure(config: Any) -> None:
    global _recorder
    if _recorder is not None:
        _recorder.uninstall()
        _recorder = None


def pytest_runtest_makereport(item: Any, call: Any) -> None:
    if _recorder is None or call.when != "call":
        return
    params = getattr(getattr(item, "callspec", None), "params", {})
    case = params.get("case")
    if case is None or not hasattr(case, "id"):
        return
    _recorder.outcome(case.id, params.get("dtype"), item.originalname, call.excinfo is not None)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if _recorder is None:
        return
    parts = _recorder.out / ".parts"
    parts.mkdir(parents=True, exist_ok=True)
    (parts / f"{os.getpid()}.json").write_text(json.dumps(_recorder.part()))
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller merges
        return
    arguments = [arg for arg in session.config.invocation_params.args if isinstance(arg, str)]
    written = write_report(_recorder.out, merge_parts(parts), arguments, exitstatus)
    for path in sorted(parts.glob("*.json")):
        path.unlink()
    parts.rmdir()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"parity report: {', '.join(str(path) for path in written)}")


def merge_parts(parts: pathlib.Path) -> dict[str, Any]:
    """The workers' measurements merged: stats by key, outcomes by row."""
    stats: dict[tuple[str, ...], Stat] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    for path in parts.glob("*.json"):
        part = json.loads(path.read_text())
        for *key, values in part["stats"]:
            stats.setdefault(tuple(key), Stat()).add(Stat(**values))
        for case_id, entry in part["outcomes"].items():
            target = outcomes.setdefault(case_id, {"tests": 0, "failed": []})
            target["tests"] += entry["tests"]
            target["failed"] += entry["failed"]
    return {"stats": stats, "outcomes": outcomes}


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------


def _count(iterator: Iterable[Any]) -> int:
    return sum(1 for _ in iterator)


def build_rows(measured: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per row and dtype of the case table that the run touched (a -k subset: fewer)."""
    from parity_tests.cases import CASES
    from parity_tests.harness import assert_trees_close, rng_for, tolerance

    stats, outcomes = measured["stats"], measured["outcomes"]
    touched = {key[0] for key in stats} | set(outcomes)
    rows = []
    for case in CASES:
        if case.id not in touched:
            continue
        check = "elementwise" if case.compare is assert_trees_close else case.compare.__name__
        failed = outcomes.get(case.id, {}).get("failed", [])
        for dtype in DTYPES:
            comparisons = {}
            targets = ["torch_ref", *(r.name for r in case.references)]
            targets += ["numerical gradient", "jit", "vmap"]
            kinds = {r.name: r.kind or case.kind for r in case.references}
            for against in targets:
                entry = {}
                for side in ("jaxmath", "torch_ref"):
                    for part in ("forward", "gradient"):
                        stat = stats.get((case.id, dtype, against, side, part))
                        if stat is not None:
                            entry[f"{side} {part}"] = dataclasses.asdict(stat)
                if entry:
                    kind = kinds.get(against, case.kind)
                    if against == "numerical gradient":
                        kind = "finite_difference"
                    tol = tolerance(kind, dtype)
                    comparisons[against] = {
                        "tolerance": {"kind": kind, "rtol": tol.rtol, "atol": tol.atol},
                        **entry,
                    }
            rows.append(
                {
                    "function": case.id,
                    "dtype": dtype,
                    "samples": _count(case.sample_inputs(rng_for(case, dtype), dtype)),
                    "edge_samples": _count(case.edge_inputs(dtype)),
                    "kind": case.kind,
                    "check": check,
                    "references": [r.name for r in case.references],
                    "tests": outcomes.get(case.id, {}).get("tests", 0),
                    "failed_tests": [t for t in failed if t.endswith(f"[{dtype}]") or "[" not in t],
                    "comparisons": comparisons,
                }
            )
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.1e}"


def _side(comparison: Mapping[str, Any], part: str) -> dict[str, Any] | None:
    """jaxmath's side of a comparison (torch_ref's where jaxmath's was not compared)."""
    return comparison.get(f"jaxmath {part}") or comparison.get(f"torch_ref {part}")


def table_lines(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The report's table: one line per row, dtype and comparison target (jaxmath's side)."""
    lines = []
    for row in rows:
        failed = row["failed_tests"]
        test = "passed" if not failed else "FAILED: " + ", ".join(failed)
        for against, comparison in row["comparisons"].items():
            if against in ("jit", "vmap"):
                continue  # in the JSON
            forward, gradient = _side(comparison, "forward"), _side(comparison, "gradient")
            used = max((s["used"] for s in (forward, gradient) if s), default=None)
            nonfinite = sum(s["nonfinite_mismatches"] for s in (forward, gradient) if s)
            tol = comparison["tolerance"]
            lines.append(
                [
                    row["function"],
                    row["dtype"],
                    f"{row['samples']}"
                    + (f" + {row['edge_samples']}" if row["edge_samples"] else ""),
                    "torch twin" if against == "torch_ref" else against,
                    _number(forward["max_abs"]) if forward else "-",
                    _number(forward["max_rel"]) if forward else "-",
                    _number(gradient["max_abs"]) if gradient else "-",
                    _number(gradient["max_rel"]) if gradient else "-",
                    f"{tol['kind']} ({tol['rtol']:.0e}, {tol['atol']:.0e})",
                    (f"{used:.2f}" if used is not None else "-")
                    + (f", {nonfinite} non-finite mismatches" if nonfinite else ""),
                    row["check"],
                    test,
                ]
            )
    return lines


HEADER = [
    "function",
    "dtype",
    "samples (+ edge)",
    "against",
    "forward max abs",
    "forward max rel",
    "gradient max abs",
    "gradient max rel",
    "tolerance kind (rtol, atol)",
    "tolerance used",
    "check",
    "tests",
]


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(report: Mapping[str, Any]) -> str:
    lines = table_lines(report["rows"])
    failed = [row for row in report["rows"] if row["failed_tests"]]
    out = [
        "# Parity report",
        "",
        f"{report['created']}, `{report['command']}` (pytest exit status {report['exit_status']}): "
        f"{len({row['function'] for row in report['rows']})} rows of the case table in "
        f"{len({row['dtype'] for row in report['rows']})} dtypes, {report['comparisons']} "
        f"comparisons of {report['elements']} elements; "
        + (
            f"{len(failed)} row/dtype pairs with a failed test."
            if failed
            else "every test of these rows passed."
        ),
        "",
        "Errors are jaxmath's against the torch twin (torch_ref), each upstream reference and "
        "its own central-difference gradient (float64); torch_ref's own errors against the "
        "references, and jit vs eager and vmap vs loop, are in report.json. max abs = max |a - e|, "
        "max rel = max |a - e| / |e| over finite elements with |e| > atol (smaller values are "
        "zero at the comparison's tolerance; - when there are none); tolerance used = "
        "max |a - e| / (atol + rtol |e|), 1.00 being the "
        "limit. Samples: the row's sample inputs per dtype (+ "
        "its edge inputs: 1e4 logits, p in {0, 1}, ...). `check` is elementwise unless the row "
        "compares derived quantities (statistics of random draws, eigenvalues, estimates within "
        "their standard error): then the numbers are that function's. Generated by "
        "`python -m parity_tests.report` (parity_tests/report.py).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "| " + " | ".join("---" for _ in HEADER) + " |",
    ]
    out += ["| " + " | ".join(_markdown_cell(cell) for cell in line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def report_html(report: Mapping[str, Any]) -> str:
    markdown = report_markdown(report).split("\n| ")[0].split("\n", 2)[2]
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in line) + "</tr>"
        for line in table_lines(report["rows"])
    )
    head = "".join(f"<th>{html.escape(name)}</th>" for name in HEADER)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>jaxmath parity report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; }}
table {{ border-collapse: collapse; font-size: 0.82rem; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.2rem 0.45rem; }}
th {{ background: #f6f8fa; position: sticky; top: 0; }}
td:nth-child(n+5):nth-child(-n+8) {{ text-align: right; font-variant-numeric: tabular-nums; }}
</style></head><body>
<h1>Parity report</h1>
<p>{html.escape(markdown.strip())}</p>
<table><tr>{head}</tr>
{rows}
</table></body></html>
"""


def write_report(
    out: pathlib.Path, measured: Mapping[str, Any], arguments: Sequence[str], exit_status: int
) -> list[pathlib.Path]:
    """Write report.json, report.md and report.html into ``out``; return their paths."""
    rows = build_rows(measured)
    stats = measured["stats"].values()
    report = {
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "pytest " + " ".join(arguments),
        "exit_status": int(exit_status),
        "comparisons": sum(stat.comparisons for stat in stats),
        "elements": sum(stat.elements for stat in stats),
        "rows": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md", out / "report.html"]
    paths[0].write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    paths[1].write_text(report_markdown(report))
    paths[2].write_text(report_html(report))
    return paths


# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parity_tests.report",
        description="Run the parity suite and write its report (Markdown, JSON, HTML).",
    )
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("-n", "--workers", default="0", help="pytest-xdist workers (default: 0)")
    parser.add_argument("-k", dest="keyword", default=None, help="only rows matching (pytest -k)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args(argv)
    import pytest

    pytest_args = [TEST_FILE, "-q", "-n", str(args.workers), f"--parity-report={args.out}"]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    status = pytest.main([*pytest_args, *args.pytest_args])
    if not (args.out / "report.md").is_file():
        print(f"error: no report was written to {args.out}", file=sys.stderr)
        return 2
    return int(status)


if __name__ == "__main__":
    raise SystemExit(main())
