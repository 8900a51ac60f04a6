"""The labs as Jupyter notebooks: a solution and a student notebook per lab, from one source.

Each ``labs/lab_*.py`` is a jupytext percent-format script: ``# %% [markdown]`` cells teach,
``# %%`` cells define the steps, cells that are only an ``if __name__ == "__main__":`` block run them
(so importing the module, as the runner does, runs nothing), a ``# %% tags=["exercise"]`` cell holds
only the functions a student writes (with docstrings), and the ``# %% tags=["check"]`` cell after it
prints ``labs.exercises.check_<name>(<name>)``. :func:`write_notebooks` reads each with jupytext and
writes::

    DIR/solutions/lab-1.4.N-<name>.ipynb   every cell as written
    DIR/labs/lab-1.4.N-<name>.ipynb        cells tagged "exercise" replaced by stubs

In both, a code cell that is nothing but an ``if __name__ == "__main__":`` block (it runs a step, or
a check) is shown unwrapped: its body, dedented. A stub keeps each function's signature and docstring
and raises ``NotImplementedError``; the "check" cell after it then reports "not yet implemented".
The lab itself never calls an exercise function (its steps use jaxmath's reference), so a student
notebook runs to the end with its stubs.

:func:`lab_context` is what the script and notebook forms of a lab run their steps with: a
:class:`~labs.LabContext` that also shows each saved figure inline inside a Jupyter kernel, sized by
``LABS_QUICK`` (``1``: quick) and writing under ``LABS_OUT`` (default ``outputs``).

jupytext and nbformat are imported only by :func:`write_notebooks` (the runner imports this module's
neighbours, and the labs import :func:`lab_context`, without them).
"""

from __future__ import annotations

import ast
import dataclasses
import os
import pathlib
import re
import sys
import textwrap
from typing import Any

from labs._registry import LabContext

LABS_DIR = pathlib.Path(__file__).resolve().parent
_MAIN_GUARD = re.compile(r"""if\s+__name__\s*==\s*(['"])__main__\1\s*:\s*$""")
_TRUE = {"1", "true", "yes", "on"}

STUDENT_INTRO = (
    "**Student version.** Each exercise cell holds a function whose body is "
    "`raise NotImplementedError`: replace that line with your code, then run the check cell below it. "
    "The check compares your function with the reference on random cases and tells you what to fix. "
    "The rest of the notebook uses the reference implementation, so it runs whether or not you have "
    "finished the exercises."
)


