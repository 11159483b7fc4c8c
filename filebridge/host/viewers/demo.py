"""``filebridge demo`` step: a plot, a webview and a data view, shown on the local page."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING, Any

from filebridge.host.viewers.service import install_viewers, viewers_of
from filebridge.ui.server import UIServer

if TYPE_CHECKING:
    from filebridge.demo import DemoContext

__all__ = ["demo_step"]

VIEWERS_WORKER = """
import os
import numpy as np, pandas as pd
import matplotlib
matplotlib.use("module://filebridge.worker.mpl_backend")
import matplotlib.pyplot as plt
from filebridge.worker import viewers

plt.plot(np.linspace(0, 6.3, 100), np.sin(np.linspace(0, 6.3, 100)))
plt.title("sin(x) from the worker")
plt.show()
print("plt.show() sent the figure")

os.makedirs("site", exist_ok=True)
with open("site/style.css", "w") as f:
    f.write("h1 { color: #2563eb; font-family: sans-serif; }")
with open("site/index.html", "w") as f:
    f.write("<!doctype html><link rel=stylesheet href=style.css><h1>A report page</h1>")
viewers.webview("site/index.html", title="report")
print("webview of site/index.html (with its style.css)")

n = 100_000
df = pd.DataFrame({"x": np.arange(n) * 0.5, "label": np.where(np.arange(n) % 3, "a", "b")})
df.loc[1, "x"] = np.nan
df.loc[2, "x"] = np.inf
viewers.dataview(df, title="demo table")
print(f"dataview of a {n}-row DataFrame (with NA and Inf)")
"""


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def demo_step(ctx: DemoContext) -> None:
    viewers = viewers_of(ctx.host) or install_viewers(ctx.host)
    if viewers.ui is None:
        viewers.ui = UIServer(ctx.host, viewers.store)
        viewers.ui.start()
    session_dir = ctx.new_session_dir()
    for line in ctx.run_worker(VIEWERS_WORKER, session_dir=session_dir).splitlines():
        ctx.say(f"worker: {line}")
    session = session_dir.name
    store = viewers.store
    ctx.wait_for(lambda: len(store.views(session)) == 2 and bool(store.plots(session)),
                 "the plot, the webview and the data view")
    table = next(v for v in store.views(session) if v.kind == "table")
    base = viewers.ui.url
    page = _get(f"{base}api/sessions/{session}/tables/{table.id}?count=3&sort=c0:desc")
    shown = ", ".join("NA" if row[1] is None else str(row[1]) for row in page["rows"])
    ctx.say(f"host: {page['total']} rows; sorted by x descending the page starts {shown}")
    plot = store.plots(session)[-1]
    ctx.say(f"host: plot {plot.number} is {plot.width}x{plot.height}; views: "
            + ", ".join(f"{v.kind} '{v.title}'" for v in store.views(session)))
    ctx.say(f"local page (open while the demo runs): {base}")
