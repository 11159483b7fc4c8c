"""A matplotlib backend that sends figures to the host: ``plt.show()`` becomes a plot view.

    MPLBACKEND=module://filebridge.worker.mpl_backend python script.py

Figures are drawn with Agg. ``show()`` sends every open figure and closes it, as notebook
inline backends do, so the next plot starts from a clean figure. Imported only by matplotlib,
so matplotlib is present whenever this module is.
"""

from __future__ import annotations

from typing import Any, Optional

from matplotlib import pyplot
from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from filebridge.worker.viewers import plot

__all__ = ["FigureCanvas", "FigureManager", "show"]


class FigureManager(FigureManagerBase):
    def show(self) -> None:
        plot(self.canvas.figure)


class FigureCanvas(FigureCanvasAgg):
    manager_class = FigureManager


def show(*args: Any, block: Optional[bool] = None, **kwargs: Any) -> None:
    """Send each open figure to the host, then close it."""
    for manager in Gcf.get_all_fig_managers():
        plot(manager.canvas.figure)
    pyplot.close("all")
