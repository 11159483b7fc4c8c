"""The editor interface: JSON-RPC 2.0 over standard input and output (docs/editor-protocol.md)."""
