"""R sessions started with vscode-R's own session code, served as filebridge sessions
(docs/r.md)."""