# ------------------------------------------------------------------------------------------------
# Running a lab's steps outside the runner
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class NotebookContext(LabContext):
    """A :class:`LabContext` that also displays each saved figure when running in a Jupyter kernel."""

    def save_figure(self, figure: Any, name: str) -> pathlib.Path:
        path = super().save_figure(figure, name)  # writes the PNG, closes the pyplot figure
        if _in_kernel():  # show the PNG just written (whatever matplotlib backend is active)
            from IPython.display import Image, display

            display(Image(filename=str(path)))
        else:
            self.log(f"(figure saved to {path})")
        return path


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (ipykernel loaded and an IPython kernel app running)."""
    ipykernel = sys.modules.get("ipykernel")
    if ipykernel is None:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def lab_context(
    lab_id: str,
    quick: bool | None = None,
    out_dir: pathlib.Path | str | None = None,
    seed: int = 0,
) -> NotebookContext:
    """The context a lab's script or notebook form runs its steps with.

    Args:
        lab_id: e.g. ``"1.4.1"``; figures go to ``<out>/lab-<lab_id>/``.
        quick: CI-sized run; default: the ``LABS_QUICK`` environment variable (``1``/``true``).
        out_dir: the output root; default: ``LABS_OUT`` or ``outputs`` (relative to the working
            directory).
        seed: the base PRNG seed (default 0, as ``python -m labs run``).
    """
    if quick is None:
        quick = os.environ.get("LABS_QUICK", "").strip().lower() in _TRUE
    root = pathlib.Path(out_dir if out_dir is not None else os.environ.get("LABS_OUT", "outputs"))
    folder = root / f"lab-{lab_id}"
    folder.mkdir(parents=True, exist_ok=True)
    import matplotlib

    if not _in_kernel():
        matplotlib.use("Agg")  # a plain script writes files, never opens a window
    print(f"== Lab {lab_id}{' (quick)' if quick else ''}: figures in {folder}", flush=True)
    return NotebookContext(out_dir=folder, quick=bool(quick), seed=seed)


# ------------------------------------------------------------------------------------------------
# Cell transformations
# ------------------------------------------------------------------------------------------------


def unwrap_main_guard(source: str) -> str:
    """The body of a cell that is only an ``if __name__ == "__main__":`` block, dedented; other
    cells unchanged (comments and blank lines around the block are dropped with the guard)."""
    lines = source.splitlines()
    code = [index for index, line in enumerate(lines) if line.strip() and not _is_comment(line)]
    if not code or not _MAIN_GUARD.match(lines[code[0]]) or lines[code[0]].startswith(" "):
        return source
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.If) or tree.body[0].orelse:
        return source
    body = lines[code[0] + 1 :]
    return textwrap.dedent("\n".join(body)).strip("\n")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def stub_exercise(source: str) -> str:
    """An exercise cell with each top-level function's body replaced by its docstring and
    ``raise NotImplementedError``.

    Raises:
        ValueError: the cell holds something other than function definitions (and comments), or a
            function has no docstring (the docstring is the student's specification).
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    others = [node for node in tree.body if not isinstance(node, ast.FunctionDef)]
    if others or not functions:
        raise ValueError(
            "an exercise cell must hold only function definitions, got "
            + (", ".join(type(node).__name__ for node in others) or "none")
        )
    pieces, previous_end = [], 0
    for node in functions:
        first_body = node.body[0]
        if not (
            isinstance(first_body, ast.Expr)
            and isinstance(first_body.value, ast.Constant)
            and isinstance(first_body.value.value, str)
        ):
            raise ValueError(
                f"exercise function {node.name!r} needs a docstring (its specification)"
            )
        if first_body.lineno == node.lineno:
            raise ValueError(f"exercise function {node.name!r}: put its body on its own lines")
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        pieces.append("\n".join(lines[previous_end:start]))  # comments / blank lines between
        kept = lines[start : first_body.end_lineno]  # decorators, signature, docstring
        indent = re.match(r"\s*", lines[first_body.lineno - 1]).group(0)
        kept.append(
            f'{indent}raise NotImplementedError("exercise: write {node.name}, '
            'then run the check below")'
        )
        pieces.append("\n".join(kept))
        previous_end = node.end_lineno
    return "\n".join(piece for piece in pieces if piece.strip()).strip("\n") + "\n"


def _tags(cell: Any) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _check_exercises(cells: list[Any], path: pathlib.Path) -> None:
    """Every exercise cell is followed by a check cell (skipping markdown between them)."""
    for index, cell in enumerate(cells):
        if "exercise" not in _tags(cell):
            continue
        following = [c for c in cells[index + 1 :] if c.cell_type == "code"]
        if not following or "check" not in _tags(following[0]):
            raise ValueError(f"{path.name}: exercise cell {index} is not followed by a check cell")


def notebook_name(path: pathlib.Path) -> str:
    """``lab_1_4_1_backprop.py`` -> ``lab-1.4.1-backprop.ipynb``."""
    match = re.fullmatch(r"lab_(\d+)_(\d+)_(\d+)_(.+)\.py", path.name)
    if match is None:
        raise ValueError(f"a lab file is named lab_<a>_<b>_<c>_<name>.py, got {path.name!r}")
    *numbers, name = match.groups()
    return f"lab-{'.'.join(numbers)}-{name.replace('_', '-')}.ipynb"


def lab_notebooks(path: pathlib.Path) -> tuple[Any, Any]:
    """The (solution, student) notebooks of one lab file."""
    import jupytext
    import nbformat

    source = jupytext.read(path, fmt="py:percent")
    _check_exercises(source.cells, path)
    solution, student = nbformat.from_dict(source), nbformat.from_dict(source)
    for notebook in (solution, student):
        notebook.metadata.pop("jupytext", None)
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        notebook.metadata["language_info"] = {"name": "python"}
    for solution_cell, student_cell in zip(solution.cells, student.cells, strict=True):
        if solution_cell.cell_type != "code":
            continue
        solution_cell.source = unwrap_main_guard(solution_cell.source)
        if "exercise" in _tags(student_cell):
            student_cell.source = stub_exercise(student_cell.source)
        else:
            student_cell.source = solution_cell.source
    if any("exercise" in _tags(cell) for cell in student.cells):
        intro = nbformat.v4.new_markdown_cell(STUDENT_INTRO)
        position = 1 if student.cells and student.cells[0].cell_type == "markdown" else 0
        student.cells.insert(position, intro)
    return solution, student


def lab_files() -> list[pathlib.Path]:
    """Every ``labs/lab_*.py``, in the course's order."""
    return sorted(LABS_DIR.glob("lab_*.py"), key=lambda path: notebook_name(path))


def write_notebooks(out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Write ``out_dir/solutions/<lab>.ipynb`` and ``out_dir/labs/<lab>.ipynb`` for every lab.

    Returns the written paths, solution then student notebook per lab, labs in order.
    """
    import nbformat

    out_dir = pathlib.Path(out_dir)
    written = []
    for path in lab_files():
        solution, student = lab_notebooks(path)
        for folder, notebook in (("solutions", solution), ("labs", student)):
            target = out_dir / folder / notebook_name(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.validate(nbformat.from_dict(notebook))
            nbformat.write(notebook, target)
            written.append(target)
    return written
