"""``python -m benchmarks [NAME ...] [--list] [--quick] [--out DIR] [--rounds N] [--isolation MODE]``."""

import benchmarks  # noqa: F401  (first: sets OMP_WAIT_POLICY before anything imports torch)
from benchmarks._harness import main

raise SystemExit(main())
