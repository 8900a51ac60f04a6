"""Case rows for jaxmath.optim (placeholder: filled by its own issue). Joined into the one table by
cases.py.
"""

from __future__ import annotations

from parity_tests.harness import Case

OPTIM_CASES: list[Case] = []
