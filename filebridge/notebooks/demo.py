"""The notebooks step of ``filebridge demo``: edit a Databricks notebook through its shadow."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from filebridge.errors import NotebookError
from filebridge.notebooks.shadow import ShadowSession

__all__ = ["SAMPLE_NOTEBOOK", "demo_step"]

SAMPLE_NOTEBOOK = """\
# Databricks notebook source
# MAGIC %md
# MAGIC # Daily sales
# MAGIC
# MAGIC Loads yesterday's orders.

# COMMAND ----------

# DBTITLE 1,Load
orders = spark.table("sales.orders")

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT count(*) FROM sales.orders
"""


def demo_step(workdir: Path, say: Callable[[str], None]) -> None:
    """Open a sample notebook as a shadow, edit the shadow like an editor, see the source change.

    Everything lives under ``workdir`` (the shadow session folder too), so the demo leaves
    nothing behind. Raises ``NotebookError`` if any step does not do what it says.
    """
    workspace = workdir / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    source = workspace / "daily_sales.py"
    source.write_text(SAMPLE_NOTEBOOK, encoding="utf-8")
    say(f"wrote a Databricks notebook with 3 cells: {source.name}")

    session = ShadowSession(f"demo-{os.getpid()}", temp_dir=workdir)
    opened = session.open(source, workspace=workspace)
    shadow = Path(opened.shadow)
    say(f"opened its shadow notebook: {shadow.relative_to(workdir)}")

    # An editor rewrites the whole file: its own key order and indent, and a temp-file rename.
    notebook = json.loads(shadow.read_text(encoding="utf-8"))
    notebook["cells"][1]["source"] = ['orders = spark.table("sales.orders")\n',
                                      "orders = orders.where(\"day = current_date() - 1\")"]
    notebook["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {},
                              "outputs": [], "source": ["display(orders)"], "id": "added"})
    notebook["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout",
                                        "text": ["outputs stay in the shadow\n"]}]
    temporary = shadow.with_name(shadow.name + ".editor-tmp")
    temporary.write_text(json.dumps(notebook, sort_keys=True, indent=2), encoding="utf-8")
    os.replace(temporary, shadow)
    say("edited cell 2 and added cell 4 in the shadow, saved by rename as editors do")

    events = session.sync(source)
    if [event.kind for event in events] != ["saved"]:
        raise NotebookError(f"expected the edit to be saved back, got {events}")
    text = source.read_text(encoding="utf-8")
    expected_tail = 'orders = orders.where("day = current_date() - 1")'
    if expected_tail not in text or not text.endswith("display(orders)\n"):
        raise NotebookError("the source does not show the shadow's edits")
    if not text.startswith(SAMPLE_NOTEBOOK.split("# COMMAND")[0]) or "outputs stay" in text:
        raise NotebookError("untouched cells changed or outputs reached the source")
    say("the source now has the edit and the new cell; other cells are byte for byte the same,")
    say("and outputs stayed in the shadow:")
    for line in text.splitlines()[6:]:
        say(f"    {line}")

    session.end()
    if shadow.exists() or session.folder.exists():
        raise NotebookError("ending the session left its shadow behind")
    say("ended the session: its shadow and session folder are removed")
