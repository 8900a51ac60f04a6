"""Coverage: every public jaxmath function has a torch_ref twin (same parameter names and defaults)
and a row in the case table; every row names a public function.

The concept modules are discovered, not listed, so a new module is covered the day it lands.
``visualization`` is exempt: its figure functions take NumPy arrays and are framework-neutral.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import jaxmath
import torch_ref
from parity_tests.cases import CASES

FRAMEWORK_NEUTRAL_MODULES = {"visualization"}  # figures: NumPy in, matplotlib Figure out
#: Parameter names allowed to differ: the source of randomness is framework-specific.
EQUIVALENT_PARAMETERS = {"key": "generator"}


def concept_modules() -> list[str]:
    names = [info.name for info in pkgutil.iter_modules(jaxmath.__path__)]
    return sorted(
        name for name in names if not name.startswith("_") and name not in FRAMEWORK_NEUTRAL_MODULES
    )


MODULES = concept_modules()


def test_the_discovered_modules_include_the_foundation() -> None:
    assert {"activations", "losses", "gradcheck"} <= set(MODULES)


@pytest.mark.parametrize("module_name", MODULES)
def test_torch_ref_has_the_same_public_names(module_name: str) -> None:
    ours = importlib.import_module(f"jaxmath.{module_name}")
    twin = importlib.import_module(f"torch_ref.{module_name}")
    assert sorted(ours.__all__) == sorted(twin.__all__)


def test_top_level_exports_match() -> None:
    """Same names at the top of both packages, and each is the very object its concept module
    defines (not a stale copy, not the other package's), so the case rows test what users import."""
    assert sorted(jaxmath.__all__) == sorted(torch_ref.__all__)
    for package in (jaxmath, torch_ref):
        for name in package.__all__:
            homes = [
                module
                for module in (
                    importlib.import_module(f"{package.__name__}.{module_name}")
                    for module_name in MODULES
                )
                if name in module.__all__
            ]
            assert homes, f"{package.__name__}.{name} is in no concept module's __all__"
            assert all(getattr(package, name) is getattr(home, name) for home in homes), (
                f"{package.__name__}.{name} is not {homes[0].__name__}.{name}"
            )
            assert getattr(package, name).__module__.startswith(package.__name__ + "."), (
                f"{package.__name__}.{name} is defined in {getattr(package, name).__module__}"
            )


def _parameters(function: object) -> list[tuple[str, object, object]]:
    return [
        (EQUIVALENT_PARAMETERS.get(p.name, p.name), p.kind, p.default)
        for p in inspect.signature(function).parameters.values()
    ]


def public_objects() -> list[tuple[str, str]]:
    return [
        (module_name, name)
        for module_name in MODULES
        for name in importlib.import_module(f"jaxmath.{module_name}").__all__
    ]


@pytest.mark.parametrize(("module_name", "name"), public_objects())
def test_twin_has_the_same_parameters_and_defaults(module_name: str, name: str) -> None:
    ours = getattr(importlib.import_module(f"jaxmath.{module_name}"), name)
    twin = getattr(importlib.import_module(f"torch_ref.{module_name}"), name)
    if inspect.isclass(ours):
        assert inspect.isclass(twin)
        assert getattr(ours, "_fields", None) == getattr(twin, "_fields", None)
        assert _parameters(ours.__init__) == _parameters(twin.__init__)
        return
    assert _parameters(ours) == _parameters(twin), f"{module_name}.{name}"


@pytest.mark.parametrize(("module_name", "name"), public_objects())
def test_every_public_function_has_a_case(module_name: str, name: str) -> None:
    ours = getattr(importlib.import_module(f"jaxmath.{module_name}"), name)
    if inspect.isclass(ours) and hasattr(ours, "_fields"):
        return  # a result type (NamedTuple), tested through the function that returns it
    cased = {(case.module, case.name) for case in CASES}
    assert (module_name, name) in cased, (
        f"jaxmath.{module_name}.{name} has no row in parity_tests/cases.py"
    )


def test_every_case_names_a_public_function() -> None:
    for case in CASES:
        assert case.name in importlib.import_module(f"jaxmath.{case.module}").__all__, case


def test_importing_jaxmath_imports_neither_torch_nor_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, jaxmath; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]
