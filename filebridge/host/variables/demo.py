"""``filebridge demo`` step: a worker's variables, a nested one expanded, a big array's shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from filebridge.host.variables.provider import NoSnapshot
from filebridge.host.variables.service import provider_for

if TYPE_CHECKING:
    from filebridge.demo import DemoContext

__all__ = ["demo_step"]

WORKER = """
import sys
import filebridge.worker.variables as fv
try:
    import numpy as np
    image_stack = np.zeros((100, 1000, 1000), dtype=np.uint8)   # 10^8 elements, never read
except ImportError:
    image_stack = range(10**8)
config = {"name": "demo", "servers": [{"host": "alpha", "port": 8001},
                                      {"host": "beta", "port": 8002}]}
readings = [i * 0.5 for i in range(100_000)]
fv.enable(hook=False)
print("ready", flush=True)
sys.stdin.readline()
"""


def _fail(message: str) -> Exception:
    from filebridge.demo import DemoFailure

    return DemoFailure(message)


def demo_step(ctx: DemoContext) -> None:
    provider = provider_for(ctx.host)
    session = ctx.new_session_dir()
    worker = ctx.start_worker(WORKER, session_dir=session)
    assert worker.stdout is not None and worker.stdin is not None
    if worker.stdout.readline().strip() != "ready":
        raise _fail("the variables worker did not start")
    try:
        snapshot: dict[str, Any] = {}

        def published() -> bool:
            nonlocal snapshot
            try:
                snapshot = provider.snapshot(session.name)
            except NoSnapshot:
                return False
            return True

        ctx.wait_for(published, "the worker's first snapshot")
        ctx.say(f"snapshot version {snapshot['version']}: {snapshot['length']} variables "
                f"described in {snapshot['elapsed_ms']:.1f} ms")
        top = {v.name: v for v in provider.provide_variables(session.name)}
        for var in top.values():
            ctx.say(f"  {var.name:<12} {var.type:<32} {var.value[:48]}")
        servers = next(v for v in provider.provide_variables(session.name, top["config"])
                       if v.name == "'servers'")
        second = next(provider.provide_variables(session.name, servers, "indexed", 1, 1))
        fields = {v.name: v.value for v in provider.provide_variables(session.name, second)}
        ctx.say(f"expanded {second.expression}: {fields}")
        if fields.get("'host'") != "'beta'":
            raise _fail(f"expanding config['servers'][1] gave {fields}")
        stack = top["image_stack"]
        ctx.say(f"image_stack: shape {stack.shape}, {stack.size} bytes, shown as "
                f"{stack.value[:40]!r}... (a prefix; the array was never copied)")
        if stack.shape not in ([100, 1000, 1000], [10**8]):
            raise _fail(f"image_stack has shape {stack.shape}")
        page = provider.inspect(session.name, ["readings"], start=50_000, count=3)
        ctx.say(f"readings[50000:50003] = {[c['display_value'] for c in page['children']]} "
                f"of {page['length']}, asked of the worker while it waits")
    finally:
        # A line, not a close: the demo's cleanup still talks to the process's stdin.
        worker.stdin.write("\n")
        worker.stdin.flush()
        worker.wait(timeout=10)
