"""A matplotlib figure reaches the page as PNG and SVG; the SVG is only ever a download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from viewers_support import http_get, run_worker, running_host, wait_for

from filebridge.host.viewers.service import Viewers

pytestmark = pytest.mark.integration  # worker processes

PLOTS = """
import io
import matplotlib.pyplot as plt
from filebridge.worker import viewers, call
plt.plot([1, 2, 3], [3, 1, 2]); plt.title("vector title")
viewers.plot(plt.gcf())
plt.plot([0, 1], [1, 0])
buffer = io.BytesIO(); plt.gcf().savefig(buffer, format="png"); plt.close("all")
viewers.plot(buffer.getvalue())   # PNG bytes: no SVG
import os, pathlib
fake = pathlib.Path(os.environ["FILEBRIDGE_SESSION"]) / "not.svg"
fake.write_text("<html><script>alert(1)</script></html>")
try:
    call("plot", svg=str(fake))
except Exception as exc:
    print("refused:", exc)
"""

# The same process then plots into a second session with SVG switched off: matplotlib is
# imported once for both tests.
NO_SVG = """
from filebridge.worker import connect
connect(pathlib.Path(os.environ["FILEBRIDGE_ROOT"]) / "sessions" / "nosvg")
os.environ["FILEBRIDGE_PLOT_SVG"] = "0"
plt.plot([1, 2]); plt.show()
"""


@pytest.fixture(scope="module")
def plotted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Viewers, str]]:
    """A host, and the output of one worker that ran ``PLOTS`` and then ``NO_SVG``."""
    root = tmp_path_factory.mktemp("plot-svg") / "root"
    with running_host(root) as (_host, viewers):
        done = run_worker(root, "svg", PLOTS + NO_SVG)
        yield root, viewers, done.stdout


def test_figure_plots_keep_an_svg_that_downloads_inert_and_png_bytes_have_none(
        plotted: tuple[Path, Viewers, str]) -> None:
    root, viewers, stdout = plotted
    assert viewers.ui is not None
    assert "refused:" in stdout and "not an SVG image" in stdout
    plots = wait_for(lambda: len(viewers.store.plots("svg")) == 2
                     and viewers.store.plots("svg"), what="two plots kept")
    assert plots[0].svg == "000001.svg" and plots[1].svg == ""
    status, headers, body = http_get(f"{viewers.ui.url}plot/svg/1.svg")
    assert status == 200
    assert body.lstrip().startswith(b"<?xml") and b"vector title" in body
    assert headers["Content-Type"] == "image/svg+xml"
    assert headers["Content-Disposition"] == 'attachment; filename="plot-1.svg"'
    assert headers["Content-Security-Policy"].startswith("sandbox")
    status, _, body = http_get(f"{viewers.ui.url}plot/svg/2.svg")
    assert status == 404 and b"has no SVG" in body
    kept = root / "sessions" / "svg" / "host-views" / "plots"
    assert sorted(p.name for p in kept.iterdir()) == ["000001.png", "000001.svg",
                                                      "000002.png"]


def test_plot_svg_can_be_switched_off_for_every_plot(plotted: tuple[Path, Viewers, str]) -> None:
    root, viewers, _ = plotted
    plots = wait_for(lambda: viewers.store.plots("nosvg"), what="the plot kept")
    assert [p.svg for p in plots] == [""]
    assert not (root / "sessions" / "nosvg" / "plot.svg").exists()
