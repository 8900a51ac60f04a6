"""Measure how much of each TOLERANCES entry the suite uses (a pytest plugin).

Run from the repository root:

    .venv/bin/python -m pytest -p parity_tests.measure_tolerances -n 2 -q \
        parity_tests/test_parity.py parity_tests/test_properties.py tests/test_cross_entropy_weight_gradient.py

Every ``np.testing.assert_allclose`` made through ``harness.assert_trees_close`` is recorded instead
of asserted: per (kind, dtype), the worst |a - e| / (rtol |e|) over elements where the relative term
dominates and the worst |a - e| / atol where the absolute term does. Entries are made unique for the
run (perturbed in the 9th digit) so kinds with equal numbers are told apart. One JSON per process in
/tmp/tolerance_stats/; ``python -m parity_tests.measure_tolerances`` merges and prints them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

OUT = Path("/tmp/tolerance_stats")
_original = np.testing.assert_allclose
_stats: dict[str, dict] = {}
_lookup: dict[tuple[float, float], str] = {}


def _install() -> None:
    from parity_tests import harness

    for index, (kind, by_dtype) in enumerate(list(harness.TOLERANCES.items())):
        for dtype, tol in list(by_dtype.items()):
            factor = 1.0 + (index * 2 + (dtype == "float64") + 1) * 1e-9
            unique = harness.Tolerance(tol.rtol * factor, tol.atol * factor)
            by_dtype[dtype] = unique  # the suite calls tolerance(kind, dtype) at run time
            _lookup[(unique.rtol, unique.atol)] = f"{kind}/{dtype}"
    numerical = harness.TOLERANCES["finite_difference"]["float64"]
    harness.NUMERICAL_GRADIENT_TOLERANCE = numerical
    if "parity_tests.test_parity" in sys.modules:
        sys.modules["parity_tests.test_parity"].NUMERICAL_GRADIENT_TOLERANCE = numerical


def _record(actual, desired, rtol=1e-7, atol=0, equal_nan=True, err_msg="", verbose=True, **_):
    key = _lookup.get((rtol, atol))
    if key is None:
        return _original(
            actual, desired, rtol=rtol, atol=atol, equal_nan=equal_nan, err_msg=err_msg
        )
    got = np.asarray(actual, np.float64)
    want = np.asarray(desired, np.float64)
    got, want = np.broadcast_arrays(got, want)
    finite = np.isfinite(got) & np.isfinite(want)
    difference = np.abs(got - want)[finite]
    scale = np.abs(want)[finite]
    relative_part = rtol * scale
    entry = _stats.setdefault(key, {"rel": 0.0, "abs": 0.0, "rel_at": "", "abs_at": "", "n": 0})
    entry["n"] += int(difference.size)
    rel_mask = relative_part >= atol
    if rel_mask.any():
        used = float(np.max(difference[rel_mask] / relative_part[rel_mask]))
        if used > entry["rel"]:
            entry["rel"], entry["rel_at"] = used, err_msg
    if (~rel_mask).any() and atol > 0:
        used = float(np.max(difference[~rel_mask] / atol))
        if used > entry["abs"]:
            entry["abs"], entry["abs_at"] = used, err_msg
    mismatch_nan = np.isnan(got) != np.isnan(want)
    if mismatch_nan.any():
        entry.setdefault("nan_mismatch", err_msg)
    global _calls
    _calls += 1
    if _calls % 100 == 0:  # survive an interrupted run
        _dump()
    return None


_calls = 0


def _dump() -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / f"{os.getpid()}.json").write_text(json.dumps(_stats, indent=1))


def pytest_configure(config) -> None:
    _install()
    np.testing.assert_allclose = _record


def pytest_unconfigure(config) -> None:
    _dump()


def merge() -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for path in OUT.glob("*.json"):
        for key, entry in json.loads(path.read_text()).items():
            target = merged.setdefault(
                key, {"rel": 0.0, "abs": 0.0, "rel_at": "", "abs_at": "", "n": 0}
            )
            target["n"] += entry["n"]
            for part in ("rel", "abs"):
                if entry[part] > target[part]:
                    target[part], target[f"{part}_at"] = entry[part], entry[f"{part}_at"]
    return merged


if __name__ == "__main__":
    from parity_tests.harness import TOLERANCES

    for key, entry in sorted(merge().items()):
        kind, dtype = key.split("/")
        tol = TOLERANCES[kind][dtype]
        print(
            f"{key:32s} rtol {tol.rtol:.0e} used {entry['rel']:.3g} -> worst rel diff "
            f"{entry['rel'] * tol.rtol:.2e}; atol {tol.atol:.0e} used {entry['abs']:.3g} -> worst abs "
            f"diff {entry['abs'] * tol.atol:.2e}  ({entry['n']} elements)"
        )
        print(f"    rel at: {entry['rel_at'][:150]}\n    abs at: {entry['abs_at'][:150]}")
