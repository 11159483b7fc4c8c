"""Remote imports: local Python source served to workers (docs/imports.md)."""
