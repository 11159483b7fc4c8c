"""The R worker among the features: a demo step and a benchmark; it needs nothing on the host
beyond the core and the other features' handlers."""

from __future__ import annotations

from filebridge.features import DemoStep, Feature
from filebridge.r.demo import demo_step

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="r",
    summary="R sessions on the same wire as Python's (the R worker in session_templates/r)",
    demo=DemoStep("R: an Rscript worker on the same wire", demo_step),
    benchmarks=("r",),
)
