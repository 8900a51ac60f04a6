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
#: README's examples), by node id prefix, longest first, then the parity rows that take longest
#: (``LONG_ROWS``): they run first, so the workers start on them and the thousands of short tests
#: fill in behind them, instead of one worker finishing a long test alone at the end. Order only:
#: every test still runs.
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
)

#: Parity rows (case id prefixes) whose tests together take longest (CPU seconds per row, all its
#: tests, measured at c59963a: mlp_loss_and_grad 90, cross_entropy_loss 67, LBFGS 47, the Hessian
#: rows 23-38, fit_beta 26, fit_gamma 23, nll_loss 22, svd 21, Muon 19), longest first.
LONG_ROWS = (
    "backprop.mlp_loss_and_grad",
    "losses.cross_entropy_loss",
    "optim.LBFGS",
    "landscape.hessian",
    "distributions.fit_",
    "losses.nll_loss",
    "lowrank.svd",
    "optim.Muon",
)

#: The parity tests of one row run one after the other in this order, mostly on one worker: the
#: row's jitted calls and vector-Jacobian products are compiled once per process and shared by its
#: forward, vmap, gradient and numerical-gradient tests (harness.compiled_call / jax_vjp), and
#: JAX's eager per-op programs by its jit tests' eager sides.
PARITY_FILE = "parity_tests/test_parity.py::"
PARITY_TEST_ORDER = (
    "test_forward_matches_twin_and_references",
    "test_jit_matches_eager_without_recompiling",
    "test_vmap_over_a_batch_axis_matches_the_loop",
    "test_gradients_match_twin_and_references",
    "test_gradients_match_numerical_gradient",
    "test_edge_inputs_match_references",
    "test_bad_input_raises_the_same_clear_error",
    "test_each_row_calls_the_function_with_its_defaults",
)


def _parity_row(item: object) -> str | None:
    """The case id of a parity test parametrized by a row (``None`` for every other test)."""
    if not item.nodeid.startswith(PARITY_FILE):  # type: ignore[attr-defined]
        return None
    case = getattr(getattr(item, "callspec", None), "params", {}).get("case")
    return getattr(case, "id", None)


def _rank(prefixes: tuple[str, ...], name: str) -> int:
    return next((i for i, prefix in enumerate(prefixes) if name.startswith(prefix)), len(prefixes))


def pytest_collection_modifyitems(config: object, items: list) -> None:
    """Long tests first, then the parity rows (long rows first), each row's tests together and in
    ``PARITY_TEST_ORDER`` (under ``make test``'s ``--dist worksteal`` a row's adjacent tests mostly
    stay on one worker), then the other tests. Nothing is dropped; otherwise the collection order
    is kept."""
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        row = _parity_row(item)
        if row is not None:
            first_seen.setdefault(row, index)

    def key(pair: tuple[int, object]) -> tuple[int, ...]:
        index, item = pair
        row = _parity_row(item)
        if row is None:
            long = _rank(LONG_TESTS, item.nodeid)  # type: ignore[attr-defined]
            return (0, long, index) if long < len(LONG_TESTS) else (3, index, 0)
        test = _rank(PARITY_TEST_ORDER, item.originalname)  # type: ignore[attr-defined]
        order = (first_seen[row], test, index)
        long = _rank(LONG_ROWS, row)
        return (1, long, *order) if long < len(LONG_ROWS) else (2, *order)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
