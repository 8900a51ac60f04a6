"""The labs as notebooks (labs/notebooks.py): the solution notebooks run through a real Jupyter
kernel (nbclient + ipykernel) in quick mode without a cell error and their checks pass; the student
notebooks run their exercise stubs, and every check cell says "not yet implemented", not a crash.

Student notebooks are executed up to their last check cell: every later cell is the solution
notebook's cell, unchanged (asserted below), and no lab step calls an exercise function (asserted
below too), so the rest has already run in the solution notebook.
"""

from __future__ import annotations

import ast
import os
import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient

from labs import notebooks

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAB_FILES = notebooks.lab_files()
LAB_IDS = [notebooks.notebook_name(path).removesuffix(".ipynb") for path in LAB_FILES]


def _tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _execute(notebook: nbformat.NotebookNode, folder: pathlib.Path) -> nbformat.NotebookNode:
    """Run every cell in a fresh python3 kernel (cwd ``folder``, quick mode); raises on a cell error.

    A kernel that dies before answering its first message (seen once in a fresh-clone CI run with two
    xdist workers starting kernels at once: jupyter_client's free ports can race) is started once
    more; any error while cells run is raised as it is."""
    for attempt in (1, 2):
        client = NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(folder)}},
        )
        try:
            client.execute()
        except RuntimeError as error:
            if attempt == 2 or "Kernel died before replying to kernel_info" not in str(error):
                raise
            continue
        return notebook
    raise AssertionError("unreachable: the second attempt returns or raises")


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output["output_type"] == "stream"
    )


