"""The remote-imports step of ``filebridge demo``: a local package imported by a worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from filebridge.host.imports.service import serve_sources

if TYPE_CHECKING:
    from filebridge.demo import DemoContext

__all__ = ["demo_step"]

PACKAGE = {
    "__init__.py": '"""A local package the worker has never seen."""\n',
    "pricing.py": (
        "from .rates import TAX\n\n\n"
        "def total(quantity, price):\n"
        "    if quantity < 0:\n"
        "        raise ValueError(f'a negative quantity: {quantity}')\n"
        "    return round(quantity * price * (1 + TAX), 2)\n"),
    "rates.py": "TAX = 0.2\n",
}

WORKER = """
import traceback
import filebridge.worker as fb
import filebridge.worker.imports as remote
fb.connect()
fb.call("echo", timeout=30)
remote.install(["demo_shop"])
import demo_shop.pricing
print("imported demo_shop.pricing from", demo_shop.pricing.__file__)
print("demo_shop.pricing.total(3, 2.5) =", demo_shop.pricing.total(3, 2.5))
try:
    demo_shop.pricing.total(-1, 2.5)
except ValueError:
    print(traceback.format_exc().rstrip())
print("module_spec requests:", remote.stats()["requests"])
"""


def demo_step(ctx: DemoContext) -> None:
    folder = ctx.workdir / "demo_shop"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in PACKAGE.items():
        (folder / name).write_text(text)
    ctx.say(f"host: serving {folder} as 'demo_shop'")
    service = serve_sources(ctx.host, [str(folder)], watch=False)
    try:
        out = ctx.run_worker(WORKER)
    finally:
        service.stop()
    for line in out.splitlines():
        ctx.say(f"worker: {line}")
    expected = [f'File "{folder / "pricing.py"}", line 6, in total',
                "raise ValueError(f'a negative quantity: {quantity}')",
                "total(3, 2.5) = 9.0"]
    missing = [text for text in expected if text not in out]
    if missing:
        raise RuntimeError(f"the remote import demo did not show {missing!r}")
