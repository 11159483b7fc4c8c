"""Tools for testing filebridge and integrations built on it."""
