"""The R step of `filebridge demo`, run against a real host with a real Rscript."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from r_support import needs_r

from filebridge.host import Host
from filebridge.r.demo import demo_step


@dataclass
class Context:
    host: Host
    root: Path
    workdir: Path
    said: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.said.append(text)


@needs_r
def test_r_demo_step_shows_echo_view_plot_variables_and_detach(host: Host,
                                                               tmp_path: Path) -> None:
    ctx = Context(host, host.root.root, tmp_path)
    demo_step(ctx)
    text = "\n".join(ctx.said)
    assert "echo answered: hello from R 42" in text
    assert "no handler for 'no_such_command'" in text
    assert "measurements (data.frame [4 x 3])" in text
    assert "plot.png published" in text
    assert ctx.said[-1] == "R: session is detached"
