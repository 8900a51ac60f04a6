"""``python -m benchmarks [NAME ...] [--quick] [--list] [--out DIR]``."""

import benchmarks  # noqa: F401  (sets OMP_WAIT_POLICY before anything imports torch)
from benchmarks._harness import main

raise SystemExit(main())
