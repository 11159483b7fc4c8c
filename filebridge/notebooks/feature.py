"""Databricks source notebooks as shadow ``.ipynb`` files: the ``notebook`` command, the demo
step and the benchmark (docs/notebooks.md). Nothing of it runs inside ``serve``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from filebridge.features import DemoStep, Feature
from filebridge.notebooks.cli import register as register_command
from filebridge.notebooks.demo import demo_step

if TYPE_CHECKING:
    from filebridge.demo import DemoContext

__all__ = ["FEATURE"]


def _demo(ctx: DemoContext) -> None:
    demo_step(ctx.workdir / "notebooks", ctx.say)


FEATURE = Feature(
    name="notebooks",
    summary="Databricks source notebooks opened as shadow .ipynb files",
    commands=(register_command,),
    demo=DemoStep("notebooks: a Databricks notebook as a shadow .ipynb", _demo),
    benchmarks=("notebooks",),
)
