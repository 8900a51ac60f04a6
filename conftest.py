"""Test-session setup shared by parity_tests/ and tests/.

- OMP_WAIT_POLICY=PASSIVE before torch loads: JAX and torch in one process otherwise fight over the
  cores with spinning OpenMP threads (a torch MLP step measured 188 ms instead of 8 ms here).
- JAX's x64 mode, so float64 cases run in float64 (float32 cases pass float32 arrays explicitly).
- Matmul precision "highest" in both frameworks: TF32 on a GPU would otherwise break float32 parity.
- The parity report's plugin (parity_tests/report.py): ``--parity-report DIR`` writes the report of
  every row's errors; without the option it does nothing.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import torch

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")
torch.set_float32_matmul_precision("highest")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

pytest_plugins = ["parity_tests.report"]
