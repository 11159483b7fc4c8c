"""The ``filebridge`` command line: a thin layer over filebridge.host and filebridge.worker."""
