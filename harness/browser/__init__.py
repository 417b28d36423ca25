"""The browser layer: the only part of the harness that imports Playwright."""
