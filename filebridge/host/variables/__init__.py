"""The variables pane: snapshots of a worker's variables, for editors and the page
(docs/variables.md)."""
