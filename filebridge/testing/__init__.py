"""Tools for testing filebridge and integrations built on it (docs/testing.md).

``pytest_plugin`` (fixtures, loaded by entry point), ``direct`` (a host's handler called
without files), ``workers`` (worker processes of each kind), ``session_log`` (what a session
asked, and waits), ``recording`` and ``replay`` (a session's journal as a file, played back),
``faults`` (failures at named points), ``loopback_mount`` (a real sshfs mount on one machine),
``jupyterlab`` (a real JupyterLab with filebridge installed into private Jupyter folders,
driven in a browser).
"""
