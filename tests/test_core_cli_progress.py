"""A command that runs for seconds (``filebridge bench``) says so on standard error while it
runs, in whole lines, and how long it took."""

from __future__ import annotations

import io
import time

import pytest

from filebridge.cli.progress import Elapsed


def test_a_long_command_says_it_started_that_it_goes_on_and_when_it_ended() -> None:
    stream = io.StringIO()
    with Elapsed("filebridge bench core", "measuring", stream=stream, every=0.05):
        time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "filebridge bench core: measuring..."
    ticks = [line for line in lines[1:-1] if line.endswith(" s so far")]
    assert len(ticks) >= 2 and ticks == lines[1:-1]
    assert lines[-1].startswith("filebridge bench core: done after 0.")


def test_a_failing_command_is_said_to_have_stopped() -> None:
    stream = io.StringIO()
    with pytest.raises(RuntimeError), Elapsed("filebridge bench x", "measuring", stream=stream,
                                              every=10):
        raise RuntimeError("broken")
    assert stream.getvalue().splitlines()[-1].startswith("filebridge bench x: stopped after ")
