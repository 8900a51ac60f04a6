"""The course labs, runnable: ``python -m labs`` lists them, ``python -m labs run all`` runs them.

A lab is a module ``labs/lab_*.py`` that registers a function taking a :class:`LabContext` and
returning its metrics; the runner finds it (pkgutil), so adding a lab needs no other change::

    from jaxmath import visualization
    from labs import LabContext, register_lab

    @register_lab("1.4.1", "Manual backpropagation", key_metrics=["test_accuracy"])
    def run(ctx: LabContext) -> dict:
        steps = 300 if ctx.quick else 2000                  # --quick: CI-sized
        params = init(ctx.key(0), ...)                       # PRNG keys from the run's seed
        ctx.log(f"step 1: training for {steps} steps")      # the printout is part of the lesson
        for step in ctx.progress(range(steps), "training"):  # a bar at a terminal only
            params, loss = update(params, batch)
        ctx.save_figure(visualization.plot_training_curve(history), "training_curve")
        ctx.record(train_loss=history["train"][-1])          # kept even if a later step fails
        return {"test_accuracy": 0.97}                       # merged into metrics.json

``python -m labs run 1.4.1 --quick --out outputs`` then runs the lab in its own process and writes
``outputs/lab-1.4.1/`` (the PNGs and ``metrics.json``, with the lab's run time and peak memory),
``outputs/summary.json`` / ``summary.md`` and ``outputs/index.html`` (every lab's figures and
metrics on one page; a metric that is a list of row dicts becomes an HTML table there);
``python -m labs notebooks`` writes the labs as notebooks; see ``labs/_runner.py``.
"""

from labs._registry import LABS, Lab, LabContext, LabFunction, register_lab

__all__ = ["LABS", "Lab", "LabContext", "LabFunction", "register_lab"]
