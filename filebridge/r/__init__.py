"""The R worker: its code is R (``filebridge/templates/r``), on the same wire as Python's; here
are its demo step and its place among the features (docs/r.md)."""
