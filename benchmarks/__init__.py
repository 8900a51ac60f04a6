"""Benchmarks of jaxmath against its peers: ``python -m benchmarks [NAME ...]``.

A benchmark is a module ``benchmarks/<name>.py`` defining ``BENCHMARK = Benchmark(...)`` (see
``benchmarks/_harness.py``); the harness finds it, times its contenders alternately, reports the median
of repeats after warm-up against limits it measures in the same run, and writes JSON.

Importing this package sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets it, before
anything can import torch: JAX and torch in one process otherwise spin OpenMP threads against each
other (a torch MLP step measured 188 ms with the default policy, 8 ms with PASSIVE, on 2 cores).
Worker processes inherit the setting.
"""

import os
import sys

#: The value found in the environment before this package was imported (None: the harness set it).
OMP_WAIT_POLICY_FOUND = os.environ.get("OMP_WAIT_POLICY")
#: True when torch was imported before this package, too early for the setting to take effect.
TORCH_IMPORTED_FIRST = "torch" in sys.modules

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
