"""Benchmarks of jaxmath against its peers: ``python -m benchmarks [NAME ...]``.

A benchmark is a module ``benchmarks/<name>.py`` defining ``BENCHMARK = Benchmark(...)`` (see
``benchmarks/_harness.py``); the harness times its contenders alternately, reports the median of repeats
after warm-up against limits it measures in the same run, and writes JSON. Importing this package sets
``OMP_WAIT_POLICY=PASSIVE`` (unless already set) before torch can load: JAX and torch in one process
otherwise spin OpenMP threads against each other (a torch MLP step: 188 ms instead of 8 ms here).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
