"""The variables demo step runs against a real host and a real worker, as `filebridge demo` does."""

from __future__ import annotations

from filebridge.demo import demo_context
from filebridge.host import Host
from filebridge.host.variables.demo import demo_step


def test_demo_step_shows_variables_a_nested_one_and_a_big_shape() -> None:
    said: list[str] = []
    with demo_context(Host, said.append) as ctx:
        demo_step(ctx)
    text = "\n".join(said)
    assert "expanded config['servers'][1]: {\"'host'\": \"'beta'\", \"'port'\": '8002'}" in text
    assert "image_stack: shape [100, 1000, 1000], 100000000 bytes" in text
    assert "readings[50000:50003] = ['25000.0', '25000.5', '25001.0'] of 100000" in text
