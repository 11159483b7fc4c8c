"""Viewers: webviews, browser and help pages, plots and table views (docs/viewers.md)."""
