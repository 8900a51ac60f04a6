"""Case rows for jaxmath.distributions (placeholder: filled by its own issue). Joined into the one table by
cases.py.
"""

from __future__ import annotations

from parity_tests.harness import Case

DISTRIBUTIONS_CASES: list[Case] = []
