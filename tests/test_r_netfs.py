"""An R worker at an idle prompt whose session folder is on a real sshfs mount (default
options): its looks at the doorbell see the host's requests through the mount."""

from __future__ import annotations

import time

from netfs_support import MountedFolder, Sides, sshfs  # noqa: F401 - sshfs is a fixture
from r_support import IdleR, needs_r

from filebridge.host import Host

pytestmark = needs_r


def test_r_idle_at_its_prompt_answers_expansions_through_an_sshfs_mount(
        sshfs: MountedFolder) -> None:  # noqa: F811
    sides = Sides.of(sshfs, "worker-on-mount")
    host = Host(sides.host_root)
    host.start()
    r = IdleR(sides.worker_root / "sessions" / "r1", root=sides.worker_root)
    try:
        host.wait_for_session("r1", timeout=30)
        r.run("numbers <- as.list(seq_len(1e5))\ncfg <- list(alpha = 1, beta = 'two')")
        for round_ in range(4):
            # R sits idle: its looks back off to their longest pause (100 ms) within 0.3 s
            time.sleep(1.0)
            page = host.command("r1", "inspect", timeout=15, path=["numbers"],
                                start=1000 * round_, count=10)
            assert page["children"][0]["display_value"] == str(1000 * round_ + 1)
        names = host.command("r1", "inspect", timeout=15, path=["cfg"])["children"]
        assert [c["display_name"] for c in names] == ["alpha", "beta"]
    finally:
        r.close()
        host.stop()


