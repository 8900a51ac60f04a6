"""Test-session setup shared by parity_tests/ and tests/.

- OMP_WAIT_POLICY=PASSIVE before torch loads: JAX and torch in one process otherwise fight over the
  cores with spinning OpenMP threads (a torch MLP step measured 188 ms instead of 8 ms here).
- JAX's x64 mode, so float64 cases run in float64 (float32 cases pass float32 arrays explicitly).
- Matmul precision "highest" in both frameworks: TF32 on a GPU would otherwise break float32 parity.
- The parity report's plugin (parity_tests/report.py): ``--parity-report DIR`` writes the report of
  every row's errors; without the option it does nothing.
- One JAX compilation cache on disk for the whole test session (``JAXMATH_TEST_JAX_CACHE``): the
  xdist workers and the labs, notebook kernels and benchmark runs that tests start in subprocesses
  share compiled programs, so a program compiled by one test (the forward comparison's jitted call,
  an eager op, a lab's training step) is loaded, not compiled again, by the next that builds the
  same program (the jit and vmap tests of the same row, the same lab as a notebook). XLA compiling
  is most of the suite's time on CPU. The key is the program itself (its StableHLO without debug
  info) plus the jaxlib version, backend, XLA flags and compile options, so a hit is the executable
  the compiler would build again; nothing about what runs changes, only who compiled it. The
  directory is made for the session and removed at its end (a fresh clone starts empty); set
  ``JAXMATH_TEST_JAX_CACHE=off`` to compile everything in every process, as before.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import torch

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")
torch.set_float32_matmul_precision("highest")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def _share_compilation_cache() -> None:
    """Point JAX (here, in xdist workers and in subprocesses, which inherit the environment) at one
    session-wide compilation cache, every compiled program written (no minimum compile time)."""
    directory = os.environ.get("JAXMATH_TEST_JAX_CACHE")
    if directory == "off":
        return
    if not directory:  # the first process of the session (xdist's controller, or a plain run)
        directory = tempfile.mkdtemp(prefix="jaxmath-test-jax-cache-")
        os.environ["JAXMATH_TEST_JAX_CACHE"] = directory
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    settings = {
        "jax_compilation_cache_dir": directory,
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": -1,
    }
    for name, value in settings.items():
        jax.config.update(name, value)
        os.environ[name.upper()] = str(value)


_share_compilation_cache()

pytest_plugins = ["parity_tests.report"]

#: Tests that take tens of seconds each (a lab or notebook run end to end, a benchmark's CLI, the
#: Hessian and L-BFGS rows, the README's examples), by node id prefix, longest first: with
#: ``-n N --dist worksteal`` (what ``make test`` should pass) or without xdist they run first, so the
#: workers start on them and the thousands of short tests fill in behind them (and are stolen by
#: the worker that runs out), instead of one worker finishing a long test alone at the end. Order
#: only: every test still runs. (Under xdist's default ``--dist load`` the first worker would get
#: the whole front of the list, so there the collection order is left as it is.)
LONG_TESTS = (
    "tests/test_notebooks.py::test_the_solution_notebook",
    "tests/test_notebooks.py::test_the_student_notebook",
    "tests/test_landscape.py::test_landscape_benchmark",
    "tests/test_lab_",
    "tests/test_backprop.py::test_lab_",
    "tests/test_benchmarks.py",
    "tests/test_readme.py",
    "tests/test_report.py",
    "tests/test_labs.py",
    "parity_tests/test_parity.py::test_forward_matches_twin_and_references[optim.LBFGS",
    "parity_tests/test_parity.py::test_forward_matches_twin_and_references[landscape.hessian",
    "parity_tests/test_parity.py::test_jit_matches_eager_without_recompiling[backprop.mlp_loss",
)


def _long_first(item: object) -> int:
    nodeid = item.nodeid  # type: ignore[attr-defined]
    return next(
        (i for i, prefix in enumerate(LONG_TESTS) if nodeid.startswith(prefix)), len(LONG_TESTS)
    )


def pytest_collection_modifyitems(config: object, items: list) -> None:
    if config.getoption("dist", "no") in ("no", "worksteal"):  # type: ignore[attr-defined]
        items.sort(key=_long_first)  # stable: the order within each group is kept
