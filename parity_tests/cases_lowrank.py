"""Case rows for jaxmath.lowrank (placeholder: filled by its own issue). Joined into the one table by
cases.py.
"""

from __future__ import annotations

from parity_tests.harness import Case

LOWRANK_CASES: list[Case] = []
