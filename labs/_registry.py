"""Lab registration and the context a lab runs with (private; import from ``labs``)."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: A lab: takes its context, returns its metrics (or ``None`` when it recorded them on the context).
LabFunction = Callable[["LabContext"], Mapping[str, Any] | None]

_LAB_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]*")
_FIGURE_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]*")


@dataclasses.dataclass(frozen=True)
class Lab:
    """A registered lab."""

    lab_id: str  # "1.4.1": the course's numbering, also the CLI's name and the folder "lab-1.4.1"
    title: str
    run: LabFunction
    module: str  # the module that registered it, e.g. "labs.lab_1_4_1_backprop"
    key_metrics: tuple[str, ...] = ()  # shown first in summary.md; all metrics go to the JSON


#: Every registered lab by id, filled as ``labs/lab_*.py`` modules are imported.
LABS: dict[str, Lab] = {}


def register_lab(
    lab_id: str, title: str, key_metrics: Sequence[str] = ()
) -> Callable[[LabFunction], LabFunction]:
    """Register ``run(ctx) -> metrics`` as lab ``lab_id`` (a decorator; returns ``run`` unchanged).

    Args:
        lab_id: the course's lab number, e.g. ``"1.4.1"``: letters, digits, ``.``, ``_``, ``-``.
        title: one line, shown by ``python -m labs`` and in the summary.
        key_metrics: metric names the summary table shows (default: the first few scalars).

    Raises:
        ValueError: on a malformed id, or an id already registered by another module (the same
            module may re-register, so that re-importing it is harmless).
    """
    if not isinstance(lab_id, str) or not _LAB_ID.fullmatch(lab_id):
        raise ValueError(f"lab_id must look like '1.4.1', got {lab_id!r}")

    def decorator(function: LabFunction) -> LabFunction:
        existing = LABS.get(lab_id)
        if existing is not None and existing.module != function.__module__:
            raise ValueError(f"lab id {lab_id!r} is already registered by {existing.module}")
        LABS[lab_id] = Lab(lab_id, title, function, function.__module__, tuple(key_metrics))
        return function

    return decorator


@dataclasses.dataclass
class LabContext:
    """What a lab gets from the runner: where to write, how big to run, a seed, a log, metrics.

    A lab saves figures with :meth:`save_figure`, prints what each step shows with :meth:`log`, and
    records metrics with :meth:`record` (or returns them). Recorded metrics survive a later failure:
    a lab that raises half way still has its first steps' metrics in ``metrics.json``.
    """

    out_dir: pathlib.Path  # this lab's own folder, e.g. outputs/lab-1.4.1 (created by the runner)
    quick: bool = False  # CI-sized run: fewer steps / points, same figures and metric names
    seed: int = 0  # base PRNG seed: derive keys with key(), torch generators from it
    #: Points per axis for labs that evaluate a grid (loss surfaces, contour plots); None: each
    #: lab's own default (``python -m labs run 1.4.3 --resolution 81`` raises it).
    resolution: int | None = None
    figures: list[str] = dataclasses.field(default_factory=list)  # file names saved so far
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)  # recorded so far

    def save_figure(self, figure: Any, name: str) -> pathlib.Path:
        """Write a matplotlib Figure to ``<out_dir>/<name>.png`` and close it if pyplot holds it.

        ``name`` is a plain file stem (letters, digits, ``.``, ``_``, ``-``; a ``.png`` suffix is
        accepted); saving two figures under one name in a run is refused rather than overwritten.
        """
        stem = name.removesuffix(".png")
        if not _FIGURE_NAME.fullmatch(stem):
            raise ValueError(f"name must be a plain file name such as 'loss_curve', got {name!r}")
        file_name = f"{stem}.png"
        if file_name in self.figures:
            raise ValueError(f"a figure named {file_name!r} was already saved by this lab")
        path = self.out_dir / file_name
        figure.savefig(path, dpi=110)
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:  # a figure made with plt.subplots stays in pyplot's registry
            pyplot.close(figure)
        self.figures.append(file_name)
        return path

    def log(self, *parts: Any) -> None:
        """Print what a step shows, indented under the lab's header (the printout is the lesson)."""
        print(" ", *parts, flush=True)

    def progress(
        self, iterable: Iterable[T], description: str, total: int | None = None
    ) -> Iterator[T]:
        """``iterable``, with a tqdm progress bar on stderr when a person is watching.

        The bar shows only at a terminal: it stays off when stdout or stderr is not a TTY (a log
        file, a pipe, ``python -m labs run --jobs 2``, a notebook kernel) and when the ``CI``
        environment variable is set, so CI logs carry the lab's printout, not carriage returns.
        The bar disappears when the loop ends (``leave=False``); what the loop found is for
        :meth:`log` to say. ``total`` defaults to ``len(iterable)`` where it has one.

        Example::

            for step in ctx.progress(range(steps), "training"):
                params, loss = update(params, batch)
        """
        if not _progress_visible():
            yield from iterable
            return
        from tqdm import tqdm

        with tqdm(
            iterable,
            desc=description,
            total=total,
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
            mininterval=0.2,
        ) as bar:
            yield from bar

    def record(self, metrics: Mapping[str, Any] | None = None, **named: Any) -> None:
        """Add metrics (a mapping and/or keywords); later values for a name replace earlier ones.

        Values may be Python or NumPy/JAX scalars or arrays; they are written as JSON (non-finite
        floats as the strings ``"inf"``, ``"-inf"``, ``"nan"``, so the file stays strict JSON).
        """
        self.metrics.update(metrics or {})
        self.metrics.update(named)

    def key(self, stream: int = 0) -> Any:
        """A JAX PRNG key for ``stream``: ``fold_in(key(seed), stream)``, independent per stream."""
        import jax

        return jax.random.fold_in(jax.random.key(self.seed), stream)


def _progress_visible() -> bool:
    """Progress bars only for a person at a terminal: never under CI, never into a file or pipe."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    return all(stream is not None and stream.isatty() for stream in (sys.stdout, sys.stderr))
