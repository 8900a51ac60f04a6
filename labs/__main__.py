"""``python -m labs``: list, run (each lab in its own process), write notebooks, check the environment."""

import os

# Before torch or JAX load: both in one process otherwise spin OpenMP threads against each other
# (a torch step measured 188 ms with the default policy and 8 ms with PASSIVE on 2 cores).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures go to files, never to a window

from labs._runner import main  # after the environment is set

raise SystemExit(main())
