"""Lab registration and the context a lab runs with (private)."""

from __future__ import annotations

import dataclasses
import pathlib
import sys
from collections.abc import Callable
from typing import Any

LabFunction = Callable[["LabContext"], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Lab:
    lab_id: str  # "1.4.1"
    title: str
    run: LabFunction
    module: str


LABS: dict[str, Lab] = {}


def register_lab(lab_id: str, title: str) -> Callable[[LabFunction], LabFunction]:
    """Register ``run(ctx) -> metrics`` as lab ``lab_id``; an id can be registered once."""

    def decorator(function: LabFunction) -> LabFunction:
        existing = LABS.get(lab_id)
        if existing is not None and existing.module != function.__module__:
            raise ValueError(f"lab id {lab_id!r} is already registered by {existing.module}")
        LABS[lab_id] = Lab(lab_id, title, function, function.__module__)
        return function

    return decorator


@dataclasses.dataclass
class LabContext:
    """What a lab gets: where to write, how big to run, a seed, and a log."""

    out_dir: pathlib.Path
    quick: bool = False
    seed: int = 0
    figures: list[str] = dataclasses.field(default_factory=list)

    def save_figure(self, figure: Any, name: str) -> pathlib.Path:
        """Save a matplotlib Figure as ``<out_dir>/<name>.png`` (figures are pyplot-free: no close)."""
        path = self.out_dir / f"{name}.png"
        figure.savefig(path, dpi=110)
        self.figures.append(path.name)
        return path

    def log(self, message: str) -> None:
        """Print what a step shows (labs teach: the printout is part of the lab)."""
        print(f"  {message}", file=sys.stdout, flush=True)