@pytest.fixture
def kernel_env(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """The kernel inherits the environment: quick mode, outputs under tmp_path, the repository on
    the path, one OpenMP policy for torch and JAX."""
    monkeypatch.setenv("LABS_QUICK", "1")
    monkeypatch.setenv("LABS_OUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    return tmp_path


def test_write_notebooks_writes_a_solution_and_a_student_notebook_per_lab(
    tmp_path: pathlib.Path,
) -> None:
    written = notebooks.write_notebooks(tmp_path)
    assert len(written) == 2 * len(LAB_FILES) >= 12
    names = {path.name for path in written}
    assert {f"lab-1.4.{n}-" in " ".join(names) for n in range(6)} == {True}
    for lab_id in LAB_IDS:
        solution = nbformat.read(tmp_path / "solutions" / f"{lab_id}.ipynb", as_version=4)
        student = nbformat.read(tmp_path / "labs" / f"{lab_id}.ipynb", as_version=4)
        nbformat.validate(solution)
        nbformat.validate(student)
        assert solution.metadata.kernelspec.name == "python3"
        assert solution.cells[0].cell_type == "markdown" and solution.cells[0].source.startswith(
            "# Lab"
        )
        assert "markdown" in {cell.cell_type for cell in solution.cells[1:]}


@pytest.mark.parametrize("path", LAB_FILES, ids=LAB_IDS)
def test_student_cells_differ_from_the_solution_only_in_exercises(path: pathlib.Path) -> None:
    solution, student = notebooks.lab_notebooks(path)
    exercises = [cell for cell in student.cells if "exercise" in _tags(cell)]
    student_cells = [cell for cell in student.cells if cell.source != notebooks.STUDENT_INTRO]
    assert len(student_cells) == len(solution.cells)
    for mine, reference in zip(student_cells, solution.cells, strict=True):
        if "exercise" in _tags(reference):
            assert "raise NotImplementedError" in mine.source
            assert "raise NotImplementedError" not in reference.source
            reference_defs = [n.name for n in ast.parse(reference.source).body]
            stub_defs = [n.name for n in ast.parse(mine.source).body]
            assert stub_defs == reference_defs  # same functions, same names
        else:
            assert mine.source == reference.source
    if not exercises:  # a lab not converted yet has nothing to check
        return
    # A lab's steps never call an exercise function: only its check cell does.
    names = {node.name for cell in exercises for node in ast.parse(cell.source).body}
    for cell in solution.cells:
        if cell.cell_type != "code" or _tags(cell) & {"exercise", "check"}:
            continue
        used = {node.id for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Name)}
        assert not used & names, f"{path.name}: a step uses the exercise function(s) {used & names}"


@pytest.mark.parametrize("path", LAB_FILES, ids=LAB_IDS)
def test_the_solution_notebook_runs_in_a_kernel_and_its_checks_pass(
    path: pathlib.Path, kernel_env: pathlib.Path
) -> None:
    solution, _ = notebooks.lab_notebooks(path)
    executed = _execute(solution, kernel_env)
    checks = [cell for cell in executed.cells if "check" in _tags(cell)]
    for cell in checks:
        assert ": passed" in _text(cell), _text(cell)
    lab_id = re.match(r"lab-([\d.]+)-", notebooks.notebook_name(path)).group(1)
    figures = list((kernel_env / "outputs" / f"lab-{lab_id}").glob("*.png"))
    assert figures, "the notebook saved no figure"
    shown = [
        output
        for cell in executed.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(shown) >= len(figures)  # every saved figure is also shown inline


@pytest.mark.parametrize("path", LAB_FILES, ids=LAB_IDS)
def test_the_student_notebook_runs_its_stubs_and_says_not_yet_implemented(
    path: pathlib.Path, kernel_env: pathlib.Path
) -> None:
    _, student = notebooks.lab_notebooks(path)
    checks = [index for index, cell in enumerate(student.cells) if "check" in _tags(cell)]
    if not checks:
        pytest.fail(f"{path.name} has no exercise yet")
    student.cells = student.cells[: checks[-1] + 1]
    executed = _execute(student, kernel_env)
    for index in checks:
        text = _text(executed.cells[index])
        assert "not yet implemented" in text and "Traceback" not in text, text


def test_unwrap_main_guard_shows_the_body_and_leaves_other_cells() -> None:
    cell = 'if __name__ == "__main__":\n    ctx = lab_context("1.4.1")\n    run(ctx)\n'
    assert notebooks.unwrap_main_guard(cell) == 'ctx = lab_context("1.4.1")\nrun(ctx)'
    for other in (
        "x = 1\nif __name__ == '__main__':\n    y = 2\n",
        "if __name__ == '__main__':\n    y = 2\nelse:\n    y = 3\n",
        "def f():\n    return 1\n",
    ):
        assert notebooks.unwrap_main_guard(other) == other


def test_stub_exercise_keeps_signatures_and_docstrings() -> None:
    source = (
        "# the student writes these\n"
        "def relu_backward(grad_output, x):\n"
        '    """The gradient of relu."""\n'
        "    return grad_output * (x > 0)\n\n\n"
        "def other(a,\n          b):\n"
        '    """Two lines\n\n    of docstring."""\n'
        "    c = a + b\n    return c\n"
    )
    stub = notebooks.stub_exercise(source)
    assert "return" not in stub and stub.count("raise NotImplementedError") == 2
    assert "# the student writes these" in stub and '"""The gradient of relu."""' in stub
    assert "def other(a,\n          b):" in stub and "of docstring." in stub
    namespace: dict = {}
    exec(compile(stub, "stub", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="exercise: write relu_backward"):
        namespace["relu_backward"](1.0, 2.0)


def test_stub_exercise_refuses_cells_that_are_not_documented_functions() -> None:
    with pytest.raises(ValueError, match="only function definitions"):
        notebooks.stub_exercise("x = 1\ndef f():\n    '''doc'''\n    return x\n")
    with pytest.raises(ValueError, match="needs a docstring"):
        notebooks.stub_exercise("def f():\n    return 1\n")


def test_an_exercise_without_a_check_cell_is_refused(tmp_path: pathlib.Path) -> None:
    lab = tmp_path / "lab_9_9_9_broken.py"
    lab.write_text(
        '# %% [markdown]\n# # Lab\n\n# %% tags=["exercise"]\ndef f():\n    """doc"""\n'
        "    return 1\n\n\n# %%\nx = 1\n"
    )
    with pytest.raises(ValueError, match="not followed by a check cell"):
        notebooks.lab_notebooks(lab)


def test_lab_context_reads_quick_and_the_output_folder(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABS_QUICK", "1")
    monkeypatch.setenv("LABS_OUT", str(tmp_path))
    ctx = notebooks.lab_context("1.4.9")
    assert ctx.quick is True and ctx.out_dir == tmp_path / "lab-1.4.9" and ctx.out_dir.is_dir()
    monkeypatch.setenv("LABS_QUICK", "0")
    assert notebooks.lab_context("1.4.9").quick is False
    assert notebooks.lab_context("1.4.9", quick=True, out_dir=tmp_path / "x").out_dir == (
        tmp_path / "x" / "lab-1.4.9"
    )


def test_a_lab_runs_as_a_plain_script(tmp_path: pathlib.Path) -> None:
    """``python labs/lab_1_4_0_activations.py`` (the fastest lab; the others run the same way in the
    kernel tests above): the check passes, every step runs, figures land under LABS_OUT."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(ROOT / "labs" / "lab_1_4_0_activations.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "LABS_QUICK": "1",
            "LABS_OUT": str(tmp_path),
            "OMP_WAIT_POLICY": "PASSIVE",
            "PYTHONPATH": "",
        },
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "softmax: passed" in result.stdout and "Step 4" in result.stdout
    assert len(list((tmp_path / "lab-1.4.0").glob("*.png"))) == 6
