"""The R worker: its code is R (``session_templates/r``), on the same wire as Python's; here
are its demo step and its place among the features (docs/r.md)."""
