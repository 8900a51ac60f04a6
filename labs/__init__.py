"""The course labs, runnable: ``python -m labs`` lists them, ``python -m labs run all`` runs them.

A lab is a module ``labs/lab_*.py`` that registers a function taking a :class:`LabContext` and
returning its metrics::

    from labs import LabContext, register_lab

    @register_lab("1.4.1", "Manual backpropagation")
    def run(ctx: LabContext) -> dict:
        ctx.log("what this step shows ...")
        ctx.save_figure(figure, "training_curve")      # PNG under the lab's output folder
        return {"test_accuracy": 0.97}                  # written to metrics.json

The runner (labs/_runner.py) discovers the modules, gives each lab its own output folder, records a
failing lab's traceback without stopping the others, and writes ``summary.json`` / ``summary.md``.
"""

from labs._registry import LABS, Lab, LabContext, register_lab

__all__ = ["LABS", "Lab", "LabContext", "register_lab"]
