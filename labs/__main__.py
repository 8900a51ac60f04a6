"""``python -m labs``: list, run and check the environment for the course labs."""

import os

# Before torch or JAX load: both in one process otherwise spin OpenMP threads against each other.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")

from labs._runner import main

raise SystemExit(main())
